//! `sbx_session_spec`: what a caller asks for when starting a session, built with
//! setters. Unset fields fall back to the context's configuration.

use std::ffi::c_char;
use std::sync::Mutex;

use sandbox_core::{Config, EgressPolicy, Limits, Network, SessionSpec};

use crate::boundary::{Blocks, call, quiet};
use crate::config::checked_limits;
use crate::egress_policy::{add_credential_args, add_upstream_ca, egress_rules, pin_host};
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::status::sbx_status;
use crate::text::{optional_path_arg, str_arg, str_array_arg};

/// Parameters of `sbx_context_start`: session id, working dir, and optional image,
/// ports, environment, post-create commands, policy overrides and limits.
///
/// Owned by the caller: create with `sbx_session_spec_new`, free with
/// `sbx_session_spec_free` exactly once. `sbx_context_start` copies it. Setters lock it,
/// so any thread may use it.
pub struct sbx_session_spec {
    inner: Mutex<SpecBuilder>,
}

#[derive(Debug, Clone)]
struct SpecBuilder {
    spec: SessionSpec,
    memory_bytes: Option<u64>,
    cpus: Option<f64>,
    pids: Option<u32>,
}

impl sbx_session_spec {
    /// The spec to start with, limits resolved against `config` where only some of them
    /// were set.
    pub(crate) fn resolve(&self, config: &Config) -> Result<SessionSpec, FfiError> {
        let spec = self.resolve_template(config)?;
        if spec.working_dir.as_os_str().is_empty() && spec.snapshot.is_none() {
            return Err(FfiError::invalid(
                "working dir",
                "is not set: give one, or a snapshot to start from (the session then works in a managed copy)",
            ));
        }
        Ok(spec)
    }

    /// The spec with its limits resolved as in [`resolve`](Self::resolve), working dir
    /// not required: a fork's template for its children.
    pub(crate) fn resolve_template(&self, config: &Config) -> Result<SessionSpec, FfiError> {
        let b = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut spec = b.spec;
        if b.memory_bytes.is_some() || b.cpus.is_some() || b.pids.is_some() {
            let base = config.policy.limits;
            spec.limits = Some(checked_limits(Limits {
                memory_bytes: b.memory_bytes.unwrap_or(base.memory_bytes),
                cpus: b.cpus.unwrap_or(base.cpus),
                pids: b.pids.unwrap_or(base.pids),
            })?);
        }
        Ok(spec)
    }
}

/// Applies a checked change to a spec handle.
///
/// # Safety
/// `spec` is NULL or a live spec; `err` as in [`call`].
unsafe fn update(
    name: &'static str,
    spec: *mut sbx_session_spec,
    err: *mut *mut sbx_error,
    change: impl FnOnce(&mut SpecBuilder) -> Result<(), FfiError>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::No, || {
            // SAFETY: NULL or a live spec by contract.
            let spec = borrow(spec, "spec")?;
            let mut b = spec.inner.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = b.clone();
            change(&mut next)?;
            *b = next;
            Ok(())
        })
    }
}

/// Changes the spec's egress policy (made empty if it had none), checked as a whole.
fn change_egress(b: &mut SpecBuilder, change: impl FnOnce(&mut EgressPolicy)) -> Result<(), FfiError> {
    let mut policy = b.spec.egress.take().unwrap_or_default();
    change(&mut policy);
    policy.validate().map_err(sandbox_core::Error::from)?;
    b.spec.egress = Some(policy);
    Ok(())
}

/// Creates a spec for session `id` (1 to 64 of `[A-Za-z0-9_.-]`, starting with a letter
/// or digit) working in the host directory `working_dir` (mounted at the same path).
/// Both are copied. The id is checked now (`SBX_STATUS_INVALID_ARGUMENT`); the directory
/// when the session starts.
///
/// `working_dir` NULL or empty leaves it unset: with `sbx_session_spec_set_snapshot` the
/// session then starts in a managed copy of the snapshot's working dir, at
/// `<copy dir>/<id>` (`sbx_config_set_copy_dir`; the start report's `working_dir` names
/// it), which `sbx_context_remove_copy` removes once the session is stopped. Without a
/// snapshot, `sbx_context_start` fails with `SBX_STATUS_INVALID_ARGUMENT`.
///
/// On success `*out` receives a spec the caller frees with `sbx_session_spec_free`.
///
/// # Safety
/// `id` and `working_dir` are NULL or NUL-terminated; `out` is writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_new(
    id: *const c_char,
    working_dir: *const c_char,
    out: *mut *mut sbx_session_spec,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_spec_new", err, Blocks::No, || {
            // SAFETY: NULL or NUL-terminated by contract.
            let id = str_arg(id, "id")?;
            // NULL or empty: unset, a managed copy when a snapshot is set (checked at start).
            // SAFETY: NULL or NUL-terminated by contract.
            let dir = optional_path_arg(working_dir).unwrap_or_default();
            let out = out_param(out, "out")?;
            sandbox_core::validate::session_id(id)?;
            let b = SpecBuilder { spec: SessionSpec::new(id, dir), memory_bytes: None, cpus: None, pids: None };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_session_spec { inner: Mutex::new(b) }));
            Ok(())
        })
    }
}

/// Frees a spec. NULL is ignored. Exactly once.
///
/// # Safety
/// `spec` is NULL or a live spec not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_free(spec: *mut sbx_session_spec) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(spec) });
}

/// Requests an image. An untrusted image is replaced by the default one unless the
/// policy allows it (the start report says which was used). Copied.
///
/// # Safety
/// `spec` is NULL or a live spec; `image` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_image(
    spec: *mut sbx_session_spec,
    image: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_image", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let image = str_arg(image, "image")?;
            sandbox_core::validate::image(image)?;
            b.spec.image = Some(image.to_string());
            Ok(())
        })
    }
}

/// Starts the session from snapshot `name` (see `sbx_session_snapshot`): the working dir
/// given to `sbx_session_spec_new` must not exist yet and receives a copy of the
/// snapshot's (reflinks where the filesystem has them, else an overlay on the snapshot;
/// see `sbx_context_remove_copy`); with none given (NULL or empty) the copy is a managed
/// one at `<copy dir>/<session id>` (`sbx_config_set_copy_dir`). The container runs the
/// snapshot's image, so no image may be set. The session does not inherit the
/// snapshotted session's own environment variables (give it its own). The start report says
/// `"snapshot": {"name", "copy"}` and the image reason `"snapshot"`. Copied; the name is
/// checked now (`SBX_STATUS_INVALID_ARGUMENT`), the snapshot when the session starts
/// (`SBX_STATUS_NOT_FOUND` when there is none).
///
/// # Safety
/// `spec` is NULL or a live spec; `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_snapshot(
    spec: *mut sbx_session_spec,
    name: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_snapshot", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let name = str_arg(name, "snapshot")?;
            sandbox_core::snapshot::check_name(name)?;
            b.spec.snapshot = Some(name.to_string());
            Ok(())
        })
    }
}

/// Adds a port to publish on 127.0.0.1 (host port = container port), 1 to 65535. A port
/// in use on the host is dropped at start and reported, the others kept.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_port(
    spec: *mut sbx_session_spec,
    port: i64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_port", spec, err, |b| {
            let port = sandbox_core::validate::port_from_i64(port)?;
            let mut ports = b.spec.ports.clone();
            ports.push(port);
            sandbox_core::validate::ports(&ports, false, 0)?;
            b.spec.ports = ports;
            Ok(())
        })
    }
}

/// Adds an environment variable for the container and every command in it. Copied.
///
/// # Safety
/// `spec` is NULL or a live spec; `key` and `value` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_env(
    spec: *mut sbx_session_spec,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_env", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let pair = (str_arg(key, "key")?.to_string(), str_arg(value, "value")?.to_string());
            sandbox_core::validate::env(std::slice::from_ref(&pair))?;
            b.spec.env.push(pair);
            Ok(())
        })
    }
}

/// Adds a post-create command (run with `sh -c` after start, only when the policy allows
/// post-create commands; its outcome is in the start report). Copied.
///
/// # Safety
/// `spec` is NULL or a live spec; `command` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_post_create(
    spec: *mut sbx_session_spec,
    command: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_post_create", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let command = str_arg(command, "command")?;
            if command.trim().is_empty() {
                return Err(FfiError::invalid("post-create command", "is empty"));
            }
            b.spec.post_create.push(command.to_string());
            Ok(())
        })
    }
}

/// Overrides the network mode: `"bridge"` (outbound access, ports on 127.0.0.1),
/// `"none"`, or `"egress"` (no interface but loopback: processes reach the outside only
/// through the session's proxy, `HTTP_PROXY` and friends set to
/// `http://127.0.0.1:3128`, which lets through what the egress policy allows; nothing is
/// published). `"egress"` without an egress policy on the spec takes the configuration's
/// (`[network] allow`, `SANDBOX_EGRESS_ALLOW`; none: nothing is reachable). An egress
/// policy on the spec (`sbx_session_spec_set_egress`...) with `"bridge"` or `"none"`
/// makes start fail with `SBX_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `spec` is NULL or a live spec; `network` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_network(
    spec: *mut sbx_session_spec,
    network: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_network", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            b.spec.network = Some(str_arg(network, "network")?.parse::<Network>()?);
            Ok(())
        })
    }
}

/// Gives the session an egress policy whose allow rules are the `count` strings at
/// `rules` (copied), replacing rules set before on this spec; names pinned with
/// `sbx_session_spec_pin_egress_host` are kept. With the network mode left unset the
/// session goes on the `egress` network. `count` 0 (`rules` may then be NULL) is a
/// policy with no rules: the session is on the egress network and nothing is reachable.
///
/// A rule is `example.com` (that name), `*.example.com` (any name below it), an
/// address or network (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`), each optionally with a
/// port (`example.com:443`, `10.0.0.0/8:5432`, `[fd00::1]:80`). Names resolving to
/// loopback, private, link-local or other non-public addresses also need an address
/// rule. A bad rule fails with `SBX_STATUS_INVALID_ARGUMENT` naming it and why (`*`,
/// `**.x`, an empty rule, port 0, a non-ASCII name...); the spec is then unchanged.
/// The policy of a running session is changed with `sbx_session_set_egress`.
///
/// # Safety
/// `spec` is NULL or a live spec; `rules` is NULL or points to `count` pointers, each
/// NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_egress(
    spec: *mut sbx_session_spec,
    rules: *const *const c_char,
    count: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_egress", spec, err, |b| {
            // SAFETY: NULL or `count` NUL-terminated strings by contract.
            let allow = egress_rules(&str_array_arg(rules, count, "rules")?)?;
            change_egress(b, |p| p.allow = allow)
        })
    }
}

/// Adds one allow rule (copied; grammar as in `sbx_session_spec_set_egress`) to the
/// spec's egress policy, creating the policy (and so, with the network mode unset,
/// putting the session on the `egress` network) if the spec had none. A bad rule fails
/// with `SBX_STATUS_INVALID_ARGUMENT`; the spec is then unchanged.
///
/// # Safety
/// `spec` is NULL or a live spec; `rule` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_egress_rule(
    spec: *mut sbx_session_spec,
    rule: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_egress_rule", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let rule = egress_rules(&[str_arg(rule, "rule")?])?;
            change_egress(b, |p| p.allow.extend(rule))
        })
    }
}

/// Pins the host name `name` to `address` (an IPv4 or IPv6 address; both copied) in the
/// spec's egress policy: the session's enforcer answers the name with its pinned
/// addresses instead of asking the host's resolver (like an `/etc/hosts` of its own).
/// Call it again to give a name more addresses. A pinned name is still judged by the
/// allow rules, and its addresses by the address checks (`127.0.0.1` needs an address
/// rule such as `127.0.0.1:8080`). Creates the policy like
/// `sbx_session_spec_add_egress_rule`. The name must be written lowercase, without a
/// trailing dot, non-ASCII names in their `xn--` form; a bad name or address fails with
/// `SBX_STATUS_INVALID_ARGUMENT` and leaves the spec unchanged.
///
/// # Safety
/// `spec` is NULL or a live spec; `name` and `address` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_pin_egress_host(
    spec: *mut sbx_session_spec,
    name: *const c_char,
    address: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_pin_egress_host", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let (name, address) = (str_arg(name, "name")?, str_arg(address, "address")?);
            let mut policy = b.spec.egress.take().unwrap_or_default();
            pin_host(&mut policy, name, address)?;
            b.spec.egress = Some(policy);
            Ok(())
        })
    }
}

/// Adds an egress credential to the spec's egress policy: for requests to `host`, the
/// session's enforcer (on the host) sets header `header` to the value of the host
/// environment variable `from_env` or the contents of the host file `from_file` (give
/// exactly one; the other NULL), read when the session starts. The value never enters
/// the session: HTTPS to `host` is terminated with a CA of the session's own (which the
/// session trusts) and re-encrypted to the real host, plain HTTP gets the header too,
/// and answers are scrubbed of the value. A header of that name the session sends is
/// replaced. All copied.
///
/// `host` must be an exact name (lowercase) that an allow rule already on the spec
/// allows, so add the rule first; `header` a header name that does not frame or route
/// the request (not `Host`, `Content-Length`, `Connection`, `Proxy-*`...); `from_file`
/// an absolute path. Anything else fails with `SBX_STATUS_INVALID_ARGUMENT` naming
/// "egress credential" and why; the spec is then unchanged. Creates the policy like
/// `sbx_session_spec_add_egress_rule`. Credentials are fixed when the session starts:
/// `sbx_session_set_egress` keeps them.
///
/// # Safety
/// `spec` is NULL or a live spec; `host`, `header`, `from_env` and `from_file` are NULL
/// or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_egress_credential(
    spec: *mut sbx_session_spec,
    host: *const c_char,
    header: *const c_char,
    from_env: *const c_char,
    from_file: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_egress_credential", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let mut policy = b.spec.egress.take().unwrap_or_default();
            add_credential_args(&mut policy, host, header, from_env, from_file)?;
            b.spec.egress = Some(policy);
            Ok(())
        })
    }
}

/// Adds an upstream CA file (PEM; an absolute host path, copied) to the spec's egress
/// policy: trusted, besides the host's certificate store, when the enforcer connects to
/// a host it adds an egress credential for (a private or test CA). A relative path
/// fails with `SBX_STATUS_INVALID_ARGUMENT` ("egress upstream CA"); the file is read
/// when the session starts. Creates the policy like `sbx_session_spec_add_egress_rule`;
/// fixed when the session starts.
///
/// # Safety
/// `spec` is NULL or a live spec; `path` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_add_egress_upstream_ca(
    spec: *mut sbx_session_spec,
    path: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_add_egress_upstream_ca", spec, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let path = str_arg(path, "path")?;
            let mut policy = b.spec.egress.take().unwrap_or_default();
            add_upstream_ca(&mut policy, path)?;
            b.spec.egress = Some(policy);
            Ok(())
        })
    }
}

/// Overrides the policy's `allow_post_create`.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_allow_post_create(
    spec: *mut sbx_session_spec,
    allow: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_allow_post_create", spec, err, |b| {
            b.spec.allow_post_create = Some(allow);
            Ok(())
        })
    }
}

/// Overrides the policy's `allow_untrusted_image`.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_allow_untrusted_image(
    spec: *mut sbx_session_spec,
    allow: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_allow_untrusted_image", spec, err, |b| {
            b.spec.allow_untrusted_image = Some(allow);
            Ok(())
        })
    }
}

/// Overrides the policy's `require_resource_limits`.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_require_resource_limits(
    spec: *mut sbx_session_spec,
    require: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_require_resource_limits", spec, err, |b| {
            b.spec.require_resource_limits = Some(require);
            Ok(())
        })
    }
}

/// Overrides dev-essentials provisioning.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_provision(
    spec: *mut sbx_session_spec,
    provision: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_provision", spec, err, |b| {
            b.spec.provision = Some(provision);
            Ok(())
        })
    }
}

/// Overrides the memory limit, in bytes (at least 6 MiB). Limits not set on the spec
/// come from the context's configuration.
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_memory_limit(
    spec: *mut sbx_session_spec,
    bytes: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_memory_limit", spec, err, |b| {
            checked_limits(Limits { memory_bytes: bytes, ..Limits::default() })?;
            b.memory_bytes = Some(bytes);
            Ok(())
        })
    }
}

/// Overrides the CPU limit, in cores (in (0, 1024]).
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_cpu_limit(
    spec: *mut sbx_session_spec,
    cpus: f64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_cpu_limit", spec, err, |b| {
            checked_limits(Limits { cpus, ..Limits::default() })?;
            b.cpus = Some(cpus);
            Ok(())
        })
    }
}

/// Overrides the process-count limit (at least 8).
///
/// # Safety
/// `spec` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spec_set_pids_limit(
    spec: *mut sbx_session_spec,
    pids: u32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_session_spec_set_pids_limit", spec, err, |b| {
            checked_limits(Limits { pids, ..Limits::default() })?;
            b.pids = Some(pids);
            Ok(())
        })
    }
}
