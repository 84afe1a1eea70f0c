// Package sandbox runs commands in per-session podman sandboxes through libsandbox's C
// API (cgo over include/sandbox.h).
//
//	sb, err := sandbox.New(nil) // config file + SANDBOX_* variables
//	s, err := sb.Start(ctx, "demo", "/home/me/project", nil)
//	r, err := s.Exec(ctx, []string{"sh", "-c", "echo hi"}, nil)
//	s.Stop(ctx); s.Close(); sb.Close()
//
// Besides Exec, a Session runs background tasks (SpawnTask: output spooled in the
// session, followed with WaitOutput or OutputReader), PTY terminals (OpenTerminal: an
// io.ReadWriteCloser), streaming commands (ExecStream: events from Next, stdin through
// Write), file operations (ReadFile, WriteFile, ReadDir, Stat, Remove), its event
// stream (Events: file changes, processes, ports, resource samples and its lifecycle,
// resumable by sequence number; Watch, Stats, WaitForPort) and, on the "egress" network,
// a policy of what it may reach (StartOptions.Egress, SetEgress, EgressPolicy,
// NetworkLog, RestartNetwork), and snapshots (Snapshot, StartOptions.Snapshot (with no
// working dir: a managed copy under Config.CopyDir), Fork,
// Diff, Merge, Sandbox.Snapshots, Sandbox.RemoveCopy, Sandbox.RemoveSnapshot). Tasks and terminals live in the session's agent and
// outlive their handles; closing a Session closes the Task, Terminal, ExecStream and
// EventStream handles made from it.
//
// Every type is safe for concurrent use. Close is idempotent: it wakes calls blocked in
// other goroutines (they return ErrClosed), waits for them to return and releases the C
// handle. Finalizers release handles that were never closed, as a safety net. Errors are
// *Error values wrapping the library's status (compare with errors.Is and the Err*
// sentinels); calls cut short by their context also match the context's error.
package sandbox

// #include <stdlib.h>
// #include <sandbox.h>
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// ABIVersion is the SBX_ABI_VERSION of the header this package was compiled with.
const ABIVersion = C.SBX_ABI_VERSION

// LibraryVersion is the version of the linked libsandbox, e.g. "0.1.0".
func LibraryVersion() string { return C.GoString(C.sbx_version()) }

// LinkedABIVersion is sbx_abi_version() of the linked library.
func LinkedABIVersion() uint32 { return uint32(C.sbx_abi_version()) }

func init() {
	if LinkedABIVersion() != ABIVersion {
		panic(fmt.Sprintf("sandbox: libsandbox ABI %d (library %s) does not match the header's %d",
			LinkedABIVersion(), LibraryVersion(), ABIVersion))
	}
}

// Config configures a Sandbox. The zero value means: start from the config file and
// SANDBOX_* variables (like the Rust API's Sandbox::from_env); set fields override it.
// The directories (RuntimeDir, CacheDir, SnapshotDir, CopyDir) must be absolute: New
// fails with ErrInvalidArgument for a relative one (ErrConfig when it comes from the
// environment or the config file). CopyDir defaults to $XDG_DATA_HOME/sandbox-work,
// /var/lib/sandbox-work for root.
type Config struct {
	// Defaults ignores the config file and environment: built-in defaults only.
	Defaults bool
	// Scope labels sessions; List, Attach, Stop and ReapOrphans only see their scope.
	Scope         string
	Image         string
	TrustedImages []string
	Provision     *bool
	Network       string // "bridge", "none" or "egress"
	// Egress gives sessions the "egress" network with this policy (replacing the config
	// file's [network] section and SANDBOX_EGRESS_ALLOW), unless Network says otherwise;
	// &EgressPolicy{} reaches nothing.
	Egress                *EgressPolicy
	AllowPostCreate       *bool
	AllowUntrustedImage   *bool
	RequireResourceLimits *bool
	MemoryLimit           uint64  // bytes; 0: unchanged
	CPULimit              float64 // cores; 0: unchanged
	PidsLimit             uint32  // 0: unchanged
	Podman                string
	RuntimeDir            string
	CacheDir              string
	SnapshotDir           string // where snapshots are stored (SANDBOX_SNAPSHOT_DIR)
	CopyDir               string // where managed copies go, <CopyDir>/<id> (SANDBOX_COPY_DIR); see Sandbox.Start
	ContainerPrefix       string
	ReadyTimeout          time.Duration
}

// Bool returns a pointer to b, for the optional fields.
func Bool(b bool) *bool { return &b }

// Uint64 returns a pointer to n, for the optional fields where 0 means something
// (ExecOptions.OutputCap: Uint64(0) captures nothing).
func Uint64(n uint64) *uint64 { return &n }

// Duration returns a pointer to d, for the optional fields where 0 means something
// (ExecOptions.KillGrace, ExecOptions.Linger).
func Duration(d time.Duration) *time.Duration { return &d }

// Sandbox is a libsandbox context: its runtime and one configuration.
type Sandbox struct {
	cHandle[*C.sbx_context]
}

// New creates a Sandbox. A nil cfg is the zero Config.
func New(cfg *Config) (*Sandbox, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	var c *C.sbx_config
	var cerr *C.sbx_error
	var status C.sbx_status
	if cfg.Defaults {
		status = C.sbx_config_new(&c, &cerr)
	} else {
		status = C.sbx_config_from_env(&c, &cerr)
	}
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	defer C.sbx_config_free(c)
	// Before the network mode, which the policy would set to "egress".
	if cfg.Egress != nil {
		if err := applyEgress(cfg.Egress, egressSetters{
			set: func(rules **C.char, n C.size_t, e **C.sbx_error) C.sbx_status {
				return C.sbx_config_set_egress(c, rules, n, e)
			},
			pin: func(name, addr *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_config_pin_egress_host(c, name, addr, e)
			},
			credential: func(host, header, fromEnv, fromFile *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_config_add_egress_credential(c, host, header, fromEnv, fromFile, e)
			},
			upstreamCA: func(path *C.char, e **C.sbx_error) C.sbx_status {
				return C.sbx_config_add_egress_upstream_ca(c, path, e)
			},
		}); err != nil {
			return nil, err
		}
	}
	texts := []struct {
		value string
		set   func(*C.sbx_config, *C.char, **C.sbx_error) C.sbx_status
		what  string
	}{
		{cfg.Scope, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status { return C.sbx_config_set_scope(c, v, e) }, "scope"},
		{cfg.Image, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status { return C.sbx_config_set_image(c, v, e) }, "image"},
		{cfg.Network, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_network(c, v, e)
		}, "network"},
		{cfg.Podman, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_podman(c, v, e)
		}, "podman"},
		{cfg.RuntimeDir, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_runtime_dir(c, v, e)
		}, "runtime dir"},
		{cfg.CacheDir, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_cache_dir(c, v, e)
		}, "cache dir"},
		{cfg.SnapshotDir, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_snapshot_dir(c, v, e)
		}, "snapshot dir"},
		{cfg.CopyDir, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_copy_dir(c, v, e)
		}, "copy dir"},
		{cfg.ContainerPrefix, func(c *C.sbx_config, v *C.char, e **C.sbx_error) C.sbx_status {
			return C.sbx_config_set_container_prefix(c, v, e)
		}, "container prefix"},
	}
	for _, t := range texts {
		if t.value == "" {
			continue
		}
		if err := withCString(t.value, t.what, func(v *C.char) error {
			var e *C.sbx_error
			return check(t.set(c, v, &e), e)
		}); err != nil {
			return nil, err
		}
	}
	for _, img := range cfg.TrustedImages {
		if err := withCString(img, "trusted image", func(v *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_config_add_trusted_image(c, v, &e), e)
		}); err != nil {
			return nil, err
		}
	}
	var e *C.sbx_error
	steps := []func() C.sbx_status{}
	if cfg.Provision != nil {
		steps = append(steps, func() C.sbx_status { return C.sbx_config_set_provision(c, C.bool(*cfg.Provision), &e) })
	}
	if cfg.AllowPostCreate != nil {
		steps = append(steps, func() C.sbx_status { return C.sbx_config_set_allow_post_create(c, C.bool(*cfg.AllowPostCreate), &e) })
	}
	if cfg.AllowUntrustedImage != nil {
		steps = append(steps, func() C.sbx_status {
			return C.sbx_config_set_allow_untrusted_image(c, C.bool(*cfg.AllowUntrustedImage), &e)
		})
	}
	if cfg.RequireResourceLimits != nil {
		steps = append(steps, func() C.sbx_status {
			return C.sbx_config_set_require_resource_limits(c, C.bool(*cfg.RequireResourceLimits), &e)
		})
	}
	if cfg.MemoryLimit != 0 {
		steps = append(steps, func() C.sbx_status { return C.sbx_config_set_memory_limit(c, C.uint64_t(cfg.MemoryLimit), &e) })
	}
	if cfg.CPULimit != 0 {
		steps = append(steps, func() C.sbx_status { return C.sbx_config_set_cpu_limit(c, C.double(cfg.CPULimit), &e) })
	}
	if cfg.PidsLimit != 0 {
		steps = append(steps, func() C.sbx_status { return C.sbx_config_set_pids_limit(c, C.uint32_t(cfg.PidsLimit), &e) })
	}
	if cfg.ReadyTimeout != 0 {
		if cfg.ReadyTimeout < time.Millisecond {
			return nil, invalid("invalid ready timeout: %v is below a millisecond", cfg.ReadyTimeout)
		}
		steps = append(steps, func() C.sbx_status {
			return C.sbx_config_set_ready_timeout_ms(c, C.uint64_t(cfg.ReadyTimeout.Milliseconds()), &e)
		})
	}
	for _, step := range steps {
		e = nil
		if err := check(step(), e); err != nil {
			return nil, err
		}
	}
	sb := &Sandbox{cHandle: cHandle[*C.sbx_context]{name: "sandbox"}}
	e = nil
	if err := check(C.sbx_context_new(c, &sb.ptr, &e), e); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(sb, (*Sandbox).Close)
	return sb, nil
}

func withCString(s, what string, f func(*C.char) error) error {
	c, err := cString(s, what)
	if err != nil {
		return err
	}
	defer free(c)
	return f(c)
}

// withOptCString is withCString for an optional string: "" calls nothing.
func withOptCString(s, what string, f func(*C.char) error) error {
	if s == "" {
		return nil
	}
	return withCString(s, what, f)
}

// withEnv runs add with each name and value of env as C strings (freed when it returns),
// stopping at the first error.
func withEnv(env map[string]string, add func(name, value *C.char) error) error {
	for k, v := range env {
		if err := withCString(k, "env name", func(ck *C.char) error {
			return withCString(v, "env value", func(cv *C.char) error { return add(ck, cv) })
		}); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the context (idempotent). Calls already running finish first; later
// calls return ErrClosed. Sessions obtained from it stay usable until they are closed.
func (sb *Sandbox) Close() error {
	if sb.close(func(p *C.sbx_context) { C.sbx_context_close(p) }, func(p *C.sbx_context) { C.sbx_context_free(p) }) {
		runtime.SetFinalizer(sb, nil)
	}
	return nil
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &Error{Status: StatusCancelled, Message: "the call was not made: " + err.Error(), cause: err}
	}
	return nil
}

// HostInfo is what the engine probe found (the JSON of sbx_host_info_json).
type HostInfo struct {
	Podman            string  `json:"podman"`
	Version           string  `json:"version"`
	Rootless          bool    `json:"rootless"`
	CgroupMode        string  `json:"cgroup_mode"`
	DefaultRuntime    string  `json:"default_runtime"`
	RuntimeOverride   *string `json:"runtime_override"`
	LimitsEnforceable bool    `json:"limits_enforceable"`
	LimitsReason      *string `json:"limits_reason"`
	UID               uint32  `json:"uid"`
	// Raw is the whole JSON object, including fields added later.
	Raw json.RawMessage `json:"-"`
}

// Info probes the host (once per Sandbox; later calls return the cached facts). ctx is
// checked before the call; the probe itself is not interrupted.
func (sb *Sandbox) Info(ctx context.Context) (*HostInfo, error) {
	return useValue(ctx, &sb.cHandle, callOut(func(p *C.sbx_context, info **C.sbx_host_info, e **C.sbx_error) C.sbx_status {
		return C.sbx_context_info(p, info, e)
	}, func(info *C.sbx_host_info) (*HostInfo, error) {
		defer C.sbx_host_info_free(info)
		raw := []byte(C.GoString(C.sbx_host_info_json(info)))
		out := &HostInfo{Raw: raw}
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, err
		}
		return out, nil
	}))
}

// SessionInfo is one row of List.
type SessionInfo struct {
	ID          string `json:"id"`
	Container   string `json:"container"`
	WorkingDir  string `json:"working_dir"`
	Image       string `json:"image"`
	State       string `json:"state"`
	CreatedUnix int64  `json:"created_unix"`
	Ports       []int  `json:"ports"`
	// Snapshot is the snapshot the session started from, or nil.
	Snapshot *string `json:"snapshot"`
}

// List returns the sessions of this scope, running or not, sorted by id.
func (sb *Sandbox) List(ctx context.Context) ([]SessionInfo, error) {
	return useValue(ctx, &sb.cHandle, callOut(func(p *C.sbx_context, list **C.sbx_session_list, e **C.sbx_error) C.sbx_status {
		return C.sbx_context_list(p, list, e)
	}, func(list *C.sbx_session_list) ([]SessionInfo, error) {
		defer C.sbx_session_list_free(list)
		var out []SessionInfo
		if err := json.Unmarshal([]byte(C.GoString(C.sbx_session_list_json(list))), &out); err != nil {
			return nil, err
		}
		return out, nil
	}))
}

// Stop removes session id of this scope, wherever it was started.
func (sb *Sandbox) Stop(ctx context.Context, id string) error {
	return sb.use(ctx, func(p *C.sbx_context) error {
		return withCString(id, "id", func(cid *C.char) error {
			var e *C.sbx_error
			return check(C.sbx_context_stop(p, cid, &e), e)
		})
	})
}

// ReapOrphans removes this scope's sessions whose id is not in known; returns their ids.
func (sb *Sandbox) ReapOrphans(ctx context.Context, known []string) ([]string, error) {
	return useValue(ctx, &sb.cHandle, func(p *C.sbx_context) ([]string, error) {
		arr, release, err := cStrings(known, "known id")
		if err != nil {
			return nil, err
		}
		defer release()
		var list *C.sbx_string_list
		var e *C.sbx_error
		if err := check(C.sbx_context_reap_orphans(p, arr, C.size_t(len(known)), &list, &e), e); err != nil {
			return nil, err
		}
		defer C.sbx_string_list_free(list)
		return listOf(C.sbx_string_list_len(list), func(i C.size_t) string { return C.GoString(C.sbx_string_list_get(list, i)) }), nil
	})
}

// listOf converts the n items of a C list, get(i) converting the i-th.
func listOf[T any](n C.size_t, get func(i C.size_t) T) []T {
	out := make([]T, 0, int(n))
	for i := C.size_t(0); i < n; i++ {
		out = append(out, get(i))
	}
	return out
}

// cStrings copies strs to a C array of C strings; release frees it all.
func cStrings(strs []string, what string) (**C.char, func(), error) {
	if len(strs) == 0 {
		return nil, func() {}, nil
	}
	arr := (*[1 << 28]*C.char)(C.calloc(C.size_t(len(strs)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:len(strs):len(strs)]
	release := func() {
		for _, p := range arr {
			if p != nil {
				free(p)
			}
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
	for i, s := range strs {
		c, err := cString(s, fmt.Sprintf("%s [%d]", what, i))
		if err != nil {
			release()
			return nil, nil, err
		}
		arr[i] = c
	}
	return &arr[0], release, nil
}
