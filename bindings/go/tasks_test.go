package sandbox

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTaskSpawnReadWait(t *testing.T) {
	_, s := startSession(t, "task")
	ctx := ctxT(t)
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: "echo out; echo err >&2; printf 'x\\000y'; exit 4"})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	info, err := task.Wait(ctx)
	if err != nil || info.State != StateExited || info.ExitCode != 4 || info.Signal != 0 || info.Running() {
		t.Fatalf("wait: %v %+v", err, info)
	}
	if info.Pid == 0 || info.Ended.Before(info.Started) || !strings.Contains(info.Command, "echo out") || info.SpoolCap != 8<<20 {
		t.Fatalf("info: %+v", info)
	}
	// Follow the output until it is complete: the task may be reported ended a moment
	// before the agent has drained its pipes.
	for _, stream := range []TaskStream{StreamStdout, StreamStderr, StreamMerged} {
		if _, err := io.ReadAll(task.OutputReader(ctx, stream)); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := task.Output(ctx, StreamStdout, 0, 100); err != nil || string(c.Data) != "out\nx\x00y" || !c.Finished {
		t.Fatalf("stdout: %v %+v", err, c)
	}
	if c, err := task.Output(ctx, StreamStderr, 0, 100); err != nil || string(c.Data) != "err\n" {
		t.Fatalf("stderr: %v %+v", err, c)
	}
	if c, err := task.Output(ctx, StreamStdout, 4, 2); err != nil || string(c.Data) != "x\x00" || c.Offset != 4 || c.End != 7 || c.NextOffset() != 6 || c.Finished {
		t.Fatalf("middle: %v %+v", err, c)
	}
	if c, err := task.Tail(ctx, StreamStdout, 3); err != nil || string(c.Data) != "x\x00y" {
		t.Fatalf("tail: %v %+v", err, c)
	}
	all, err := io.ReadAll(task.OutputReader(ctx, StreamMerged))
	if err != nil || len(all) != 11 {
		t.Fatalf("reader: %v %q", err, all)
	}
	withEnv, err := s.SpawnTask(ctx, TaskSpec{Argv: []string{"sh", "-c", "echo $GREETING; pwd"}, Env: map[string]string{"GREETING": "hi"}, Cwd: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(withEnv.OutputReader(ctx, StreamStdout))
	if err != nil || string(out) != "hi\n/tmp\n" {
		t.Fatalf("env/cwd: %v %q", err, out)
	}
	withEnv.Close()
}

func TestTaskWaitingOutputDeadline(t *testing.T) {
	_, s := startSession(t, "taskctx")
	ctx := ctxT(t)
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: "echo started; exec sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	first, err := task.WaitOutput(ctx, StreamMerged, 0, 100)
	if err != nil || string(first.Data) != "started\n" {
		t.Fatalf("first: %v %+v", err, first)
	}
	deadlineEnds(t, ctx, "deadline", func(short context.Context) error {
		_, err := task.WaitOutput(short, StreamMerged, first.NextOffset(), 100)
		return err
	})
	if _, err := task.WaitOutput(cancelledAfter(ctx, 200*time.Millisecond), StreamMerged, first.NextOffset(), 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	task.Kill(ctx, syscall.SIGKILL)
	// After the end, a waiting read returns at once, finished.
	if c, err := task.WaitOutput(ctx, StreamMerged, first.NextOffset(), 100); err != nil || !c.Finished || len(c.Data) != 0 {
		t.Fatalf("after the end: %v %+v", err, c)
	}
}

func TestTaskErrors(t *testing.T) {
	_, s := startSession(t, "taskerr")
	ctx := ctxT(t)
	task, err := s.SpawnTask(ctx, TaskSpec{Shell: "sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	checkErrors(t, []errCase{
		{"bad stream", func() error { _, err := task.Output(ctx, TaskStream(9), 0, 10); return err }(), ErrInvalidArgument},
		{"zero max", func() error { _, err := task.Output(ctx, StreamMerged, 0, 0); return err }(), ErrInvalidArgument},
		{"spool cap", func() error { _, err := s.SpawnTask(ctx, TaskSpec{Shell: "true", SpoolCap: 1}); return err }(), ErrInvalidArgument},
		{"empty", func() error { _, err := s.SpawnTask(ctx, TaskSpec{}); return err }(), ErrInvalidArgument},
		{"both", func() error { _, err := s.SpawnTask(ctx, TaskSpec{Shell: "x", Argv: []string{"y"}}); return err }(), ErrInvalidArgument},
	})
	task.Kill(ctx, syscall.SIGKILL)
}
