package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"runtime"
	"time"
	"unsafe"
)

// ExecOptions are the optional parts of Exec; nil means defaults (no stdin, no timeout).
//
// A zero value means "not set" (the default) for the fields where zero would mean
// nothing (Timeout, Cwd). The fields where zero is a meaningful setting (OutputCap,
// KillGrace, Linger) are pointers: nil is "not set", a pointer to zero is zero (the
// helpers Uint64 and Duration make them: OutputCap: Uint64(0)).
type ExecOptions struct {
	// Stdin is written to the command's stdin, then closed. nil: /dev/null.
	Stdin []byte
	// Timeout kills the command's process group (SIGTERM, then SIGKILL after KillGrace);
	// the result then has TimedOut set. 0: none. For a deadline that returns an error
	// instead, use the context.
	Timeout time.Duration
	Env     map[string]string
	Cwd     string
	// OutputCap is the bytes captured per stream; the rest is counted (StdoutTotal) and
	// dropped in the container. nil: the default (16 MiB); a pointer to 0 captures
	// nothing and only counts.
	OutputCap *uint64
	// KillGrace is the time between SIGTERM and SIGKILL when Timeout fires. nil: the
	// default (1 s); a pointer to 0 sends SIGKILL at once. Negative is refused.
	KillGrace *time.Duration
	// Linger is how long to wait, once the command exited, for background children still
	// holding its output pipes. nil: the default (100 ms); a pointer to 0 does not wait.
	// Negative is refused.
	Linger *time.Duration
}

// ExecResult is how a command ended. A non-zero exit, a signal or a timeout is data here.
type ExecResult struct {
	Stdout, Stderr                   []byte
	ExitCode                         int // -1 when killed by a signal
	Signal                           int // 0 when it exited
	TimedOut                         bool
	StdoutTruncated, StderrTruncated bool
	StdoutTotal, StderrTotal         uint64
	Duration                         time.Duration
	OOMKilled                        bool // killed by the kernel's OOM killer (the session's memory limit)
}

// Success is exit code 0 without a timeout.
func (r *ExecResult) Success() bool { return r.ExitCode == 0 && !r.TimedOut }

// Exec runs argv (no shell unless you run one) and waits for it. When ctx is cancelled
// or its deadline passes, the command is killed and the error matches both ErrCancelled
// and ctx.Err(). Closing the session from another goroutine returns ErrClosed.
func (s *Session) Exec(ctx context.Context, argv []string, opts *ExecOptions) (*ExecResult, error) {
	if opts == nil {
		opts = &ExecOptions{}
	}
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (*ExecResult, error) {
		var result *C.sbx_exec_result
		if err := withExecArgs(argv, opts, func(cargv **C.char, o *C.sbx_exec_options) error {
			// A cancel token fired by the context, when the context can be cancelled at all.
			return waitCall(ctx, func(tok *C.sbx_cancel_token, _ C.uint64_t) error {
				var e *C.sbx_error
				if tok != nil {
					if err := check(C.sbx_exec_options_set_cancel_token(o, tok, &e), e); err != nil {
						return err
					}
				}
				var status C.sbx_status
				if opts.Stdin != nil {
					status = C.sbx_session_exec_stdin(p, cargv, C.size_t(len(argv)), bytesPtr(opts.Stdin), C.size_t(len(opts.Stdin)), o, &result, &e)
				} else {
					status = C.sbx_session_exec(p, cargv, C.size_t(len(argv)), o, &result, &e)
				}
				runtime.KeepAlive(opts.Stdin)
				return check(status, e)
			})
		}); err != nil {
			return nil, err
		}
		return takeExecResult(result), nil
	})
}

// withExecArgs runs f with argv and opts converted to C (freed when f returns).
func withExecArgs(argv []string, opts *ExecOptions, f func(cargv **C.char, o *C.sbx_exec_options) error) error {
	cargv, release, err := cStrings(argv, "argv")
	if err != nil {
		return err
	}
	defer release()
	var o *C.sbx_exec_options
	var e *C.sbx_error
	if err := check(C.sbx_exec_options_new(&o, &e), e); err != nil {
		return err
	}
	defer C.sbx_exec_options_free(o)
	if err := applyExecOptions(o, opts); err != nil {
		return err
	}
	return f(cargv, o)
}

// takeExecResult converts an sbx_exec_result and frees it.
func takeExecResult(result *C.sbx_exec_result) *ExecResult {
	defer C.sbx_exec_result_free(result)
	return &ExecResult{
		Stdout:          resultBytes(result, true),
		Stderr:          resultBytes(result, false),
		ExitCode:        int(C.sbx_exec_result_exit_code(result)),
		Signal:          int(C.sbx_exec_result_signal(result)),
		TimedOut:        bool(C.sbx_exec_result_timed_out(result)),
		StdoutTruncated: bool(C.sbx_exec_result_stdout_truncated(result)),
		StderrTruncated: bool(C.sbx_exec_result_stderr_truncated(result)),
		StdoutTotal:     uint64(C.sbx_exec_result_stdout_total(result)),
		StderrTotal:     uint64(C.sbx_exec_result_stderr_total(result)),
		Duration:        time.Duration(C.sbx_exec_result_duration_us(result)) * time.Microsecond,
		OOMKilled:       bool(C.sbx_exec_result_oom_killed(result)),
	}
}

func resultBytes(r *C.sbx_exec_result, stdout bool) []byte {
	var data *C.uint8_t
	var n C.size_t
	if stdout {
		C.sbx_exec_result_stdout(r, &data, &n, nil)
	} else {
		C.sbx_exec_result_stderr(r, &data, &n, nil)
	}
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(data), C.int(n))
}

func applyExecOptions(o *C.sbx_exec_options, opts *ExecOptions) error {
	var e *C.sbx_error
	run := func(status C.sbx_status) error {
		err := check(status, e)
		e = nil
		return err
	}
	if opts.Timeout != 0 {
		if opts.Timeout < time.Millisecond {
			return invalid("invalid timeout: %v is below a millisecond", opts.Timeout)
		}
		if err := run(C.sbx_exec_options_set_timeout_ms(o, C.uint64_t(opts.Timeout.Milliseconds()), &e)); err != nil {
			return err
		}
	}
	if err := withEnv(opts.Env, func(k, v *C.char) error { return run(C.sbx_exec_options_add_env(o, k, v, &e)) }); err != nil {
		return err
	}
	if err := withOptCString(opts.Cwd, "cwd", func(c *C.char) error { return run(C.sbx_exec_options_set_cwd(o, c, &e)) }); err != nil {
		return err
	}
	if opts.OutputCap != nil {
		if err := run(C.sbx_exec_options_set_output_cap(o, C.uint64_t(*opts.OutputCap), &e)); err != nil {
			return err
		}
	}
	if opts.KillGrace != nil {
		if *opts.KillGrace < 0 {
			return invalid("invalid kill grace: %v is negative", *opts.KillGrace)
		}
		if err := run(C.sbx_exec_options_set_kill_grace_ms(o, C.uint64_t(opts.KillGrace.Milliseconds()), &e)); err != nil {
			return err
		}
	}
	if opts.Linger != nil {
		if *opts.Linger < 0 {
			return invalid("invalid linger: %v is negative", *opts.Linger)
		}
		if err := run(C.sbx_exec_options_set_linger_ms(o, C.uint64_t(opts.Linger.Milliseconds()), &e)); err != nil {
			return err
		}
	}
	return nil
}
