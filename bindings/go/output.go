package sandbox

// #include <sandbox.h>
import "C"

import (
	"time"
	"unsafe"
)

// OutputChunk is spooled output of a task or terminal. Offsets count every byte the
// process ever wrote to that output and never restart: continue at NextOffset. The spool
// keeps a bounded window, so a read from an older offset starts at WindowStart.
type OutputChunk struct {
	Data        []byte
	Offset      uint64 // offset of Data[0]
	WindowStart uint64 // oldest offset still kept (= bytes dropped so far)
	End         uint64 // one past the newest byte written so far
	Finished    bool   // the process ended and this chunk reaches the end of its output
	Lost        uint64 // bytes that could not be spooled in the container
}

// NextOffset is where to continue reading.
func (c *OutputChunk) NextOffset() uint64 { return c.Offset + uint64(len(c.Data)) }

// takeChunk converts an sbx_output_chunk and frees it (a conversion for callOut; it
// never fails).
func takeChunk(p *C.sbx_output_chunk) (*OutputChunk, error) {
	defer C.sbx_output_chunk_free(p)
	var data *C.uint8_t
	var n C.size_t
	C.sbx_output_chunk_data(p, &data, &n, nil)
	out := &OutputChunk{
		Data:        []byte{},
		Offset:      uint64(C.sbx_output_chunk_offset(p)),
		WindowStart: uint64(C.sbx_output_chunk_window_start(p)),
		End:         uint64(C.sbx_output_chunk_end(p)),
		Finished:    bool(C.sbx_output_chunk_finished(p)),
		Lost:        uint64(C.sbx_output_chunk_lost(p)),
	}
	if n > 0 {
		out.Data = C.GoBytes(unsafe.Pointer(data), C.int(n))
	}
	return out, nil
}

// ProcessState is how a task's or terminal's program is doing.
type ProcessState int

// The states (sbx_process_state).
const (
	StateUnknown ProcessState = C.SBX_PROCESS_STATE_UNKNOWN
	StateRunning ProcessState = C.SBX_PROCESS_STATE_RUNNING
	StateExited  ProcessState = C.SBX_PROCESS_STATE_EXITED
	StateKilled  ProcessState = C.SBX_PROCESS_STATE_KILLED
)

func (s ProcessState) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateExited:
		return "exited"
	case StateKilled:
		return "killed"
	}
	return "unknown"
}

// unixMs converts milliseconds since the epoch; ok is false for -1 (not ended).
func unixMs(ms C.int64_t) (time.Time, bool) {
	if ms < 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)), true
}

// bytesPtr points at the first byte of p (nil when empty). The library copies what it
// is given before returning, and p holds no Go pointers, so passing it is allowed.
func bytesPtr(p []byte) *C.uint8_t {
	if len(p) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&p[0]))
}
