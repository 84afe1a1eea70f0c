package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readUntil reads the terminal until what was read contains needle.
func readUntil(t *testing.T, term *Terminal, needle string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), needle) {
		n, err := term.ReadContext(ctx, buf)
		if err != nil {
			t.Fatalf("reading for %q (got %q): %v", needle, seen.String(), err)
		}
		seen.Write(buf[:n])
	}
	return seen.String()
}

// drain reads until nothing comes for a short while.
func drain(t *testing.T, term *Terminal) {
	buf := make([]byte, 4096)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := term.ReadContext(ctx, buf)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTerminalSttyResizeTimeoutKillWait(t *testing.T) {
	_, s := startSession(t, "term")
	ctx := ctxT(t)
	term, err := s.OpenTerminal(ctx, TerminalSpec{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if _, err := io.WriteString(term, "stty size\n"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, term, "24 80")
	if err := term.Resize(ctx, 40, 120); err != nil {
		t.Fatal(err)
	}
	if info, err := term.Info(ctx); err != nil || info.Rows != 40 || info.Cols != 120 || !info.Alive() {
		t.Fatalf("info: %v %+v", err, info)
	}
	term.Write([]byte("stty size\n"))
	readUntil(t, term, "40 120")
	drain(t, term)
	deadlineEnds(t, ctx, "read with a timeout", func(short context.Context) error {
		_, err := term.ReadContext(short, make([]byte, 100))
		return err
	})
	if err := term.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	info, err := term.Wait(ctx)
	if err != nil || info.State != StateKilled || info.Signal != 9 {
		t.Fatalf("wait: %v %+v", err, info)
	}
	if _, err := term.Write([]byte("x")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("write after the end: %v", err)
	}
	if n, err := term.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d %v", n, err)
	}
}

func TestTerminalBlockedReadUnblockedByClose(t *testing.T) {
	_, s := startSession(t, "termclose")
	ctx := ctxT(t)
	term, err := s.OpenTerminal(ctx, TerminalSpec{Shell: "echo ready; exec sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, term, "ready")
	drain(t, term)
	done := inBackground(func() error {
		_, err := term.Read(make([]byte, 100))
		return err
	})
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the read returned before close: %v", err)
	default:
	}
	term.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked read after close: %v", err)
	}
	term.Close()
	again, err := s.AttachTerminal(ctx, term.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := readUntil(t, again, "ready"); !strings.HasPrefix(got, "ready") {
		t.Fatalf("replay: %q", got)
	}
	// A cancelled context wakes a read too.
	cctx := cancelledAfter(ctx, 200*time.Millisecond)
	drain(t, again)
	if _, err := again.ReadContext(cctx, make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	again.Kill(ctx, syscall.SIGHUP)
	if info, err := again.Wait(ctx); err != nil || info.Signal != int(syscall.SIGHUP) {
		t.Fatalf("hup: %v %+v", err, info)
	}
}

func TestTerminalListErrorsAndIoCopy(t *testing.T) {
	_, s := startSession(t, "termlist")
	ctx := ctxT(t)
	term, err := s.OpenTerminal(ctx, TerminalSpec{Argv: []string{"sh", "-c", "echo \"$GREETING:$(pwd)\"; exit 3"}, Rows: 10, Cols: 30, Env: map[string]string{"GREETING": "hi"}, Cwd: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	var out bytes.Buffer
	if _, err := io.Copy(&out, term); err != nil || out.String() != "hi:/tmp\r\n" {
		t.Fatalf("copy: %v %q", err, out.String())
	}
	if info, err := term.Wait(ctx); err != nil || info.ExitCode != 3 {
		t.Fatalf("exit: %v %+v", err, info)
	}
	rows, err := s.Terminals(ctx)
	if err != nil || len(rows) != 1 || rows[0].ID != term.ID() || rows[0].Rows != 10 || rows[0].Cols != 30 {
		t.Fatalf("list: %v %+v", err, rows)
	}
	checkErrors(t, []errCase{
		{"size", func() error { _, err := s.OpenTerminal(ctx, TerminalSpec{Rows: 1001}); return err }(), ErrInvalidArgument},
		{"scrollback", func() error { _, err := s.OpenTerminal(ctx, TerminalSpec{Scrollback: 1}); return err }(), ErrInvalidArgument},
		{"resize", term.Resize(ctx, 0, 10), ErrInvalidArgument},
	})
}
