package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Event is one event of a session's event stream (Session.Events): a file change, a
// task or terminal starting or ending, a port starting or stopping to listen, a resource
// sample, the session's lifecycle, an egress decision, or a gap. Every event is the same flat record in
// every face (the JSON of sbx_event_json); which fields are set depends on Kind and
// Action, as the README's event table says, and a field an event does not have is its
// zero value ("", 0, false, nil).
type Event struct {
	// Seq is its sequence number in the session's journal, from 1 (a gap event has the
	// number of the last event dropped; the event of Stats has 0).
	Seq uint64 `json:"seq"`
	// TimeMs is when it happened, in ms since the Unix epoch (see Time).
	TimeMs uint64 `json:"time_ms"`
	// Kind is what it is about: "file", "process", "port", "resources", "lifecycle",
	// "network" or "gap".
	Kind string `json:"kind"`
	// Action is what happened: file "created", "modified", "deleted", "renamed",
	// "overflow"; process "started", "exited", "timed_out"; port "listening", "closed";
	// resources "sample"; lifecycle "started", "watching", "stopping", "stopped", "lost",
	// "limit"; network "allowed", "refused"; gap "dropped" (later versions may add more).
	Action string `json:"action"`
	// Path is, for a file event, the absolute path inside the session (for "renamed",
	// the new name; for "overflow", the directory to rescan, "" for everything); for
	// lifecycle "watching", the watched root.
	Path string `json:"path,omitempty"`
	// From is, for file "renamed", the old path.
	From string `json:"from,omitempty"`
	// Dir is, for a file event, whether the path is a directory.
	Dir bool `json:"dir,omitempty"`
	// Process is, for a process event, which kind of process: "task", "terminal" or
	// "exec".
	Process string `json:"process,omitempty"`
	// ID is, for a process event of a task or terminal, its id.
	ID string `json:"id,omitempty"`
	// Command is, for a process event, the command as shown; for a port event, the name
	// of the listening program ("" when the agent cannot tell); for a network event, the
	// process that connected ("pid name", or "direct: name").
	Command string `json:"command,omitempty"`
	// Pid is, for a process or port event, the pid inside the session; 0 when absent.
	Pid uint32 `json:"pid,omitempty"`
	// Code is, for process "exited", the exit status; nil when absent (e.g. a signal
	// killed the process).
	Code *int `json:"code,omitempty"`
	// Signal is, for process "exited", the signal that killed the process; nil when
	// absent (it exited with a status).
	Signal *int `json:"signal,omitempty"`
	// OOM is, for process "exited", whether the kernel's OOM killer ended the process.
	OOM bool `json:"oom,omitempty"`
	// Port is, for a port event, the TCP port (1 to 65535); for a network event, the
	// target's port; 0 when absent.
	Port uint16 `json:"port,omitempty"`
	// Address is, for a port event, the address the program listens on; for a network
	// event, the address connected to (when it got that far).
	Address string `json:"address,omitempty"`
	// Sample is, for resources "sample", the sample; nil for other events.
	Sample *ResourceSample `json:"sample,omitempty"`
	// Dropped is, for gap "dropped", how many events the reader asked for are no longer
	// in the journal; 0 for other events.
	Dropped uint64 `json:"dropped,omitempty"`
	// Count is, for lifecycle "watching", how many directories are watched; 0 when
	// absent.
	Count uint64 `json:"count,omitempty"`
	// Reason is why: file "overflow", lifecycle "stopping", "lost" and "limit" (which
	// limit was hit, how often); network: why refused, or how an allowed connection
	// ended when not cleanly.
	Reason string `json:"reason,omitempty"`
	// Host is, for a network event, the target as asked for (a name or an address).
	Host string `json:"host,omitempty"`
	// BytesIn is, for network "allowed", the bytes from the target to the session.
	BytesIn uint64 `json:"bytes_in,omitempty"`
	// BytesOut is, for network "allowed", the bytes from the session to the target.
	BytesOut uint64 `json:"bytes_out,omitempty"`
}

// Time is when the event happened (TimeMs as a time.Time).
func (e Event) Time() time.Time { return time.UnixMilli(int64(e.TimeMs)) }

// ResourceSample is a sample of a session's resources: the Sample of a resources event,
// or Session.Stats.
type ResourceSample struct {
	// CPUUsec is the CPU time the session's processes used, in microseconds.
	CPUUsec uint64 `json:"cpu_usec"`
	// MemoryBytes is the memory in use now, in bytes.
	MemoryBytes uint64 `json:"memory_bytes"`
	// MemoryPeakBytes is the most memory in use at once, in bytes; nil when the cgroup
	// does not tell.
	MemoryPeakBytes *uint64 `json:"memory_peak_bytes,omitempty"`
	// MemoryLimitBytes is the memory limit, in bytes; nil when there is none.
	MemoryLimitBytes *uint64 `json:"memory_limit_bytes,omitempty"`
	// Pids is how many processes (and threads) the session has.
	Pids uint64 `json:"pids"`
	// DiskWrittenBytes is the bytes written to block devices; nil when neither the
	// cgroup nor /proc tells.
	DiskWrittenBytes *uint64 `json:"disk_written_bytes,omitempty"`
	// Source is where the figures come from: "cgroup" or "proc".
	Source string `json:"source"`
}

// eventKinds are the names EventsOptions.Kinds takes and their sbx_session_events
// flags (gap events always pass, so "gap" is none of them).
var eventKinds = []struct {
	name string
	flag C.uint32_t
}{
	{"file", C.SBX_EVENT_KIND_FILE},
	{"process", C.SBX_EVENT_KIND_PROCESS},
	{"port", C.SBX_EVENT_KIND_PORT},
	{"resources", C.SBX_EVENT_KIND_RESOURCES},
	{"lifecycle", C.SBX_EVENT_KIND_LIFECYCLE},
	{"network", C.SBX_EVENT_KIND_NETWORK},
}

// EventsOptions select the events of a stream (Session.Events). The zero value is
// every event from now on.
type EventsOptions struct {
	// From is the sequence number (from 1) of the first event wanted: 1 for everything
	// the journal still has, or an earlier stream's Position to resume it. 0: only the
	// events recorded from now on (the position is taken before Events returns, so an
	// action started after it is seen). A From beyond the journal fails the stream's
	// first Next with ErrInvalidArgument.
	From uint64
	// Kinds keeps only events of these kinds: "file", "process", "port", "resources",
	// "lifecycle", "network" (gap events always come). nil or empty: every kind. Any other name is
	// ErrInvalidArgument.
	Kinds []string
	// PathPrefix keeps only the file events at or below this absolute path inside the
	// session (a rename matches by either name); other kinds are not filtered by path.
	// "": no path filter. A relative path is ErrInvalidArgument.
	PathPrefix string
}

// kindsMask is the sbx_session_events kinds of names (0, every kind, for none).
func kindsMask(names []string) (C.uint32_t, error) {
	var mask C.uint32_t
next:
	for _, name := range names {
		known := make([]string, 0, len(eventKinds))
		for _, k := range eventKinds {
			if k.name == name {
				mask |= k.flag
				continue next
			}
			known = append(known, k.name)
		}
		return 0, invalid("invalid event kind %q: the kinds are %s (gap events always come)", name,
			strings.Join(known, ", "))
	}
	return mask, nil
}

// takeSessionEvent converts an sbx_event (from its JSON) and frees it.
func takeSessionEvent(p *C.sbx_event) (Event, error) {
	defer C.sbx_event_free(p)
	var ev Event
	if err := json.Unmarshal([]byte(C.GoString(C.sbx_event_json(p))), &ev); err != nil {
		return Event{}, &Error{Status: StatusProtocol, Message: "reading an event's JSON: " + err.Error()}
	}
	return ev, nil
}

// EventStream is a stream of a session's events (Session.Events), in sequence order,
// each once, until the session's lifecycle "stopped" or "lost" event, after which Next
// returns io.EOF. The library reads ahead of Next in the background. A reader that goes
// away resumes in a new stream from Position, in this process or another: it gets every
// event it had not taken, or a gap event counting those the journal no longer has.
//
// Safe for concurrent use (concurrent Nexts take turns, each event goes to one of them).
// Close, and closing the Session it came from, wake a Next blocked in another goroutine:
// it returns ErrClosed.
type EventStream struct {
	cHandle[*C.sbx_event_stream]
	session *Session // keeps the session handle (which closes its streams) alive

	heldMu sync.Mutex
	held   *Event // an event C took but could not deliver: the next Next returns it

	done      chan struct{} // closed by Close: ends the goroutines of C
	closeOnce sync.Once
	final     uint64 // the position when the C handle was freed (guarded by mu)

	errMu sync.Mutex
	err   error // why the last channel of C was closed
}

// Events opens a stream of the session's events that opts selects. ctx is checked
// before the call (which waits for one agent round trip when opts.From is 0); the
// stream is not tied to ctx: each Next takes its own. Close the stream when done.
func (s *Session) Events(ctx context.Context, opts EventsOptions) (*EventStream, error) {
	mask, err := kindsMask(opts.Kinds)
	if err != nil {
		return nil, err
	}
	return useValue(ctx, &s.cHandle, func(p *C.sbx_session) (*EventStream, error) {
		var sp *C.sbx_event_stream
		open := func(prefix *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_session_events(p, C.uint64_t(opts.From), mask, prefix, &sp, &e), e)
		}
		if opts.PathPrefix == "" {
			err = open(nil)
		} else {
			err = withCString(opts.PathPrefix, "path prefix", open)
		}
		if err != nil {
			return nil, err
		}
		st := &EventStream{cHandle: cHandle[*C.sbx_event_stream]{ptr: sp, name: "event stream"}, session: s,
			done: make(chan struct{})}
		runtime.SetFinalizer(st, (*EventStream).Close)
		return st, nil
	})
}

// Close releases the stream (idempotent). A Next blocked in another goroutine returns
// ErrClosed at once, and so do later ones; a channel of C is closed. Position still
// tells where the stream was.
func (st *EventStream) Close() error {
	wake := func(p *C.sbx_event_stream) {
		C.sbx_event_stream_close(p)
		st.closeOnce.Do(func() { close(st.done) })
	}
	release := func(p *C.sbx_event_stream) {
		st.final = uint64(C.sbx_event_stream_position(p))
		C.sbx_event_stream_free(p)
	}
	if st.close(wake, release) {
		runtime.SetFinalizer(st, nil)
	}
	return nil
}

// Next returns the next event, waiting until one comes or ctx is done: then an error
// matching ctx.Err() (at ctx's deadline also ErrTimeout or ErrCancelled; the stream is
// unchanged and can be read again). After the stream's last event (lifecycle "stopped"
// or "lost") it returns io.EOF. ErrInvalidArgument when the stream's From is beyond the
// session's journal, ErrClosed once the stream or its session was closed.
func (st *EventStream) Next(ctx context.Context) (Event, error) {
	var ended bool
	next := callOutWait(ctx, func(p *C.sbx_event_stream, tok *C.sbx_cancel_token, ms C.uint64_t,
		out **C.sbx_event, e **C.sbx_error) C.sbx_status {
		return C.sbx_event_stream_next(p, ms, tok, out, e)
	}, func(p *C.sbx_event) (Event, error) {
		if p == nil {
			ended = true
			return Event{}, nil
		}
		return takeSessionEvent(p)
	})
	ev, err := useValue(ctx, &st.cHandle, func(p *C.sbx_event_stream) (Event, error) {
		if ev, ok := st.takeHeld(); ok {
			return ev, nil
		}
		return next(p)
	})
	if err == nil && ended {
		return Event{}, io.EOF
	}
	return ev, err
}

// takeHeld takes the event a channel of C could not deliver, if there is one.
func (st *EventStream) takeHeld() (Event, bool) {
	st.heldMu.Lock()
	defer st.heldMu.Unlock()
	if st.held == nil {
		return Event{}, false
	}
	ev := *st.held
	st.held = nil
	return ev, true
}

// Position is the sequence number to pass as EventsOptions.From to resume where this
// stream's reader is: that of the next event it has not taken. 0 when not known (a
// stream from now whose session was gone). After Close, where the stream was then.
func (st *EventStream) Position() uint64 {
	st.mu.RLock()
	defer st.mu.RUnlock()
	st.heldMu.Lock()
	held := st.held
	st.heldMu.Unlock()
	if held != nil {
		return held.Seq
	}
	if st.closed() {
		return st.final
	}
	pos := uint64(C.sbx_event_stream_position(st.ptr))
	runtime.KeepAlive(st)
	return pos
}

// C returns the stream's events on a channel: a goroutine takes them with Next(ctx)
// until the stream ends, ctx is done, the stream is closed or a read fails, then closes
// the channel; Err tells why. To stop early, cancel ctx or Close the stream (an event
// taken but not yet received then stays in the stream: Next and Position count it as
// not taken). Use one channel at a time.
func (st *EventStream) C(ctx context.Context) <-chan Event {
	ch := make(chan Event)
	st.setErr(nil)
	go func() {
		defer close(ch)
		for {
			ev, err := st.Next(ctx)
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				st.setErr(err)
				return
			}
			var stopped error
			select {
			case ch <- ev:
				continue
			case <-ctx.Done():
				stopped = ctxErr(ctx)
			case <-st.done:
				stopped = &Error{Status: StatusClosed, Message: "the event stream was closed"}
			}
			st.heldMu.Lock()
			st.held = &ev
			st.heldMu.Unlock()
			st.setErr(stopped)
			return
		}
	}()
	return ch
}

// Err is why the last channel of C was closed: nil when the stream ended (after its
// lifecycle "stopped" or "lost" event), else what Next returned (an error matching
// ctx.Err() when ctx was done, ErrClosed when the stream was closed).
func (st *EventStream) Err() error {
	st.errMu.Lock()
	defer st.errMu.Unlock()
	return st.err
}

func (st *EventStream) setErr(err error) {
	st.errMu.Lock()
	st.err = err
	st.errMu.Unlock()
}

// WaitFor reads events until one for which match returns true, and returns it; the
// events read before it are dropped. Waits as ctx allows (as Next does); ErrNotRunning
// when the stream ended first.
func (st *EventStream) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		ev, err := st.Next(ctx)
		if err == io.EOF {
			return Event{}, &Error{Status: StatusNotRunning, Message: "the event stream ended (the session is gone) before a matching event"}
		}
		if err != nil {
			return Event{}, err
		}
		if match(ev) {
			return ev, nil
		}
	}
}

// Watch watches file changes below path (an absolute directory inside the session) too,
// besides the working dir and the configured watches; a no-op when it is watched
// already. Its events are file events like the others. ErrNotFound when it does not
// exist, ErrInvalidArgument for a relative path. ctx is checked before the call.
func (s *Session) Watch(ctx context.Context, path string) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		return withCString(path, "path", func(cpath *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_session_watch(p, cpath, &e), e)
		})
	})
}

// Stats is a sample of the session's resources now: CPU time, memory, pids and disk
// writes. ctx is checked before the call.
func (s *Session) Stats(ctx context.Context) (ResourceSample, error) {
	ev, err := useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, out **C.sbx_event, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_stats(p, out, e)
	}, takeSessionEvent))
	if err != nil {
		return ResourceSample{}, err
	}
	if ev.Sample == nil {
		return ResourceSample{}, &Error{Status: StatusProtocol, Message: "the stats event has no sample"}
	}
	return *ev.Sample, nil
}

// WaitForPort waits until a process in the session listens on TCP port (1 to 65535),
// also when one listened already (as long as the journal still has its event), and
// returns the port "listening" event (its Pid and Command, the program's name). Waits as
// ctx allows: when ctx is done first, an error matching ctx.Err() (at its deadline also
// ErrTimeout). ErrNotRunning when the session ended first, ErrInvalidArgument for port
// 0.
func (s *Session) WaitForPort(ctx context.Context, port uint16) (Event, error) {
	return useValue(ctx, &s.cHandle, callOutWait(ctx, func(p *C.sbx_session, tok *C.sbx_cancel_token, ms C.uint64_t,
		out **C.sbx_event, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_wait_for_port(p, C.uint16_t(port), ms, tok, out, e)
	}, takeSessionEvent))
}
