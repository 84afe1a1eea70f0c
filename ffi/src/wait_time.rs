//! How long a blocking read or wait may take: the `timeout_ms` argument of reads and
//! waits, with two special values.

use std::time::Duration;

/// A `timeout_ms` meaning "wait as long as it takes": until the awaited thing happens or
/// the handle is closed (or the call's cancel token fires). `UINT64_MAX`.
pub const SBX_NO_TIMEOUT: u64 = u64::MAX;

/// A `timeout_ms` argument, decoded as sandbox-core takes it: 0 is `Some(0)` (do not
/// wait: answer with what is there now), `SBX_NO_TIMEOUT` is `None` (as long as it
/// takes), anything else is that many milliseconds.
pub(crate) fn from_ms(ms: u64) -> Option<Duration> {
    (ms != SBX_NO_TIMEOUT).then(|| Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert_eq!(from_ms(0), Some(Duration::ZERO));
        assert_eq!(from_ms(u64::MAX), None);
        assert_eq!(from_ms(250), Some(Duration::from_millis(250)));
    }
}
