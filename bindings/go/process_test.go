package sandbox

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// The held-process contract, checked once for each kind: what tasks and terminals share
// (ids, attach by id, list, wait, kill, close, errors) behaves the same for both. Each
// kind's own verbs (output streams; writing, reading, resizing) have tests of their own.

// heldHandle is what a Task and a Terminal both are.
type heldHandle interface {
	ID() string
	Close() error
	Kill(ctx context.Context, sig syscall.Signal) error
}

// heldEnd is the part of a TaskInfo or TerminalInfo the contract speaks of.
type heldEnd struct {
	id       string
	state    ProcessState
	exitCode int
	signal   int
}

// heldKind adapts one kind's verbs to the shared scenario.
type heldKind struct {
	name   string
	start  func(ctx context.Context, s *Session, shell, cwd string) (heldHandle, error)
	attach func(ctx context.Context, s *Session, id string) (heldHandle, error)
	info   func(ctx context.Context, h heldHandle) (heldEnd, error)
	wait   func(ctx context.Context, h heldHandle) (heldEnd, error)
	list   func(ctx context.Context, s *Session) ([]heldEnd, error)
	// unknown is a well-formed id no session has.
	unknown string
}

func taskEnd(i *TaskInfo, err error) (heldEnd, error) {
	if err != nil {
		return heldEnd{}, err
	}
	return heldEnd{i.ID, i.State, i.ExitCode, i.Signal}, nil
}

func terminalEnd(i *TerminalInfo, err error) (heldEnd, error) {
	if err != nil {
		return heldEnd{}, err
	}
	return heldEnd{i.ID, i.State, i.ExitCode, i.Signal}, nil
}

// listed turns a list of infos into heldEnds with end.
func listed[I any](rows []I, err error, end func(*I, error) (heldEnd, error)) ([]heldEnd, error) {
	if err != nil {
		return nil, err
	}
	out := make([]heldEnd, 0, len(rows))
	for i := range rows {
		e, _ := end(&rows[i], nil)
		out = append(out, e)
	}
	return out, nil
}

var heldKinds = []heldKind{
	{
		name: "task",
		start: func(ctx context.Context, s *Session, shell, cwd string) (heldHandle, error) {
			t, err := s.SpawnTask(ctx, TaskSpec{Shell: shell, Cwd: cwd})
			if err != nil {
				return nil, err
			}
			return t, nil
		},
		attach: func(ctx context.Context, s *Session, id string) (heldHandle, error) {
			t, err := s.AttachTask(ctx, id)
			if err != nil {
				return nil, err
			}
			return t, nil
		},
		info: func(ctx context.Context, h heldHandle) (heldEnd, error) { return taskEnd(h.(*Task).Info(ctx)) },
		wait: func(ctx context.Context, h heldHandle) (heldEnd, error) { return taskEnd(h.(*Task).Wait(ctx)) },
		list: func(ctx context.Context, s *Session) ([]heldEnd, error) {
			rows, err := s.Tasks(ctx)
			return listed(rows, err, taskEnd)
		},
		unknown: "task-nosuch",
	},
	{
		name: "terminal",
		start: func(ctx context.Context, s *Session, shell, cwd string) (heldHandle, error) {
			t, err := s.OpenTerminal(ctx, TerminalSpec{Shell: shell, Cwd: cwd})
			if err != nil {
				return nil, err
			}
			return t, nil
		},
		attach: func(ctx context.Context, s *Session, id string) (heldHandle, error) {
			t, err := s.AttachTerminal(ctx, id)
			if err != nil {
				return nil, err
			}
			return t, nil
		},
		info: func(ctx context.Context, h heldHandle) (heldEnd, error) { return terminalEnd(h.(*Terminal).Info(ctx)) },
		wait: func(ctx context.Context, h heldHandle) (heldEnd, error) { return terminalEnd(h.(*Terminal).Wait(ctx)) },
		list: func(ctx context.Context, s *Session) ([]heldEnd, error) {
			rows, err := s.Terminals(ctx)
			return listed(rows, err, terminalEnd)
		},
		unknown: "term-nosuch",
	},
}

// forEachKind runs check as a subtest per kind, each in a session of its own.
func forEachKind(t *testing.T, tag string, check func(t *testing.T, k heldKind, s *Session, ctx context.Context)) {
	for _, k := range heldKinds {
		t.Run(k.name, func(t *testing.T) {
			_, s := startSession(t, tag+k.name[:4])
			check(t, k, s, ctxT(t))
		})
	}
}

func TestHeldProcessExitListAttachAndErrors(t *testing.T) {
	forEachKind(t, "held", func(t *testing.T, k heldKind, s *Session, ctx context.Context) {
		h, err := k.start(ctx, s, "exit 4", "")
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		end, err := k.wait(ctx, h)
		if err != nil || end.state != StateExited || end.exitCode != 4 || end.signal != 0 || end.id != h.ID() {
			t.Fatalf("wait: %v %+v", err, end)
		}
		rows, err := k.list(ctx, s)
		if err != nil || len(rows) != 1 || rows[0] != end {
			t.Fatalf("list: %v %+v", err, rows)
		}
		again, err := k.attach(ctx, s, h.ID())
		if err != nil {
			t.Fatal(err)
		}
		if i, err := k.info(ctx, again); err != nil || i != end {
			t.Fatalf("attached: %v %+v", err, i)
		}
		again.Close()
		again.Close()
		if _, err := k.info(ctx, again); !errors.Is(err, ErrClosed) {
			t.Fatalf("after close: %v", err)
		}
		if err := h.Kill(ctx, syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("kill after the end: %v", err)
		}
		checkErrors(t, []errCase{
			{"bad signal", h.Kill(ctx, syscall.Signal(0)), ErrInvalidArgument},
			{"unknown signal", h.Kill(ctx, syscall.Signal(99)), ErrInvalidArgument},
			{"no such id", func() error { _, err := k.attach(ctx, s, k.unknown); return err }(), ErrNotFound},
			{"bad id", func() error { _, err := k.attach(ctx, s, "bad id!"); return err }(), ErrInvalidArgument},
			{"path id", func() error { _, err := k.attach(ctx, s, "../x"); return err }(), ErrInvalidArgument},
			{"bad cwd", func() error { _, err := k.start(ctx, s, "true", "/no/such/dir"); return err }(), ErrNotFound},
			{"NUL", func() error { _, err := k.start(ctx, s, "a\x00b", ""); return err }(), ErrInvalidArgument},
		})
	})
}

func TestHeldProcessDeadlineCancelKillAndCloseWakeAWait(t *testing.T) {
	forEachKind(t, "heldw", func(t *testing.T, k heldKind, s *Session, ctx context.Context) {
		h, err := k.start(ctx, s, "exec sleep 60", "")
		if err != nil {
			t.Fatal(err)
		}
		deadlineEnds(t, ctx, "wait with a deadline", func(short context.Context) error {
			_, err := k.wait(short, h)
			return err
		})
		if _, err := k.wait(cancelledAfter(ctx, 200*time.Millisecond), h); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		// Close wakes a wait blocked in another goroutine; the process runs on.
		done := inBackground(func() error {
			_, err := k.wait(context.Background(), h)
			return err
		})
		time.Sleep(200 * time.Millisecond)
		h.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked wait after close: %v", err)
		}
		again, err := k.attach(ctx, s, h.ID())
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if i, err := k.info(ctx, again); err != nil || i.state != StateRunning {
			t.Fatalf("it runs on after close: %v %+v", err, i)
		}
		if err := again.Kill(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		end, err := k.wait(ctx, again)
		if err != nil || end.state != StateKilled || end.signal != 9 || end.exitCode != -1 {
			t.Fatalf("killed: %v %+v", err, end)
		}
	})
}

func TestHeldProcessesOfAClosedSessionAreClosed(t *testing.T) {
	for _, k := range heldKinds {
		t.Run(k.name, func(t *testing.T) {
			sb, s := startSession(t, "heldses"+k.name[:4])
			ctx := ctxT(t)
			other, err := sb.Attach(ctx, s.ID())
			if err != nil {
				t.Fatal(err)
			}
			h, err := k.start(ctx, other, "exec sleep 60", "")
			if err != nil {
				t.Fatal(err)
			}
			done := inBackground(func() error {
				_, err := k.wait(context.Background(), h)
				return err
			})
			time.Sleep(200 * time.Millisecond)
			other.Close()
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Fatalf("closing the session closes its %ss: %v", k.name, err)
			}
			h.Close()
			if !sleepRunning(t, s) {
				t.Fatalf("the %s runs on after its session handle closed", k.name)
			}
		})
	}
}
