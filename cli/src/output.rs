//! Printing results: aligned tables and `key: value` lines for people, one JSON document
//! (`--json`) or JSON lines (`--jsonl`) for scripts. No colour is ever used, so
//! `NO_COLOR` holds by construction.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use sandbox_core::Error;
use serde_json::{Map, Value};

use crate::args::OutputFlags;

/// Where results go, in the format asked for.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    flags: OutputFlags,
}

impl Out {
    /// Output as `flags` say.
    pub fn new(flags: OutputFlags) -> Out {
        Out { flags }
    }

    /// No progress or warnings on stderr.
    pub fn quiet(&self) -> bool {
        self.flags.quiet
    }

    /// JSON lines for streams.
    pub fn jsonl(&self) -> bool {
        self.flags.jsonl
    }

    /// Any JSON.
    pub fn json(&self) -> bool {
        self.flags.json || self.flags.jsonl
    }

    /// A list of rows: a table with `columns` for people, an array or lines of JSON.
    pub fn rows(&self, rows: &[Value], columns: &[&str]) {
        if self.flags.jsonl {
            rows.iter().for_each(line);
        } else if self.flags.json {
            line(&Value::Array(rows.to_vec()));
        } else {
            print!("{}", table(rows, columns));
        }
    }

    /// One row: a table of one row with `columns` for people, one JSON object for
    /// scripts.
    pub fn row(&self, row: &Value, columns: &[&str]) {
        if self.json() {
            line(row);
        } else {
            print!("{}", table(std::slice::from_ref(row), columns));
        }
    }

    /// One record: `key: value` lines for people, one JSON object for scripts.
    pub fn record(&self, v: &Value) {
        if self.json() {
            line(v);
        } else if let Value::Object(m) = v {
            let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in m {
                println!("{k:width$}  {}", cell(v));
            }
        } else {
            println!("{}", cell(v));
        }
    }

    /// Something made (a session, task, terminal): its id alone for people (so
    /// `id=$(sandbox task spawn ...)` works), the whole record for scripts.
    pub fn made(&self, id: &str, v: &Value) {
        if self.json() { line(v) } else { println!("{id}") }
    }

    /// A warning or progress line on stderr, unless quiet.
    pub fn note(&self, text: &str) {
        if !self.flags.quiet {
            eprintln!("{text}");
        }
    }
}

/// One JSON value on a line of stdout.
pub fn line(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, v);
    let _ = out.write_all(b"\n");
}

/// A value as a table cell: strings bare, nothing empty, lists joined.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// `rows` as an aligned table of `columns` (with a header).
pub fn table(rows: &[Value], columns: &[&str]) -> String {
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| columns.iter().map(|c| r.get(*c).map(cell).unwrap_or_default()).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let mut push_row = |row: Vec<&str>| {
        let last = row.len() - 1;
        for (i, c) in row.iter().enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:w$}  ", w = widths[i]));
            }
        }
        out.push('\n');
    };
    push_row(columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>().iter().map(String::as_str).collect());
    for r in &cells {
        push_row(r.iter().map(String::as_str).collect());
    }
    out
}

/// A time as RFC 3339 in UTC, to the millisecond.
pub fn time(t: SystemTime) -> Value {
    let ms = t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01, counted in 400-year eras from March 1.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    Value::String(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"))
}

/// An optional time; null when absent.
pub fn opt_time(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, time)
}

/// Bytes as a JSON string when they are UTF-8, else under `<key>_base64`.
pub fn bytes_field(m: &mut Map<String, Value>, key: &str, data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(s) => {
            m.insert(key.into(), Value::String(s.into()));
        }
        Err(_) => {
            m.insert(format!("{key}_base64"), Value::String(base64(data)));
        }
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `v` as JSON, or a protocol error saying it cannot be shown.
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Protocol { detail: format!("cannot show the result as JSON: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn tables_align_and_cells_are_plain() {
        let rows = [json!({"id": "a", "state": "running", "ports": [1, 2]}), json!({"id": "long-id", "state": null})];
        let t = table(&rows, &["id", "state", "ports"]);
        assert_eq!(t, "ID       STATE    PORTS\na        running  1,2\nlong-id           \n");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(UNIX_EPOCH), json!("1970-01-01T00:00:00.000Z"));
        let t = UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        assert_eq!(time(t), json!("2026-05-28T20:26:40.123Z"));
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(time(leap), json!("2000-02-29T00:00:00.000Z"));
    }

    #[test]
    fn bytes_are_text_or_base64() {
        let mut m = Map::new();
        bytes_field(&mut m, "stdout", b"hi\n");
        bytes_field(&mut m, "stderr", &[0xff, 0, 1]);
        assert_eq!(Value::Object(m), json!({"stdout": "hi\n", "stderr_base64": "/wAB"}));
        assert_eq!(base64(b"abcd"), "YWJjZA==");
    }
}
