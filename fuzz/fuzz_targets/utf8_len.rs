//! `complete_utf8_len`, which text consumers of task output and terminal scrollback use
//! to avoid splitting a character across reads. Checks: the prefix it keeps is at most
//! 3 bytes short; what it holds back is the start of one character (a lead byte and
//! fewer continuation bytes than it needs); the prefix never ends inside a sequence
//! the held-back bytes would continue; and when the input is valid UTF-8 cut anywhere,
//! the prefix is valid UTF-8 and holds every complete character. Input: the bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_core::complete_utf8_len;

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Bytes a sequence starting with `lead` has in valid UTF-8.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let n = complete_utf8_len(data);
    assert!(n <= data.len() && data.len() - n <= 3, "kept {n} of {} bytes", data.len());

    let held = &data[n..];
    if let Some((&lead, rest)) = held.split_first() {
        assert!(!is_continuation(lead), "held back from a continuation byte: {held:02x?}");
        assert!(rest.iter().all(|&b| is_continuation(b)), "held back more than one character: {held:02x?}");
        assert!(held.len() < sequence_len(lead), "held back a complete sequence: {held:02x?}");
    }

    match std::str::from_utf8(data) {
        Ok(_) => assert_eq!(n, data.len(), "held back bytes of valid UTF-8"),
        Err(e) if e.error_len().is_none() => {
            // Valid up to an incomplete last character: exactly that character is held back.
            assert_eq!(n, e.valid_up_to(), "valid UTF-8 cut mid-character");
        }
        Err(_) => {}
    }
    if let Err(e) = std::str::from_utf8(&data[..n])
        && e.error_len().is_none()
    {
        // The prefix ends in an incomplete sequence: the next byte must not continue it.
        assert!(n < data.len() && !is_continuation(data[n]), "prefix ends inside a character: {data:02x?}");
    }
});
