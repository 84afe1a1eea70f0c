//! Reading why `podman run` failed (`sandbox_core::run_failure`): no panic on any
//! stderr, the classification agrees with `is_port_conflict`, and the port a retry
//! drops is always one of the published ports — the one a plain scan of the message
//! finds first.
//!
//! Input: byte 0 = number of published ports (mod 9), then that many u16 (little
//! endian), then podman's stderr (invalid UTF-8 replaced, as the engine does).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_core::run_failure::{PortDecision, RunFailureKind, classify, conflicting_port, decide, is_port_conflict};

/// The first `:<1 to 5 digits>` in `stderr` whose number is in `published`.
fn reference_port(stderr: &str, published: &[u16]) -> Option<u16> {
    let b = stderr.as_bytes();
    b.iter().enumerate().filter(|(_, c)| **c == b':').find_map(|(i, _)| {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=5).contains(&digits) {
            return None;
        }
        let n: u32 = std::str::from_utf8(&b[i + 1..i + 1 + digits]).ok()?.parse().ok()?;
        u16::try_from(n).ok().filter(|p| published.contains(p))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else { return };
    let count = usize::from(count % 9).min(rest.len() / 2);
    let (ports, text) = rest.split_at(count * 2);
    let published: Vec<u16> = ports.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
    let stderr = String::from_utf8_lossy(text);

    let kind = classify(&stderr);
    let conflict = is_port_conflict(&stderr);
    if kind == RunFailureKind::PortConflict {
        assert!(conflict, "classified as a port conflict that is_port_conflict denies");
    }
    if conflict {
        assert!(
            matches!(kind, RunFailureKind::PortConflict | RunFailureKind::NameInUse | RunFailureKind::ImageMissing),
            "a port conflict classified as {kind:?}"
        );
    }

    let port = conflicting_port(&stderr, &published);
    if let Some(p) = port {
        assert!(published.contains(&p), "port {p} is not one of {published:?}");
    }
    assert_eq!(port, reference_port(&stderr, &published), "not the first of our ports in the message");
    let expected = match port {
        Some(p) => PortDecision::Drop(p),
        None => PortDecision::DropAll,
    };
    assert_eq!(decide(&stderr, &published), expected);
});
