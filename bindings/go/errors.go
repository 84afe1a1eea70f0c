package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// Status is an sbx_status: the outcome of a libsandbox call. The numbers are stable and
// never reused.
type Status uint32

// The statuses, from sandbox.h.
const (
	StatusOK                   Status = C.SBX_STATUS_OK
	StatusNullArgument         Status = C.SBX_STATUS_NULL_ARGUMENT
	StatusInvalidArgument      Status = C.SBX_STATUS_INVALID_ARGUMENT
	StatusPanic                Status = C.SBX_STATUS_PANIC
	StatusClosed               Status = C.SBX_STATUS_CLOSED
	StatusWrongThread          Status = C.SBX_STATUS_WRONG_THREAD
	StatusCancelled            Status = C.SBX_STATUS_CANCELLED
	StatusNotAvailable         Status = C.SBX_STATUS_NOT_AVAILABLE
	StatusUnclassified         Status = C.SBX_STATUS_UNCLASSIFIED
	StatusEngineMissing        Status = C.SBX_STATUS_ENGINE_MISSING
	StatusEngine               Status = C.SBX_STATUS_ENGINE
	StatusImageUnavailable     Status = C.SBX_STATUS_IMAGE_UNAVAILABLE
	StatusLimitsUnavailable    Status = C.SBX_STATUS_LIMITS_UNAVAILABLE
	StatusSessionNotFound      Status = C.SBX_STATUS_SESSION_NOT_FOUND
	StatusSessionExists        Status = C.SBX_STATUS_SESSION_EXISTS
	StatusSessionLost          Status = C.SBX_STATUS_SESSION_LOST
	StatusTimeout              Status = C.SBX_STATUS_TIMEOUT
	StatusAgentVersionMismatch Status = C.SBX_STATUS_AGENT_VERSION_MISMATCH
	StatusProtocol             Status = C.SBX_STATUS_PROTOCOL
	StatusNotFound             Status = C.SBX_STATUS_NOT_FOUND
	StatusConfig               Status = C.SBX_STATUS_CONFIG
	StatusIO                   Status = C.SBX_STATUS_IO
	StatusNotRunning           Status = C.SBX_STATUS_NOT_RUNNING
	StatusPermissionDenied     Status = C.SBX_STATUS_PERMISSION_DENIED
)

// String is the C constant's name, e.g. "SBX_STATUS_TIMEOUT".
func (s Status) String() string {
	name := C.sbx_status_name(C.uint32_t(s))
	if name == nil {
		return fmt.Sprintf("SBX_STATUS_%d", uint32(s))
	}
	return C.GoString(name)
}

// Error is a failed libsandbox call: its status and the library's message (which names
// the action that failed and keeps podman's own words). Compare with errors.Is against
// the Err* values, which match on the status alone. When a call was cut short by its
// context, Unwrap returns the context's error, so errors.Is(err, context.Canceled)
// and errors.Is(err, context.DeadlineExceeded) work too.
type Error struct {
	Status  Status
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Message
}

// Is matches another *Error with the same status (the Err* sentinels).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Message == ""
}

// Unwrap returns the context error that cancelled the call, if any.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for errors.Is, one per status.
var (
	ErrNullArgument         = &Error{Status: StatusNullArgument}
	ErrInvalidArgument      = &Error{Status: StatusInvalidArgument}
	ErrPanic                = &Error{Status: StatusPanic}
	ErrClosed               = &Error{Status: StatusClosed}
	ErrWrongThread          = &Error{Status: StatusWrongThread}
	ErrCancelled            = &Error{Status: StatusCancelled}
	ErrNotAvailable         = &Error{Status: StatusNotAvailable}
	ErrUnclassified         = &Error{Status: StatusUnclassified}
	ErrEngineMissing        = &Error{Status: StatusEngineMissing}
	ErrEngine               = &Error{Status: StatusEngine}
	ErrImageUnavailable     = &Error{Status: StatusImageUnavailable}
	ErrLimitsUnavailable    = &Error{Status: StatusLimitsUnavailable}
	ErrSessionNotFound      = &Error{Status: StatusSessionNotFound}
	ErrSessionExists        = &Error{Status: StatusSessionExists}
	ErrSessionLost          = &Error{Status: StatusSessionLost}
	ErrTimeout              = &Error{Status: StatusTimeout}
	ErrAgentVersionMismatch = &Error{Status: StatusAgentVersionMismatch}
	ErrProtocol             = &Error{Status: StatusProtocol}
	ErrNotFound             = &Error{Status: StatusNotFound}
	ErrConfig               = &Error{Status: StatusConfig}
	ErrIO                   = &Error{Status: StatusIO}
	ErrNotRunning           = &Error{Status: StatusNotRunning}
	ErrPermissionDenied     = &Error{Status: StatusPermissionDenied}
)

// check turns a status plus the error slot into an error, freeing the C error.
func check(status C.sbx_status, cerr *C.sbx_error) error {
	if status == C.SBX_STATUS_OK {
		return nil
	}
	e := &Error{Status: Status(status)}
	if cerr != nil {
		e.Message = C.GoString(C.sbx_error_message(cerr))
		C.sbx_error_free(cerr)
	}
	return e
}

// invalid is an argument error found on the Go side (same status as the library's).
func invalid(format string, args ...interface{}) error {
	return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// cString copies s to C memory, refusing NUL bytes (which C would silently cut at).
func cString(s, what string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, invalid("invalid %s: contains a NUL byte", what)
		}
	}
	return C.CString(s), nil
}

func free(p *C.char) { C.free(unsafe.Pointer(p)) }
