//! Signals by name or number, as every face takes them (`TERM`, `SIGKILL`, `9`) and
//! shows them (`SIGTERM`).

use crate::error::{Error, Result};

/// Linux signal numbers (as the container's kernel numbers them on x86-64 and arm64).
pub const SIGNALS: [(&str, i32); 31] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// What a signal argument may be, for messages.
pub const SIGNAL_HELP: &str =
    "give a name such as TERM, KILL, INT or HUP (with or without SIG), or a number from 1 to 31";

/// The signal number `text` names: a name (case-insensitive, with or without `SIG`) or a
/// number from 1 to 31. An [`InvalidInput`](Error::InvalidInput) error otherwise.
pub fn signal_number(text: &str) -> Result<i32> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Ok(n) = name.parse::<i64>() {
        return match i32::try_from(n) {
            Ok(n) if (1..=31).contains(&n) => Ok(n),
            _ => Err(Error::invalid("signal", format!("{n} is out of range: {SIGNAL_HELP}"))),
        };
    }
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, number)| *number)
        .ok_or_else(|| Error::invalid("signal", format!("unknown signal {text:?}: {SIGNAL_HELP}")))
}

/// The usual name of signal `n` (`SIGTERM`), for messages; `signal <n>` for others.
pub fn signal_name(n: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, number)| *number == n)
        .map_or_else(|| format!("signal {n}"), |(name, _)| format!("SIG{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(signal_number("TERM").unwrap(), 15);
        assert_eq!(signal_number("sigkill").unwrap(), 9);
        assert_eq!(signal_number("Int").unwrap(), 2);
        assert_eq!(signal_number("9").unwrap(), 9);
        assert_eq!(signal_number("31").unwrap(), 31);
        for bad in ["", "SIG", "TERMINATE", "SIGRTMIN", "0", "32", "-9", "99999999999"] {
            assert!(signal_number(bad).is_err(), "{bad}");
        }
        assert!(signal_number("32").unwrap_err().to_string().contains("out of range"));
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(64), "signal 64");
    }

    #[test]
    fn the_table_is_complete_and_in_order() {
        for (i, (_, n)) in SIGNALS.iter().enumerate() {
            assert_eq!(*n, i as i32 + 1);
        }
    }
}
