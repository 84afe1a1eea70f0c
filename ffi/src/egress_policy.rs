//! `sbx_egress_policy`: the egress policy in force in a session (its allow rules,
//! pinned names, egress credentials and upstream CAs), as `sbx_session_egress_policy`
//! read it; and the parsing of rules, pins, credentials and upstream CAs that the spec,
//! config and session setters share.

use std::ffi::{CString, c_char};
use std::net::IpAddr;

use sandbox_core::{EgressCredential, EgressPolicy, EgressRule};

use crate::boundary::{quiet, value};
use crate::error::FfiError;
use crate::handle::free;
use crate::text::{str_arg, to_cstring_lossy};

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

/// Adds an egress credential to `policy`: for requests to `host`, header `header` gets
/// the value of the host environment variable `from_env` or the contents of the host
/// file `from_file` (exactly one), read when the session starts. Checked like a whole
/// policy (the host must be allowed by a name rule already).
fn add_credential(
    policy: &mut EgressPolicy,
    host: &str,
    header: &str,
    from_env: Option<&str>,
    from_file: Option<&str>,
) -> Result<(), FfiError> {
    policy.credentials.push(EgressCredential {
        host: host.to_string(),
        header: header.to_string(),
        from_env: from_env.map(str::to_string),
        from_file: from_file.map(std::path::PathBuf::from),
    });
    policy.validate().map_err(sandbox_core::Error::from)?;
    Ok(())
}

/// `add_credential` from C arguments: `host` and `header` required, `from_env` and
/// `from_file` NULL or a string.
///
/// # Safety
/// Each pointer is NULL or NUL-terminated.
pub(crate) unsafe fn add_credential_args(
    policy: &mut EgressPolicy,
    host: *const c_char,
    header: *const c_char,
    from_env: *const c_char,
    from_file: *const c_char,
) -> Result<(), FfiError> {
    // SAFETY: NULL or NUL-terminated by contract.
    unsafe {
        let (host, header) = (str_arg(host, "host")?, str_arg(header, "header")?);
        let env = if from_env.is_null() { None } else { Some(str_arg(from_env, "from_env")?) };
        let file = if from_file.is_null() { None } else { Some(str_arg(from_file, "from_file")?) };
        add_credential(policy, host, header, env, file)
    }
}

/// Adds an upstream CA file (PEM, an absolute host path) to `policy`, checked like a
/// whole policy; a file already there is not added twice.
pub(crate) fn add_upstream_ca(policy: &mut EgressPolicy, path: &str) -> Result<(), FfiError> {
    let path = std::path::PathBuf::from(path);
    if !policy.upstream_ca_files.contains(&path) {
        policy.upstream_ca_files.push(path);
    }
    policy.validate().map_err(sandbox_core::Error::from)?;
    Ok(())
}

/// An egress credential as the policy handle shows it: names only, never a value.
struct CredentialText {
    host: CString,
    header: CString,
    from_env: Option<CString>,
    from_file: Option<CString>,
}

/// An egress policy: allow rules (normalized text, in order) and pinned names with their
/// addresses. Owned by the caller, freed with `sbx_egress_policy_free` exactly once;
/// immutable, so readable from any thread; strings it returns are borrowed from it.
pub struct sbx_egress_policy {
    json: CString,
    rules: Vec<CString>,
    pins: Vec<(CString, CString)>,
    credentials: Vec<CredentialText>,
    upstream_cas: Vec<CString>,
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
            credentials: p
                .credentials
                .iter()
                .map(|c| CredentialText {
                    host: to_cstring_lossy(c.host.clone()),
                    header: to_cstring_lossy(c.header.clone()),
                    from_env: c.from_env.clone().map(to_cstring_lossy),
                    from_file: c.from_file.as_ref().map(|f| to_cstring_lossy(f.display().to_string())),
                })
                .collect(),
            upstream_cas: p.upstream_ca_files.iter().map(|f| to_cstring_lossy(f.display().to_string())).collect(),
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
/// of strings), `hosts` (an object from each pinned name to its array of addresses),
/// and, when there are any, `credentials` (an array of objects with `host`, `header`
/// and `from_env` or `from_file`: where the value is, never the value) and
/// `upstream_ca_files` (an array of paths). Borrowed from `policy`, valid until it is freed; NULL for NULL.
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

/// Number of egress credentials (headers the enforcer adds for chosen hosts); 0 for
/// NULL.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_credential_count(policy: *const sbx_egress_policy) -> usize {
    with(policy, 0, |p| p.credentials.len())
}

fn credential_text(
    policy: *const sbx_egress_policy,
    index: usize,
    pick: impl FnOnce(&CredentialText) -> Option<&CString>,
) -> *const c_char {
    with(policy, std::ptr::null(), |p| p.credentials.get(index).and_then(pick).map_or(std::ptr::null(), |s| s.as_ptr()))
}

/// The host of egress credential `index`; NULL when out of range or for NULL.
/// Borrowed from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_credential_host(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    credential_text(policy, index, |c| Some(&c.host))
}

/// The header name of egress credential `index` (e.g. `"Authorization"`); NULL when
/// out of range or for NULL. Borrowed from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_credential_header(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    credential_text(policy, index, |c| Some(&c.header))
}

/// The host environment variable egress credential `index` takes its value from; NULL
/// when it takes it from a file, when out of range and for NULL. Borrowed from
/// `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_credential_from_env(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    credential_text(policy, index, |c| c.from_env.as_ref())
}

/// The host file egress credential `index` takes its value from; NULL when it takes it
/// from an environment variable, when out of range and for NULL. Borrowed from
/// `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_credential_from_file(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    credential_text(policy, index, |c| c.from_file.as_ref())
}

/// Number of upstream CA files (trusted, besides the host's store, for hosts with an
/// egress credential); 0 for NULL.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_upstream_ca_count(policy: *const sbx_egress_policy) -> usize {
    with(policy, 0, |p| p.upstream_cas.len())
}

/// The path of upstream CA file `index`; NULL when out of range or for NULL. Borrowed
/// from `policy`.
///
/// # Safety
/// `policy` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_egress_policy_upstream_ca(
    policy: *const sbx_egress_policy,
    index: usize,
) -> *const c_char {
    with(policy, std::ptr::null(), |p| text_at(&p.upstream_cas, index))
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
