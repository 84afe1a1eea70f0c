package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	sandbox "example.invalid/sandbox/bindings/go"
)

// The README's Go example. The test run sets SANDBOX_SCOPE and SANDBOX_PROVISION.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, _ := os.MkdirTemp("", "go-example")
	defer os.RemoveAll(dir)

	sb, err := sandbox.New(nil) // config file + SANDBOX_* variables
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	s, err := sb.Start(ctx, "go-example", dir, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	defer s.Stop(ctx)

	r, err := s.Exec(ctx, []string{"sh", "-c", "echo hello from $(uname -s)"}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("exit %d: %s", r.ExitCode, r.Stdout)

	// A terminal is an io.ReadWriteCloser: type into it, read until its shell exits.
	term, err := s.OpenTerminal(ctx, sandbox.TerminalSpec{Rows: 24, Cols: 80})
	if err != nil {
		panic(err)
	}
	defer term.Close()
	io.WriteString(term, "stty size; exit\n")
	screen, _ := io.ReadAll(term)
	fmt.Println("terminal is 24x80:", strings.Contains(string(screen), "24 80"))

	// A background task lives in the session; its output can be followed as an io.Reader.
	task, err := s.SpawnTask(ctx, sandbox.TaskSpec{Shell: "echo tick; echo tock"})
	if err != nil {
		panic(err)
	}
	defer task.Close()
	out, _ := io.ReadAll(task.OutputReader(ctx, sandbox.StreamMerged))
	fmt.Printf("%s", out)

	_, err = sb.Attach(ctx, "no-such-session")
	fmt.Println(errors.Is(err, sandbox.ErrSessionNotFound))
	// Output:
	// exit 0: hello from Linux
	// terminal is 24x80: true
	// tick
	// tock
	// true
}

// Waiting for a dev server, then following file changes below src/ from the start of
// the journal, and where to resume later (in this process or another) with nothing lost.
func ExampleSession_Events() {
	ctx := context.Background()
	sb, err := sandbox.New(nil)
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	s, err := sb.Attach(ctx, "demo")
	if err != nil {
		panic(err)
	}
	defer s.Close()
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	up, err := s.WaitForPort(wait, 5173) // also if it listened already
	cancel()
	if err != nil {
		panic(err)
	}
	fmt.Println(up.Command, "listens on", up.Port)

	events, err := s.Events(ctx, sandbox.EventsOptions{From: 1, Kinds: []string{"file"},
		PathPrefix: "/home/me/project/src"})
	if err != nil {
		panic(err)
	}
	defer events.Close()
	follow, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	for e := range events.C(follow) {
		if e.Action == "overflow" {
			fmt.Println("changes were lost: rescan", e.Path)
			continue
		}
		fmt.Println(e.Seq, e.Action, e.Path)
	}
	// Err is nil after the session stopped, else why the channel closed (here: the deadline).
	fmt.Println(events.Err(), "; resume at", events.Position()) // as EventsOptions.From
}
