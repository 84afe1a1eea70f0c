//! `sbx_status`: the result of every call. The numbers are part of the ABI: each is
//! written out, and a number is never reused for another meaning, even after its
//! status is retired. 0-99 are the library's own conditions, 100 and up the error kinds
//! of sandbox-core.

use std::ffi::c_char;

use sandbox_core::ErrorKind;

/// Outcome of a call. `SBX_STATUS_OK` (0) is success; any other value is a failure and,
/// when the caller passed an `err` pointer, an `sbx_error` with a message was stored
/// there. New statuses may be added in later versions (a caller must treat an unknown
/// number as a generic failure); existing numbers never change meaning.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum sbx_status {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL. The message names it.
    NullArgument = 1,
    /// An argument was rejected before anything was done (bad session id, empty argv,
    /// text that is not UTF-8, a zero timeout...). The message says which and why.
    InvalidArgument = 2,
    /// The library panicked (a bug); the message carries the panic message. The handle
    /// involved may be left in an unspecified but memory-safe state.
    Panic = 3,
    /// The handle was closed (`*_close`), possibly by another thread while this call
    /// was blocked in it.
    Closed = 4,
    /// A blocking call was made from one of the library's own runtime threads (e.g.
    /// from inside a callback, or from async Rust code): it would deadlock, so it is
    /// refused. Call it from a thread of your own.
    WrongThread = 5,
    /// The call was cancelled through an `sbx_cancel_token`.
    Cancelled = 6,
    /// The handle has no such data, e.g. the start report of a session obtained by
    /// attach.
    NotAvailable = 7,
    /// A sandbox-core error of a kind this version of the library does not classify
    /// (only possible if sandbox-core gains a kind before the ABI does).
    Unclassified = 99,
    /// podman could not be run (not installed, or not at the configured path).
    EngineMissing = 100,
    /// podman ran and the operation failed; the message keeps podman's stderr.
    Engine = 101,
    /// The image is not present locally (images are never pulled).
    ImageUnavailable = 102,
    /// The policy requires resource limits and this host cannot enforce them.
    LimitsUnavailable = 103,
    /// No session with this id exists in this scope, or it was stopped.
    SessionNotFound = 104,
    /// A session with this id already exists.
    SessionExists = 105,
    /// The session's container or agent died; calls on it cannot succeed.
    SessionLost = 106,
    /// Something did not finish in time (a command past its timeout is not an error: see
    /// `sbx_exec_result_timed_out`).
    Timeout = 107,
    /// The agent in the container speaks another protocol version; restart the session.
    AgentVersionMismatch = 108,
    /// The agent sent something this library does not understand.
    Protocol = 109,
    /// Something named inside the session (a working directory...) does not exist.
    NotFound = 111,
    /// The configuration file or a `SANDBOX_*` variable is invalid.
    Config = 112,
    /// A host-side I/O operation failed.
    Io = 113,
    /// The process behind a handle has ended (e.g. writing to an exited terminal).
    NotRunning = 114,
    /// The container refused access to a path.
    PermissionDenied = 115,
}

// 110 was sandbox-core's InvalidInput; it is reported as SBX_STATUS_INVALID_ARGUMENT (2)
// and the number 110 is never used.

impl sbx_status {
    /// Every status, for tables and tests.
    pub const ALL: [sbx_status; 24] = [
        sbx_status::Ok,
        sbx_status::NullArgument,
        sbx_status::InvalidArgument,
        sbx_status::Panic,
        sbx_status::Closed,
        sbx_status::WrongThread,
        sbx_status::Cancelled,
        sbx_status::NotAvailable,
        sbx_status::Unclassified,
        sbx_status::EngineMissing,
        sbx_status::Engine,
        sbx_status::ImageUnavailable,
        sbx_status::LimitsUnavailable,
        sbx_status::SessionNotFound,
        sbx_status::SessionExists,
        sbx_status::SessionLost,
        sbx_status::Timeout,
        sbx_status::AgentVersionMismatch,
        sbx_status::Protocol,
        sbx_status::NotFound,
        sbx_status::Config,
        sbx_status::Io,
        sbx_status::NotRunning,
        sbx_status::PermissionDenied,
    ];

    /// The status for a sandbox-core error kind.
    pub fn from_kind(kind: ErrorKind) -> sbx_status {
        match kind {
            ErrorKind::EngineMissing => sbx_status::EngineMissing,
            ErrorKind::Engine => sbx_status::Engine,
            ErrorKind::ImageUnavailable => sbx_status::ImageUnavailable,
            ErrorKind::LimitsUnavailable => sbx_status::LimitsUnavailable,
            ErrorKind::SessionNotFound => sbx_status::SessionNotFound,
            ErrorKind::SessionExists => sbx_status::SessionExists,
            ErrorKind::SessionLost => sbx_status::SessionLost,
            ErrorKind::Timeout => sbx_status::Timeout,
            ErrorKind::AgentVersionMismatch => sbx_status::AgentVersionMismatch,
            ErrorKind::Protocol => sbx_status::Protocol,
            ErrorKind::InvalidInput => sbx_status::InvalidArgument,
            ErrorKind::NotFound => sbx_status::NotFound,
            ErrorKind::Config => sbx_status::Config,
            ErrorKind::Io => sbx_status::Io,
            ErrorKind::NotRunning => sbx_status::NotRunning,
            ErrorKind::PermissionDenied => sbx_status::PermissionDenied,
            // ErrorKind is non-exhaustive: a kind added to sandbox-core before it gets a
            // status here is reported as unclassified rather than guessed.
            _ => sbx_status::Unclassified,
        }
    }

    /// The C name of the status, NUL-terminated.
    fn name_with_nul(self) -> &'static str {
        match self {
            sbx_status::Ok => "SBX_STATUS_OK\0",
            sbx_status::NullArgument => "SBX_STATUS_NULL_ARGUMENT\0",
            sbx_status::InvalidArgument => "SBX_STATUS_INVALID_ARGUMENT\0",
            sbx_status::Panic => "SBX_STATUS_PANIC\0",
            sbx_status::Closed => "SBX_STATUS_CLOSED\0",
            sbx_status::WrongThread => "SBX_STATUS_WRONG_THREAD\0",
            sbx_status::Cancelled => "SBX_STATUS_CANCELLED\0",
            sbx_status::NotAvailable => "SBX_STATUS_NOT_AVAILABLE\0",
            sbx_status::Unclassified => "SBX_STATUS_UNCLASSIFIED\0",
            sbx_status::EngineMissing => "SBX_STATUS_ENGINE_MISSING\0",
            sbx_status::Engine => "SBX_STATUS_ENGINE\0",
            sbx_status::ImageUnavailable => "SBX_STATUS_IMAGE_UNAVAILABLE\0",
            sbx_status::LimitsUnavailable => "SBX_STATUS_LIMITS_UNAVAILABLE\0",
            sbx_status::SessionNotFound => "SBX_STATUS_SESSION_NOT_FOUND\0",
            sbx_status::SessionExists => "SBX_STATUS_SESSION_EXISTS\0",
            sbx_status::SessionLost => "SBX_STATUS_SESSION_LOST\0",
            sbx_status::Timeout => "SBX_STATUS_TIMEOUT\0",
            sbx_status::AgentVersionMismatch => "SBX_STATUS_AGENT_VERSION_MISMATCH\0",
            sbx_status::Protocol => "SBX_STATUS_PROTOCOL\0",
            sbx_status::NotFound => "SBX_STATUS_NOT_FOUND\0",
            sbx_status::Config => "SBX_STATUS_CONFIG\0",
            sbx_status::Io => "SBX_STATUS_IO\0",
            sbx_status::NotRunning => "SBX_STATUS_NOT_RUNNING\0",
            sbx_status::PermissionDenied => "SBX_STATUS_PERMISSION_DENIED\0",
        }
    }

    /// The C name without the NUL, e.g. `"SBX_STATUS_TIMEOUT"`.
    pub fn name(self) -> &'static str {
        let n = self.name_with_nul();
        &n[..n.len() - 1]
    }
}

/// The constant's name of a status number, e.g. `"SBX_STATUS_TIMEOUT"` for 107, or
/// `NULL` for a number that is not a status of this library version.
///
/// The returned string is static: never free it. Callable from any thread, never fails.
#[unsafe(no_mangle)]
pub extern "C" fn sbx_status_name(status: u32) -> *const c_char {
    crate::guard::value(std::ptr::null(), || {
        sbx_status::ALL
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(std::ptr::null(), |s| s.name_with_nul().as_ptr().cast())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_kind_has_its_own_status() {
        use ErrorKind::*;
        let kinds = [
            EngineMissing,
            Engine,
            ImageUnavailable,
            LimitsUnavailable,
            SessionNotFound,
            SessionExists,
            SessionLost,
            Timeout,
            AgentVersionMismatch,
            Protocol,
            InvalidInput,
            NotFound,
            NotRunning,
            PermissionDenied,
            Config,
            Io,
        ];
        let mut seen = std::collections::HashSet::new();
        for k in kinds {
            let s = sbx_status::from_kind(k);
            assert_ne!(s, sbx_status::Unclassified, "{k:?}");
            assert!(seen.insert(s), "{k:?} shares {s:?}");
        }
        assert_eq!(sbx_status::from_kind(NotRunning), sbx_status::NotRunning);
        assert_eq!(sbx_status::from_kind(PermissionDenied), sbx_status::PermissionDenied);
    }

    #[test]
    fn numbers_are_unique_and_names_match() {
        let mut seen = std::collections::HashSet::new();
        for s in sbx_status::ALL {
            assert!(seen.insert(s as u32), "{s:?} reuses a number");
            assert!(s.name().starts_with("SBX_STATUS_"));
            assert!(!s.name().contains('\0'));
        }
        assert!(!seen.contains(&110), "110 is retired");
        assert!(sbx_status_name(110).is_null());
        assert!(sbx_status_name(12345).is_null());
    }
}
