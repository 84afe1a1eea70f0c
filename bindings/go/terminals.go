package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"io"
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

// terminalInfo makes a TerminalInfo from the shared fields f and p's own.
func terminalInfo(p *C.sbx_terminal_info, f processFields) TerminalInfo {
	return TerminalInfo{ID: f.id, Command: f.command, State: f.state, ExitCode: f.exitCode, Signal: f.signal, Pid: f.pid,
		Rows: uint16(C.sbx_terminal_info_rows(p)), Cols: uint16(C.sbx_terminal_info_cols(p)),
		Started: f.started, Ended: f.ended, Scrollback: uint64(C.sbx_terminal_info_scrollback(p))}
}

// Terminal is a PTY terminal of a session, an io.ReadWriteCloser: Write sends keystrokes,
// Read returns what the program prints (waiting for it; io.EOF once the program ended
// and everything was read). The terminal lives in the session's agent: Close releases
// only this handle (use Kill to stop the program), and Session.AttachTerminal finds it
// again and replays its scrollback. Safe for concurrent use (one reader at a time);
// Close wakes a Read blocked in another goroutine, which returns ErrClosed.
type Terminal struct {
	process[*C.sbx_terminal, *C.sbx_terminal_info, TerminalInfo]

	readMu sync.Mutex
	offset uint64
}

var _ io.ReadWriteCloser = (*Terminal)(nil)

func buildTerminalSpec(spec *TerminalSpec) (*C.sbx_terminal_spec, error) {
	rows, cols := spec.Rows, spec.Cols
	if rows == 0 {
		rows = 24
	}
	if cols == 0 {
		cols = 80
	}
	var out *C.sbx_terminal_spec
	if err := specCall(func(e **C.sbx_error) C.sbx_status {
		return C.sbx_terminal_spec_new(C.uint16_t(rows), C.uint16_t(cols), &out, e)
	}); err != nil {
		return nil, err
	}
	if err := applyTerminalSpec(out, spec); err != nil {
		C.sbx_terminal_spec_free(out)
		return nil, err
	}
	return out, nil
}

func applyTerminalSpec(o *C.sbx_terminal_spec, spec *TerminalSpec) error {
	switch {
	case spec.Shell != "" && len(spec.Argv) > 0:
		return invalid("invalid terminal spec: set Shell or Argv, not both")
	case spec.Shell != "":
		if err := withCString(spec.Shell, "command", func(c *C.char) error {
			return specCall(func(e **C.sbx_error) C.sbx_status { return C.sbx_terminal_spec_set_shell_command(o, c, e) })
		}); err != nil {
			return err
		}
	case spec.Argv != nil:
		argv, release, err := cStrings(spec.Argv, "argv")
		if err != nil {
			return err
		}
		err = specCall(func(e **C.sbx_error) C.sbx_status {
			return C.sbx_terminal_spec_set_argv(o, argv, C.size_t(len(spec.Argv)), e)
		})
		release()
		if err != nil {
			return err
		}
	}
	return applyProcessSpec(&terminals, o, spec.Env, spec.Cwd, spec.Scrollback)
}

// OpenTerminal opens a PTY terminal. ctx is checked before the call.
func (s *Session) OpenTerminal(ctx context.Context, spec TerminalSpec) (*Terminal, error) {
	return startProcess[Terminal](ctx, s, &terminals, func() (*C.sbx_terminal_spec, error) { return buildTerminalSpec(&spec) })
}

// AttachTerminal is a handle on the existing terminal id (opened by any process); its
// reads start at offset 0, replaying the scrollback.
func (s *Session) AttachTerminal(ctx context.Context, id string) (*Terminal, error) {
	return attachProcess[Terminal](ctx, s, &terminals, id)
}

// Terminals lists the session's terminals, oldest first.
func (s *Session) Terminals(ctx context.Context) ([]TerminalInfo, error) {
	return listProcesses(ctx, s, &terminals)
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
	t.release(t)
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
func (t *Terminal) Kill(ctx context.Context, sig syscall.Signal) error { return t.kill(ctx, sig) }

// Wait waits until the program ends (or ctx is done) and returns the final info.
func (t *Terminal) Wait(ctx context.Context) (*TerminalInfo, error) { return t.wait(ctx) }

// Info is the terminal's state and size now.
func (t *Terminal) Info(ctx context.Context) (*TerminalInfo, error) { return t.info(ctx) }
