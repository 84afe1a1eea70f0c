//! `podman ps --format json` output as the engine layer parses it: never a panic, only
//! `Protocol` errors, and every container it returns has a name (reaping and listing
//! go by it). Input: the command's stdout.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_core::{ErrorKind, parse_ps};

fuzz_target!(|stdout: &[u8]| {
    match parse_ps(stdout) {
        Ok(records) => {
            assert!(records.iter().all(|r| !r.name.is_empty()), "a container without a name");
            if stdout.iter().all(u8::is_ascii_whitespace) {
                assert!(records.is_empty());
            }
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            assert!(e.to_string().contains("podman ps"), "the error does not say what failed: {e}");
        }
    }
});
