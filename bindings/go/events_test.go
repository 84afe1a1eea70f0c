package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eventWait bounds each wait for an expected event (as WAIT in tests/tests/events.rs).
const eventWait = 30 * time.Second

// scenarioFile is tests/conformance/events.json: SANDBOX_EVENTS_JSON names it where the
// repository is not around the test binary (scripts/test-ffi's rootless run, from a
// copy in /tmp); else it is found from this package's directory, where go test runs.
func scenarioFile() string {
	if p := os.Getenv("SANDBOX_EVENTS_JSON"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "tests", "conformance", "events.json")
}

// scenario is tests/conformance/events.json (see its "about").
type scenario struct {
	About    string `json:"about"`
	SettleMs int    `json:"settle_ms"`
	Steps    []struct {
		Exec      string   `json:"exec"`
		Spawn     string   `json:"spawn"`
		Name      string   `json:"name"`
		Kill      string   `json:"kill"`
		Signal    int      `json:"signal"`
		Stop      bool     `json:"stop"`
		Expect    []string `json:"expect"`
		Unordered bool     `json:"unordered"`
	} `json:"steps"`
}

func loadScenario(t *testing.T) *scenario {
	t.Helper()
	raw, err := os.ReadFile(scenarioFile())
	if err != nil {
		t.Fatalf("the conformance scenario (SANDBOX_EVENTS_JSON names it when not run from bindings/go): %v", err)
	}
	var sc scenario
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a step this runner does not know fails, not skipped
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("%s: %v", scenarioFile(), err)
	}
	if len(sc.Steps) == 0 || sc.SettleMs <= 0 {
		t.Fatalf("%s: no steps or no settle_ms", scenarioFile())
	}
	return &sc
}

// signature is one event as the conformance scenario compares it.
func signature(e Event, root string) string {
	rel := func(p string) string { return strings.TrimLeft(strings.TrimPrefix(p, root), "/") }
	s := e.Kind + " " + e.Action
	switch e.Kind {
	case "file":
		s += " " + rel(e.Path)
		if e.From != "" {
			s += " from " + rel(e.From)
		}
		if e.Dir {
			s += " dir"
		}
	case "process":
		s += " " + e.Process
		if e.Code != nil {
			s += fmt.Sprintf(" code=%d", *e.Code)
		}
		if e.Signal != nil {
			s += fmt.Sprintf(" signal=%d", *e.Signal)
		}
	case "port":
		command := e.Command
		if command == "" {
			command = "?"
		}
		s += fmt.Sprintf(" %d %s", e.Port, command)
	}
	return s
}

// normalized drops, within one step, a `file modified P` after a `file created P` or
// `file modified P`.
func normalized(sigs []string) []string {
	touched := map[string]bool{}
	out := []string{}
	for _, s := range sigs {
		f := strings.Split(s, " ")
		if f[0] == "file" && len(f) > 2 {
			again := touched[f[2]]
			if f[1] == "created" || f[1] == "modified" {
				touched[f[2]] = true
			}
			if f[1] == "modified" && again {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// nextWithin is the next event of st within d; false when none came in time or the
// stream has ended (any other error fails the test).
func nextWithin(t *testing.T, ctx context.Context, st *EventStream, d time.Duration) (Event, bool) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	ev, err := st.Next(c)
	switch {
	case err == nil:
		return ev, true
	case err == io.EOF, errors.Is(err, context.DeadlineExceeded):
		return Event{}, false
	}
	t.Fatalf("next: %v", err)
	return Event{}, false
}

// within is a context of ctx whose deadline is d away (cancelled when the test ends).
func within(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}

func sh(t *testing.T, ctx context.Context, s *Session, script string) {
	t.Helper()
	r, err := s.Exec(ctx, []string{"sh", "-c", script}, nil)
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("%s: exit %d: %s", script, r.ExitCode, r.Stderr)
	}
}

func openEvents(t *testing.T, ctx context.Context, s *Session, opts EventsOptions) *EventStream {
	t.Helper()
	st, err := s.Events(ctx, opts)
	if err != nil {
		t.Fatalf("events %+v: %v", opts, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The steps of tests/conformance/events.json, run as its "about" says and as the Rust
// runner `the_conformance_scenario` in tests/tests/events.rs runs them.
func TestEventsConformanceScenario(t *testing.T) {
	sc := loadScenario(t)
	_, s := startSession(t, "events")
	ctx := ctxT(t)
	root, err := filepath.EvalSymlinks(s.StartReport().WorkingDir)
	if err != nil {
		t.Fatal(err)
	}
	// The working dir is watched once the agent says so.
	life := openEvents(t, ctx, s, EventsOptions{From: 1})
	watching, err := life.WaitFor(within(t, ctx, eventWait), func(e Event) bool { return e.Action == "watching" })
	if err != nil {
		t.Fatalf("watching: %v", err)
	}
	if watching.Kind != "lifecycle" || watching.Path != root {
		t.Fatalf("watching %+v, want the root %s", watching, root)
	}
	life.Close()
	stream := openEvents(t, ctx, s, EventsOptions{From: watching.Seq + 1, Kinds: []string{"file", "process", "port"}})
	settle := time.Duration(sc.SettleMs) * time.Millisecond
	named := map[string]*Task{}
	for i, step := range sc.Steps {
		switch {
		case step.Exec != "":
			sh(t, ctx, s, step.Exec)
		case step.Spawn != "":
			task, err := s.SpawnTask(ctx, TaskSpec{Shell: step.Spawn})
			if err != nil {
				t.Fatalf("step %d: spawn: %v", i, err)
			}
			defer task.Close()
			if step.Name != "" {
				named[step.Name] = task
			}
		case step.Kill != "":
			task := named[step.Kill]
			if task == nil {
				t.Fatalf("step %d: no task named %q", i, step.Kill)
			}
			if err := task.Kill(ctx, syscall.Signal(step.Signal)); err != nil {
				t.Fatalf("step %d: kill: %v", i, err)
			}
		case step.Stop:
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("step %d: stop: %v", i, err)
			}
		default:
			t.Fatalf("step %d: no action this runner knows", i)
		}
		var got []string
		for len(normalized(got)) < len(step.Expect) {
			ev, ok := nextWithin(t, ctx, stream, eventWait)
			if !ok {
				break
			}
			got = append(got, signature(ev, root))
		}
		for {
			ev, ok := nextWithin(t, ctx, stream, settle)
			if !ok {
				break
			}
			got = append(got, signature(ev, root))
		}
		got = normalized(got)
		want := append([]string{}, step.Expect...)
		if step.Unordered {
			sort.Strings(got)
			sort.Strings(want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d %+v: got %q, want %q", i, step, got, step.Expect)
		}
	}
	if _, err := stream.Next(ctx); err != io.EOF {
		t.Fatalf("the stream ends after stopped: %v", err)
	}
	if _, err := stream.Next(ctx); err != io.EOF {
		t.Fatalf("and stays ended: %v", err)
	}

	// A stream opened after the stop has only the end to say.
	late := openEvents(t, ctx, s, EventsOptions{From: watching.Seq + 1})
	if ev, err := late.Next(within(t, ctx, eventWait)); err != nil || ev.Kind != "lifecycle" || ev.Action != "stopped" {
		t.Fatalf("late stream: %+v %v", ev, err)
	}
	if _, err := late.Next(within(t, ctx, eventWait)); err != io.EOF {
		t.Fatalf("late stream after stopped: %v", err)
	}
}

// A reader that goes away (its stream closed with a Next in flight) resumes from its
// Position in a new stream and gets every change made meanwhile.
func TestEventsResumeFromPosition(t *testing.T) {
	_, s := startSession(t, "evresume")
	ctx := ctxT(t)
	first := openEvents(t, ctx, s, EventsOptions{From: 1})
	if _, err := first.WaitFor(within(t, ctx, eventWait), func(e Event) bool { return e.Action == "watching" }); err != nil {
		t.Fatal(err)
	}
	sh(t, ctx, s, "for i in 1 2 3; do echo $i > f$i; done")
	created := map[string]bool{}
	for len(created) < 3 {
		e, err := first.WaitFor(within(t, ctx, eventWait), func(e Event) bool { return e.Kind == "file" && e.Action == "created" })
		if err != nil {
			t.Fatalf("created: %v (so far %v)", err, created)
		}
		created[filepath.Base(e.Path)] = true
	}
	resumeAt := first.Position()
	if resumeAt <= 1 {
		t.Fatalf("position %d after reading", resumeAt)
	}
	pending := inBackground(func() error { _, err := first.Next(ctx); return err })
	time.Sleep(100 * time.Millisecond)
	first.Close()
	if err := <-pending; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("the Next in flight: %v", err)
	}
	if p := first.Position(); p < resumeAt {
		t.Fatalf("position after Close %d, before %d", p, resumeAt)
	}

	sh(t, ctx, s, "for i in 4 5 6 7 8; do echo $i > f$i; done; rm f1")
	second := openEvents(t, ctx, s, EventsOptions{From: resumeAt, Kinds: []string{"file"}})
	want := []string{"created f4", "created f5", "created f6", "created f7", "created f8", "deleted f1"}
	var rest []string
	for len(rest) < len(want) {
		e, err := second.Next(within(t, ctx, eventWait))
		if err != nil {
			t.Fatalf("resumed stream after %q: %v", rest, err)
		}
		if e.Action != "modified" { // whether a write lands in its creation's window is timing
			rest = append(rest, e.Action+" "+filepath.Base(e.Path))
		}
	}
	if !reflect.DeepEqual(rest, want) {
		t.Fatalf("resumed: %q, want %q", rest, want)
	}
}

// closeWakes checks that close, called while a Next on st waits in another goroutine,
// makes that Next return ErrClosed at once (what names close).
func closeWakes(t *testing.T, ctx context.Context, what string, st *EventStream, close func()) {
	t.Helper()
	blocked := inBackground(func() error { _, err := st.Next(ctx); return err })
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	close()
	select {
	case err := <-blocked:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("next woken by %s: %v", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not wake the Next", what)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("%s took %v to wake the Next", what, d)
	}
}

// Context cancellation and Close (of the stream or of its session) unblock a waiting
// Next promptly; C delivers events until the stream ends and keeps what it could not
// deliver.
func TestEventStreamCancelAndClose(t *testing.T) {
	sb, s := startSession(t, "evcancel")
	ctx := ctxT(t)
	quiet := EventsOptions{Kinds: []string{"file"}, PathPrefix: "/nowhere"}
	st := openEvents(t, ctx, s, quiet)

	start := time.Now()
	_, err := st.Next(cancelledAfter(ctx, 200*time.Millisecond))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled next: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the cancel took %v", d)
	}
	// The stream is unchanged: a deadline ends the next wait the same way.
	deadlineEnds(t, ctx, "next after a cancel", func(c context.Context) error { _, err := st.Next(c); return err })
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("next with a done context: %v", err)
	}

	// Close from another goroutine.
	pos := st.Position()
	closeWakes(t, ctx, "the stream's Close", st, func() { st.Close() })
	st.Close()
	if _, err := st.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("next after Close: %v", err)
	}
	if p := st.Position(); p < pos {
		t.Fatalf("position after Close %d, before %d", p, pos)
	}

	// Closing the session handle closes its streams.
	other, err := sb.Attach(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	onOther := openEvents(t, ctx, other, quiet)
	closeWakes(t, ctx, "the session's Close", onOther, func() { other.Close() })

	// A channel of C ends with its context; the event it took but could not deliver
	// stays in the stream.
	all := openEvents(t, ctx, s, EventsOptions{From: 1})
	cctx, cancel = context.WithCancel(ctx)
	ch := all.C(cctx)
	time.Sleep(500 * time.Millisecond) // the goroutine took event 1 and waits to deliver it
	cancel()
	waitUntil(t, "the channel's goroutine stopped", func() bool { return all.Err() != nil })
	if !errors.Is(all.Err(), context.Canceled) {
		t.Fatalf("Err after the cancel: %v", all.Err())
	}
	if _, ok := <-ch; ok {
		t.Fatal("the channel delivered after its context was done")
	}
	if p := all.Position(); p != 1 {
		t.Fatalf("position %d with the undelivered event 1", p)
	}
	if e, err := all.Next(ctx); err != nil || e.Seq != 1 {
		t.Fatalf("the undelivered event: %+v %v", e, err)
	}

	// A channel of C delivers until the stream ends; Err is then nil.
	life := openEvents(t, ctx, s, EventsOptions{Kinds: []string{"lifecycle"}})
	ch = life.C(ctx)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var last Event
	timeout := time.After(eventWait)
	for done := false; !done; {
		select {
		case e, ok := <-ch:
			if !ok {
				done = true
			} else {
				last = e
			}
		case <-timeout:
			t.Fatal("the channel did not end after the stop")
		}
	}
	if last.Action != "stopped" || life.Err() != nil {
		t.Fatalf("the channel's last event %+v, Err %v", last, life.Err())
	}
}

// Process and port details, waiting for a port, a resource sample, and a watch outside
// the working dir.
func TestEventsDetailsPortsStatsAndWatch(t *testing.T) {
	_, s := startSession(t, "evdetail")
	ctx := ctxT(t)
	anyEvent := func(Event) bool { return true }
	procs := openEvents(t, ctx, s, EventsOptions{Kinds: []string{"process"}})
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: "exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	started, err := procs.WaitFor(within(t, ctx, eventWait), anyEvent)
	if err != nil || started.Action != "started" || started.ID != task.ID() || started.Process != "task" ||
		started.Command != "exit 3" || started.Pid <= 1 || started.Seq == 0 || started.Time().Before(time.Now().Add(-time.Minute)) {
		t.Fatalf("started: %+v %v", started, err)
	}
	exited, err := procs.WaitFor(within(t, ctx, eventWait), anyEvent)
	if err != nil || exited.Action != "exited" || exited.Code == nil || *exited.Code != 3 || exited.Signal != nil || exited.OOM {
		t.Fatalf("exited: %+v %v", exited, err)
	}
	r, err := s.Exec(ctx, []string{"sleep", "30"}, &ExecOptions{Timeout: 200 * time.Millisecond})
	if err != nil || !r.TimedOut {
		t.Fatalf("exec: %+v %v", r, err)
	}
	late, err := procs.WaitFor(within(t, ctx, eventWait), anyEvent)
	if err != nil || late.Action != "timed_out" || late.Process != "exec" || late.Command != "sleep 30" {
		t.Fatalf("timed out: %+v %v", late, err)
	}

	// A port that listened before the wait began is found in the journal.
	server, err := s.SpawnTask(ctx, TaskSpec{Shell: "exec httpd -f -p 8766"})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	first, err := s.WaitForPort(within(t, ctx, eventWait), 8766)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.WaitForPort(within(t, ctx, eventWait), 8766)
	if err != nil {
		t.Fatal(err)
	}
	info, err := server.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Kind != "port" || first.Action != "listening" || first.Port != 8766 || first.Command != "httpd" ||
		first.Address == "" || first.Seq != second.Seq || first.Pid != info.Pid {
		t.Fatalf("port: %+v and %+v, task pid %d", first, second, info.Pid)
	}

	now, err := s.Stats(ctx)
	if err != nil || now.MemoryBytes == 0 || now.Pids < 1 || (now.Source != "cgroup" && now.Source != "proc") {
		t.Fatalf("stats: %+v %v", now, err)
	}

	// A watch outside the working dir reports changes there too.
	if err := s.Watch(ctx, "/tmp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(ctx, "/tmp"); err != nil {
		t.Fatalf("a second watch is a no-op: %v", err)
	}
	tmp := openEvents(t, ctx, s, EventsOptions{Kinds: []string{"file"}, PathPrefix: "/tmp"})
	sh(t, ctx, s, "echo x > /tmp/seen")
	e, err := tmp.WaitFor(within(t, ctx, eventWait), anyEvent)
	if err != nil || e.Action != "created" || e.Path != "/tmp/seen" || e.Dir {
		t.Fatalf("watched /tmp: %+v %v", e, err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WaitFor(within(t, ctx, eventWait), func(e Event) bool { return false }); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("WaitFor on a stream that ended: %v", err)
	}
}

func TestEventsBadInput(t *testing.T) {
	_, s := startSession(t, "evbad")
	ctx := ctxT(t)
	// A sequence number from the future: reported by Next, and by every Next after.
	future := openEvents(t, ctx, s, EventsOptions{From: 1_000_000})
	_, errFuture := future.Next(within(t, ctx, eventWait))
	_, errFutureAgain := future.Next(within(t, ctx, eventWait))
	_, errRelative := s.Events(ctx, EventsOptions{PathPrefix: "src"})
	_, errNul := s.Events(ctx, EventsOptions{PathPrefix: "/a\x00b"})
	_, errKind := s.Events(ctx, EventsOptions{Kinds: []string{"file", "gap"}})
	_, errPort0 := s.WaitForPort(ctx, 0)
	checkErrors(t, []errCase{
		{"from beyond the journal", errFuture, ErrInvalidArgument},
		{"from beyond the journal, again", errFutureAgain, ErrInvalidArgument},
		{"relative path prefix", errRelative, ErrInvalidArgument},
		{"NUL in the path prefix", errNul, ErrInvalidArgument},
		{"unknown kind", errKind, ErrInvalidArgument},
		{"watch a missing dir", s.Watch(ctx, "/no/such/dir"), ErrNotFound},
		{"watch a relative path", s.Watch(ctx, "relative"), ErrInvalidArgument},
		{"wait for port 0", errPort0, ErrInvalidArgument},
	})
	if errKind != nil && !strings.Contains(errKind.Error(), `"gap"`) {
		t.Errorf("the unknown kind is not named: %v", errKind)
	}

	// A filter that matches nothing: no event and no error within the wait.
	none := openEvents(t, ctx, s, EventsOptions{From: 1, Kinds: []string{"port"}, PathPrefix: "/nowhere"})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	e, err := none.Next(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !(errors.Is(err, ErrTimeout) || errors.Is(err, ErrCancelled)) {
		t.Fatalf("a filter that matches nothing: %+v %v", e, err)
	}
	// Waiting for a port nothing opens ends at the deadline.
	deadlineEnds(t, ctx, "wait for a port nothing opens", func(c context.Context) error {
		_, err := s.WaitForPort(c, 8767)
		return err
	})

	// A stopped session: typed errors, not hangs.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, errStats := s.Stats(ctx)
	_, errPort := s.WaitForPort(within(t, ctx, eventWait), 8766)
	checkErrors(t, []errCase{
		{"stats of a stopped session", errStats, ErrSessionNotFound},
		{"watch in a stopped session", s.Watch(ctx, "/tmp"), ErrSessionNotFound},
		{"wait for a port in a stopped session", errPort, ErrSessionNotFound},
	})
	// A stream from now of a stopped session: sandbox.h says ErrSessionNotFound; the
	// library gives a stream that has only the end to say. Either way it does not hang.
	gone, err := s.Events(ctx, EventsOptions{})
	if err != nil {
		if !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("events of a stopped session: %v", err)
		}
		return
	}
	defer gone.Close()
	t.Logf("events of a stopped session opened a stream (sandbox.h says SBX_STATUS_SESSION_NOT_FOUND)")
	if e, err := gone.Next(within(t, ctx, eventWait)); err != nil || e.Action != "stopped" {
		t.Fatalf("the stream of a stopped session: %+v %v", e, err)
	}
	if _, err := gone.Next(within(t, ctx, eventWait)); err != io.EOF {
		t.Fatalf("the stream of a stopped session after stopped: %v", err)
	}
}

// The JSON of an event decodes into Event: absent fields are zero or nil, zero values
// that are set are kept.
func TestEventJSONAndKinds(t *testing.T) {
	var e Event
	raw := `{"seq":7,"time_ms":1700000000123,"kind":"process","action":"exited","process":"task","id":"t1",` +
		`"command":"exit 0","pid":42,"code":0,"oom":true}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 7 || e.Kind != "process" || e.Action != "exited" || e.ID != "t1" || e.Pid != 42 || e.Code == nil ||
		*e.Code != 0 || e.Signal != nil || !e.OOM || e.Sample != nil || !e.Time().Equal(time.UnixMilli(1700000000123)) {
		t.Fatalf("%+v", e)
	}
	var r Event
	raw = `{"seq":0,"time_ms":1,"kind":"resources","action":"sample","sample":{"cpu_usec":5,"memory_bytes":6,` +
		`"pids":2,"disk_written_bytes":0,"source":"cgroup"}}`
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	if s := r.Sample; s == nil || s.CPUUsec != 5 || s.MemoryBytes != 6 || s.Pids != 2 || s.DiskWrittenBytes == nil ||
		*s.DiskWrittenBytes != 0 || s.MemoryPeakBytes != nil || s.MemoryLimitBytes != nil || s.Source != "cgroup" {
		t.Fatalf("%+v", r.Sample)
	}
	back, err := json.Marshal(r)
	if err != nil || string(back) != raw {
		t.Fatalf("round trip: %s %v", back, err)
	}
	if _, err := kindsMask([]string{"file", "process", "port", "resources", "lifecycle", "network"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"gap"}, {"File"}, {""}} {
		if _, err := kindsMask(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("kinds %q: %v", bad, err)
		}
	}
}
