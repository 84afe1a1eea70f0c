//! Signals given by name or number (`--signal TERM`, `--signal SIGKILL`, `--signal 9`),
//! read by sandbox-core's `signals`.

use nu_protocol::{LabeledError, Span, Value};
pub(crate) use sandbox_core::signals::signal_name;
use sandbox_core::signals::{SIGNAL_HELP, signal_number as number_of};

/// The signal number `value` names (a string, case-insensitive, or an int 1 to 31).
pub(crate) fn signal_number(value: &Value, span: Span) -> Result<i32, LabeledError> {
    let text = match value {
        Value::Int { val, .. } => val.to_string(),
        Value::String { val, .. } => val.clone(),
        other => {
            return Err(LabeledError::new("a signal is a name or a number")
                .with_label(format!("this is a {}", other.get_type()), span)
                .with_help(SIGNAL_HELP));
        }
    };
    number_of(&text).map_err(|e| {
        let label = if text.trim().trim_start_matches('-').parse::<i64>().is_ok() {
            "not a signal number"
        } else {
            "not a signal name"
        };
        LabeledError::new(e.to_string()).with_label(label, span).with_help(SIGNAL_HELP)
    })
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
        assert_eq!(num(Value::test_string("9")).unwrap(), 9);
        assert_eq!(num(Value::test_int(31)).unwrap(), 31);
        for bad in [Value::test_int(0), Value::test_int(32), Value::test_int(-9)] {
            assert!(num(bad).unwrap_err().msg.contains("out of range"));
        }
        assert!(num(Value::test_string("TERMINATE")).unwrap_err().msg.contains("unknown signal"));
        assert!(num(Value::test_float(9.0)).unwrap_err().msg.contains("name or a number"));
    }
}
