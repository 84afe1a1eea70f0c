//! Signals given by name or number (`--signal TERM`, `--signal SIGKILL`, `--signal 9`).

use nu_protocol::{LabeledError, Span, Value};

/// Linux signal numbers (as the container's kernel numbers them on x86-64 and arm64).
const SIGNALS: [(&str, i32); 31] = [
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

const HELP: &str = "give a name such as TERM, KILL, INT or HUP (with or without SIG), or a number from 1 to 31";

/// The signal number `value` names (a string, case-insensitive, or an int 1 to 31).
pub(crate) fn signal_number(value: &Value, span: Span) -> Result<i32, LabeledError> {
    match value {
        Value::Int { val, .. } => {
            if (1..=31).contains(val) {
                Ok(*val as i32)
            } else {
                Err(LabeledError::new(format!("signal {val} is out of range"))
                    .with_label("not a signal number", span)
                    .with_help(HELP))
            }
        }
        Value::String { val, .. } => {
            let upper = val.trim().to_ascii_uppercase();
            let name = upper.strip_prefix("SIG").unwrap_or(&upper);
            if let Ok(n) = name.parse::<i64>() {
                return signal_number(&Value::int(n, span), span);
            }
            SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, number)| *number).ok_or_else(|| {
                LabeledError::new(format!("unknown signal {val:?}"))
                    .with_label("not a signal name", span)
                    .with_help(HELP)
            })
        }
        other => Err(LabeledError::new("a signal is a name or a number")
            .with_label(format!("this is a {}", other.get_type()), span)
            .with_help(HELP)),
    }
}

/// The usual name of signal `n` (`SIGTERM`), for messages.
pub(crate) fn signal_name(n: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, number)| *number == n)
        .map_or_else(|| format!("signal {n}"), |(name, _)| format!("SIG{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: Value) -> Result<i32, LabeledError> {
        signal_number(&v, Span::test_data())
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(num(Value::test_string("TERM")).unwrap(), 15);
        assert_eq!(num(Value::test_string("sigkill")).unwrap(), 9);
        assert_eq!(num(Value::test_string("Int")).unwrap(), 2);
        assert_eq!(num(Value::test_string("9")).unwrap(), 9);
        assert_eq!(num(Value::test_int(1)).unwrap(), 1);
        assert_eq!(num(Value::test_int(31)).unwrap(), 31);
        for bad in [Value::test_int(0), Value::test_int(32), Value::test_int(-9)] {
            assert!(num(bad).unwrap_err().msg.contains("out of range"));
        }
        for bad in ["", "SIG", "TERMINATE", "SIGRTMIN", "0"] {
            assert!(num(Value::test_string(bad)).is_err(), "{bad}");
        }
        assert!(num(Value::test_float(9.0)).unwrap_err().msg.contains("name or a number"));
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
