package sandbox

// #include <sandbox.h>
//
// // The kinds of process a session's agent holds. The sbx_go_* functions below take one
// // and make that kind's C call (sbx_task_* or sbx_terminal_*, whose arguments differ only
// // in their pointer types), so that the Go code tasks and terminals share makes one C call
// // for both, on untyped pointers.
// enum { SBX_GO_TASK = 1, SBX_GO_TERMINAL = 2 };
//
// // SBX_GO_CALL(kind, call, args...) is sbx_task_<call>(args...) or
// // sbx_terminal_<call>(args...): for the calls whose result has the same type for both.
// #define SBX_GO_CALL(kind, call, ...) \
//     ((kind) == SBX_GO_TASK ? sbx_task_##call(__VA_ARGS__) : sbx_terminal_##call(__VA_ARGS__))
//
// // SBX_GO_OUT(kind, task_call, terminal_call, out_type, out, err, args...) is
// // task_call(args..., out, err) or terminal_call(args..., out, err), with out (a void **)
// // as a pointer to an sbx_task<out_type> * or an sbx_terminal<out_type> *.
// #define SBX_GO_OUT(kind, task_call, terminal_call, out_type, out, err, ...) \
//     ((kind) == SBX_GO_TASK \
//         ? task_call(__VA_ARGS__, (sbx_task##out_type **)(out), err) \
//         : terminal_call(__VA_ARGS__, (sbx_terminal##out_type **)(out), err))
//
// static const char *sbx_go_id(int kind, const void *p) { return SBX_GO_CALL(kind, id, p); }
// static void sbx_go_close(int kind, void *p) { SBX_GO_CALL(kind, close, p); }
// static void sbx_go_free(int kind, void *p) { SBX_GO_CALL(kind, free, p); }
// static sbx_status sbx_go_kill(int kind, const void *p, int32_t sig, sbx_error **e) {
//     return SBX_GO_CALL(kind, kill, p, sig, e);
// }
// static sbx_status sbx_go_get_info(int kind, const void *p, void **out, sbx_error **e) {
//     return SBX_GO_OUT(kind, sbx_task_get_info, sbx_terminal_get_info, _info, out, e, p);
// }
// static sbx_status sbx_go_wait(int kind, const void *p, uint64_t ms, const sbx_cancel_token *tok,
//                               void **out, sbx_error **e) {
//     return SBX_GO_OUT(kind, sbx_task_wait, sbx_terminal_wait, _info, out, e, p, ms, tok);
// }
// static void sbx_go_info_free(int kind, void *info) { SBX_GO_CALL(kind, info_free, info); }
//
// static sbx_status sbx_go_start(int kind, const sbx_session *s, const void *spec, void **out,
//                                sbx_error **e) {
//     return SBX_GO_OUT(kind, sbx_session_spawn_task, sbx_session_open_terminal, , out, e, s, spec);
// }
// static sbx_status sbx_go_attach(int kind, const sbx_session *s, const char *id, void **out,
//                                 sbx_error **e) {
//     return SBX_GO_OUT(kind, sbx_session_attach_task, sbx_session_attach_terminal, , out, e, s, id);
// }
// static sbx_status sbx_go_list(int kind, const sbx_session *s, void **out, sbx_error **e) {
//     return SBX_GO_OUT(kind, sbx_session_list_tasks, sbx_session_list_terminals, _list, out, e, s);
// }
// static size_t sbx_go_list_len(int kind, const void *list) { return SBX_GO_CALL(kind, list_len, list); }
// static const void *sbx_go_list_get(int kind, const void *list, size_t i) {
//     if (kind == SBX_GO_TASK) return sbx_task_list_get(list, i);
//     return sbx_terminal_list_get(list, i);
// }
// static void sbx_go_list_free(int kind, void *list) { SBX_GO_CALL(kind, list_free, list); }
//
// static void sbx_go_spec_free(int kind, void *spec) { SBX_GO_CALL(kind, spec_free, spec); }
// static sbx_status sbx_go_spec_add_env(int kind, void *spec, const char *k, const char *v, sbx_error **e) {
//     return SBX_GO_CALL(kind, spec_add_env, spec, k, v, e);
// }
// static sbx_status sbx_go_spec_set_cwd(int kind, void *spec, const char *cwd, sbx_error **e) {
//     return SBX_GO_CALL(kind, spec_set_cwd, spec, cwd, e);
// }
// // The bytes of output kept: a task's spool cap, a terminal's scrollback.
// static sbx_status sbx_go_spec_set_kept(int kind, void *spec, uint64_t n, sbx_error **e) {
//     if (kind == SBX_GO_TASK) return sbx_task_spec_set_spool_cap(spec, n, e);
//     return sbx_terminal_spec_set_scrollback(spec, n, e);
// }
//
// // The fields every kind's info has, read with its getters (sbx_<kind>_info_<field>).
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
// static sbx_go_process_fields sbx_go_fields(int kind, const void *info) {
//     if (kind == SBX_GO_TASK) return SBX_GO_PROCESS_FIELDS(task, (const sbx_task_info *)info);
//     return SBX_GO_PROCESS_FIELDS(terminal, (const sbx_terminal_info *)info);
// }
import "C"

import (
	"context"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// processHandle is the C handle type of a task or of a terminal.
type processHandle interface{ *C.sbx_task | *C.sbx_terminal }

// processInfo is the C info type of a task or of a terminal.
type processInfo interface {
	*C.sbx_task_info | *C.sbx_terminal_info
}

// processSpec is the C spec type of a task or of a terminal.
type processSpec interface {
	*C.sbx_task_spec | *C.sbx_terminal_spec
}

// processKind is one kind of process a session's agent holds: P is its C handle type, I
// its C info type, R the Go info it converts to.
type processKind[P processHandle, I processInfo, R any] struct {
	c    C.int                        // which calls the sbx_go_* functions make
	name string                       // what ErrClosed calls a handle
	read func(i I, f processFields) R // makes the Go info from the shared fields f and i's own
}

// The two kinds, the only place that tells them apart for the code they share.
var (
	tasks     = processKind[*C.sbx_task, *C.sbx_task_info, TaskInfo]{C.SBX_GO_TASK, "task handle", taskInfo}
	terminals = processKind[*C.sbx_terminal, *C.sbx_terminal_info, TerminalInfo]{
		C.SBX_GO_TERMINAL, "terminal handle", terminalInfo}
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

// readInfo reads an info (owned, or borrowed from a list; not freed here).
func (k *processKind[P, I, R]) readInfo(i unsafe.Pointer) R {
	f := C.sbx_go_fields(k.c, i)
	started, _ := unixMs(f.started_ms)
	ended, _ := unixMs(f.ended_ms)
	return k.read(I(i), processFields{
		id:       C.GoString(f.id),
		command:  C.GoString(f.command),
		state:    ProcessState(f.state),
		exitCode: int(f.exit_code),
		signal:   int(f.signal),
		pid:      uint32(f.pid),
		started:  started,
		ended:    ended,
	})
}

// takeInfo reads an owned info and frees it (a conversion for callOut; it never fails).
func (k *processKind[P, I, R]) takeInfo(i unsafe.Pointer) (*R, error) {
	defer C.sbx_go_info_free(k.c, i)
	r := k.readInfo(i)
	return &r, nil
}

// process is what a Task and a Terminal are made of: the C handle on one process held by
// the session's agent, its id, and the session handle it came from.
type process[P processHandle, I processInfo, R any] struct {
	cHandle[P]
	id      string
	session *Session // keeps the session handle (which closes its tasks and terminals) alive
	kind    *processKind[P, I, R]
}

// base is the process a Task or a Terminal is made of (for processObject).
func (h *process[P, I, R]) base() *process[P, I, R] { return h }

// processObject is a pointer to a Task or a Terminal (T), which embeds a process.
type processObject[T any, P processHandle, I processInfo, R any] interface {
	*T
	base() *process[P, I, R]
	Close() error
}

// newProcess wraps the C handle p, of kind k, of session s, as a new T whose finalizer
// closes it.
func newProcess[T any, PT processObject[T, P, I, R], P processHandle, I processInfo, R any](p P, s *Session,
	k *processKind[P, I, R]) PT {
	t := PT(new(T))
	h := t.base()
	h.cHandle.ptr, h.cHandle.name = p, k.name
	h.id, h.session, h.kind = C.GoString(C.sbx_go_id(k.c, unsafe.Pointer(p))), s, k
	runtime.SetFinalizer(t, func(t PT) { t.Close() })
	return t
}

// release closes and frees the C handle (idempotent); owner, the Go object embedding h,
// loses its finalizer once freed.
func (h *process[P, I, R]) release(owner any) {
	c := h.kind.c
	if h.close(func(p P) { C.sbx_go_close(c, unsafe.Pointer(p)) }, func(p P) { C.sbx_go_free(c, unsafe.Pointer(p)) }) {
		runtime.SetFinalizer(owner, nil)
	}
}

// info is how the process is doing now.
func (h *process[P, I, R]) info(ctx context.Context) (*R, error) {
	return useValue(ctx, &h.cHandle, callOut(func(p P, out *unsafe.Pointer, e **C.sbx_error) C.sbx_status {
		return C.sbx_go_get_info(h.kind.c, unsafe.Pointer(p), out, e)
	}, h.kind.takeInfo))
}

// wait waits until the process ends (or ctx is done) and returns its final info.
func (h *process[P, I, R]) wait(ctx context.Context) (*R, error) {
	return useValue(ctx, &h.cHandle, callOutWait(ctx, func(p P, tok *C.sbx_cancel_token, ms C.uint64_t, out *unsafe.Pointer, e **C.sbx_error) C.sbx_status {
		return C.sbx_go_wait(h.kind.c, unsafe.Pointer(p), ms, tok, out, e)
	}, h.kind.takeInfo))
}

// kill sends sig to the process group.
func (h *process[P, I, R]) kill(ctx context.Context, sig syscall.Signal) error {
	return h.use(ctx, func(p P) error {
		var e *C.sbx_error
		return check(C.sbx_go_kill(h.kind.c, unsafe.Pointer(p), C.int32_t(sig), &e), e)
	})
}

// startProcess starts a process of kind k (a task or a terminal, T) in session s from the
// C spec build makes (freed after). ctx is checked before the call.
func startProcess[T any, PT processObject[T, P, I, R], S processSpec, P processHandle, I processInfo, R any](ctx context.Context,
	s *Session, k *processKind[P, I, R], build func() (S, error)) (PT, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	spec, err := build()
	if err != nil {
		return nil, err
	}
	defer C.sbx_go_spec_free(k.c, unsafe.Pointer(spec))
	return doValue(&s.cHandle, callOut(func(sp *C.sbx_session, out *unsafe.Pointer, e **C.sbx_error) C.sbx_status {
		return C.sbx_go_start(k.c, sp, unsafe.Pointer(spec), out, e)
	}, func(p unsafe.Pointer) (PT, error) { return newProcess[T, PT](P(p), s, k), nil }))
}

// attachProcess is a new T, a handle on the existing process id of kind k in session s.
func attachProcess[T any, PT processObject[T, P, I, R], P processHandle, I processInfo, R any](ctx context.Context,
	s *Session, k *processKind[P, I, R], id string) (PT, error) {
	return useValue(ctx, &s.cHandle, callOutKey(id, "id", func(sp *C.sbx_session, cid *C.char, out *unsafe.Pointer, e **C.sbx_error) C.sbx_status {
		return C.sbx_go_attach(k.c, sp, cid, out, e)
	}, func(p unsafe.Pointer) (PT, error) { return newProcess[T, PT](P(p), s, k), nil }))
}

// listProcesses lists the session's processes of kind k, oldest first.
func listProcesses[P processHandle, I processInfo, R any](ctx context.Context, s *Session, k *processKind[P, I, R]) ([]R, error) {
	return useValue(ctx, &s.cHandle, callOut(func(sp *C.sbx_session, out *unsafe.Pointer, e **C.sbx_error) C.sbx_status {
		return C.sbx_go_list(k.c, sp, out, e)
	}, func(l unsafe.Pointer) ([]R, error) {
		defer C.sbx_go_list_free(k.c, l)
		return listOf(C.sbx_go_list_len(k.c, l), func(i C.size_t) R { return k.readInfo(C.sbx_go_list_get(k.c, l, i)) }), nil
	}))
}

// applyProcessSpec sets what task and terminal specs of kind k share on spec: env, cwd
// (when not "") and the bytes of output kept (when not 0).
func applyProcessSpec[S processSpec, P processHandle, I processInfo, R any](k *processKind[P, I, R], spec S,
	env map[string]string, cwd string, kept uint64) error {
	p := unsafe.Pointer(spec)
	err := withEnv(env, func(name, value *C.char) error {
		return specCall(func(e **C.sbx_error) C.sbx_status { return C.sbx_go_spec_add_env(k.c, p, name, value, e) })
	})
	if err == nil {
		err = withOptCString(cwd, "cwd", func(c *C.char) error {
			return specCall(func(e **C.sbx_error) C.sbx_status { return C.sbx_go_spec_set_cwd(k.c, p, c, e) })
		})
	}
	if err == nil && kept != 0 {
		err = specCall(func(e **C.sbx_error) C.sbx_status { return C.sbx_go_spec_set_kept(k.c, p, C.uint64_t(kept), e) })
	}
	return err
}

// specCall makes one C spec call and turns its status into an error.
func specCall(call func(e **C.sbx_error) C.sbx_status) error {
	var e *C.sbx_error
	return check(call(&e), e)
}
