package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"sync"
)

// StartOptions are the optional parts of a session start; nil means all defaults (the
// Sandbox's configuration).
type StartOptions struct {
	Image                 string
	Ports                 []int // published on 127.0.0.1, host port = container port
	Env                   map[string]string
	PostCreate            []string // run only when the policy allows
	Network               string   // "bridge" or "none"
	AllowPostCreate       *bool
	AllowUntrustedImage   *bool
	RequireResourceLimits *bool
	Provision             *bool
	MemoryLimit           uint64
	CPULimit              float64
	PidsLimit             uint32
}

// StartReport is what a start did (the JSON of sbx_session_start_report_json).
type StartReport struct {
	SessionID  string `json:"session_id"`
	Container  string `json:"container"`
	WorkingDir string `json:"working_dir"`
	Image      struct {
		Requested *string `json:"requested"`
		Used      string  `json:"used"`
		Reason    string  `json:"reason"`
	} `json:"image"`
	Network        string `json:"network"`
	PortsPublished []int  `json:"ports_published"`
	Limits         struct {
		Enforced      bool    `json:"enforced"`
		Reason        *string `json:"reason"`
		NprocFallback *uint64 `json:"nproc_fallback"` // the nproc limit used when the requested one could not be
	} `json:"limits"`
	ProtectedPaths []string `json:"protected_paths"` // paths of the working dir mounted read-only
	Warnings       []string `json:"warnings"`
	Duration       float64  `json:"duration"` // seconds
	// Raw is the whole report (limits, provisioning, post-create outcomes...).
	Raw json.RawMessage `json:"-"`
}

// Session is a running session. Close releases the handle (the container keeps
// running); Stop removes the container.
type Session struct {
	mu     sync.RWMutex
	ptr    *C.sbx_session
	id     string
	report *StartReport
}

func newSession(p *C.sbx_session) (*Session, error) {
	s := &Session{ptr: p, id: C.GoString(C.sbx_session_id(p))}
	var js *C.char
	var e *C.sbx_error
	if C.sbx_session_start_report_json(p, &js, &e) == C.SBX_STATUS_OK {
		raw := []byte(C.GoString(js))
		s.report = &StartReport{Raw: raw}
		if err := json.Unmarshal(raw, s.report); err != nil {
			C.sbx_session_free(p)
			return nil, err
		}
	} else {
		C.sbx_error_free(e)
	}
	runtime.SetFinalizer(s, (*Session).Close)
	return s, nil
}

// Start starts session id with workingDir mounted at the same path. ctx is checked
// before the call; a start is not cut short once begun (that could leave a half-made
// container).
func (sb *Sandbox) Start(ctx context.Context, id, workingDir string, opts *StartOptions) (*Session, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &StartOptions{}
	}
	p, err := sb.acquire()
	if err != nil {
		return nil, err
	}
	defer sb.mu.RUnlock()
	cid, err := cString(id, "id")
	if err != nil {
		return nil, err
	}
	defer free(cid)
	cdir, err := cString(workingDir, "working dir")
	if err != nil {
		return nil, err
	}
	defer free(cdir)
	var spec *C.sbx_session_spec
	var e *C.sbx_error
	if err := check(C.sbx_session_spec_new(cid, cdir, &spec, &e), e); err != nil {
		return nil, err
	}
	defer C.sbx_session_spec_free(spec)
	if err := applyStartOptions(spec, opts); err != nil {
		return nil, err
	}
	var sp *C.sbx_session
	e = nil
	if err := check(C.sbx_context_start(p, spec, &sp, &e), e); err != nil {
		return nil, err
	}
	runtime.KeepAlive(sb)
	return newSession(sp)
}

func applyStartOptions(spec *C.sbx_session_spec, o *StartOptions) error {
	var e *C.sbx_error
	run := func(status C.sbx_status) error {
		err := check(status, e)
		e = nil
		return err
	}
	text := func(v, what string, set func(*C.char) C.sbx_status) error {
		if v == "" {
			return nil
		}
		return withCString(v, what, func(c *C.char) error { return run(set(c)) })
	}
	if err := text(o.Image, "image", func(c *C.char) C.sbx_status { return C.sbx_session_spec_set_image(spec, c, &e) }); err != nil {
		return err
	}
	if err := text(o.Network, "network", func(c *C.char) C.sbx_status { return C.sbx_session_spec_set_network(spec, c, &e) }); err != nil {
		return err
	}
	for _, port := range o.Ports {
		if err := run(C.sbx_session_spec_add_port(spec, C.int64_t(port), &e)); err != nil {
			return err
		}
	}
	for k, v := range o.Env {
		err := withCString(k, "env name", func(ck *C.char) error {
			return withCString(v, "env value", func(cv *C.char) error {
				return run(C.sbx_session_spec_add_env(spec, ck, cv, &e))
			})
		})
		if err != nil {
			return err
		}
	}
	for _, cmd := range o.PostCreate {
		if err := withCString(cmd, "post-create command", func(c *C.char) error {
			return run(C.sbx_session_spec_add_post_create(spec, c, &e))
		}); err != nil {
			return err
		}
	}
	flags := []struct {
		v   *bool
		set func(C.bool) C.sbx_status
	}{
		{o.AllowPostCreate, func(b C.bool) C.sbx_status { return C.sbx_session_spec_set_allow_post_create(spec, b, &e) }},
		{o.AllowUntrustedImage, func(b C.bool) C.sbx_status { return C.sbx_session_spec_set_allow_untrusted_image(spec, b, &e) }},
		{o.RequireResourceLimits, func(b C.bool) C.sbx_status {
			return C.sbx_session_spec_set_require_resource_limits(spec, b, &e)
		}},
		{o.Provision, func(b C.bool) C.sbx_status { return C.sbx_session_spec_set_provision(spec, b, &e) }},
	}
	for _, f := range flags {
		if f.v != nil {
			if err := run(f.set(C.bool(*f.v))); err != nil {
				return err
			}
		}
	}
	if o.MemoryLimit != 0 {
		if err := run(C.sbx_session_spec_set_memory_limit(spec, C.uint64_t(o.MemoryLimit), &e)); err != nil {
			return err
		}
	}
	if o.CPULimit != 0 || math.IsNaN(o.CPULimit) {
		if err := run(C.sbx_session_spec_set_cpu_limit(spec, C.double(o.CPULimit), &e)); err != nil {
			return err
		}
	}
	if o.PidsLimit != 0 {
		if err := run(C.sbx_session_spec_set_pids_limit(spec, C.uint32_t(o.PidsLimit), &e)); err != nil {
			return err
		}
	}
	return nil
}

// Attach connects to the running session id of this scope, started by any process.
func (sb *Sandbox) Attach(ctx context.Context, id string) (*Session, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, err := sb.acquire()
	if err != nil {
		return nil, err
	}
	defer sb.mu.RUnlock()
	var sp *C.sbx_session
	err = withCString(id, "id", func(cid *C.char) error {
		var e *C.sbx_error
		return check(C.sbx_context_attach(p, cid, &sp, &e), e)
	})
	if err != nil {
		return nil, err
	}
	runtime.KeepAlive(sb)
	return newSession(sp)
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// StartReport is what the start did; nil for a session obtained by Attach.
func (s *Session) StartReport() *StartReport { return s.report }

func (s *Session) acquire() (*C.sbx_session, error) {
	s.mu.RLock()
	if s.ptr == nil {
		s.mu.RUnlock()
		return nil, &Error{Status: StatusClosed, Message: "the session handle was closed"}
	}
	return s.ptr, nil
}

// Close releases the handle (idempotent; the container keeps running). Calls blocked in
// other goroutines return ErrClosed at once (their commands are killed); Close waits
// for them, then frees the C handle.
func (s *Session) Close() error {
	s.mu.RLock()
	p := s.ptr
	s.mu.RUnlock()
	if p == nil {
		return nil
	}
	C.sbx_session_close(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.sbx_session_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Ping checks the agent answers.
func (s *Session) Ping(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	p, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var e *C.sbx_error
	err = check(C.sbx_session_ping(p, &e), e)
	runtime.KeepAlive(s)
	return err
}

// AgentVersion is the version of the agent serving the session.
func (s *Session) AgentVersion(ctx context.Context) (string, error) {
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	p, err := s.acquire()
	if err != nil {
		return "", err
	}
	defer s.mu.RUnlock()
	var v *C.char
	var e *C.sbx_error
	if err := check(C.sbx_session_agent_version(p, &v, &e), e); err != nil {
		return "", err
	}
	out := C.GoString(v)
	runtime.KeepAlive(s)
	return out, nil
}

// Stop removes the container and everything in it (idempotent).
func (s *Session) Stop(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	p, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var e *C.sbx_error
	err = check(C.sbx_session_stop(p, &e), e)
	runtime.KeepAlive(s)
	return err
}
