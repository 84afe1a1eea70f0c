package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var counter int64

// unique is a short id unique in this test run.
func unique(tag string) string {
	return fmt.Sprintf("%s-%d-%d", tag, os.Getpid(), atomic.AddInt64(&counter, 1))
}

// removeScope removes every container (and control dir) of a scope with podman itself.
func removeScope(scope string) {
	out, _ := exec.Command("podman", "ps", "-a", "--filter", "label=sandbox.scope="+scope,
		"--format", `{{.Names}} {{index .Labels "sandbox.control"}}`).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, " ", 2)
		if parts[0] == "" {
			continue
		}
		_ = exec.Command("podman", "rm", "-f", "-t", "0", parts[0]).Run()
		if len(parts) == 2 && strings.HasPrefix(parts[1], "/") {
			_ = os.RemoveAll(parts[1])
		}
	}
}

func leftovers(t *testing.T, scope string) []string {
	out, err := exec.Command("podman", "ps", "-aq", "--filter", "label=sandbox.scope="+scope).Output()
	if err != nil {
		t.Fatalf("podman ps: %v", err)
	}
	return strings.Fields(string(out))
}

// newScope is a Sandbox of its own scope with a working dir; everything in the scope is
// removed when the test ends, also when it failed.
func newScope(t *testing.T) (*Sandbox, string, string) {
	t.Helper()
	// Subtests are named parent/child; a scope has no '/'.
	name := strings.NewReplacer("_", "-", "/", ".").Replace(t.Name())
	scope := unique("go-" + strings.ToLower(name))
	if len(scope) > 60 {
		scope = unique("go-test")
	}
	sb, err := New(&Config{Scope: scope, Provision: Bool(false)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if _, err := sb.ReapOrphans(context.Background(), nil); err != nil && !isClosed(err) {
			t.Errorf("reap: %v", err)
		}
		sb.Close()
		removeScope(scope)
	})
	return sb, scope, t.TempDir()
}

// startSession is a session started in a scope of its own (see newScope), stopped and
// closed when the test ends; tag names it.
func startSession(t *testing.T, tag string) (*Sandbox, *Session) {
	t.Helper()
	sb, _, dir := newScope(t)
	s, err := sb.Start(ctxT(t), unique(tag), dir, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		s.Stop(context.Background())
		s.Close()
	})
	return sb, s
}

// errCase is a call that must fail: its error err must match want.
type errCase struct {
	name      string
	err, want error
}

// checkErrors reports every case whose error does not match what it wants.
func checkErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}

// inBackground runs call in a goroutine; its error arrives on the channel returned.
func inBackground(call func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	return done
}

// cancelledAfter is a context of ctx that is cancelled after d.
func cancelledAfter(ctx context.Context, d time.Duration) context.Context {
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		time.Sleep(d)
		cancel()
	}()
	return cctx
}

// deadlineEnds checks that call, given a context of ctx whose deadline is 200 ms away,
// fails with an error matching context.DeadlineExceeded (what names the call).
func deadlineEnds(t *testing.T, ctx context.Context, what string, call func(ctx context.Context) error) {
	t.Helper()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := call(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: %v", what, err)
	}
}

func isClosed(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Status == StatusClosed
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

func sleepRunning(t *testing.T, s *Session) bool {
	r, err := s.Exec(context.Background(), []string{"sh", "-c", "ps | grep -v grep | grep -q 'sleep 60'"}, nil)
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	return r.ExitCode == 0
}
