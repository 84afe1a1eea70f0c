//! Defaults and bounds both sides of the protocol apply. Defined once here: the host
//! checks a request against them before sending (a typed error without a round trip),
//! the agent on receipt (so a client that skipped the checks is refused the same way),
//! and the agent fills in the defaults for what a request leaves out.

use std::ops::RangeInclusive;

/// Bytes a task keeps per output stream when its spawn request names no cap.
pub const DEFAULT_TASK_SPOOL_CAP: u64 = 8 * 1024 * 1024;
/// The spool caps a task may ask for (64 KiB to 1 GiB per stream).
pub const SPOOL_CAP_RANGE: RangeInclusive<u64> = (64 * 1024)..=(1 << 30);
/// Scrollback bytes a terminal keeps when its open request names none.
pub const DEFAULT_SCROLLBACK: u64 = 1024 * 1024;
/// The scrollback sizes a terminal may ask for (same bounds as a task's spool).
pub const SCROLLBACK_RANGE: RangeInclusive<u64> = SPOOL_CAP_RANGE;
/// Largest number of rows or columns of a terminal (the smallest is 1).
pub const MAX_TERMINAL_DIMENSION: u16 = 1000;
/// Most bytes one read of spooled output may ask for (the fewest is 1).
pub const MAX_READ: u64 = 64 * 1024 * 1024;
/// How long a timed-out or cancelled command's process group gets between SIGTERM and
/// SIGKILL when the request names no grace.
pub const DEFAULT_KILL_GRACE_MS: u64 = 1000;
/// How long an exec waits, once its command exited, for background processes it left
/// holding its output pipes, when the request names no linger.
pub const DEFAULT_LINGER_MS: u64 = 100;
/// The signals requests may name: the classic ones, 1 to 31.
pub const SIGNAL_RANGE: RangeInclusive<i32> = 1..=31;
/// Longest task or terminal id (ids are letters, digits and '-').
pub const MAX_HELD_ID_LEN: usize = 64;
/// How long a terminal write waits for its input (the `Stdin` frame after the request)
/// before it ends cancelled, without effect.
pub const TERMINAL_INPUT_WAIT_MS: u64 = 10_000;
/// Most bytes one write to a terminal may carry.
pub const MAX_TERMINAL_WRITE: usize = 1024 * 1024;
/// Call keys of [`crate::Request::Once`] the agent remembers (with their replies); the
/// oldest finished one is forgotten beyond.
pub const ONCE_KEYS_KEPT: usize = 4096;
/// Bytes of replies (as JSON) of finished [`crate::Request::Once`] calls the agent
/// keeps at most; the oldest are forgotten beyond.
pub const ONCE_BYTES_KEPT: usize = 16 * 1024 * 1024;
/// The lengths a call key may have.
pub const ONCE_KEY_LEN: RangeInclusive<usize> = 16..=64;
