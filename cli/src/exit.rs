//! Exit codes: a command's own code passes through (`exec`, `run`, `task wait`, `term
//! wait`); sandbox's own failures have one stable code per error kind, in a range
//! programs rarely use.

use std::process::ExitCode;

use sandbox_core::{Error, ErrorKind};

/// The table printed at the end of `sandbox --help` (and in the README).
pub const HELP: &str = "\
Exit codes:
  0..=255  exec, run, task wait, term wait: the command's own exit code;
           124 when --timeout killed it, 128+N when signal N killed it
  2        bad command line
  79       another failure
  80       invalid input          88  podman missing
  81       not found (path, task) 89  podman failed
  82       no such session        90  image unavailable
  83       session exists         91  limits unavailable
  84       session lost           92  agent version mismatch
  85       timed out (a wait)     93  protocol error
  86       not running            94  configuration error
  87       permission denied      95  I/O error";

/// The exit code of a command that ended with `exit_code` or was killed by `signal`
/// (124 when a timeout killed it, like `timeout(1)`).
pub fn of_process(exit_code: Option<i32>, signal: Option<i32>, timed_out: bool) -> u8 {
    if timed_out {
        return 124;
    }
    match (exit_code, signal) {
        (Some(c), _) => u8::try_from(c.rem_euclid(256)).unwrap_or(1),
        (None, Some(s)) => u8::try_from(128 + s.clamp(1, 127)).unwrap_or(255),
        (None, None) => 1,
    }
}

/// The exit code for a failure of kind `kind`.
pub fn of_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 80,
        ErrorKind::NotFound => 81,
        ErrorKind::SessionNotFound => 82,
        ErrorKind::SessionExists => 83,
        ErrorKind::SessionLost => 84,
        ErrorKind::Timeout => 85,
        ErrorKind::NotRunning => 86,
        ErrorKind::PermissionDenied => 87,
        ErrorKind::EngineMissing => 88,
        ErrorKind::Engine => 89,
        ErrorKind::ImageUnavailable => 90,
        ErrorKind::LimitsUnavailable => 91,
        ErrorKind::AgentVersionMismatch => 92,
        ErrorKind::Protocol => 93,
        ErrorKind::Config => 94,
        ErrorKind::Io => 95,
        _ => 79,
    }
}

/// What to try next, for a failure of kind `kind`.
fn hint(kind: ErrorKind) -> Option<&'static str> {
    Some(match kind {
        ErrorKind::SessionNotFound => "`sandbox list` shows the sessions of this scope (SANDBOX_SCOPE)",
        ErrorKind::SessionExists => "pick another --id, or `sandbox stop` the old session first",
        ErrorKind::SessionLost => {
            "its output stays readable; `sandbox stop` removes it, `sandbox start` makes a new one"
        }
        ErrorKind::EngineMissing => "install podman (scripts/setup does) or set SANDBOX_PODMAN",
        ErrorKind::LimitsUnavailable => "drop --require-limits, or run where cgroups can enforce limits",
        ErrorKind::ImageUnavailable => "build or load the image locally first (there is no registry here)",
        ErrorKind::AgentVersionMismatch => "stop the session and start it again with this version",
        ErrorKind::NotRunning => {
            "it has ended already (`task wait`/`term wait` shows how), or the session is paused (`sandbox resume`)"
        }
        _ => return None,
    })
}

/// Prints `e` (and a hint unless `quiet`) to stderr and returns its exit code.
pub fn report(e: &Error, quiet: bool) -> ExitCode {
    eprintln!("sandbox: error: {e}");
    if !quiet && let Some(h) = hint(e.kind()) {
        eprintln!("hint: {h}");
    }
    ExitCode::from(of_kind(e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_codes_follow_the_shell() {
        assert_eq!(of_process(Some(0), None, false), 0);
        assert_eq!(of_process(Some(7), None, false), 7);
        assert_eq!(of_process(Some(300), None, false), 44);
        assert_eq!(of_process(None, Some(9), false), 137);
        assert_eq!(of_process(None, Some(15), true), 124);
        assert_eq!(of_process(Some(0), None, true), 124);
    }

    #[test]
    fn each_kind_has_its_own_code_and_the_help_lists_it() {
        let kinds = [
            ErrorKind::InvalidInput,
            ErrorKind::NotFound,
            ErrorKind::SessionNotFound,
            ErrorKind::SessionExists,
            ErrorKind::SessionLost,
            ErrorKind::Timeout,
            ErrorKind::NotRunning,
            ErrorKind::PermissionDenied,
            ErrorKind::EngineMissing,
            ErrorKind::Engine,
            ErrorKind::ImageUnavailable,
            ErrorKind::LimitsUnavailable,
            ErrorKind::AgentVersionMismatch,
            ErrorKind::Protocol,
            ErrorKind::Config,
            ErrorKind::Io,
        ];
        let codes: std::collections::HashSet<u8> = kinds.iter().map(|k| of_kind(*k)).collect();
        assert_eq!(codes.len(), kinds.len());
        for code in codes {
            assert!(HELP.contains(&format!("{code} ")), "{code} is not in the help");
        }
    }
}
