//! `sbx_host_info`: what the engine probe found out about this host (podman version,
//! rootless or not, cgroup mode, runtime, whether limits can be enforced).

use std::ffi::{CString, c_char};

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::sbx_context;
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::status::sbx_status;
use crate::text::to_cstring_lossy;

/// Facts about the host and its podman. Owned by the caller, freed with
/// `sbx_host_info_free` exactly once; immutable, so readable from any thread.
pub struct sbx_host_info {
    json: CString,
    podman_version: CString,
    cgroup_mode: CString,
    runtime: CString,
    limits_reason: Option<CString>,
    rootless: bool,
    limits_enforceable: bool,
}

/// Probes the host: runs `podman info` once per context (later calls return the cached
/// facts). Fails with `SBX_STATUS_ENGINE_MISSING` when podman cannot be run.
///
/// On success `*out` receives a new `sbx_host_info` the caller frees with
/// `sbx_host_info_free`. Blocks: not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_info(
    ctx: *const sbx_context,
    out: *mut *mut sbx_host_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_info", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            let out = out_param(out, "out")?;
            let inner = ctx.open()?;
            let info = inner.block_on(inner.sandbox.info())?;
            let json = serde_json::to_string(&info).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            let handle = sbx_host_info {
                json: to_cstring_lossy(json),
                podman_version: to_cstring_lossy(info.version.clone()),
                cgroup_mode: to_cstring_lossy(info.cgroup_mode.to_string()),
                runtime: to_cstring_lossy(info.runtime().to_string()),
                limits_reason: info.limits_reason.clone().map(to_cstring_lossy),
                rootless: info.rootless,
                limits_enforceable: info.limits_enforceable,
            };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(handle));
            Ok(())
        })
    }
}

fn text(info: *const sbx_host_info, pick: fn(&sbx_host_info) -> Option<&CString>) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable handle by the exported functions' contract.
        unsafe { info.as_ref() }.and_then(pick).map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Everything the probe found, as a JSON object (keys as in sandbox-core's `HostInfo`:
/// `podman`, `version`, `rootless`, `cgroup_mode`, `default_runtime`,
/// `runtime_override`, `limits_enforceable`, `limits_reason`, `uid`, `cpus`...).
/// Borrowed from `info`, valid until it is freed; NULL for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_json(info: *const sbx_host_info) -> *const c_char {
    text(info, |i| Some(&i.json))
}

/// podman's version, e.g. `"4.3.1"`. Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_podman_version(info: *const sbx_host_info) -> *const c_char {
    text(info, |i| Some(&i.podman_version))
}

/// The cgroup layout: `"v1"`, `"hybrid"` or `"v2"`. Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_cgroup_mode(info: *const sbx_host_info) -> *const c_char {
    text(info, |i| Some(&i.cgroup_mode))
}

/// The OCI runtime sessions run with (e.g. `"runc"`). Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_runtime(info: *const sbx_host_info) -> *const c_char {
    text(info, |i| Some(&i.runtime))
}

/// Why limits cannot be enforced, or NULL when they can (or `info` is NULL). Borrowed
/// from `info`.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_limits_reason(info: *const sbx_host_info) -> *const c_char {
    text(info, |i| i.limits_reason.as_ref())
}

/// Whether podman runs rootless. false for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_rootless(info: *const sbx_host_info) -> bool {
    // SAFETY: NULL or a live, immutable handle by contract.
    value(false, || unsafe { info.as_ref() }.is_some_and(|i| i.rootless))
}

/// Whether memory, CPU and pids limits can be enforced on this host. false for NULL.
///
/// # Safety
/// `info` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_limits_enforceable(info: *const sbx_host_info) -> bool {
    // SAFETY: NULL or a live, immutable handle by contract.
    value(false, || unsafe { info.as_ref() }.is_some_and(|i| i.limits_enforceable))
}

/// Frees the probe result. NULL is ignored. Exactly once.
///
/// # Safety
/// `info` is NULL or a live handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_host_info_free(info: *mut sbx_host_info) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(info) });
}
