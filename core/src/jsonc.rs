//! JSON with comments and trailing commas: the dialect `devcontainer.json` is written in.
//!
//! Strict JSON otherwise (no single quotes, no unquoted keys, no raw control characters
//! in strings, one value per document), so a mistake is an error with its line and
//! column rather than a guess. Objects keep the order their keys were written in; a key
//! given twice keeps its first place and its last value (as JavaScript, and so the
//! reference implementation, does) and is recorded, so a reader can be told. Nesting is
//! bounded, so a hostile file cannot exhaust the stack.

use std::fmt;

/// Deepest nesting of arrays and objects accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// A parsed value. Numbers are IEEE doubles, as in JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Jsonc {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Jsonc>),
    /// Keys in the order written (a repeated key keeps its first place).
    Object(Vec<(String, Jsonc)>),
}

impl Jsonc {
    /// The JSON type's name, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Jsonc::Null => "null",
            Jsonc::Bool(_) => "a boolean",
            Jsonc::Number(_) => "a number",
            Jsonc::String(_) => "a string",
            Jsonc::Array(_) => "an array",
            Jsonc::Object(_) => "an object",
        }
    }

    /// The same value as serde_json's (integral numbers as integers, as JavaScript
    /// prints them).
    #[cfg(test)]
    pub(crate) fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Jsonc::Null => Value::Null,
            Jsonc::Bool(b) => Value::Bool(*b),
            Jsonc::Number(n) => number_to_serde(*n),
            Jsonc::String(s) => Value::String(s.clone()),
            Jsonc::Array(a) => Value::Array(a.iter().map(Jsonc::to_serde).collect()),
            Jsonc::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect()),
        }
    }
}

/// A number as JavaScript would print it: integral values as integers.
pub(crate) fn number_to_serde(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A syntax error, with where it is (1-based line and column, columns in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsoncError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for JsoncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

/// A parsed document and the keys it repeats (`path.key (line N)`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub value: Jsonc,
    pub repeated_keys: Vec<String>,
}

/// Parses one document.
pub(crate) fn parse(text: &str) -> Result<Parsed, JsoncError> {
    let mut p = Parser { text, bytes: text.as_bytes(), pos: 0, repeated: Vec::new() };
    if text.starts_with('\u{feff}') {
        p.pos = '\u{feff}'.len_utf8();
    }
    p.skip_blank()?;
    if p.pos >= p.bytes.len() {
        return Err(p.error_at(p.pos, "the file is empty: expected a JSON object"));
    }
    let value = p.value(0, "")?;
    p.skip_blank()?;
    if p.pos < p.bytes.len() {
        return Err(p.error_at(p.pos, "unexpected text after the end of the document"));
    }
    Ok(Parsed { value, repeated_keys: p.repeated })
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    repeated: Vec<String>,
}

impl Parser<'_> {
    fn error_at(&self, pos: usize, message: impl Into<String>) -> JsoncError {
        let (line, column) = line_column(self.text, pos);
        JsoncError { line, column, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) -> Result<(), JsoncError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.pos;
                    match self.text[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => return Err(self.error_at(start, "a /* comment is not closed with */")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize, path: &str) -> Result<Jsonc, JsoncError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1, path),
            Some(b'[') => self.array(depth + 1, path),
            Some(b'"') => Ok(Jsonc::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Jsonc::Bool(true)),
            Some(b'f') => self.word("false", Jsonc::Bool(false)),
            Some(b'n') => self.word("null", Jsonc::Null),
            Some(_) => Err(self.error_at(self.pos, format!("expected a value, found {}", self.found()))),
            None => Err(self.error_at(self.pos, "the document ends where a value was expected")),
        }
    }

    /// What is at the current position, for messages.
    fn found(&self) -> String {
        match self.text[self.pos..].chars().next() {
            Some(c) => format!("{c:?}"),
            None => "the end of the document".into(),
        }
    }

    fn word(&mut self, word: &str, value: Jsonc) -> Result<Jsonc, JsoncError> {
        let end =
            self.text[self.pos..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(self.bytes.len(), |n| self.pos + n);
        if &self.text[self.pos..end] == word {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.error_at(self.pos, format!("expected a value, found {:?}", &self.text[self.pos..end])))
        }
    }

    fn number(&mut self) -> Result<Jsonc, JsoncError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 {
            return Err(self.error_at(start, "a number needs digits"));
        }
        if n > 1 && self.bytes[int_start] == b'0' {
            return Err(self.error_at(int_start, "a number cannot start with 0 (no octal in JSON)"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error_at(self.pos, "a decimal point needs digits after it"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error_at(self.pos, "an exponent needs digits"));
            }
        }
        let text = &self.text[start..self.pos];
        text.parse::<f64>().map(Jsonc::Number).map_err(|_| self.error_at(start, format!("{text} is not a number")))
    }

    fn string(&mut self) -> Result<String, JsoncError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Err(self.error_at(start, "a string is not closed with \""));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.error_at(start, "a string is not closed with \""))?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape(esc_at)?),
                        _ => {
                            return Err(self.error_at(
                                esc_at,
                                format!("unknown escape \\{}", self.text[esc_at + 1..].chars().next().unwrap_or(' ')),
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.error_at(
                        self.pos,
                        format!("a raw control character ({:?}) in a string: write it as an escape", c),
                    ));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// The four hex digits after `\u` (and a second escape for a surrogate pair).
    fn unicode_escape(&mut self, esc_at: usize) -> Result<char, JsoncError> {
        let hex = |p: &mut Self| -> Result<u32, JsoncError> {
            let digits = p.text.get(p.pos..p.pos + 4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(d) = digits else {
                return Err(p.error_at(esc_at, "\\u needs four hex digits"));
            };
            p.pos += 4;
            Ok(u32::from_str_radix(d, 16).expect("checked hex digits"))
        };
        let first = hex(self)?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.text[self.pos..].starts_with("\\u") {
                self.pos += 2;
                let second = hex(self)?;
                if !(0xDC00..0xE000).contains(&second) {
                    return Err(self.error_at(esc_at, "a \\u surrogate pair is incomplete"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            } else {
                return Err(self.error_at(esc_at, "a \\u surrogate pair is incomplete"));
            }
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error_at(esc_at, "\\u names no character (a lone surrogate)"))
    }

    fn deeper(&self, depth: usize) -> Result<(), JsoncError> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize, path: &str) -> Result<Jsonc, JsoncError> {
        self.deeper(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank()?;
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Ok(Jsonc::Array(items));
            }
            items.push(self.value(depth, &format!("{path}[{}]", items.len()))?);
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                _ => {
                    return Err(self.error_at(self.pos, format!("expected , or ] in an array, found {}", self.found())));
                }
            }
        }
    }

    fn object(&mut self, depth: usize, path: &str) -> Result<Jsonc, JsoncError> {
        self.deeper(depth)?;
        self.pos += 1;
        let mut members: Vec<(String, Jsonc)> = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Jsonc::Object(members));
                }
                Some(b'"') => {}
                _ => {
                    return Err(self
                        .error_at(self.pos, format!("expected a \"key\" or }} in an object, found {}", self.found())));
                }
            }
            let key_at = self.pos;
            let key = self.string()?;
            self.skip_blank()?;
            if self.peek() != Some(b':') {
                return Err(
                    self.error_at(self.pos, format!("expected : after the key {key:?}, found {}", self.found()))
                );
            }
            self.pos += 1;
            self.skip_blank()?;
            let key_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            let value = self.value(depth, &key_path)?;
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => {
                    slot.1 = value;
                    let (line, _) = line_column(self.text, key_at);
                    self.repeated.push(format!("{key_path} (again on line {line})"));
                }
                None => members.push((key, value)),
            }
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => {
                    return Err(
                        self.error_at(self.pos, format!("expected , or }} in an object, found {}", self.found()))
                    );
                }
            }
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> serde_json::Value {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).value.to_serde()
    }

    fn err(text: &str) -> JsoncError {
        parse(text).expect_err(text)
    }

    #[test]
    fn comments_and_trailing_commas_are_accepted() {
        let v = ok(
            "// head\n{ /* a */ \"a\": [1, 2, ], // x\n \"b\": {\"c\": \"// not a comment /* nor this */\",}, }\n// tail",
        );
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": {"c": "// not a comment /* nor this */"}}));
        assert_eq!(ok("\u{feff}{}"), serde_json::json!({}), "a byte order mark is skipped");
        assert_eq!(ok("{\"a\": 1} /* end */"), serde_json::json!({"a": 1}));
    }

    #[test]
    fn strings_numbers_and_escapes_follow_json() {
        let v = ok(r#"{"s": "a\"b\\c\/\n\t\u0041\ud83d\ude00é", "n": [0, -0, 1.5e3, 3000.0, -2, 1E2]}"#);
        assert_eq!(v["s"], "a\"b\\c/\n\tA😀é");
        assert_eq!(v["n"], serde_json::json!([0, 0, 1500, 3000, -2, 100]));
    }

    #[test]
    fn repeated_keys_keep_their_first_place_and_last_value() {
        let p = parse("{\"a\": 1, \"b\": 2,\n \"a\": 3}").unwrap();
        assert_eq!(p.value, Jsonc::Object(vec![("a".into(), Jsonc::Number(3.0)), ("b".into(), Jsonc::Number(2.0))]));
        assert_eq!(p.repeated_keys, vec!["a (again on line 2)"]);
        let p = parse("{\"x\": {\"k\": 1, \"k\": 2}}").unwrap();
        assert_eq!(p.repeated_keys, vec!["x.k (again on line 1)"]);
    }

    #[test]
    fn errors_carry_line_and_column() {
        // (text, line, column, words in the message)
        let cases: &[(&str, usize, usize, &str)] = &[
            ("{\n  \"image\": \"a\"\n  \"b\": 1\n}", 3, 3, "expected , or }"),
            ("{\"a\": 1,, \"b\": 2}", 1, 9, "expected a \"key\""),
            ("{\"a\": [1,,2]}", 1, 10, "expected a value"),
            ("{\"a\": 1", 1, 8, "expected , or }"),
            ("{\"a\": 1} x", 1, 10, "after the end"),
            ("{\"a\": 'x'}", 1, 7, "expected a value"),
            ("{a: 1}", 1, 2, "expected a \"key\""),
            ("{\"a\": \"x\ty\"}", 1, 9, "raw control character"),
            ("{\"a\": \"x}", 1, 7, "not closed"),
            ("{\"a\": 01}", 1, 7, "cannot start with 0"),
            ("{\"a\": tru}", 1, 7, "expected a value"),
            ("{\"a\": \"\\x\"}", 1, 8, "unknown escape"),
            ("{\"a\": \"\\ud800\"}", 1, 8, "surrogate"),
            ("{\"é\": 1 /* open", 1, 9, "not closed"),
            ("", 1, 1, "empty"),
            ("  // only a comment\n", 2, 1, "empty"),
            ("{\"a\": 1}\n\n  ]", 3, 3, "after the end"),
        ];
        for &(text, line, column, words) in cases {
            let e = err(text);
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
            assert!(e.message.contains(words), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}, column {column}: ")), "{e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(err(&deep).message.contains("nested more than"));
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        ok(&fine);
        let hostile = "[".repeat(1_000_000);
        assert!(err(&hostile).message.contains("nested more than"), "no stack overflow");
    }
}
