//! `sbx_egress_decision` (one connection the egress enforcer judged) and
//! `sbx_egress_log` (a session's decisions, as `sbx_session_network_log` read them).

use std::ffi::{CString, c_char};

use sandbox_core::EgressDecision;

use crate::boundary::{quiet, value};
use crate::handle::free;
use crate::text::to_cstring_lossy;

/// One decision of a session's egress enforcer: the target asked for, where it went,
/// whether it was let through and why not, and the bytes each way.
///
/// Borrowed from the `sbx_egress_log` it came from (`sbx_egress_log_get`): never free
/// it; valid until the log is freed. Immutable, so readable from any thread; strings it
/// returns are borrowed from it.
pub struct sbx_egress_decision {
    decision: EgressDecision,
    host: CString,
    address: Option<CString>,
    via: CString,
    reason: Option<CString>,
    process: Option<CString>,
    injected: Option<CString>,
}

impl sbx_egress_decision {
    fn new(d: EgressDecision) -> sbx_egress_decision {
        sbx_egress_decision {
            host: to_cstring_lossy(d.host.clone()),
            address: d.address.map(|a| to_cstring_lossy(a.to_string())),
            via: to_cstring_lossy(d.via.clone()),
            reason: d.reason.clone().map(to_cstring_lossy),
            process: d.process.clone().map(to_cstring_lossy),
            injected: d.injected.clone().map(to_cstring_lossy),
            decision: d,
        }
    }
}

fn with<T: Copy>(d: *const sbx_egress_decision, fallback: T, pick: impl FnOnce(&sbx_egress_decision) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable decision by the exported functions' contract.
        match unsafe { d.as_ref() } {
            Some(d) => pick(d),
            None => fallback,
        }
    })
}

fn opt(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// When it was decided (for an allowed connection: when it closed), in milliseconds
/// since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_time_unix_ms(decision: *const sbx_egress_decision) -> i64 {
    with(decision, 0, |d| d.decision.time_ms.min(i64::MAX as u64) as i64)
}

/// The target host as asked for: a name (`"pypi.org"`) or an address. Borrowed from the
/// decision; NULL for NULL.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_host(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| d.host.as_ptr())
}

/// The target port. 0 for NULL.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_port(decision: *const sbx_egress_decision) -> u16 {
    with(decision, 0, |d| d.decision.port)
}

/// The address connected to (`"93.184.216.34"`, `"2001:db8::1"`), or NULL when it did
/// not get that far (refused by name) and for NULL. Borrowed from the decision.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_address(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| opt(&d.address))
}

/// How it was asked for: `"connect"` (a CONNECT tunnel, e.g. HTTPS) or `"http"` (a plain
/// HTTP request through the proxy). Borrowed from the decision; NULL for NULL.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_via(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| d.via.as_ptr())
}

/// Whether the connection was let through. false for NULL.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_allowed(decision: *const sbx_egress_decision) -> bool {
    with(decision, false, |d| d.decision.allowed)
}

/// Why it was refused (e.g. `"... not in the allow list"`), or how an allowed connection
/// ended when not cleanly; NULL otherwise and for NULL. Borrowed from the decision.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_reason(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| opt(&d.reason))
}

/// The process in the session that opened the connection, as the session's agent saw
/// it: `"pid name"` (e.g. `"42 wget"`), or `"direct: name"` for a process that used the
/// enforcer's socket itself; NULL when unknown and for NULL. Borrowed from the decision.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_process(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| opt(&d.process))
}

/// The name of the header the enforcer added to the request (an egress credential's,
/// e.g. `"Authorization"`; the value is never recorded); NULL when it added none and
/// for NULL. Borrowed from the decision.
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_injected(decision: *const sbx_egress_decision) -> *const c_char {
    with(decision, std::ptr::null(), |d| opt(&d.injected))
}

/// Bytes sent from the session to the target. 0 for NULL (and for a refusal).
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_bytes_out(decision: *const sbx_egress_decision) -> u64 {
    with(decision, 0, |d| d.decision.bytes_out)
}

/// Bytes received by the session from the target. 0 for NULL (and for a refusal).
///
/// # Safety
/// `decision` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_decision_bytes_in(decision: *const sbx_egress_decision) -> u64 {
    with(decision, 0, |d| d.decision.bytes_in)
}

/// A session's egress decisions, oldest first (from `sbx_session_network_log`). Owned by
/// the caller, freed with `sbx_egress_log_free` exactly once; immutable, so readable
/// from any thread.
pub struct sbx_egress_log {
    items: Vec<sbx_egress_decision>,
    json: CString,
}

impl sbx_egress_log {
    pub(crate) fn new(decisions: Vec<EgressDecision>) -> sbx_egress_log {
        let json = serde_json::to_string(&decisions).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        sbx_egress_log {
            items: decisions.into_iter().map(sbx_egress_decision::new).collect(),
            json: to_cstring_lossy(json),
        }
    }
}

/// Number of decisions; 0 for NULL.
///
/// # Safety
/// `log` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_log_len(log: *const sbx_egress_log) -> usize {
    // SAFETY: NULL or a live, immutable log by contract.
    value(0, || unsafe { log.as_ref() }.map_or(0, |l| l.items.len()))
}

/// Decision `index` (0 is the oldest), or NULL when `log` is NULL or `index` is out of
/// range.
///
/// Lifetime: borrowed from `log`, valid until `sbx_egress_log_free(log)`; never free it.
///
/// # Safety
/// `log` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_log_get(log: *const sbx_egress_log, index: usize) -> *const sbx_egress_decision {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable log by contract.
        unsafe { log.as_ref() }.and_then(|l| l.items.get(index)).map_or(std::ptr::null(), |d| d as *const _)
    })
}

/// The whole log as a JSON array of objects with the keys `time_ms` (Unix ms), `host`,
/// `port`, `via`, `allowed`, `bytes_out`, `bytes_in`, and `address`, `reason`,
/// `process` (`"pid name"` or `"direct: name"`) and `injected` (the name of the header
/// added, never its value) when present. Borrowed from `log`, valid until it is freed; NULL for NULL.
///
/// # Safety
/// `log` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_log_json(log: *const sbx_egress_log) -> *const c_char {
    // SAFETY: NULL or a live, immutable log by contract.
    value(std::ptr::null(), || unsafe { log.as_ref() }.map_or(std::ptr::null(), |l| l.json.as_ptr()))
}

/// Frees a log and the decisions in it. NULL is ignored. Exactly once.
///
/// # Safety
/// `log` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_log_free(log: *mut sbx_egress_log) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(log) });
}
