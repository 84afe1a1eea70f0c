//! `sbx_config`: the configuration a context is created from, built with setters so new
//! options never change the ABI.

use std::ffi::c_char;
use std::sync::Mutex;
use std::time::Duration;

use sandbox_core::{Config, Limits, Network};

use crate::boundary::{Blocks, call};
use crate::egress_policy::{add_credential_args, add_upstream_ca, egress_rules, pin_host};
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::status::sbx_status;
use crate::text::{path_arg, str_arg, str_array_arg};

/// Configuration of a context (an `sbx_context`): default image, trusted images, policy,
/// limits, scope, podman program, directories.
///
/// Owned by the caller: create with `sbx_config_new` or `sbx_config_from_env`, free with
/// `sbx_config_free` exactly once. `sbx_context_new` copies it, so it may be freed or
/// changed right after. Setters lock it, so it may be used from any thread.
#[derive(Debug)]
pub struct sbx_config {
    pub(crate) inner: Mutex<Config>,
}

impl sbx_config {
    pub(crate) fn snapshot(&self) -> Config {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn lock_config<'a>(cfg: &'a sbx_config) -> std::sync::MutexGuard<'a, Config> {
    cfg.inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// Applies a checked change to a config handle.
///
/// # Safety
/// `cfg` is NULL or a live `sbx_config`; `err` as in [`call`].
unsafe fn update(
    name: &'static str,
    cfg: *mut sbx_config,
    err: *mut *mut sbx_error,
    change: impl FnOnce(&mut Config) -> Result<(), FfiError>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::No, || {
            // SAFETY: NULL or a live config (caller's contract).
            let cfg = borrow(cfg, "config")?;
            // Validate on a copy, so a rejected value leaves the config unchanged.
            let mut c = lock_config(cfg);
            let mut next = c.clone();
            change(&mut next)?;
            *c = next;
            Ok(())
        })
    }
}

/// Creates a configuration with the built-in defaults only (no config file, no
/// environment variables): default image `localhost/sandbox-busybox:latest`, scope
/// `default`, secure policy, provisioning on.
///
/// On success `*out` receives a new config the caller frees with `sbx_config_free`.
/// Any thread.
///
/// # Safety
/// `out` points to writable storage; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_new(out: *mut *mut sbx_config, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_config_new", err, Blocks::No, || {
            let out = out_param(out, "out")?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_config { inner: Mutex::new(Config::default()) }));
            Ok(())
        })
    }
}

/// Creates a configuration the way sandbox-core's `Config::load` does: defaults, then the
/// TOML file (`$SANDBOX_CONFIG`, else `$XDG_CONFIG_HOME/sandbox/config.toml`), then the
/// `SANDBOX_*` environment variables of this process.
///
/// Fails with `SBX_STATUS_CONFIG` (naming the file or variable) when they are invalid.
/// On success `*out` receives a new config the caller frees with `sbx_config_free`.
/// Any thread (reads a file; does not use the runtime).
///
/// # Safety
/// `out` points to writable storage; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_from_env(out: *mut *mut sbx_config, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_config_from_env", err, Blocks::No, || {
            let out = out_param(out, "out")?;
            let config = Config::load()?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_config { inner: Mutex::new(config) }));
            Ok(())
        })
    }
}

/// Frees a configuration. NULL is ignored. Exactly once per config; contexts made from
/// it are not affected (they hold a copy).
///
/// # Safety
/// `config` is NULL or a live config not freed before, not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_free(config: *mut sbx_config) {
    // SAFETY: by contract.
    crate::boundary::quiet(|| unsafe { free(config) });
}

/// Sets the scope: sessions are labelled with it, and list, attach, stop and reap only
/// see sessions of the same scope (so tools sharing a machine do not reap each other's
/// sessions). Same rules as a session id. The value is copied.
///
/// # Safety
/// `config` is NULL or a live config; `scope` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_scope(
    config: *mut sbx_config,
    scope: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_scope", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            let scope = str_arg(scope, "scope")?;
            sandbox_core::validate::session_id(scope).map_err(|e| relabel(e, "scope"))?;
            c.scope = scope.to_string();
            Ok(())
        })
    }
}

/// Sets the default image (used when a session asks for none, or for an untrusted one
/// the policy refuses; always trusted). The value is copied.
///
/// # Safety
/// `config` is NULL or a live config; `image` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_image(
    config: *mut sbx_config,
    image: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_image", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            let image = str_arg(image, "image")?;
            sandbox_core::validate::image(image)?;
            c.default_image = image.to_string();
            Ok(())
        })
    }
}

/// Adds an image that sessions may use without `allow_untrusted_image`. Copied.
///
/// # Safety
/// `config` is NULL or a live config; `image` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_add_trusted_image(
    config: *mut sbx_config,
    image: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_add_trusted_image", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            let image = str_arg(image, "image")?;
            sandbox_core::validate::image(image)?;
            c.trusted_images.push(image.to_string());
            Ok(())
        })
    }
}

/// Sets the container name prefix (1 to 32 of `[A-Za-z0-9_.-]`). Copied.
///
/// # Safety
/// `config` is NULL or a live config; `prefix` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_container_prefix(
    config: *mut sbx_config,
    prefix: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_container_prefix", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            let prefix = str_arg(prefix, "container prefix")?;
            sandbox_core::validate::container_prefix(prefix)?;
            c.container_prefix = prefix.to_string();
            Ok(())
        })
    }
}

/// Sets the podman program: a name looked up in `PATH`, or a path. Copied.
///
/// # Safety
/// `config` is NULL or a live config; `podman` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_podman(
    config: *mut sbx_config,
    podman: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_podman", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.podman = path_arg(podman, "podman")?;
            Ok(())
        })
    }
}

/// Sets where session control dirs are created (an absolute path). Copied.
///
/// # Safety
/// `config` is NULL or a live config; `dir` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_runtime_dir(
    config: *mut sbx_config,
    dir: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_runtime_dir", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.runtime_dir = Some(absolute(path_arg(dir, "runtime dir")?, "runtime dir")?);
            Ok(())
        })
    }
}

/// Sets where the embedded agent binary is written (an absolute path). Copied.
///
/// # Safety
/// `config` is NULL or a live config; `dir` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_cache_dir(
    config: *mut sbx_config,
    dir: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_cache_dir", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.cache_dir = Some(absolute(path_arg(dir, "cache dir")?, "cache dir")?);
            Ok(())
        })
    }
}

/// Sets the snapshot dir: where `sbx_session_snapshot` stores snapshots and where
/// `sbx_context_snapshots` lists them (an absolute path; default
/// `/var/lib/sandbox/snapshots` for root, `~/.local/share/sandbox/snapshots` otherwise;
/// `SANDBOX_SNAPSHOT_DIR` with `sbx_config_from_env`). No working dir may be in it.
/// Copied.
///
/// # Safety
/// `config` is NULL or a live config; `dir` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_snapshot_dir(
    config: *mut sbx_config,
    dir: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_snapshot_dir", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.snapshot_dir = Some(absolute(path_arg(dir, "snapshot dir")?, "snapshot dir")?);
            Ok(())
        })
    }
}

/// Sets the copy dir: where sessions started from a snapshot without a working dir
/// (`sbx_session_spec_new` with a NULL or empty working dir and
/// `sbx_session_spec_set_snapshot`) get their managed copy, at `<copy dir>/<session id>`
/// (an absolute path, made when missing; default `/var/lib/sandbox-work` for root,
/// `$XDG_DATA_HOME/sandbox-work` or `~/.local/share/sandbox-work` otherwise, beside the
/// library's state, not in it; `SANDBOX_COPY_DIR` or the file key `copy_dir` with
/// `sbx_config_from_env`). `sbx_context_remove_copy` removes a managed copy and then the
/// copy dir too when it is empty. A relative `dir` fails with
/// `SBX_STATUS_INVALID_ARGUMENT`. Copied.
///
/// # Safety
/// `config` is NULL or a live config; `dir` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_copy_dir(
    config: *mut sbx_config,
    dir: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_copy_dir", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.copy_dir = Some(absolute(path_arg(dir, "copy dir")?, "copy dir")?);
            Ok(())
        })
    }
}

fn absolute(p: std::path::PathBuf, what: &str) -> Result<std::path::PathBuf, FfiError> {
    if p.is_absolute() { Ok(p) } else { Err(FfiError::invalid(what, format!("{} is not absolute", p.display()))) }
}

/// Turns best-effort dev-essentials provisioning (apk/apt-get at start) on or off.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_provision(
    config: *mut sbx_config,
    provision: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_provision", config, err, |c| {
            c.provision = provision;
            Ok(())
        })
    }
}

/// Sets the network mode: `"bridge"` (outbound access, ports on 127.0.0.1), `"none"`,
/// or `"egress"` (no interface but loopback; processes reach the outside only through
/// the session's proxy, which lets through what the egress policy allows: see
/// `sbx_config_set_egress`).
///
/// # Safety
/// `config` is NULL or a live config; `network` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_network(
    config: *mut sbx_config,
    network: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_network", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            c.policy.network = str_arg(network, "network")?.parse::<Network>()?;
            Ok(())
        })
    }
}

/// Sets the allow rules of the egress policy to the `count` strings at `rules` (copied;
/// grammar as in `sbx_session_spec_set_egress`), replacing the rules from the config
/// file (`[network] allow`) and `SANDBOX_EGRESS_ALLOW`, keeping pinned names, and sets
/// the network mode to `"egress"` (a later `sbx_config_set_network` changes the mode
/// again). `count` 0 (`rules` may then be NULL) allows nothing. A bad rule fails with
/// `SBX_STATUS_INVALID_ARGUMENT` naming it and why; the config is then unchanged.
/// Sessions whose spec sets an egress policy use the spec's instead.
///
/// # Safety
/// `config` is NULL or a live config; `rules` is NULL or points to `count` pointers,
/// each NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_egress(
    config: *mut sbx_config,
    rules: *const *const c_char,
    count: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_egress", config, err, |c| {
            // SAFETY: NULL or `count` NUL-terminated strings by contract.
            c.policy.egress.allow = egress_rules(&str_array_arg(rules, count, "rules")?)?;
            c.policy.egress.validate().map_err(sandbox_core::Error::from)?;
            c.policy.network = Network::Egress;
            Ok(())
        })
    }
}

/// Pins the host name `name` to `address` in the egress policy (like the config file's
/// `[network] hosts`; see `sbx_session_spec_pin_egress_host`) and sets the network mode
/// to `"egress"`. Both are copied. A bad name or address fails with
/// `SBX_STATUS_INVALID_ARGUMENT`; the config is then unchanged.
///
/// # Safety
/// `config` is NULL or a live config; `name` and `address` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_pin_egress_host(
    config: *mut sbx_config,
    name: *const c_char,
    address: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_pin_egress_host", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            pin_host(&mut c.policy.egress, str_arg(name, "name")?, str_arg(address, "address")?)?;
            c.policy.network = Network::Egress;
            Ok(())
        })
    }
}

/// Adds an egress credential to the egress policy (see
/// `sbx_session_spec_add_egress_credential`: `host` must be allowed by a rule already
/// set with `sbx_config_set_egress`; exactly one of `from_env` and `from_file`) and
/// sets the network mode to `"egress"`. All copied. A bad credential fails with
/// `SBX_STATUS_INVALID_ARGUMENT` ("egress credential"); the config is then unchanged.
///
/// # Safety
/// `config` is NULL or a live config; `host`, `header`, `from_env` and `from_file` are
/// NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_add_egress_credential(
    config: *mut sbx_config,
    host: *const c_char,
    header: *const c_char,
    from_env: *const c_char,
    from_file: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_add_egress_credential", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            add_credential_args(&mut c.policy.egress, host, header, from_env, from_file)?;
            c.policy.network = Network::Egress;
            Ok(())
        })
    }
}

/// Adds an upstream CA file (PEM, an absolute host path; copied) to the egress policy
/// (see `sbx_session_spec_add_egress_upstream_ca`) and sets the network mode to
/// `"egress"`. A relative path fails with `SBX_STATUS_INVALID_ARGUMENT`; the config is
/// then unchanged.
///
/// # Safety
/// `config` is NULL or a live config; `path` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_add_egress_upstream_ca(
    config: *mut sbx_config,
    path: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_add_egress_upstream_ca", config, err, |c| {
            // SAFETY: NULL or NUL-terminated by contract.
            add_upstream_ca(&mut c.policy.egress, str_arg(path, "path")?)?;
            c.policy.network = Network::Egress;
            Ok(())
        })
    }
}

/// Allows (or forbids, the default) running a session's post-create commands.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_allow_post_create(
    config: *mut sbx_config,
    allow: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_allow_post_create", config, err, |c| {
            c.policy.allow_post_create = allow;
            Ok(())
        })
    }
}

/// Allows (or forbids, the default) images that are not trusted; a forbidden one is
/// replaced by the default image and the start report says so.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_allow_untrusted_image(
    config: *mut sbx_config,
    allow: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_allow_untrusted_image", config, err, |c| {
            c.policy.allow_untrusted_image = allow;
            Ok(())
        })
    }
}

/// Makes start fail with `SBX_STATUS_LIMITS_UNAVAILABLE` when the host cannot enforce
/// the limits (default: start without them and say so in the report).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_require_resource_limits(
    config: *mut sbx_config,
    require: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_require_resource_limits", config, err, |c| {
            c.policy.require_resource_limits = require;
            Ok(())
        })
    }
}

/// Sets the memory limit in bytes (at least 6 MiB; default 2 GiB).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_memory_limit(
    config: *mut sbx_config,
    bytes: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_memory_limit", config, err, |c| {
            c.policy.limits = checked_limits(Limits { memory_bytes: bytes, ..c.policy.limits })?;
            Ok(())
        })
    }
}

/// Sets the CPU limit in cores (in (0, 1024]; default 2).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_cpu_limit(
    config: *mut sbx_config,
    cpus: f64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_cpu_limit", config, err, |c| {
            c.policy.limits = checked_limits(Limits { cpus, ..c.policy.limits })?;
            Ok(())
        })
    }
}

/// Sets the process-count limit (at least 8; default 512).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_pids_limit(
    config: *mut sbx_config,
    pids: u32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_pids_limit", config, err, |c| {
            c.policy.limits = checked_limits(Limits { pids, ..c.policy.limits })?;
            Ok(())
        })
    }
}

/// Names the argument in a core validation error ("invalid scope: ..." rather than
/// "invalid session id: ...").
fn relabel(e: sandbox_core::Error, what: &str) -> FfiError {
    match e {
        sandbox_core::Error::InvalidInput { reason, .. } => FfiError::invalid(what, reason),
        other => other.into(),
    }
}

pub(crate) fn checked_limits(l: Limits) -> Result<Limits, FfiError> {
    l.validate()?;
    Ok(l)
}

/// Sets how long start waits for the agent to answer, in milliseconds (non-zero).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_ready_timeout_ms(
    config: *mut sbx_config,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_ready_timeout_ms", config, err, |c| {
            c.ready_timeout = nonzero_ms(ms, "ready timeout")?;
            Ok(())
        })
    }
}

/// Sets the time limit of provisioning, in milliseconds (non-zero).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_provision_timeout_ms(
    config: *mut sbx_config,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_provision_timeout_ms", config, err, |c| {
            c.provision_timeout = nonzero_ms(ms, "provision timeout")?;
            Ok(())
        })
    }
}

/// Sets the time limit of each post-create command, in milliseconds (non-zero).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_config_set_post_create_timeout_ms(
    config: *mut sbx_config,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_config_set_post_create_timeout_ms", config, err, |c| {
            c.post_create_timeout = nonzero_ms(ms, "post-create timeout")?;
            Ok(())
        })
    }
}

pub(crate) fn nonzero_ms(ms: u64, what: &str) -> Result<Duration, FfiError> {
    if ms == 0 { Err(FfiError::invalid(what, "must be greater than zero")) } else { Ok(Duration::from_millis(ms)) }
}
