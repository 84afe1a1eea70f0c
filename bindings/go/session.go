package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
)

// StartOptions are the optional parts of a session start; nil means all defaults (the
// Sandbox's configuration).
type StartOptions struct {
	Image      string
	Snapshot   string // start from this snapshot (Session.Snapshot); see Sandbox.Start
	Ports      []int  // published on 127.0.0.1, host port = container port
	Env        map[string]string
	PostCreate []string // run only when the policy allows
	Network    string   // "bridge", "none" or "egress"
	// Egress puts the session on the "egress" network with this policy (replacing the
	// configuration's); &EgressPolicy{} reaches nothing. With Network "bridge" or
	// "none", Start fails with ErrInvalidArgument.
	Egress                *EgressPolicy
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
	// Egress is the policy a session on the "egress" network started with; else nil.
	Egress   *EgressReport `json:"egress"`
	Warnings []string      `json:"warnings"`
	Duration float64       `json:"duration"` // seconds
	// Raw is the whole report (limits, provisioning, post-create outcomes...).
	Raw json.RawMessage `json:"-"`
}

// Session is a running session. Close releases the handle (the container keeps
// running); Stop removes the container.
type Session struct {
	cHandle[*C.sbx_session]
	id     string
	report *StartReport
}

func newSession(p *C.sbx_session) (*Session, error) {
	s := &Session{cHandle: cHandle[*C.sbx_session]{ptr: p, name: "session handle"}, id: C.GoString(C.sbx_session_id(p))}
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
//
// With opts.Snapshot the session starts from that snapshot (Session.Snapshot):
// workingDir must not exist yet and receives a copy of the snapshot's, the container runs
// the snapshot's image (so no opts.Image), and the snapshotted session's own environment
// is not inherited. ErrNotFound for an unknown snapshot. An empty workingDir makes the
// copy a managed one, at <Config.CopyDir>/<id> (StartReport().WorkingDir names it), which
// Sandbox.RemoveCopy removes once the session is stopped; without opts.Snapshot an empty
// workingDir fails with ErrInvalidArgument.
func (sb *Sandbox) Start(ctx context.Context, id, workingDir string, opts *StartOptions) (*Session, error) {
	if opts == nil {
		opts = &StartOptions{}
	}
	return useValue(ctx, &sb.cHandle, func(p *C.sbx_context) (*Session, error) {
		spec, err := newSessionSpec(id, workingDir, opts)
		if err != nil {
			return nil, err
		}
		defer C.sbx_session_spec_free(spec)
		var sp *C.sbx_session
		var e *C.sbx_error
		if err := check(C.sbx_context_start(p, spec, &sp, &e), e); err != nil {
			return nil, err
		}
		return newSession(sp)
	})
}

// newSessionSpec is a C spec for session id in workingDir ("" leaves it unset) with
// opts applied; the caller frees it with sbx_session_spec_free.
func newSessionSpec(id, workingDir string, opts *StartOptions) (*C.sbx_session_spec, error) {
	cid, err := cString(id, "id")
	if err != nil {
		return nil, err
	}
	defer free(cid)
	cdir, err := optCString(workingDir, "working dir")
	if err != nil {
		return nil, err
	}
	if cdir != nil {
		defer free(cdir)
	}
	var spec *C.sbx_session_spec
	var e *C.sbx_error
	if err := check(C.sbx_session_spec_new(cid, cdir, &spec, &e), e); err != nil {
		return nil, err
	}
	if err := applyStartOptions(spec, opts); err != nil {
		C.sbx_session_spec_free(spec)
		return nil, err
	}
	return spec, nil
}

func applyStartOptions(spec *C.sbx_session_spec, o *StartOptions) error {
	var e *C.sbx_error
	run := func(status C.sbx_status) error {
		err := check(status, e)
		e = nil
		return err
	}
	if err := withOptCString(o.Image, "image", func(c *C.char) error { return run(C.sbx_session_spec_set_image(spec, c, &e)) }); err != nil {
		return err
	}
	if err := withOptCString(o.Snapshot, "snapshot name", func(c *C.char) error { return run(C.sbx_session_spec_set_snapshot(spec, c, &e)) }); err != nil {
		return err
	}
	if err := withOptCString(o.Network, "network", func(c *C.char) error { return run(C.sbx_session_spec_set_network(spec, c, &e)) }); err != nil {
		return err
	}
	if o.Egress != nil {
		if err := applyEgress(o.Egress, egressSetters{
			set: func(rules **C.char, n C.size_t, e **C.sbx_error) C.sbx_status {
				return C.sbx_session_spec_set_egress(spec, rules, n, e)
			},
			pin: func(name, addr *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_session_spec_pin_egress_host(spec, name, addr, e)
			},
			credential: func(host, header, fromEnv, fromFile *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_session_spec_add_egress_credential(spec, host, header, fromEnv, fromFile, e)
			},
			upstreamCA: func(path *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_session_spec_add_egress_upstream_ca(spec, path, e)
			},
		}); err != nil {
			return err
		}
	}
	for _, port := range o.Ports {
		if err := run(C.sbx_session_spec_add_port(spec, C.int64_t(port), &e)); err != nil {
			return err
		}
	}
	if err := withEnv(o.Env, func(k, v *C.char) error { return run(C.sbx_session_spec_add_env(spec, k, v, &e)) }); err != nil {
		return err
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

// Attach connects to the session id of this scope, started by any process. A session
// whose container is no longer running is returned too: its task and terminal lists,
// infos and output stay readable (from what its agent spooled) until Stop; other calls
// fail with ErrSessionLost.
func (sb *Sandbox) Attach(ctx context.Context, id string) (*Session, error) {
	return useValue(ctx, &sb.cHandle, callOutKey(id, "id", func(p *C.sbx_context, cid *C.char, sp **C.sbx_session, e **C.sbx_error) C.sbx_status {
		return C.sbx_context_attach(p, cid, sp, e)
	}, newSession))
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// StartReport is what the start did; nil for a session obtained by Attach.
func (s *Session) StartReport() *StartReport { return s.report }

// Close releases the handle (idempotent; the container keeps running). Calls blocked in
// other goroutines return ErrClosed at once (their commands are killed); Close waits
// for them, then frees the C handle.
func (s *Session) Close() error {
	if s.close(func(p *C.sbx_session) { C.sbx_session_close(p) }, func(p *C.sbx_session) { C.sbx_session_free(p) }) {
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Ping checks the agent answers.
func (s *Session) Ping(ctx context.Context) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		var e *C.sbx_error
		return check(C.sbx_session_ping(p, &e), e)
	})
}

// AgentVersion is the version of the agent serving the session.
func (s *Session) AgentVersion(ctx context.Context) (string, error) {
	return useValue(ctx, &s.cHandle, callOut(func(p *C.sbx_session, v **C.char, e **C.sbx_error) C.sbx_status {
		return C.sbx_session_agent_version(p, v, e)
	}, func(v *C.char) (string, error) { return C.GoString(v), nil }))
}

// Stop removes the container and everything in it (idempotent).
func (s *Session) Stop(ctx context.Context) error {
	return s.use(ctx, func(p *C.sbx_session) error {
		var e *C.sbx_error
		return check(C.sbx_session_stop(p, &e), e)
	})
}
