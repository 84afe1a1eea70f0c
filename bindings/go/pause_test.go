package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

// cpuUsed is the CPU time (µs) the session's processes used during d.
func cpuUsed(t *testing.T, s *Session, d time.Duration) uint64 {
	t.Helper()
	before, err := s.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	after, err := s.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return after.CPUUsec - before.CPUUsec
}

func TestPauseStopsCPURefusesStartsAndResumeContinues(t *testing.T) {
	_, s := startSession(t, "pause")
	ctx := ctxT(t)
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: "echo up; while :; do :; done"})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	if c, err := task.WaitOutput(ctx, StreamStdout, 0, 100); err != nil || string(c.Data) != "up\n" {
		t.Fatalf("output: %v %+v", err, c)
	}
	if used := cpuUsed(t, s, time.Second); used < 300_000 {
		t.Fatalf("the loop runs: %d us of CPU in 1 s", used)
	}
	p, err := s.Pause(ctx)
	if err != nil || !p.Paused || !p.Changed || p.Method != "signals" || p.Processes < 1 {
		t.Fatalf("pause: %v %+v", err, p)
	}
	if used := cpuUsed(t, s, time.Second); used > 100_000 {
		t.Fatalf("paused: %d us of CPU in 1 s", used)
	}
	if _, err := s.Exec(ctx, []string{"true"}, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("exec while paused: %v", err)
	}
	if p, err := s.Pause(ctx); err != nil || !p.Paused || p.Changed {
		t.Fatalf("pause again: %v %+v", err, p)
	}
	r, err := s.Resume(ctx)
	if err != nil || r.Paused || !r.Changed {
		t.Fatalf("resume: %v %+v", err, r)
	}
	if used := cpuUsed(t, s, time.Second); used < 300_000 {
		t.Fatalf("the loop runs again: %d us of CPU in 1 s", used)
	}
	if r, err := s.Exec(ctx, []string{"echo", "back"}, nil); err != nil || string(r.Stdout) != "back\n" {
		t.Fatalf("exec after resume: %v %+v", err, r)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(context.Background()); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("pause after stop: %v", err)
	}
}
