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
	"unsafe"
)

// EventKind is what an ExecEvent carries.
type EventKind int

// The event kinds (sbx_event_kind).
const (
	EventStdout EventKind = C.SBX_EVENT_KIND_STDOUT
	EventStderr EventKind = C.SBX_EVENT_KIND_STDERR
	EventExit   EventKind = C.SBX_EVENT_KIND_EXIT
)

// ExitStatus is how a streamed command ended.
type ExitStatus struct {
	ExitCode                 int // -1 when killed by a signal
	Signal                   int // 0 when it exited
	TimedOut                 bool
	OOMKilled                bool
	StdoutTotal, StderrTotal uint64
	Duration                 time.Duration
}

// Success is exit code 0 without a timeout.
func (x *ExitStatus) Success() bool { return x.ExitCode == 0 && !x.TimedOut }

// ExecEvent is one event of a streamed command: output bytes (Data) or, last, its exit.
type ExecEvent struct {
	Kind EventKind
	Data []byte      // for EventStdout and EventStderr
	Exit *ExitStatus // for EventExit
}

func takeEvent(p *C.sbx_exec_event) *ExecEvent {
	defer C.sbx_exec_event_free(p)
	ev := &ExecEvent{Kind: EventKind(C.sbx_exec_event_kind(p))}
	if ev.Kind == EventExit {
		ev.Exit = &ExitStatus{
			ExitCode:    int(C.sbx_exec_event_exit_code(p)),
			Signal:      int(C.sbx_exec_event_signal(p)),
			TimedOut:    bool(C.sbx_exec_event_timed_out(p)),
			OOMKilled:   bool(C.sbx_exec_event_oom_killed(p)),
			StdoutTotal: uint64(C.sbx_exec_event_stdout_total(p)),
			StderrTotal: uint64(C.sbx_exec_event_stderr_total(p)),
			Duration:    time.Duration(C.sbx_exec_event_duration_us(p)) * time.Microsecond,
		}
		return ev
	}
	var data *C.uint8_t
	var n C.size_t
	C.sbx_exec_event_data(p, &data, &n, nil)
	ev.Data = C.GoBytes(unsafe.Pointer(data), C.int(n))
	return ev
}

// ExecStream is a running command whose output arrives as events (Next), with its stdin
// (Write, an io.Writer, and CloseStdin) and signals. Like exec.CommandContext, the
// command is killed when the context given to Session.ExecStream is done, and when the
// stream is closed. Safe for concurrent use: e.g. one goroutine reads events while
// another writes stdin.
type ExecStream struct {
	cHandle[*C.sbx_exec_stream]
	session *Session

	nextMu sync.Mutex
	exit   *ExitStatus

	stopWatch func()
}

// ExecStream starts argv and returns its events as they happen. Of opts, Timeout, Env,
// Cwd, KillGrace and Linger apply (OutputCap does not: streamed output is not capped; a
// slow reader slows the command); Stdin, when set, is written and closed for you in the
// background. When ctx is done the command is killed.
func (s *Session) ExecStream(ctx context.Context, argv []string, opts *ExecOptions) (*ExecStream, error) {
	if opts == nil {
		opts = &ExecOptions{}
	}
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (*ExecStream, error) {
		var sp *C.sbx_exec_stream
		if err := withExecArgs(argv, opts, func(cargv **C.char, o *C.sbx_exec_options) error {
			var e *C.sbx_error
			return check(C.sbx_session_exec_stream(p, cargv, C.size_t(len(argv)), o, &sp, &e), e)
		}); err != nil {
			return nil, err
		}
		return newExecStream(ctx, sp, s, opts.Stdin), nil
	})
}

func newExecStream(ctx context.Context, sp *C.sbx_exec_stream, s *Session, stdin []byte) *ExecStream {
	st := &ExecStream{cHandle: cHandle[*C.sbx_exec_stream]{ptr: sp, name: "exec stream"}, session: s, stopWatch: func() {}}
	if done := ctx.Done(); done != nil {
		stop := onDone(done, func() {
			C.sbx_exec_stream_close(sp) // kills the command; the handle is freed by Close
		})
		var once sync.Once
		st.stopWatch = func() { once.Do(stop) }
	}
	runtime.SetFinalizer(st, (*ExecStream).Close)
	if stdin != nil {
		go func() {
			if _, err := st.Write(stdin); err == nil {
				st.CloseStdin()
			}
		}()
	}
	return st
}

// Close kills the command if it still runs and releases the stream (idempotent). A Next
// or Write blocked in another goroutine returns ErrClosed at once.
func (st *ExecStream) Close() error {
	wake := func(p *C.sbx_exec_stream) {
		C.sbx_exec_stream_close(p)
		st.stopWatch()
	}
	if st.close(wake, func(p *C.sbx_exec_stream) { C.sbx_exec_stream_free(p) }) {
		runtime.SetFinalizer(st, nil)
	}
	return nil
}

// pollSlice bounds each wait of Next when ctx can be cancelled without a deadline the
// library could wait for (sbx_exec_stream_next takes a timeout, not a cancel token).
const pollSlice = 100 * time.Millisecond

// Next returns the next event, waiting until one comes or ctx is done (then an error
// matching ctx.Err(); the stream is unchanged and the command keeps running). After the
// exit event it returns io.EOF.
func (st *ExecStream) Next(ctx context.Context) (*ExecEvent, error) {
	st.nextMu.Lock()
	defer st.nextMu.Unlock()
	if st.exit != nil {
		return nil, io.EOF
	}
	for {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		ms := timeoutMs(ctx)
		if ctx.Done() != nil && uint64(ms) > uint64(pollSlice.Milliseconds()) {
			ms = C.uint64_t(pollSlice.Milliseconds())
		}
		var ev *C.sbx_exec_event
		var status C.sbx_status
		var e *C.sbx_error
		if err := st.do(func(p *C.sbx_exec_stream) error {
			status = C.sbx_exec_stream_next(p, ms, &ev, &e)
			return nil
		}); err != nil {
			return nil, err
		}
		if err := check(status, e); err != nil {
			if err.(*Error).Status == StatusTimeout && ctx.Err() == nil {
				continue // a poll slice ended; ctx still allows waiting
			}
			if err.(*Error).Status == StatusNotRunning {
				return nil, io.EOF
			}
			return nil, withCause(ctx, err)
		}
		out := takeEvent(ev)
		if out.Kind == EventExit {
			st.exit = out.Exit
		}
		return out, nil
	}
}

// Wait reads (and discards) the remaining events until the exit, and returns it.
func (st *ExecStream) Wait(ctx context.Context) (*ExitStatus, error) {
	for {
		ev, err := st.Next(ctx)
		if err == io.EOF {
			st.nextMu.Lock()
			defer st.nextMu.Unlock()
			return st.exit, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Kind == EventExit {
			return ev.Exit, nil
		}
	}
}

// Write writes to the command's stdin (waiting while the command is a window behind).
// ErrNotRunning once the command ended.
func (st *ExecStream) Write(b []byte) (int, error) {
	return writeBytes(&st.cHandle, b, func(p *C.sbx_exec_stream, data *C.uint8_t, n C.size_t, e **C.sbx_error) C.sbx_status {
		return C.sbx_exec_stream_write_stdin(p, data, n, e)
	})
}

// CloseStdin closes the command's stdin: it reads end of file.
func (st *ExecStream) CloseStdin() error {
	return st.do(func(p *C.sbx_exec_stream) error {
		var e *C.sbx_error
		return check(C.sbx_exec_stream_close_stdin(p, &e), e)
	})
}

// Signal sends sig to the command's process group.
func (st *ExecStream) Signal(sig syscall.Signal) error {
	return st.do(func(p *C.sbx_exec_stream) error {
		var e *C.sbx_error
		return check(C.sbx_exec_stream_signal(p, C.int32_t(sig), &e), e)
	})
}
