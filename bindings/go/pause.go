package sandbox

// #include <sandbox.h>
import "C"

import (
	"context"
	"time"
)

// PauseReport is what Session.Pause or Session.Resume did.
type PauseReport struct {
	// Paused is whether the session is paused now.
	Paused bool
	// Changed is whether the call changed that (false when the session was paused, or
	// running, already).
	Changed bool
	// Method is how: "signals" (SIGSTOP and SIGCONT to every process of the session).
	Method string
	// Processes is how many processes were stopped or continued.
	Processes uint32
	// Took is how long that took inside the session.
	Took time.Duration
}

func takePauseReport(r *C.sbx_pause_report) (PauseReport, error) {
	defer C.sbx_pause_report_free(r)
	return PauseReport{
		Paused:    bool(C.sbx_pause_report_paused(r)),
		Changed:   bool(C.sbx_pause_report_changed(r)),
		Method:    C.GoString(C.sbx_pause_report_method(r)),
		Processes: uint32(C.sbx_pause_report_processes(r)),
		Took:      time.Duration(C.sbx_pause_report_took_us(r)) * time.Microsecond,
	}, nil
}

// Pause stops every process of the session (no CPU, all state kept) until Resume. While
// paused, reads of task and terminal output, files, events and stats work; Exec,
// SpawnTask and OpenTerminal fail with ErrNotRunning. A command already running stops
// where it is (its timeout keeps counting). Pausing a paused session changes nothing
// (Changed is false). ctx is checked before the call.
func (s *Session) Pause(ctx context.Context) (PauseReport, error) {
	return useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, out **C.sbx_pause_report, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_pause(p, out, e)
	}, takePauseReport))
}

// Resume lets the processes of a paused session continue (also one stopped before the
// pause, such as a job suspended in a terminal). Resuming a running session changes
// nothing. ctx is checked before the call.
func (s *Session) Resume(ctx context.Context) (PauseReport, error) {
	return useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, out **C.sbx_pause_report, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_resume(p, out, e)
	}, takePauseReport))
}
