package sandbox

// #include <sandbox.h>
//
// // The fields every held process's info has, read with one kind's getters (the C API
// // names them sbx_<kind>_info_<field>).
// typedef struct {
//     const char *id, *command;
//     sbx_process_state state;
//     int32_t exit_code, signal;
//     uint32_t pid;
//     int64_t started_ms, ended_ms;
// } sbx_go_process_fields;
//
// #define SBX_GO_PROCESS_FIELDS(kind, p) ((sbx_go_process_fields){ \
//     sbx_##kind##_info_id(p), sbx_##kind##_info_command(p), sbx_##kind##_info_state(p), \
//     sbx_##kind##_info_exit_code(p), sbx_##kind##_info_signal(p), sbx_##kind##_info_pid(p), \
//     sbx_##kind##_info_started_unix_ms(p), sbx_##kind##_info_ended_unix_ms(p) })
//
// static sbx_go_process_fields sbx_go_task_fields(const sbx_task_info *p) {
//     return SBX_GO_PROCESS_FIELDS(task, p);
// }
// static sbx_go_process_fields sbx_go_terminal_fields(const sbx_terminal_info *p) {
//     return SBX_GO_PROCESS_FIELDS(terminal, p);
// }
import "C"

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// processFields is what a task's and a terminal's info share (TaskInfo and TerminalInfo
// copy them into their own fields).
type processFields struct {
	id, command      string
	state            ProcessState
	exitCode, signal int
	pid              uint32
	started, ended   time.Time
}

func readProcessFields(f C.sbx_go_process_fields) processFields {
	started, _ := unixMs(f.started_ms)
	ended, _ := unixMs(f.ended_ms)
	return processFields{
		id:       C.GoString(f.id),
		command:  C.GoString(f.command),
		state:    ProcessState(f.state),
		exitCode: int(f.exit_code),
		signal:   int(f.signal),
		pid:      uint32(f.pid),
		started:  started,
		ended:    ended,
	}
}

// taskFields reads what a task's info shares with a terminal's.
func taskFields(p *C.sbx_task_info) processFields { return readProcessFields(C.sbx_go_task_fields(p)) }

// terminalFields reads what a terminal's info shares with a task's.
func terminalFields(p *C.sbx_terminal_info) processFields {
	return readProcessFields(C.sbx_go_terminal_fields(p))
}

// processCalls are the C calls that tasks and terminals share, for one kind: P is its
// handle type, I its info type, R the Go info it converts to.
type processCalls[P, I comparable, R any] struct {
	name  string // what ErrClosed calls the handle
	id    func(p P) *C.char
	close func(p P)
	free  func(p P)
	info  func(p P, out *I, e **C.sbx_error) C.sbx_status
	wait  func(p P, ms C.uint64_t, tok *C.sbx_cancel_token, out *I, e **C.sbx_error) C.sbx_status
	kill  func(p P, sig C.int32_t, e **C.sbx_error) C.sbx_status
	read  func(i I) R // reads an info (owned or borrowed from a list; not freed)
	drop  func(i I)   // frees an owned info
}

// process is what a Task and a Terminal are made of: the C handle on one process held by
// the session's agent, its id, and the session handle it came from.
type process[P, I comparable, R any] struct {
	cHandle[P]
	id      string
	session *Session // keeps the session handle (which closes its tasks and terminals) alive
	calls   *processCalls[P, I, R]
}

// init makes h the handle p of session s (in place: h holds a lock).
func (h *process[P, I, R]) init(p P, s *Session, calls *processCalls[P, I, R]) {
	h.cHandle.ptr, h.cHandle.name = p, calls.name
	h.id, h.session, h.calls = C.GoString(calls.id(p)), s, calls
}

// release closes and frees the C handle (idempotent); owner, the Go object embedding h,
// loses its finalizer once freed.
func (h *process[P, I, R]) release(owner any) {
	if h.close(h.calls.close, h.calls.free) {
		runtime.SetFinalizer(owner, nil)
	}
}

// take converts an owned info and frees it (a conversion for callOut; it never fails).
func (h *process[P, I, R]) take(i I) (*R, error) {
	defer h.calls.drop(i)
	r := h.calls.read(i)
	return &r, nil
}

// info is how the process is doing now.
func (h *process[P, I, R]) info(ctx context.Context) (*R, error) {
	return useValue(ctx, &h.cHandle, callOut(h.calls.info, h.take))
}

// wait waits until the process ends (or ctx is done) and returns its final info.
func (h *process[P, I, R]) wait(ctx context.Context) (*R, error) {
	return useValue(ctx, &h.cHandle, callOutWait(ctx, func(p P, tok *C.sbx_cancel_token, ms C.uint64_t, out *I, e **C.sbx_error) C.sbx_status {
		return h.calls.wait(p, ms, tok, out, e)
	}, h.take))
}

// kill sends sig to the process group.
func (h *process[P, I, R]) kill(ctx context.Context, sig syscall.Signal) error {
	return h.use(ctx, func(p P) error {
		var e *C.sbx_error
		return check(h.calls.kill(p, C.int32_t(sig), &e), e)
	})
}

// startProcess builds a C spec with build, starts a process from it with start (the spec
// is freed after) and wraps the C handle with wrap. ctx is checked before the call.
func startProcess[S, P comparable, T any](ctx context.Context, s *Session, build func() (S, error), free func(S),
	start func(sp *C.sbx_session, spec S, out *P, e **C.sbx_error) C.sbx_status, wrap func(P, *Session) *T) (*T, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	spec, err := build()
	if err != nil {
		return nil, err
	}
	defer free(spec)
	return doValue(&s.cHandle, callOut(func(sp *C.sbx_session, out *P, e **C.sbx_error) C.sbx_status {
		return start(sp, spec, out, e)
	}, func(p P) (*T, error) { return wrap(p, s), nil }))
}

// attachProcess is a handle (wrapped with wrap) on the existing process id, found with
// attach.
func attachProcess[P comparable, T any](ctx context.Context, s *Session, id string,
	attach func(sp *C.sbx_session, cid *C.char, out *P, e **C.sbx_error) C.sbx_status, wrap func(P, *Session) *T) (*T, error) {
	return useValue(ctx, &s.cHandle, callOutKey(id, "id", attach, func(p P) (*T, error) { return wrap(p, s), nil }))
}

// listProcesses lists one kind of the session's processes with list, converting each
// item (got with get, counted by size) with read; the list is freed after.
func listProcesses[L, I comparable, R any](ctx context.Context, s *Session, list func(sp *C.sbx_session, out *L, e **C.sbx_error) C.sbx_status,
	size func(L) C.size_t, get func(L, C.size_t) I, free func(L), read func(I) R) ([]R, error) {
	return useValue(ctx, &s.cHandle, callOut(list, func(l L) ([]R, error) {
		defer free(l)
		return listOf(size(l), func(i C.size_t) R { return read(get(l, i)) }), nil
	}))
}

// applyProcessSpec applies what task and terminal specs share: env (with addEnv) and cwd
// (with setCwd), then the bytes kept (with setKept, when not 0).
func applyProcessSpec(env map[string]string, cwd string, kept uint64,
	addEnv func(k, v *C.char, e **C.sbx_error) C.sbx_status, setCwd func(c *C.char, e **C.sbx_error) C.sbx_status,
	setKept func(n C.uint64_t, e **C.sbx_error) C.sbx_status) error {
	if err := withEnv(env, func(k, v *C.char) error {
		return specCall(func(e **C.sbx_error) C.sbx_status { return addEnv(k, v, e) })
	}); err != nil {
		return err
	}
	if err := withOptCString(cwd, "cwd", func(c *C.char) error {
		return specCall(func(e **C.sbx_error) C.sbx_status { return setCwd(c, e) })
	}); err != nil {
		return err
	}
	if kept != 0 {
		return specCall(func(e **C.sbx_error) C.sbx_status { return setKept(C.uint64_t(kept), e) })
	}
	return nil
}

// specCall makes one C spec call and turns its status into an error.
func specCall(call func(e **C.sbx_error) C.sbx_status) error {
	var e *C.sbx_error
	return check(call(&e), e)
}
