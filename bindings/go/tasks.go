package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"io"
	"syscall"
	"time"
)

// TaskStream selects a task's output.
type TaskStream uint32

// The task outputs (sbx_task_stream).
const (
	StreamMerged TaskStream = C.SBX_TASK_STREAM_MERGED // stdout and stderr, interleaved
	StreamStdout TaskStream = C.SBX_TASK_STREAM_STDOUT
	StreamStderr TaskStream = C.SBX_TASK_STREAM_STDERR
)

// TaskSpec is what to run as a background task: Shell (a command line run with sh -c)
// or Argv.
type TaskSpec struct {
	Shell    string
	Argv     []string
	Env      map[string]string
	Cwd      string
	SpoolCap uint64 // bytes kept per output stream; 0: the default (8 MiB)
}

// TaskInfo is a snapshot of a task.
type TaskInfo struct {
	ID       string
	Command  string
	State    ProcessState
	ExitCode int // when State is StateExited, else -1
	Signal   int // when State is StateKilled, else 0
	Pid      uint32
	Started  time.Time
	Ended    time.Time // zero while it runs
	SpoolCap uint64
}

// Running reports whether the task still runs.
func (i *TaskInfo) Running() bool { return i.State == StateRunning }

// taskInfo makes a TaskInfo from the shared fields f and p's own.
func taskInfo(p *C.sbx_task_info, f processFields) TaskInfo {
	return TaskInfo{ID: f.id, Command: f.command, State: f.state, ExitCode: f.exitCode, Signal: f.signal, Pid: f.pid,
		Started: f.started, Ended: f.ended, SpoolCap: uint64(C.sbx_task_info_spool_cap(p))}
}

// Task is a background task of a session. The task lives in the session's agent: it
// runs on after Close (which releases only this handle) and after this process exits;
// any process can find it again with Session.AttachTask. Safe for concurrent use; Close
// wakes calls blocked in other goroutines (they return ErrClosed).
type Task struct {
	process[*C.sbx_task, *C.sbx_task_info, TaskInfo]
}

func buildTaskSpec(spec *TaskSpec) (*C.sbx_task_spec, error) {
	var out *C.sbx_task_spec
	switch {
	case spec.Shell != "" && len(spec.Argv) > 0:
		return nil, invalid("invalid task spec: set Shell or Argv, not both")
	case spec.Shell != "":
		if err := withCString(spec.Shell, "command", func(c *C.char) error {
			return specCall(func(e **C.sbx_error) C.sbx_status { return C.sbx_task_spec_new_shell(c, &out, e) })
		}); err != nil {
			return nil, err
		}
	default:
		argv, release, err := cStrings(spec.Argv, "argv")
		if err != nil {
			return nil, err
		}
		defer release()
		if err := specCall(func(e **C.sbx_error) C.sbx_status {
			return C.sbx_task_spec_new(argv, C.size_t(len(spec.Argv)), &out, e)
		}); err != nil {
			return nil, err
		}
	}
	if err := applyProcessSpec(&tasks, out, spec.Env, spec.Cwd, spec.SpoolCap); err != nil {
		C.sbx_task_spec_free(out)
		return nil, err
	}
	return out, nil
}

// SpawnTask starts a background task. ctx is checked before the call.
func (s *Session) SpawnTask(ctx context.Context, spec TaskSpec) (*Task, error) {
	return startProcess[Task](ctx, s, &tasks, func() (*C.sbx_task_spec, error) { return buildTaskSpec(&spec) })
}

// AttachTask is a handle on the existing task id (spawned by any process).
func (s *Session) AttachTask(ctx context.Context, id string) (*Task, error) {
	return attachProcess[Task](ctx, s, &tasks, id)
}

// Tasks lists the session's tasks, oldest first.
func (s *Session) Tasks(ctx context.Context) ([]TaskInfo, error) {
	return listProcesses(ctx, s, &tasks)
}

// ID is the task id.
func (t *Task) ID() string { return t.id }

// Close releases the handle (idempotent); the task keeps running. Calls blocked in other
// goroutines return ErrClosed at once; Close waits for them, then frees the C handle.
func (t *Task) Close() error {
	t.release(t)
	return nil
}

// Info is how the task is doing now.
func (t *Task) Info(ctx context.Context) (*TaskInfo, error) { return t.info(ctx) }

// Output reads at most max bytes of stream from offset, without waiting.
func (t *Task) Output(ctx context.Context, stream TaskStream, offset uint64, max int) (*OutputChunk, error) {
	return t.output(ctx, stream, offset, max, false)
}

// WaitOutput is Output that waits, while the task runs and nothing new is there, until
// output comes or ctx is done (then an error matching ctx.Err()).
func (t *Task) WaitOutput(ctx context.Context, stream TaskStream, offset uint64, max int) (*OutputChunk, error) {
	return t.output(ctx, stream, offset, max, true)
}

func (t *Task) output(ctx context.Context, stream TaskStream, offset uint64, max int, wait bool) (*OutputChunk, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, invalid("invalid max: %d; read at least one byte", max)
	}
	read := func(p *C.sbx_task, tok *C.sbx_cancel_token, ms C.uint64_t, c **C.sbx_output_chunk, e **C.sbx_error) C.sbx_status {
		return C.sbx_task_output(p, C.uint32_t(stream), C.uint64_t(offset), C.size_t(max), ms, tok, c, e)
	}
	if wait {
		return doValue(&t.cHandle, callOutWait(ctx, read, takeChunk))
	}
	c, err := doValue(&t.cHandle, callOut(func(p *C.sbx_task, c **C.sbx_output_chunk, e **C.sbx_error) C.sbx_status {
		return read(p, nil, 0, c, e)
	}, takeChunk))
	if err != nil {
		return nil, withCause(ctx, err)
	}
	return c, nil
}

// Tail is the last n bytes of stream.
func (t *Task) Tail(ctx context.Context, stream TaskStream, n int) (*OutputChunk, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, invalid("invalid tail size: %d", n)
	}
	return doValue(&t.cHandle, callOut(func(p *C.sbx_task, c **C.sbx_output_chunk, e **C.sbx_error) C.sbx_status {
		return C.sbx_task_tail(p, C.uint32_t(stream), C.size_t(n), c, e)
	}, takeChunk))
}

// Wait waits until the task ends and returns its final info, or until ctx is done (the
// error then matches ctx.Err() too). The task is not stopped by ctx. The last output may
// arrive a moment after the end: OutputReader reads until it is complete.
func (t *Task) Wait(ctx context.Context) (*TaskInfo, error) { return t.wait(ctx) }

// Kill sends sig to the task's process group (ErrNotRunning once it all exited).
func (t *Task) Kill(ctx context.Context, sig syscall.Signal) error { return t.kill(ctx, sig) }

// OutputReader follows stream from the start as an io.Reader: Read waits for output
// while the task runs and returns io.EOF once it ended and everything was read. ctx
// bounds every Read.
func (t *Task) OutputReader(ctx context.Context, stream TaskStream) io.Reader {
	return &taskReader{ctx: ctx, task: t, stream: stream}
}

type taskReader struct {
	ctx    context.Context
	task   *Task
	stream TaskStream
	offset uint64
}

func (r *taskReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		c, err := r.task.WaitOutput(r.ctx, r.stream, r.offset, len(p))
		if err != nil {
			return 0, err
		}
		r.offset = c.NextOffset()
		if len(c.Data) > 0 {
			return copy(p, c.Data), nil
		}
		if c.Finished {
			return 0, io.EOF
		}
	}
}
