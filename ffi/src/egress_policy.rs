//! `sbx_egress_policy`: the egress policy in force in a session (its allow rules and
//! pinned names), as `sbx_session_egress_policy` read it; and the parsing of rules and
//! pins that the spec, config and session setters share.

use std::ffi::{CString, c_char};
use std::net::IpAddr;

use sandbox_core::{EgressPolicy, EgressRule};

use crate::boundary::{quiet, value};
use crate::error::FfiError;
use crate::handle::free;
use crate::text::to_cstring_lossy;

/// Parses allow rules, failing on the first bad one with core's reason.
pub(crate) fn egress_rules<S: AsRef<str>>(rules: &[S]) -> Result<Vec<EgressRule>, FfiError> {
    rules.iter().map(|r| r.as_ref().parse::<EgressRule>().map_err(|e| sandbox_core::Error::from(e).into())).collect()
}

/// Pins `name` to `address` in `policy` (added to the name's addresses), checked like a
/// whole policy.
pub(crate) fn pin_host(policy: &mut EgressPolicy, name: &str, address: &str) -> Result<(), FfiError> {
    let addr: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| FfiError::invalid("egress host address", format!("{address:?} is not an IP address")))?;
    let addrs = policy.hosts.entry(name.to_string()).or_default();
    if !addrs.contains(&addr) {
        addrs.push(addr);
    }
    policy.validate().map_err(sandbox_core::Error::from)?;
    Ok(())
}

/// An egress policy: allow rules (normalized text, in order) and pinned names with their
/// addresses. Owned by the caller, freed with `sbx_egress_policy_free` exactly once;
/// immutable, so readable from any thread; strings it returns are borrowed from it.
pub struct sbx_egress_policy {
    json: CString,
    rules: Vec<CString>,
    pins: Vec<(CString, CString)>,
}

impl sbx_egress_policy {
    pub(crate) fn new(p: &EgressPolicy) -> sbx_egress_policy {
        let json = serde_json::to_string(p).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        sbx_egress_policy {
            json: to_cstring_lossy(json),
            rules: p.allow.iter().map(|r| to_cstring_lossy(r.to_string())).collect(),
            pins: p
                .hosts
                .iter()
                .flat_map(|(name, addrs)| {
                    addrs.iter().map(move |a| (to_cstring_lossy(name.clone()), to_cstring_lossy(a.to_string())))
                })
                .collect(),
        }
    }
}

fn with<T: Copy>(policy: *const sbx_egress_policy, fallback: T, pick: impl FnOnce(&sbx_egress_policy) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable policy by the exported functions' contract.
        match unsafe { policy.as_ref() } {
            Some(p) => pick(p),
            None => fallback,
        }
    })
}

fn text_at(items: &[CString], index: usize) -> *const c_char {
    items.get(index).map_or(std::ptr::null(), |s| s.as_ptr())
}

/// The whole policy as a JSON object: `allow` (the rules as normalized text, an array
/// of strings) and `hosts` (an object from each pinned name to its array of
/// addresses). Borrowed from `policy`, valid until it is freed; NULL for NULL.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_json(policy: *const sbx_egress_policy) -> *const c_char {
    with(policy, std::ptr::null(), |p| p.json.as_ptr())
}

/// Number of allow rules; 0 for NULL (and for a policy that allows nothing).
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_rule_count(policy: *const sbx_egress_policy) -> usize {
    with(policy, 0, |p| p.rules.len())
}

/// Allow rule `index`, as normalized text (`"*.example.com:443"`, `"10.0.0.0/8"`,
/// `"[fd00::1]:80"`); NULL when out of range or for NULL. Borrowed from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_rule(policy: *const sbx_egress_policy, index: usize) -> *const c_char {
    with(policy, std::ptr::null(), |p| text_at(&p.rules, index))
}

/// Number of pins: one per pinned name and address (a name pinned to two addresses
/// counts twice), sorted by name; 0 for NULL.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_pin_count(policy: *const sbx_egress_policy) -> usize {
    with(policy, 0, |p| p.pins.len())
}

/// The name of pin `index`; NULL when out of range or for NULL. Borrowed from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_pin_name(policy: *const sbx_egress_policy, index: usize) -> *const c_char {
    with(policy, std::ptr::null(), |p| p.pins.get(index).map_or(std::ptr::null(), |(n, _)| n.as_ptr()))
}

/// The address of pin `index` (e.g. `"127.0.0.1"`, `"fd00::1"`); NULL when out of range
/// or for NULL. Borrowed from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_pin_address(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    with(policy, std::ptr::null(), |p| p.pins.get(index).map_or(std::ptr::null(), |(_, a)| a.as_ptr()))
}

/// Frees a policy. NULL is ignored. Exactly once; strings read from it become invalid.
///
/// # Safety
/// `policy` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_free(policy: *mut sbx_egress_policy) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(policy) });
}
