//! The record `sandbox exec` returns.

use nu_protocol::{Record, Span, Value};
use sandbox_core::ExecOutput;

use super::{duration, opt_int};

/// `{stdout, stderr, exit_code}` as nushell's `complete` names them, then `signal`,
/// `timed_out`, `oom_killed`, `duration` and the truncation flags. Output is a string when it is valid
/// UTF-8 and binary otherwise (always binary with `raw`), so no byte is ever lost.
pub(crate) fn exec_output(out: ExecOutput, raw: bool, span: Span) -> Value {
    let bytes_value = |bytes: Vec<u8>| {
        if raw {
            return Value::binary(bytes, span);
        }
        match String::from_utf8(bytes) {
            Ok(text) => Value::string(text, span),
            Err(e) => Value::binary(e.into_bytes(), span),
        }
    };
    let mut r = Record::new();
    r.push("stdout", bytes_value(out.stdout));
    r.push("stderr", bytes_value(out.stderr));
    r.push("exit_code", opt_int(out.exit_code, span));
    r.push("signal", opt_int(out.signal, span));
    r.push("timed_out", Value::bool(out.timed_out, span));
    r.push("oom_killed", Value::bool(out.oom_killed, span));
    r.push("duration", duration(out.duration, span));
    r.push("stdout_truncated", Value::bool(out.stdout_truncated, span));
    r.push("stderr_truncated", Value::bool(out.stderr_truncated, span));
    Value::record(r, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_stays_text_and_other_bytes_become_binary() {
        let s = Span::test_data();
        let out = ExecOutput {
            stdout: b"hi\n".to_vec(),
            stderr: vec![0xff, 0xfe],
            exit_code: Some(3),
            duration: Duration::from_millis(2),
            ..Default::default()
        };
        let v = exec_output(out.clone(), false, s);
        let r = v.as_record().unwrap();
        assert_eq!(r.get("stdout"), Some(&Value::string("hi\n", s)));
        assert_eq!(r.get("stderr"), Some(&Value::binary(vec![0xff, 0xfe], s)));
        assert_eq!(r.get("exit_code"), Some(&Value::int(3, s)));
        assert_eq!(r.get("signal"), Some(&Value::nothing(s)));
        assert_eq!(r.get("oom_killed"), Some(&Value::bool(false, s)));
        assert_eq!(r.get("duration"), Some(&Value::duration(2_000_000, s)));
        let raw = exec_output(out.clone(), true, s);
        assert_eq!(raw.as_record().unwrap().get("stdout"), Some(&Value::binary(b"hi\n".to_vec(), s)));
        let oom = exec_output(ExecOutput { oom_killed: true, signal: Some(9), exit_code: None, ..out }, false, s);
        assert_eq!(oom.as_record().unwrap().get("oom_killed"), Some(&Value::bool(true, s)));
        let columns: Vec<&str> = oom.as_record().unwrap().columns().map(String::as_str).collect();
        assert_eq!(
            columns,
            [
                "stdout",
                "stderr",
                "exit_code",
                "signal",
                "timed_out",
                "oom_killed",
                "duration",
                "stdout_truncated",
                "stderr_truncated"
            ]
        );
    }
}
