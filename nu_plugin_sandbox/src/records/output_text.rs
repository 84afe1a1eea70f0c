//! [`OutputText`]: spooled output (task logs, terminal scrollback) as a nu value: a string
//! when it is text, binary when it is not, never a string with a character cut in two.

use nu_protocol::{Span, Value};
use sandbox_core::complete_utf8_len;

/// Output bytes as a value, and how many of the bytes it stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputText {
    /// A string when the bytes are UTF-8, binary otherwise.
    pub(crate) value: Value,
    /// Bytes of the input the value covers, from its start: where the next read goes on.
    /// Less than the input only when the end of a string was held back because it stops
    /// inside a character whose other bytes are not written yet.
    pub(crate) consumed: usize,
}

/// Bytes at the start of `data` that continue a character begun before it (0 to 3).
pub(crate) fn leading_partial_len(data: &[u8]) -> usize {
    data.iter().take(3).take_while(|b| **b & 0xC0 == 0x80).count()
}

impl OutputText {
    /// `data` as a string when it is UTF-8, else (or with `raw`) as binary.
    ///
    /// `cut_start`: the data may begin inside a character (a tail, or output whose start
    /// was dropped from the spool); those bytes are skipped. `hold_end`: more output may
    /// follow (the process is running); a character cut at the end is held back, to be
    /// read whole next time. Binary keeps every byte.
    pub(crate) fn new(data: Vec<u8>, raw: bool, cut_start: bool, hold_end: bool, span: Span) -> OutputText {
        if !raw {
            let start = if cut_start { leading_partial_len(&data) } else { 0 };
            let end = if hold_end { start + complete_utf8_len(&data[start..]) } else { data.len() };
            if let Ok(text) = std::str::from_utf8(&data[start..end]) {
                return OutputText { value: Value::string(text, span), consumed: end };
            }
        }
        let consumed = data.len();
        OutputText { value: Value::binary(data, span), consumed }
    }
}

/// Output read piece by piece and passed on in whole characters: the start of a
/// character whose other bytes are not read yet waits for them.
#[derive(Debug, Default)]
pub(crate) struct TextCarry {
    pending: Vec<u8>,
}

impl TextCarry {
    /// Takes the next piece. Returns the bytes to pass on: everything up to the last whole
    /// character, unless `last` (no more output will come), when everything goes.
    /// `cut_start`: the piece may begin inside a character (a tail, or output after a
    /// gap), whose bytes are skipped. With `raw`, bytes pass as they are.
    pub(crate) fn push(&mut self, piece: &[u8], cut_start: bool, last: bool, raw: bool) -> Vec<u8> {
        if cut_start {
            self.pending.clear();
        }
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(piece);
        if raw {
            return data;
        }
        if cut_start {
            data.drain(..leading_partial_len(&data));
        }
        if !last {
            let whole = complete_utf8_len(&data);
            self.pending = data.split_off(whole);
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &[u8], cut_start: bool, hold_end: bool) -> (Value, usize) {
        let o = OutputText::new(data.to_vec(), false, cut_start, hold_end, Span::test_data());
        (o.value, o.consumed)
    }

    #[test]
    fn strings_never_split_a_character() {
        let s = "aé😀z".as_bytes(); // 1 + 2 + 4 + 1
        // Held back at the end while running.
        assert_eq!(text(&s[..5], false, true), (Value::test_string("aé"), 3));
        // At the end of a finished output a cut character is not text: binary, all kept.
        assert_eq!(text(&s[..5], false, false), (Value::test_binary(s[..5].to_vec()), 5));
        // A tail starting inside the emoji skips its continuation bytes.
        assert_eq!(text(&s[4..], true, false), (Value::test_string("z"), 4));
        assert_eq!(text(&s[2..], true, true), (Value::test_string("😀z"), 6));
        // Without cut_start a leading continuation byte is not text.
        assert_eq!(text(&s[2..], false, false).0, Value::test_binary(s[2..].to_vec()));
        assert_eq!(text(b"", false, true), (Value::test_string(""), 0));
    }

    #[test]
    fn carried_pieces_are_whole_characters() {
        let e = "é".as_bytes();
        let mut c = TextCarry::default();
        assert_eq!(c.push(&[b'a', e[0]], false, false, false), b"a", "half an é waits");
        assert_eq!(c.push(&[e[1], b'\n'], false, false, false), "é\n".as_bytes());
        assert_eq!(c.push(&[e[0]], false, true, false), vec![e[0]], "the end lets everything go");
        let mut c = TextCarry::default();
        assert_eq!(c.push(&[e[1], b'z'], true, false, false), b"z", "a cut start is skipped");
        assert_eq!(c.push(&[0xff, e[0]], false, false, true), vec![0xff, e[0]], "raw passes everything");
        let mut c = TextCarry::default();
        assert_eq!(c.push(&[e[0]], false, false, false), b"");
        assert_eq!(c.push(&[e[1]], true, false, false), b"", "a gap drops the waiting half and the cut one");
    }

    #[test]
    fn binary_keeps_every_byte() {
        assert_eq!(text(b"\xff\xfeab", false, true), (Value::test_binary(b"\xff\xfeab".to_vec()), 4));
        let raw = OutputText::new(b"hi".to_vec(), true, true, true, Span::test_data());
        assert_eq!((raw.value, raw.consumed), (Value::test_binary(b"hi".to_vec()), 2));
        assert_eq!(leading_partial_len(b"\x80\x80\x80\x80a"), 3);
        assert_eq!(leading_partial_len(b"a\x80"), 0);
    }
}
