//! Checks both sides apply to the same request fields: the host (sandbox-core) before
//! sending, so bad input is a typed error without a round trip, and the agent on receipt,
//! so a client that skipped them is refused the same way. One function per field, one
//! message, no drift.

/// The permission bits a written file may get: at most `0o7777` and without the setuid
/// and setgid bits (files in the working dir reach the host, where such a file would
/// run with its owner's rights; the agent's syscall filter refuses those bits anyway).
pub fn file_mode(mode: u32) -> Result<(), String> {
    if mode > 0o7777 {
        return Err(format!("mode {mode:o} has bits beyond 07777"));
    }
    if mode & 0o6000 != 0 {
        return Err(format!(
            "mode {mode:o} has the setuid or setgid bit: a session cannot create setuid or setgid files"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_modes() {
        for ok in [0, 0o644, 0o755, 0o1777, 0o777] {
            file_mode(ok).unwrap();
        }
        for bad in [0o4755, 0o2755, 0o6777, 0o10000, u32::MAX] {
            assert!(file_mode(bad).is_err(), "{bad:o}");
        }
    }
}
