//! Rust text as C strings.

use std::ffi::CString;

/// A `CString` from text that may contain NUL bytes (replaced by U+FFFD, so the C side
/// never sees a message cut short).
pub(crate) fn to_cstring_lossy(s: impl Into<String>) -> CString {
    let s = s.into();
    match CString::new(s) {
        Ok(c) => c,
        Err(e) => {
            let s = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\u{FFFD}");
            CString::new(s).unwrap_or_default()
        }
    }
}
