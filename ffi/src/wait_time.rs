//! How long a blocking read or wait may take: the `timeout_ms` argument of reads and
//! waits, with two special values.

use std::time::Duration;

/// A `timeout_ms` meaning "wait as long as it takes": until the awaited thing happens or
/// the handle is closed (or the call's cancel token fires). `UINT64_MAX`.
pub const SBX_NO_TIMEOUT: u64 = u64::MAX;

/// A `timeout_ms` argument, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitTime {
    /// 0: do not wait; answer with what is there now.
    Now,
    /// Wait at most this long.
    For(Duration),
    /// `SBX_NO_TIMEOUT`.
    Forever,
}

impl WaitTime {
    pub fn from_ms(ms: u64) -> WaitTime {
        match ms {
            0 => WaitTime::Now,
            SBX_NO_TIMEOUT => WaitTime::Forever,
            ms => WaitTime::For(Duration::from_millis(ms)),
        }
    }
}

/// The longest single wait asked of the agent; longer waits are made of several.
pub(crate) const WAIT_SLICE: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert_eq!(WaitTime::from_ms(0), WaitTime::Now);
        assert_eq!(WaitTime::from_ms(u64::MAX), WaitTime::Forever);
        assert_eq!(WaitTime::from_ms(250), WaitTime::For(Duration::from_millis(250)));
    }
}
