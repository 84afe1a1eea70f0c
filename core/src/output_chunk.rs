//! A piece of spooled output (task streams, terminal scrollback), with absolute offsets.

use serde::Serialize;

/// Bytes read from a task's output or a terminal's scrollback.
///
/// Offsets are absolute and never restart: `offset` is where `data` starts,
/// `window_start` the oldest byte still kept (everything before it was dropped because
/// of the spool cap), `end` one past the newest byte written so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutputChunk {
    /// The bytes, exactly as the process wrote them.
    pub data: Vec<u8>,
    /// Offset of `data[0]`; larger than the offset asked for when those bytes were
    /// already dropped.
    pub offset: u64,
    /// Oldest offset still kept (= bytes dropped so far).
    pub window_start: u64,
    /// One past the newest byte written.
    pub end: u64,
    /// The process ended and its output is complete up to `end`.
    pub finished: bool,
    /// Bytes that could not be spooled (e.g. the control dir's disk was full).
    pub lost: u64,
}

impl OutputChunk {
    /// Where to continue reading.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.data.len() as u64
    }

    /// Bytes dropped before the retained window.
    pub fn dropped(&self) -> u64 {
        self.window_start
    }

    /// Length of the longest prefix of `data` that does not end inside a UTF-8
    /// sequence: text consumers decode `data[..text_len()]` and continue from
    /// `offset + text_len()`, so no character is ever split across reads.
    pub fn text_len(&self) -> usize {
        complete_utf8_len(&self.data)
    }
}

/// Length of `data` without a trailing, incomplete UTF-8 sequence (a character whose
/// first bytes are there but not the rest). Invalid bytes are not held back.
pub fn complete_utf8_len(data: &[u8]) -> usize {
    let n = data.len();
    // The last character starts at most 3 bytes from the end.
    for back in 1..=n.min(3) {
        let b = data[n - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        // Hold back only a genuine prefix of a character, not bytes that are already
        // invalid (e.g. `e0 80`, an overlong start): those never complete.
        let incomplete = matches!(std::str::from_utf8(&data[n - back..]), Err(e) if e.error_len().is_none());
        return if need > back && incomplete { n - back } else { n };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_len_never_splits_a_character() {
        let s = "aé😀".as_bytes(); // 1 + 2 + 4 bytes
        for cut in 0..=s.len() {
            let n = complete_utf8_len(&s[..cut]);
            assert!(std::str::from_utf8(&s[..n]).is_ok(), "cut {cut}");
            assert!(cut - n < 4);
        }
        assert_eq!(complete_utf8_len(&s[..2]), 1, "half of é is held back");
        assert_eq!(complete_utf8_len(&s[..6]), 3, "3 of 4 emoji bytes are held back");
        assert_eq!(complete_utf8_len(b"\xff\xfeab"), 4, "invalid bytes are not held back");
        assert_eq!(complete_utf8_len(b"\xffa\xc3"), 2, "a trailing partial after invalid bytes is");
        assert_eq!(complete_utf8_len(b"a\xe0\x80"), 3, "found by fuzzing: an invalid start never completes");
    }
}
