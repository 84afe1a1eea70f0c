//! Library and ABI versions.

use std::ffi::c_char;

/// Version of the ABI described by this header. It changes only when a change breaks
/// programs built against an earlier header (a function removed or changed, a status
/// renumbered, which never happens for statuses); additions keep it. A program should
/// compare `sbx_abi_version()` with the `SBX_ABI_VERSION` it was compiled with and refuse
/// to run on a mismatch (the Python and Go bindings do).
pub const SBX_ABI_VERSION: u32 = 1;

/// The library's version (semver, e.g. `"0.1.0"`), the same as sandbox-core's.
///
/// Static string: never free it. Any thread; never fails.
#[unsafe(no_mangle)]
pub extern "C" fn sbx_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version the loaded library implements: compare it with `SBX_ABI_VERSION`.
///
/// Any thread; never fails.
#[unsafe(no_mangle)]
pub extern "C" fn sbx_abi_version() -> u32 {
    SBX_ABI_VERSION
}
