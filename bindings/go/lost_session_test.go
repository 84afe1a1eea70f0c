package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// lostReaderEnv, when set (to a JSON lostRequest), makes
// TestLostSessionReadableFromANewProcess the new process that reads the lost session.
const lostReaderEnv = "SANDBOX_GO_TEST_LOST_READER"

const lostTask = "seq 1 3000; printf '\\377\\376\\000end\\n'; echo err-line >&2; exit 3"

// lostStdout is what lostTask writes to stdout.
func lostStdout() []byte {
	var b bytes.Buffer
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	b.WriteString("\xff\xfe\x00end\n")
	return b.Bytes()
}

// lostRequest tells the reader what to read; lostReport is what it saw.
type lostRequest struct {
	Scope, Session, Task, Terminal, Report string
}

type lostReport struct {
	Tasks      []TaskInfo
	Info       *TaskInfo
	Stdout     []byte
	Stderr     []byte
	Merged     []byte
	FirstKB    *OutputChunk // the first 1000 bytes of stdout, read as one chunk
	Terminals  []TerminalInfo
	Screen     []byte
	ExecStatus Status // of the failed exec (0 if it did not fail)
	ExecLost   bool   // errors.Is(err, ErrSessionLost)
	ExecError  string
	Stopped    bool
}

// A session whose container died stays readable from a NEW process (this test binary run
// again): task list and info, the task's whole output byte-exact, the terminal's output;
// an exec fails with ErrSessionLost; stop still removes the container and control dir.
func TestLostSessionReadableFromANewProcess(t *testing.T) {
	if req := os.Getenv(lostReaderEnv); req != "" {
		readLostSession(t, req)
		return
	}
	sb, scope, dir := newScope(t)
	ctx := ctxT(t)
	s, err := sb.Start(ctx, unique("lost"), dir, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.Close()
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: lostTask})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := task.Wait(ctx); err != nil || info.ExitCode != 3 {
		t.Fatalf("wait: %v %+v", err, info)
	}
	// Read to the end while the agent lives: everything is in the spool before it dies.
	for _, stream := range []TaskStream{StreamStdout, StreamStderr, StreamMerged} {
		if _, err := io.ReadAll(task.OutputReader(ctx, stream)); err != nil {
			t.Fatal(err)
		}
	}
	task.Close()
	term, err := s.OpenTerminal(ctx, TerminalSpec{Shell: "echo term-$((40 + 2)); exec sleep 300"})
	if err != nil {
		t.Fatal(err)
	}
	var screen []byte
	for !bytes.Contains(screen, []byte("term-42")) {
		c, err := term.ReadChunk(ctx, uint64(len(screen)), 4096)
		if err != nil {
			t.Fatalf("terminal read (seen %q): %v", screen, err)
		}
		screen = append(screen, c.Data...)
	}
	term.Close()

	var container string
	rows, err := sb.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == s.ID() {
			container = r.Container
		}
	}
	if container == "" || container != s.StartReport().Container {
		t.Fatalf("container %q, start report %q", container, s.StartReport().Container)
	}
	out, err := exec.Command("podman", "inspect", "--format", `{{index .Config.Labels "sandbox.control"}}`, container).Output()
	control := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(control, "/") {
		t.Fatalf("control dir: %v %q", err, out)
	}
	if _, err := os.Stat(control); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"kill", container}, {"wait", container}} {
		if out, err := exec.Command("podman", args...).CombinedOutput(); err != nil {
			t.Fatalf("podman %v: %v %s", args, err, out)
		}
	}

	report := t.TempDir() + "/report.json"
	req, _ := json.Marshal(lostRequest{Scope: scope, Session: s.ID(), Task: task.ID(), Terminal: term.ID(), Report: report})
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLostSessionReadableFromANewProcess$", "-test.count=1")
	child.Env = append(os.Environ(), lostReaderEnv+"="+string(req))
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("the reader process failed: %v\n%s", err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var seen lostReport
	if err := json.Unmarshal(data, &seen); err != nil {
		t.Fatal(err)
	}

	if len(seen.Tasks) != 1 || seen.Tasks[0].ID != task.ID() || seen.Tasks[0].State != StateExited || seen.Tasks[0].ExitCode != 3 {
		t.Errorf("task list: %+v", seen.Tasks)
	}
	if i := seen.Info; i == nil || i.ID != task.ID() || i.State != StateExited || i.ExitCode != 3 || !strings.Contains(i.Command, "seq 1 3000") {
		t.Errorf("task info: %+v", seen.Info)
	}
	want := lostStdout()
	if !bytes.Equal(seen.Stdout, want) {
		t.Errorf("stdout: read %d bytes, want %d (byte-exact)", len(seen.Stdout), len(want))
	}
	// Finished means the chunk reaches the end: a reader that stops there misses nothing.
	if c := seen.FirstKB; c == nil {
		t.Errorf("no chunk")
	} else if len(c.Data) != 1000 || c.End != uint64(len(want)) || c.Finished {
		t.Errorf("chunk of %d bytes at %d of the %d bytes of stdout: end %d, finished %v (want false)",
			len(c.Data), c.Offset, len(want), c.End, c.Finished)
	}
	if string(seen.Stderr) != "err-line\n" {
		t.Errorf("stderr: %q", seen.Stderr)
	}
	if len(seen.Merged) != len(want)+len("err-line\n") {
		t.Errorf("merged: %d bytes", len(seen.Merged))
	}
	if len(seen.Terminals) != 1 || seen.Terminals[0].ID != term.ID() {
		t.Errorf("terminal list: %+v", seen.Terminals)
	}
	if !bytes.Contains(seen.Screen, []byte("term-42")) {
		t.Errorf("terminal output: %q", seen.Screen)
	}
	if !seen.ExecLost || seen.ExecStatus != StatusSessionLost || !strings.Contains(seen.ExecError, "is lost") {
		t.Errorf("exec on the lost session: %v %q", seen.ExecStatus, seen.ExecError)
	}
	if !seen.Stopped {
		t.Errorf("the reader did not stop the session")
	}
	if left := leftovers(t, scope); len(left) != 0 {
		t.Errorf("containers left: %v", left)
	}
	if _, err := os.Stat(control); !os.IsNotExist(err) {
		t.Errorf("control dir %s left: %v", control, err)
	}
}

// readLostSession is the new process: it attaches, reads everything, tries an exec, stops
// the session and writes what it saw to the report file.
func readLostSession(t *testing.T, request string) {
	var req lostRequest
	if err := json.Unmarshal([]byte(request), &req); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	sb, err := New(&Config{Scope: req.Scope, Provision: Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	s, err := sb.Attach(ctx, req.Session)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	defer s.Close()
	var seen lostReport
	if seen.Tasks, err = s.Tasks(ctx); err != nil {
		t.Fatalf("tasks: %v", err)
	}
	task, err := s.AttachTask(ctx, req.Task)
	if err != nil {
		t.Fatalf("attach task: %v", err)
	}
	defer task.Close()
	if seen.Info, err = task.Info(ctx); err != nil {
		t.Fatalf("task info: %v", err)
	}
	for _, r := range []struct {
		stream TaskStream
		into   *[]byte
	}{{StreamStdout, &seen.Stdout}, {StreamStderr, &seen.Stderr}, {StreamMerged, &seen.Merged}} {
		if *r.into, err = io.ReadAll(task.OutputReader(ctx, r.stream)); err != nil {
			t.Fatalf("task output %d: %v", r.stream, err)
		}
	}
	if seen.FirstKB, err = task.Output(ctx, StreamStdout, 0, 1000); err != nil {
		t.Fatalf("task output chunk: %v", err)
	}
	if seen.Terminals, err = s.Terminals(ctx); err != nil {
		t.Fatalf("terminals: %v", err)
	}
	term, err := s.AttachTerminal(ctx, req.Terminal)
	if err != nil {
		t.Fatalf("attach terminal: %v", err)
	}
	defer term.Close()
	if seen.Screen, err = io.ReadAll(term); err != nil {
		t.Fatalf("terminal output: %v", err)
	}
	_, err = s.Exec(ctx, []string{"true"}, nil)
	var e *Error
	if errors.As(err, &e) {
		seen.ExecStatus, seen.ExecError = e.Status, e.Message
	}
	seen.ExecLost = errors.Is(err, ErrSessionLost)
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	seen.Stopped = true
	data, err := json.Marshal(seen)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(req.Report, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
