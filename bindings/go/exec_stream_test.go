package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

func collect(t *testing.T, st *ExecStream) ([]byte, []byte, *ExitStatus) {
	t.Helper()
	var out, errOut bytes.Buffer
	for {
		ev, err := st.Next(ctxT(t))
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		switch ev.Kind {
		case EventStdout:
			out.Write(ev.Data)
		case EventStderr:
			errOut.Write(ev.Data)
		case EventExit:
			return out.Bytes(), errOut.Bytes(), ev.Exit
		}
	}
}

func TestExecStreamEventsAndStdin(t *testing.T) {
	_, s := startSession(t, "stream")
	ctx := ctxT(t)
	st, err := s.ExecStream(ctx, []string{"cat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	input := bytes.Repeat([]byte("ab\x00cd"), 40000)
	go func() {
		io.Copy(st, bytes.NewReader(input))
		st.CloseStdin()
	}()
	out, _, exit := collect(t, st)
	if !bytes.Equal(out, input) || !exit.Success() || exit.StdoutTotal != uint64(len(input)) {
		t.Fatalf("cat: %d bytes, %+v", len(out), exit)
	}
	if _, err := st.Next(ctx); err != io.EOF {
		t.Fatalf("after the exit: %v", err)
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("write after the exit: %v", err)
	}
	st.Close()
	st.Close()

	st, err = s.ExecStream(ctx, []string{"sh", "-c", "read line; echo got $line; echo $WHO >&2; exit 5"}, &ExecOptions{Stdin: []byte("hello\n"), Env: map[string]string{"WHO": "me"}})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, exit := collect(t, st)
	if string(out) != "got hello\n" || string(errOut) != "me\n" || exit.ExitCode != 5 {
		t.Fatalf("%q %q %+v", out, errOut, exit)
	}
	st.Close()
	st, err = s.ExecStream(ctx, []string{"sleep", "30"}, &ExecOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if exit, err := st.Wait(ctx); err != nil || !exit.TimedOut {
		t.Fatalf("timeout: %v %+v", err, exit)
	}
	st.Close()
}

func TestExecStreamContextSignalsAndClose(t *testing.T) {
	_, s := startSession(t, "streamctx")
	ctx := ctxT(t)
	st, err := s.ExecStream(ctx, []string{"sleep", "60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadlineEnds(t, ctx, "next with a deadline", func(short context.Context) error {
		_, err := st.Next(short)
		return err
	})
	if err := st.Signal(syscall.Signal(0)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad signal: %v", err)
	}
	if err := st.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if exit, err := st.Wait(ctx); err != nil || exit.Signal != int(syscall.SIGTERM) {
		t.Fatalf("signalled: %v %+v", err, exit)
	}
	st.Close()

	// Close from another goroutine wakes a blocked Next and kills the command.
	st, err = s.ExecStream(ctx, []string{"sleep", "61"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the command runs", func() bool { return sleep61Running(t, s) })
	done := inBackground(func() error {
		_, err := st.Next(context.Background())
		return err
	})
	time.Sleep(200 * time.Millisecond)
	st.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked next after close: %v", err)
	}
	waitUntil(t, "close killed it", func() bool { return !sleep61Running(t, s) })

	// The stream's context kills the command, like exec.CommandContext.
	cctx, cancelCmd := context.WithCancel(ctx)
	st, err = s.ExecStream(cctx, []string{"sleep", "61"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the command runs", func() bool { return sleep61Running(t, s) })
	cancelCmd()
	waitUntil(t, "the context killed it", func() bool { return !sleep61Running(t, s) })
	if _, err := st.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("next after the context ended: %v", err)
	}
	st.Close()
	if _, err := s.ExecStream(ctx, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty argv: %v", err)
	}
}

func sleep61Running(t *testing.T, s *Session) bool {
	r, err := s.Exec(context.Background(), []string{"sh", "-c", "ps | grep -v grep | grep -q 'sleep 61'"}, nil)
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	return r.ExitCode == 0
}
