package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"io"
	"runtime"
	"sync"
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

func taskInfo(p *C.sbx_task_info) TaskInfo {
	started, _ := unixMs(C.sbx_task_info_started_unix_ms(p))
	ended, _ := unixMs(C.sbx_task_info_ended_unix_ms(p))
	return TaskInfo{
		ID:       C.GoString(C.sbx_task_info_id(p)),
		Command:  C.GoString(C.sbx_task_info_command(p)),
		State:    ProcessState(C.sbx_task_info_state(p)),
		ExitCode: int(C.sbx_task_info_exit_code(p)),
		Signal:   int(C.sbx_task_info_signal(p)),
		Pid:      uint32(C.sbx_task_info_pid(p)),
		Started:  started,
		Ended:    ended,
		SpoolCap: uint64(C.sbx_task_info_spool_cap(p)),
	}
}

func takeTaskInfo(p *C.sbx_task_info) *TaskInfo {
	defer C.sbx_task_info_free(p)
	i := taskInfo(p)
	return &i
}

// Task is a background task of a session. The task lives in the session's agent: it
// runs on after Close (which releases only this handle) and after this process exits;
// any process can find it again with Session.AttachTask. Safe for concurrent use; Close
// wakes calls blocked in other goroutines (they return ErrClosed).
type Task struct {
	mu      sync.RWMutex
	ptr     *C.sbx_task
	id      string
	session *Session // keeps the session handle (which closes its tasks) alive
}

func newTask(p *C.sbx_task, s *Session) *Task {
	t := &Task{ptr: p, id: C.GoString(C.sbx_task_id(p)), session: s}
	runtime.SetFinalizer(t, (*Task).Close)
	return t
}

func buildTaskSpec(spec *TaskSpec) (*C.sbx_task_spec, error) {
	var out *C.sbx_task_spec
	var e *C.sbx_error
	switch {
	case spec.Shell != "" && len(spec.Argv) > 0:
		return nil, invalid("invalid task spec: set Shell or Argv, not both")
	case spec.Shell != "":
		if err := withCString(spec.Shell, "command", func(c *C.char) error {
			return check(C.sbx_task_spec_new_shell(c, &out, &e), e)
		}); err != nil {
			return nil, err
		}
	default:
		argv, release, err := cStrings(spec.Argv, "argv")
		if err != nil {
			return nil, err
		}
		defer release()
		if err := check(C.sbx_task_spec_new(argv, C.size_t(len(spec.Argv)), &out, &e), e); err != nil {
			return nil, err
		}
	}
	if err := applyTaskSpec(out, spec); err != nil {
		C.sbx_task_spec_free(out)
		return nil, err
	}
	return out, nil
}

func applyTaskSpec(o *C.sbx_task_spec, spec *TaskSpec) error {
	var e *C.sbx_error
	run := func(status C.sbx_status) error {
		err := check(status, e)
		e = nil
		return err
	}
	for k, v := range spec.Env {
		err := withCString(k, "env name", func(ck *C.char) error {
			return withCString(v, "env value", func(cv *C.char) error { return run(C.sbx_task_spec_add_env(o, ck, cv, &e)) })
		})
		if err != nil {
			return err
		}
	}
	if spec.Cwd != "" {
		if err := withCString(spec.Cwd, "cwd", func(c *C.char) error { return run(C.sbx_task_spec_set_cwd(o, c, &e)) }); err != nil {
			return err
		}
	}
	if spec.SpoolCap != 0 {
		return run(C.sbx_task_spec_set_spool_cap(o, C.uint64_t(spec.SpoolCap), &e))
	}
	return nil
}

// SpawnTask starts a background task. ctx is checked before the call.
func (s *Session) SpawnTask(ctx context.Context, spec TaskSpec) (*Task, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	cspec, err := buildTaskSpec(&spec)
	if err != nil {
		return nil, err
	}
	defer C.sbx_task_spec_free(cspec)
	p, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var t *C.sbx_task
	var e *C.sbx_error
	if err := check(C.sbx_session_spawn_task(p, cspec, &t, &e), e); err != nil {
		return nil, err
	}
	runtime.KeepAlive(s)
	return newTask(t, s), nil
}

// AttachTask is a handle on the existing task id (spawned by any process).
func (s *Session) AttachTask(ctx context.Context, id string) (*Task, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var t *C.sbx_task
	err = withCString(id, "id", func(cid *C.char) error {
		var e *C.sbx_error
		return check(C.sbx_session_attach_task(p, cid, &t, &e), e)
	})
	if err != nil {
		return nil, err
	}
	runtime.KeepAlive(s)
	return newTask(t, s), nil
}

// Tasks lists the session's tasks, oldest first.
func (s *Session) Tasks(ctx context.Context) ([]TaskInfo, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var list *C.sbx_task_list
	var e *C.sbx_error
	if err := check(C.sbx_session_list_tasks(p, &list, &e), e); err != nil {
		return nil, err
	}
	defer C.sbx_task_list_free(list)
	n := int(C.sbx_task_list_len(list))
	out := make([]TaskInfo, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, taskInfo(C.sbx_task_list_get(list, C.size_t(i))))
	}
	runtime.KeepAlive(s)
	return out, nil
}

// ID is the task id.
func (t *Task) ID() string { return t.id }

func (t *Task) acquire() (*C.sbx_task, error) {
	t.mu.RLock()
	if t.ptr == nil {
		t.mu.RUnlock()
		return nil, &Error{Status: StatusClosed, Message: "the task handle was closed"}
	}
	return t.ptr, nil
}

// Close releases the handle (idempotent); the task keeps running. Calls blocked in other
// goroutines return ErrClosed at once; Close waits for them, then frees the C handle.
func (t *Task) Close() error {
	t.mu.RLock()
	p := t.ptr
	t.mu.RUnlock()
	if p == nil {
		return nil
	}
	C.sbx_task_close(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr != nil {
		C.sbx_task_free(t.ptr)
		t.ptr = nil
		runtime.SetFinalizer(t, nil)
	}
	return nil
}

// Info is how the task is doing now.
func (t *Task) Info(ctx context.Context) (*TaskInfo, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, err := t.acquire()
	if err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	var info *C.sbx_task_info
	var e *C.sbx_error
	if err := check(C.sbx_task_get_info(p, &info, &e), e); err != nil {
		return nil, err
	}
	runtime.KeepAlive(t)
	return takeTaskInfo(info), nil
}

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
	p, err := t.acquire()
	if err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	ms := C.uint64_t(0)
	var tok *C.sbx_cancel_token
	stop := func() {}
	if wait {
		ms = timeoutMs(ctx)
		if tok, stop, err = watchContext(ctx); err != nil {
			return nil, err
		}
	}
	var c *C.sbx_output_chunk
	var e *C.sbx_error
	status := C.sbx_task_output(p, C.uint32_t(stream), C.uint64_t(offset), C.size_t(max), ms, tok, &c, &e)
	stop()
	if err := check(status, e); err != nil {
		return nil, withCause(ctx, err)
	}
	runtime.KeepAlive(t)
	return takeChunk(c), nil
}

// Tail is the last n bytes of stream.
func (t *Task) Tail(ctx context.Context, stream TaskStream, n int) (*OutputChunk, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, invalid("invalid tail size: %d", n)
	}
	p, err := t.acquire()
	if err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	var c *C.sbx_output_chunk
	var e *C.sbx_error
	if err := check(C.sbx_task_tail(p, C.uint32_t(stream), C.size_t(n), &c, &e), e); err != nil {
		return nil, err
	}
	runtime.KeepAlive(t)
	return takeChunk(c), nil
}

// Wait waits until the task ends and returns its final info, or until ctx is done (the
// error then matches ctx.Err() too). The task is not stopped by ctx. The last output may
// arrive a moment after the end: OutputReader reads until it is complete.
func (t *Task) Wait(ctx context.Context) (*TaskInfo, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, err := t.acquire()
	if err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	tok, stop, err := watchContext(ctx)
	if err != nil {
		return nil, err
	}
	var info *C.sbx_task_info
	var e *C.sbx_error
	status := C.sbx_task_wait(p, timeoutMs(ctx), tok, &info, &e)
	stop()
	if err := check(status, e); err != nil {
		return nil, withCause(ctx, err)
	}
	runtime.KeepAlive(t)
	return takeTaskInfo(info), nil
}

// Kill sends sig to the task's process group (ErrNotRunning once it all exited).
func (t *Task) Kill(ctx context.Context, sig syscall.Signal) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	p, err := t.acquire()
	if err != nil {
		return err
	}
	defer t.mu.RUnlock()
	var e *C.sbx_error
	err = check(C.sbx_task_kill(p, C.int32_t(sig), &e), e)
	runtime.KeepAlive(t)
	return err
}

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
