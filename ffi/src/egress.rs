//! The egress policy of a running session (network `egress`): `sbx_session_set_egress`,
//! `_egress_policy`, `_network_log`, `_restart_network`, `_egress_enforcer_running`.
//! The policy a session starts with is set on its spec (`sbx_session_spec_set_egress`,
//! `_add_egress_rule`, `_pin_egress_host`, `_add_egress_credential`,
//! `_add_egress_upstream_ca`) or in the config (`sbx_config_set_egress`,
//! `sbx_config_pin_egress_host`, `_add_egress_credential`, `_add_egress_upstream_ca`).

use std::ffi::c_char;

use crate::boundary::{Blocks, call, value};
use crate::egress_decision::sbx_egress_log;
use crate::egress_policy::{egress_rules, sbx_egress_policy};
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, into_handle, out_param, write_out};
use crate::interruptible::check_open;
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::str_array_arg;

/// The session, checked not closed (these calls read and write host files; none waits).
fn open(s: &sbx_session) -> Result<&sandbox_core::Session, FfiError> {
    check_open(&[(&s.closed, "session")], None)?;
    Ok(s.core())
}

/// Replaces the allow rules of the session's egress policy with the `count` strings at
/// `rules` (copied; grammar as in `sbx_session_spec_set_egress`), keeping its pinned
/// names, egress credentials and upstream CAs (fixed at start). Connections opened from then on are judged by the new rules; open ones keep
/// going. `count` 0 (`rules` may then be NULL) allows nothing: the session stays on the
/// egress network and every connection is refused.
///
/// Failures: `SBX_STATUS_INVALID_ARGUMENT` for a bad rule (naming it and why; the
/// policy in force is unchanged), for rules that no longer allow the host of an egress
/// credential, and for a session not on the `egress` network,
/// `SBX_STATUS_CLOSED` after close. Never blocks on the runtime (writes one file on the
/// host); any thread.
///
/// # Safety
/// `session` is NULL or live; `rules` is NULL or points to `count` pointers, each NULL
/// or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_set_egress(
    session: *const sbx_session,
    rules: *const *const c_char,
    count: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_set_egress", err, Blocks::No, || {
            // SAFETY: NULL or live / `count` NUL-terminated strings by contract.
            let (s, rules) = (borrow(session, "session")?, str_array_arg(rules, count, "rules")?);
            let allow = egress_rules(&rules)?;
            let core = open(s)?;
            // Not on the egress network: core's set_egress says so.
            let mut policy = core.egress_policy()?.unwrap_or_default();
            policy.allow = allow;
            Ok(core.set_egress(&policy)?)
        })
    }
}

/// The egress policy in force in the session (its allow rules, as changed by
/// `sbx_session_set_egress`, its pinned names, egress credentials and upstream CAs).
///
/// On success `*out` receives a policy the caller frees with `sbx_egress_policy_free`.
/// Fails with `SBX_STATUS_NOT_AVAILABLE` for a session not on the `egress` network (it
/// has no policy), `SBX_STATUS_CLOSED` after close. Never blocks on the runtime (reads
/// one file on the host); any thread.
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_egress_policy(
    session: *const sbx_session,
    out: *mut *mut sbx_egress_policy,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_egress_policy", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            let core = open(s)?;
            let policy = core.egress_policy()?.ok_or_else(|| {
                FfiError::new(
                    sbx_status::NotAvailable,
                    format!("session {} is not on the egress network, so it has no egress policy", core.id()),
                )
            })?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_egress_policy::new(&policy)));
            Ok(())
        })
    }
}

/// The decisions of the session's egress enforcer, oldest first: refused connections
/// when refused, allowed ones when they closed (with the bytes each way), so an allowed
/// request shows up a moment after its client had the answer. Empty for a session not
/// on the `egress` network.
///
/// On success `*out` receives a log the caller frees with `sbx_egress_log_free`. Fails
/// with `SBX_STATUS_CLOSED` after close, `SBX_STATUS_IO` when the log cannot be read.
/// Never blocks on the runtime (reads the log files on the host); any thread.
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_network_log(
    session: *const sbx_session,
    out: *mut *mut sbx_egress_log,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_network_log", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            let decisions = open(s)?.network_log()?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_egress_log::new(decisions)));
            Ok(())
        })
    }
}

/// Starts the session's egress enforcer again when it is not running (it was killed, or
/// the host rebooted under a kept session), with the policy in force. While it is not
/// running every connection through the proxy is refused (the session fails closed).
///
/// On success `*pid` receives the enforcer's host pid (the running one's when it was
/// running). Fails with `SBX_STATUS_INVALID_ARGUMENT` for a session not on the `egress`
/// network, `SBX_STATUS_ENGINE` when the enforcer does not start, `SBX_STATUS_CLOSED`
/// after close. Blocks until the enforcer listens: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `pid` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_restart_network(
    session: *const sbx_session,
    pid: *mut u32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_restart_network", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let pid = out_param(pid, "pid")?;
            let running = s.run(None, s.core().restart_network())?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(pid, running);
            Ok(())
        })
    }
}

/// Whether the session's egress enforcer runs; false for a session not on the `egress`
/// network, after close, and for NULL. Never fails or blocks; any thread.
///
/// # Safety
/// `session` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_egress_enforcer_running(session: *const sbx_session) -> bool {
    value(false, || {
        // SAFETY: NULL or a live session by contract.
        unsafe { session.as_ref() }.and_then(|s| open(s).ok()).is_some_and(|core| core.egress_enforcer_running())
    })
}
