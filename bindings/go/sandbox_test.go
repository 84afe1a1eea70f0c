package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestVersions(t *testing.T) {
	if LinkedABIVersion() != ABIVersion {
		t.Fatalf("ABI %d != %d", LinkedABIVersion(), ABIVersion)
	}
	if strings.Count(LibraryVersion(), ".") != 2 {
		t.Fatalf("version %q", LibraryVersion())
	}
	if StatusPanic.String() != "SBX_STATUS_PANIC" || Status(110).String() != "SBX_STATUS_110" {
		t.Fatal("status names")
	}
}

func TestStartExecStop(t *testing.T) {
	sb, scope, dir := newScope(t)
	ctx := ctxT(t)
	id := unique("basic")
	s, err := sb.Start(ctx, id, dir, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.Close()
	if s.ID() != id || s.StartReport() == nil || s.StartReport().SessionID != id || s.StartReport().Image.Reason != "default" {
		t.Fatalf("report: %+v", s.StartReport())
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := s.AgentVersion(ctx); err != nil || v == "" {
		t.Fatalf("agent version %q %v", v, err)
	}
	r, err := s.Exec(ctx, []string{"sh", "-c", "echo hello; echo oops >&2; exit 3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Stdout) != "hello\n" || string(r.Stderr) != "oops\n" || r.ExitCode != 3 || r.Success() || r.StdoutTotal != 6 {
		t.Fatalf("result %+v", r)
	}
	r, err = s.Exec(ctx, []string{"sh", "-c", "echo $GREETING; pwd"}, &ExecOptions{Env: map[string]string{"GREETING": "hi there"}, Cwd: "/tmp"})
	if err != nil || string(r.Stdout) != "hi there\n/tmp\n" {
		t.Fatalf("env/cwd: %v %q", err, r.Stdout)
	}
	r, err = s.Exec(ctx, []string{"sleep", "30"}, &ExecOptions{Timeout: 300 * time.Millisecond})
	if err != nil || !r.TimedOut || r.ExitCode != -1 || r.Signal == 0 {
		t.Fatalf("timeout: %v %+v", err, r)
	}
	rows, err := sb.List(ctx)
	if err != nil || len(rows) != 1 || rows[0].ID != id || rows[0].State != "running" {
		t.Fatalf("list: %v %+v", err, rows)
	}
	again, err := sb.Attach(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if again.StartReport() != nil {
		t.Fatal("an attached session has no report")
	}
	if r, err := again.Exec(ctx, []string{"echo", "attached"}, nil); err != nil || string(r.Stdout) != "attached\n" {
		t.Fatalf("attached exec: %v", err)
	}
	again.Close()
	again.Close()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop is idempotent: %v", err)
	}
	_, err = s.Exec(ctx, []string{"true"}, nil)
	if !errors.Is(err, ErrSessionNotFound) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("exec after stop: %v", err)
	}
	s.Close()
	if _, err := s.Exec(ctx, []string{"true"}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("exec after close: %v", err)
	}
	if l := leftovers(t, scope); len(l) != 0 {
		t.Fatalf("left: %v", l)
	}
}

func TestStdinRoundTripWithNulBytes(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("stdin"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	data := bytes.Repeat([]byte{0, 1, 2, 255, 0, 'a'}, 50000)
	r, err := s.Exec(ctx, []string{"cat"}, &ExecOptions{Stdin: data})
	if err != nil || !bytes.Equal(r.Stdout, data) {
		t.Fatalf("round trip: %v (%d bytes back)", err, len(r.Stdout))
	}
	r, err = s.Exec(ctx, []string{"wc", "-c"}, &ExecOptions{Stdin: []byte{}})
	if err != nil || strings.TrimSpace(string(r.Stdout)) != "0" {
		t.Fatalf("empty stdin: %v %q", err, r.Stdout)
	}
}

func TestErrors(t *testing.T) {
	sb, scope, dir := newScope(t)
	ctx := ctxT(t)
	if _, err := New(&Config{Scope: "not a scope"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("bad scope: %v", err)
	}
	if _, err := New(&Config{Scope: scope, Network: "host"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad network: %v", err)
	}
	if _, err := New(&Config{Scope: "a\x00b"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("NUL: %v", err)
	}
	if _, err := sb.Start(ctx, "../escape", dir, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad id: %v", err)
	}
	for _, port := range []int{0, 70000, -1} {
		if _, err := sb.Start(ctx, unique("port"), dir, &StartOptions{Ports: []int{port}}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("port %d: %v", port, err)
		}
	}
	if _, err := sb.Start(ctx, unique("nodir"), "/no/such/dir", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("missing dir: %v", err)
	}
	_, err := sb.Start(ctx, unique("img"), dir, &StartOptions{Image: "localhost/no-such-image:1", AllowUntrustedImage: Bool(true)})
	if !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), "no-such-image") {
		t.Fatalf("missing image: %v", err)
	}
	_, err = sb.Attach(ctx, "no-such-session")
	var se *Error
	if !errors.As(err, &se) || se.Status != StatusSessionNotFound || !strings.Contains(se.Message, "no-such-session") {
		t.Fatalf("attach missing: %v", err)
	}
	if err := sb.Stop(ctx, "no-such-session"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("stop missing: %v", err)
	}
	s, err := sb.Start(ctx, unique("errors"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	if _, err := sb.Start(ctx, s.ID(), dir, nil); !errors.Is(err, ErrSessionExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Exec(ctx, nil, nil); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "argv") {
		t.Fatalf("empty argv: %v", err)
	}
	if _, err := s.Exec(ctx, []string{"a\x00b"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL argv: %v", err)
	}
	if _, err := s.Exec(ctx, []string{"true"}, &ExecOptions{Timeout: time.Microsecond}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("tiny timeout: %v", err)
	}
	if _, err := s.Exec(ctx, []string{"true"}, &ExecOptions{Cwd: "/no/such/dir"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad cwd: %v", err)
	}
	if r, err := s.Exec(ctx, []string{"/no/such/program"}, nil); err != nil || r.ExitCode != 127 {
		t.Fatalf("not found is data: %v", err)
	}
	if err := triggerPanic(); !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "deliberate panic") {
		t.Fatalf("panic: %v", err)
	}
	missing, err := New(&Config{Scope: scope, Podman: "/nonexistent/podman"})
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	if _, err := missing.Info(ctx); !errors.Is(err, ErrEngineMissing) {
		t.Fatalf("no podman: %v", err)
	}
}

// TestZeroIsZeroAndNilIsTheDefault pins the options rule for Go: a nil pointer field is
// "not set" (the default), a pointer to 0 is zero where zero means something, and values
// no face accepts are refused before anything runs.
func TestZeroIsZeroAndNilIsTheDefault(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("zero"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	script := []string{"sh", "-c", "printf 12345; printf abc >&2"}
	r, err := s.Exec(ctx, script, &ExecOptions{OutputCap: Uint64(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stdout) != 0 || len(r.Stderr) != 0 || r.StdoutTotal != 5 || r.StderrTotal != 3 || !r.StdoutTruncated || !r.StderrTruncated {
		t.Fatalf("an output cap of 0 captures nothing and counts everything: %+v", r)
	}
	r, err = s.Exec(ctx, script, &ExecOptions{OutputCap: nil})
	if err != nil || string(r.Stdout) != "12345" || string(r.Stderr) != "abc" || r.StdoutTruncated {
		t.Fatalf("no output cap is the default: %v %+v", err, r)
	}
	// With a grace of 0 only SIGKILL comes: the TERM trap never prints.
	r, err = s.Exec(ctx, []string{"sh", "-c", "trap 'echo got-term' TERM; sleep 30; echo after"}, &ExecOptions{Timeout: 200 * time.Millisecond, KillGrace: Duration(0)})
	if err != nil || !r.TimedOut || r.Signal != int(syscall.SIGKILL) || len(r.Stdout) != 0 {
		t.Fatalf("a kill grace of 0 sends SIGKILL at once, without SIGTERM: %v %+v", err, r)
	}
	for name, opts := range map[string]*ExecOptions{
		"timeout":    {Timeout: -time.Second},
		"kill grace": {KillGrace: Duration(-time.Second)},
		"linger":     {Linger: Duration(-time.Second)},
	} {
		if _, err := s.Exec(ctx, []string{"true"}, opts); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), name) {
			t.Fatalf("a negative %s is refused: %v", name, err)
		}
	}
}

func TestConfigErrorNamesTheVariable(t *testing.T) {
	t.Setenv("SANDBOX_PIDS", "lots")
	if _, err := New(nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "SANDBOX_PIDS") {
		t.Fatalf("config: %v", err)
	}
}

func TestInfo(t *testing.T) {
	sb, _, _ := newScope(t)
	info, err := sb.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Version == "" || info.Rootless != (os.Getuid() != 0) || len(info.Raw) == 0 {
		t.Fatalf("info %+v", info)
	}
}

func TestContextCancelAndDeadlineKillTheCommand(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("ctx"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = s.Exec(short, []string{"sleep", "60"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("deadline: %v", err)
	}
	waitUntil(t, "the command was killed", func() bool { return !sleepRunning(t, s) })

	cctx, cancel2 := context.WithCancel(ctx)
	go func() {
		waitUntil(t, "the command runs", func() bool { return sleepRunning(t, s) })
		cancel2()
	}()
	_, err = s.Exec(cctx, []string{"sleep", "60"}, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := s.Exec(cctx, []string{"true"}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("an already-cancelled context: %v", err)
	}
	if r, err := s.Exec(ctx, []string{"true"}, nil); err != nil || !r.Success() {
		t.Fatalf("the session is fine: %v", err)
	}
}

func TestCloseWakesABlockedExec(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	id := unique("close")
	owner, err := sb.Start(ctx, id, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { owner.Stop(ctx); owner.Close() }()
	blocked, err := sb.Attach(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	done := inBackground(func() error {
		_, err := blocked.Exec(ctx, []string{"sleep", "60"}, nil)
		return err
	})
	waitUntil(t, "the command runs", func() bool { return sleepRunning(t, owner) })
	blocked.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked exec: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not wake the blocked call")
	}
	waitUntil(t, "the command was killed", func() bool { return !sleepRunning(t, owner) })
}

func TestWrongThreadIsRefused(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("thread"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	var inner error
	if err := sb.callOnRuntimeThread(func() { _, inner = s.Exec(context.Background(), []string{"true"}, nil) }); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrWrongThread) || !strings.Contains(inner.Error(), "sbx_session_exec") {
		t.Fatalf("from a runtime thread: %v", inner)
	}
}

func TestGoroutinesShareASession(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("share"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				word := []byte{byte('a' + i), byte('a' + j)}
				r, err := s.Exec(ctx, []string{"cat"}, &ExecOptions{Stdin: word})
				if err != nil || !bytes.Equal(r.Stdout, word) {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker: %v", err)
	}
}

func nativeThreads() int {
	entries, _ := os.ReadDir("/proc/self/task")
	return len(entries)
}

func TestFinalizersFreeWhatWasNeverClosed(t *testing.T) {
	sb, scope, dir := newScope(t)
	ctx := ctxT(t)
	id := unique("gc")
	if _, err := sb.Start(ctx, id, dir, nil); err != nil { // handle dropped, container kept
		t.Fatal(err)
	}
	runtime.GC()
	before := nativeThreads()
	for i := 0; i < 10; i++ {
		other, err := New(&Config{Scope: scope, Provision: Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := other.Attach(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.Exec(ctx, []string{"true"}, nil); err != nil || !r.Success() {
			t.Fatalf("exec: %v", err)
		}
		// Neither is closed: their finalizers release them.
	}
	for i := 0; i < 20 && nativeThreads() > before+4; i++ {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	// Go keeps its own idle OS threads; each leaked context would hold two more.
	if after := nativeThreads(); after > before+4 {
		t.Fatalf("threads %d -> %d: contexts were not freed", before, after)
	}
	if rows, err := sb.List(ctx); err != nil || len(rows) != 1 {
		t.Fatalf("the session outlives its handles: %v %v", err, rows)
	}
}

func TestFinalizersFreeTasksTerminalsAndStreams(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("gcnew"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	for i := 0; i < 30; i++ {
		if _, err := s.SpawnTask(ctx, TaskSpec{Shell: "true"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenTerminal(ctx, TerminalSpec{Shell: "true"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.ExecStream(ctx, []string{"echo", "x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			st.Next(ctx)
		}
		// None is closed: their finalizers release them.
		if i%10 == 0 {
			runtime.GC()
		}
	}
	// A stream dropped while its command runs: the finalizer kills the command.
	if _, err := s.ExecStream(ctx, []string{"sleep", "61"}, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the command runs", func() bool { return sleep61Running(t, s) })
	waitUntil(t, "the collected stream's command was killed", func() bool {
		runtime.GC()
		return !sleep61Running(t, s)
	})
	if tasks, err := s.Tasks(ctx); err != nil || len(tasks) != 30 {
		t.Fatalf("tasks outlive their handles: %v %d", err, len(tasks))
	}
	if terms, err := s.Terminals(ctx); err != nil || len(terms) != 30 {
		t.Fatalf("terminals outlive their handles: %v %d", err, len(terms))
	}
}

func TestGoroutinesShareTerminalsAndStreams(t *testing.T) {
	sb, _, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("gonew"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Stop(ctx); s.Close() }()
	term, err := s.OpenTerminal(ctx, TerminalSpec{Shell: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := term.Write([]byte("line\n")); err != nil {
				errs <- err
				return
			}
		}
		term.Write([]byte("end-of-lines\n"))
	}()
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				st, err := s.ExecStream(ctx, []string{"cat"}, &ExecOptions{Stdin: bytes.Repeat([]byte{byte('a' + i)}, 50000)})
				if err != nil {
					errs <- err
					return
				}
				exit, err := st.Wait(ctx)
				st.Close()
				if err != nil || exit.StdoutTotal != 50000 {
					errs <- fmt.Errorf("stream %d/%d: %v %+v", i, j, err, exit)
					return
				}
			}
		}(i)
	}
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "end-of-lines\r\n") {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := term.ReadContext(rctx, buf)
		cancel()
		if err != nil {
			t.Fatalf("read: %v (%q)", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c := strings.Count(seen.String(), "line\r\n"); c < 20 {
		t.Fatalf("the terminal echoed %d lines", c)
	}
	term.Kill(ctx, syscall.SIGKILL)
}
