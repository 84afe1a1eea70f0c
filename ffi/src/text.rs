//! Conversions between C text and Rust text: arguments in (copied, checked), strings
//! out (NUL-terminated, owned by a handle).

use std::ffi::{CStr, OsStr, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::FfiError;

pub(crate) use crate::cstring::to_cstring_lossy;

/// A required NUL-terminated UTF-8 argument, borrowed for the duration of the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| FfiError::invalid(what, format!("is not UTF-8 ({e})")))
}

/// A required path argument: any bytes but NUL (Linux paths need not be UTF-8).
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn path_arg(p: *const c_char, what: &str) -> Result<PathBuf, FfiError> {
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(FfiError::invalid(what, "is empty"));
    }
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// An optional path argument: NULL and the empty string are `None`, anything else as
/// in [`path_arg`].
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn optional_path_arg(p: *const c_char) -> Option<PathBuf> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    (!bytes.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(bytes)))
}

/// A byte buffer argument: `(NULL, 0)` is the empty buffer; NULL with a length is an
/// error.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes valid during the call.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], FfiError> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(FfiError::null(what)) };
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array of `len` required strings (argv, known ids), copied.
///
/// # Safety
/// `p` is NULL or points to `len` pointers, each NULL or a NUL-terminated string, all
/// valid during the call.
pub(crate) unsafe fn str_array_arg(p: *const *const c_char, len: usize, what: &str) -> Result<Vec<String>, FfiError> {
    if p.is_null() {
        return if len == 0 { Ok(Vec::new()) } else { Err(FfiError::null(what)) };
    }
    // SAFETY: non-NULL, `len` readable pointers by the caller's contract.
    let items = unsafe { std::slice::from_raw_parts(p, len) };
    items
        .iter()
        .enumerate()
        // SAFETY: each element is NULL or a NUL-terminated string (contract).
        .map(|(i, &s)| unsafe { str_arg(s, &format!("{what}[{i}]")) }.map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_messages_is_replaced() {
        assert_eq!(to_cstring_lossy("a\0b").to_str().unwrap(), "a\u{FFFD}b");
        assert_eq!(to_cstring_lossy("plain").to_str().unwrap(), "plain");
    }

    #[test]
    fn arguments_are_checked() {
        // SAFETY: NULL and static NUL-terminated strings.
        unsafe {
            assert_eq!(str_arg(std::ptr::null(), "id").unwrap_err().status, crate::sbx_status::NullArgument);
            assert_eq!(str_arg(c"ok".as_ptr(), "id").unwrap(), "ok");
            let bad = [0xffu8, 0];
            assert_eq!(str_arg(bad.as_ptr().cast(), "id").unwrap_err().status, crate::sbx_status::InvalidArgument);
            assert_eq!(optional_path_arg(std::ptr::null()), None);
            assert_eq!(optional_path_arg(c"".as_ptr()), None);
            assert_eq!(optional_path_arg(c"/w".as_ptr()), Some(PathBuf::from("/w")));
            assert_eq!(bytes_arg(std::ptr::null(), 0, "b").unwrap(), b"");
            assert!(bytes_arg(std::ptr::null(), 3, "b").is_err());
            let argv = [c"a".as_ptr(), std::ptr::null()];
            let e = str_array_arg(argv.as_ptr(), 2, "argv").unwrap_err();
            assert_eq!(e.message, "argv[1] is NULL");
        }
    }
}
