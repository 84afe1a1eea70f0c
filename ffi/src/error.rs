//! `sbx_error`: what went wrong, for the caller to read and free.

use std::ffi::{CString, c_char};

use crate::cstring::to_cstring_lossy;
use crate::guard::{quiet, value};
use crate::status::sbx_status;

/// An error: a status code and a message in plain words (naming the action that failed,
/// keeping podman's own words where podman failed).
///
/// Created by the library on failure of a call that was given a non-NULL `err`; owned by
/// the caller, who frees it with `sbx_error_free` exactly once. Immutable, so it may be
/// read from any thread.
#[derive(Debug)]
pub struct sbx_error {
    status: sbx_status,
    message: CString,
}

/// An error inside the library before it becomes an `sbx_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FfiError {
    pub status: sbx_status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: sbx_status, message: impl Into<String>) -> FfiError {
        FfiError { status, message: message.into() }
    }

    pub fn null(what: &str) -> FfiError {
        FfiError::new(sbx_status::NullArgument, format!("{what} is NULL"))
    }

    pub fn invalid(what: &str, reason: impl std::fmt::Display) -> FfiError {
        FfiError::new(sbx_status::InvalidArgument, format!("invalid {what}: {reason}"))
    }

    pub fn closed(what: &str) -> FfiError {
        FfiError::new(sbx_status::Closed, format!("the {what} handle was closed"))
    }
}

impl From<sandbox_core::Error> for FfiError {
    fn from(e: sandbox_core::Error) -> FfiError {
        FfiError { status: sbx_status::from_kind(e.kind()), message: e.to_string() }
    }
}

impl sbx_error {
    pub(crate) fn from_ffi(e: FfiError) -> sbx_error {
        sbx_error { status: e.status, message: to_cstring_lossy(e.message) }
    }
}

/// The status of an error, the same value the failing call returned.
/// `SBX_STATUS_NULL_ARGUMENT` when `error` is NULL. Never fails; any thread.
///
/// # Safety
/// `error` is NULL or a live `sbx_error` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_error_code(error: *const sbx_error) -> sbx_status {
    value(sbx_status::Panic, || {
        // SAFETY: the caller passes NULL or a live error (function contract); an error is
        // immutable, so a shared reference is sound from any thread.
        match unsafe { error.as_ref() } {
            Some(e) => e.status,
            None => sbx_status::NullArgument,
        }
    })
}

/// The message of an error: UTF-8, NUL-terminated, never NULL for a non-NULL `error`
/// (NULL when `error` is NULL).
///
/// Lifetime: borrowed from `error`; valid until `sbx_error_free(error)`. Do not free it.
///
/// # Safety
/// `error` is NULL or a live `sbx_error` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_error_message(error: *const sbx_error) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: as in sbx_error_code.
        match unsafe { error.as_ref() } {
            Some(e) => e.message.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// Frees an error. NULL is accepted and ignored. Call it exactly once per error; the
/// error and its message must not be used afterwards.
///
/// # Safety
/// `error` is NULL or a live `sbx_error` from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_error_free(error: *mut sbx_error) {
    quiet(|| {
        if !error.is_null() {
            // SAFETY: a non-NULL error came from Box::into_raw in the boundary and, by
            // contract, is freed only once.
            drop(unsafe { Box::from_raw(error) });
        }
    });
}
