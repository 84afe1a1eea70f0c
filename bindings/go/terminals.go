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

// TerminalSpec is what to run in a terminal: an interactive shell unless Shell (a
// command line run with sh -c) or Argv is set.
type TerminalSpec struct {
	Shell      string
	Argv       []string
	Rows, Cols uint16 // 1 to 1000; 0: 24 rows, 80 columns
	Env        map[string]string
	Cwd        string
	Scrollback uint64 // bytes kept; 0: the default (1 MiB)
}

// TerminalInfo is a snapshot of a terminal.
type TerminalInfo struct {
	ID         string
	Command    string
	State      ProcessState
	ExitCode   int // when State is StateExited, else -1
	Signal     int // when State is StateKilled, else 0
	Pid        uint32
	Rows, Cols uint16
	Started    time.Time
	Ended      time.Time // zero while the program runs
	Scrollback uint64
}

// Alive reports whether the terminal's program still runs.
func (i *TerminalInfo) Alive() bool { return i.State == StateRunning }

func terminalInfo(p *C.sbx_terminal_info) TerminalInfo {
	started, _ := unixMs(C.sbx_terminal_info_started_unix_ms(p))
	ended, _ := unixMs(C.sbx_terminal_info_ended_unix_ms(p))
	return TerminalInfo{
		ID:         C.GoString(C.sbx_terminal_info_id(p)),
		Command:    C.GoString(C.sbx_terminal_info_command(p)),
		State:      ProcessState(C.sbx_terminal_info_state(p)),
		ExitCode:   int(C.sbx_terminal_info_exit_code(p)),
		Signal:     int(C.sbx_terminal_info_signal(p)),
		Pid:        uint32(C.sbx_terminal_info_pid(p)),
		Rows:       uint16(C.sbx_terminal_info_rows(p)),
		Cols:       uint16(C.sbx_terminal_info_cols(p)),
		Started:    started,
		Ended:      ended,
		Scrollback: uint64(C.sbx_terminal_info_scrollback(p)),
	}
}

// takeTerminalInfo converts an sbx_terminal_info and frees it (a conversion for callOut;
// it never fails).
func takeTerminalInfo(p *C.sbx_terminal_info) (*TerminalInfo, error) {
	defer C.sbx_terminal_info_free(p)
	i := terminalInfo(p)
	return &i, nil
}

// Terminal is a PTY terminal of a session, an io.ReadWriteCloser: Write sends keystrokes,
// Read returns what the program prints (waiting for it; io.EOF once the program ended
// and everything was read). The terminal lives in the session's agent: Close releases
// only this handle (use Kill to stop the program), and Session.AttachTerminal finds it
// again and replays its scrollback. Safe for concurrent use (one reader at a time);
// Close wakes a Read blocked in another goroutine, which returns ErrClosed.
type Terminal struct {
	cHandle[*C.sbx_terminal]
	id      string
	session *Session // keeps the session handle (which closes its terminals) alive

	readMu sync.Mutex
	offset uint64
}

var _ io.ReadWriteCloser = (*Terminal)(nil)

func newTerminal(p *C.sbx_terminal, s *Session) *Terminal {
	t := &Terminal{cHandle: cHandle[*C.sbx_terminal]{ptr: p, name: "terminal handle"}, id: C.GoString(C.sbx_terminal_id(p)), session: s}
	runtime.SetFinalizer(t, (*Terminal).Close)
	return t
}

func buildTerminalSpec(spec *TerminalSpec) (*C.sbx_terminal_spec, error) {
	rows, cols := spec.Rows, spec.Cols
	if rows == 0 {
		rows = 24
	}
	if cols == 0 {
		cols = 80
	}
	var out *C.sbx_terminal_spec
	var e *C.sbx_error
	if err := check(C.sbx_terminal_spec_new(C.uint16_t(rows), C.uint16_t(cols), &out, &e), e); err != nil {
		return nil, err
	}
	if err := applyTerminalSpec(out, spec); err != nil {
		C.sbx_terminal_spec_free(out)
		return nil, err
	}
	return out, nil
}

func applyTerminalSpec(o *C.sbx_terminal_spec, spec *TerminalSpec) error {
	var e *C.sbx_error
	run := func(status C.sbx_status) error {
		err := check(status, e)
		e = nil
		return err
	}
	switch {
	case spec.Shell != "" && len(spec.Argv) > 0:
		return invalid("invalid terminal spec: set Shell or Argv, not both")
	case spec.Shell != "":
		if err := withCString(spec.Shell, "command", func(c *C.char) error {
			return run(C.sbx_terminal_spec_set_shell_command(o, c, &e))
		}); err != nil {
			return err
		}
	case spec.Argv != nil:
		argv, release, err := cStrings(spec.Argv, "argv")
		if err != nil {
			return err
		}
		err = run(C.sbx_terminal_spec_set_argv(o, argv, C.size_t(len(spec.Argv)), &e))
		release()
		if err != nil {
			return err
		}
	}
	if err := withEnv(spec.Env, func(k, v *C.char) error { return run(C.sbx_terminal_spec_add_env(o, k, v, &e)) }); err != nil {
		return err
	}
	if err := withOptCString(spec.Cwd, "cwd", func(c *C.char) error { return run(C.sbx_terminal_spec_set_cwd(o, c, &e)) }); err != nil {
		return err
	}
	if spec.Scrollback != 0 {
		return run(C.sbx_terminal_spec_set_scrollback(o, C.uint64_t(spec.Scrollback), &e))
	}
	return nil
}

// OpenTerminal opens a PTY terminal. ctx is checked before the call.
func (s *Session) OpenTerminal(ctx context.Context, spec TerminalSpec) (*Terminal, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	cspec, err := buildTerminalSpec(&spec)
	if err != nil {
		return nil, err
	}
	defer C.sbx_terminal_spec_free(cspec)
	return doValue(&s.cHandle, callOut(func(p *C.sbx_session, t **C.sbx_terminal, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_open_terminal(p, cspec, t, e)
	}, func(t *C.sbx_terminal) (*Terminal, error) { return newTerminal(t, s), nil }))
}

// AttachTerminal is a handle on the existing terminal id (opened by any process); its
// reads start at offset 0, replaying the scrollback.
func (s *Session) AttachTerminal(ctx context.Context, id string) (*Terminal, error) {
	return useValue(ctx, &s.cHandle, callOutKey(id, "id", func(p *C.sbx_session, cid *C.char, t **C.sbx_terminal, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_attach_terminal(p, cid, t, e)
	}, func(t *C.sbx_terminal) (*Terminal, error) { return newTerminal(t, s), nil }))
}

// Terminals lists the session's terminals, oldest first.
func (s *Session) Terminals(ctx context.Context) ([]TerminalInfo, error) {
	return useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, list **C.sbx_terminal_list, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_list_terminals(p, list, e)
	}, func(list *C.sbx_terminal_list) ([]TerminalInfo, error) {
		defer C.sbx_terminal_list_free(list)
		return listOf(C.sbx_terminal_list_len(list), func(i C.size_t) TerminalInfo { return terminalInfo(C.sbx_terminal_list_get(list, i)) }), nil
	}))
}

// ID is the terminal id.
func (t *Terminal) ID() string { return t.id }

// Offset is where the next Read starts (an absolute offset in the terminal's output).
func (t *Terminal) Offset() uint64 {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	return t.offset
}

// Close releases the handle (idempotent); the program keeps running. A Read or Wait
// blocked in another goroutine returns ErrClosed at once; Close waits for it, then frees
// the C handle.
func (t *Terminal) Close() error {
	if t.close(func(p *C.sbx_terminal) { C.sbx_terminal_close(p) }, func(p *C.sbx_terminal) { C.sbx_terminal_free(p) }) {
		runtime.SetFinalizer(t, nil)
	}
	return nil
}

// Write sends keystrokes (any bytes). ErrNotRunning once the program has exited.
func (t *Terminal) Write(b []byte) (int, error) {
	return writeBytes(&t.cHandle, b, func(p *C.sbx_terminal, data *C.uint8_t, n C.size_t, e **C.sbx_error) C.sbx_status {
		return C.sbx_terminal_write(p, data, n, e)
	})
}

// Read waits for the program's next output (as long as it takes; Close wakes it).
func (t *Terminal) Read(b []byte) (int, error) { return t.ReadContext(context.Background(), b) }

// ReadContext is Read bounded by ctx: when ctx is done first, it returns an error that
// matches ctx.Err() (context.DeadlineExceeded or context.Canceled).
func (t *Terminal) ReadContext(ctx context.Context, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	t.readMu.Lock()
	defer t.readMu.Unlock()
	c, err := t.ReadChunk(ctx, t.offset, len(b))
	if err != nil {
		return 0, err
	}
	t.offset = c.NextOffset()
	if len(c.Data) == 0 && c.Finished {
		return 0, io.EOF
	}
	return copy(b, c.Data), nil
}

// ReadChunk reads at most max bytes of output from the absolute offset (0 replays the
// scrollback), waiting for output until ctx is done; it does not move Read's offset.
func (t *Terminal) ReadChunk(ctx context.Context, offset uint64, max int) (*OutputChunk, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, invalid("invalid max: %d; read at least one byte", max)
	}
	return doValue(&t.cHandle, callOutWait(ctx, func(p *C.sbx_terminal, tok *C.sbx_cancel_token, ms C.uint64_t, c **C.sbx_output_chunk, e **C.sbx_error) C.sbx_status {
		return C.sbx_terminal_read(p, C.uint64_t(offset), C.size_t(max), ms, tok, c, e)
	}, takeChunk))
}

// Resize sets the terminal's size (1 to 1000 each); the program gets SIGWINCH.
func (t *Terminal) Resize(ctx context.Context, rows, cols uint16) error {
	return t.use(ctx, func(p *C.sbx_terminal) error {
		var e *C.sbx_error
		return check(C.sbx_terminal_resize(p, C.uint16_t(rows), C.uint16_t(cols), &e), e)
	})
}

// Kill sends sig to the terminal's process group (syscall.SIGHUP is what closing a real
// terminal sends).
func (t *Terminal) Kill(ctx context.Context, sig syscall.Signal) error {
	return t.use(ctx, func(p *C.sbx_terminal) error {
		var e *C.sbx_error
		return check(C.sbx_terminal_kill(p, C.int32_t(sig), &e), e)
	})
}

// Wait waits until the program ends (or ctx is done) and returns the final info.
func (t *Terminal) Wait(ctx context.Context) (*TerminalInfo, error) {
	return useValue(ctx, &t.cHandle, callOutWait(ctx, func(p *C.sbx_terminal, tok *C.sbx_cancel_token, ms C.uint64_t, info **C.sbx_terminal_info, e **C.sbx_error) C.sbx_status {
		return C.sbx_terminal_wait(p, ms, tok, info, e)
	}, takeTerminalInfo))
}

// Info is the terminal's state and size now.
func (t *Terminal) Info(ctx context.Context) (*TerminalInfo, error) {
	return useValue(ctx, &t.cHandle, callOut(func(p *C.sbx_terminal, info **C.sbx_terminal_info, e **C.sbx_error) C.sbx_status {
		return C.sbx_terminal_get_info(p, info, e)
	}, takeTerminalInfo))
}
