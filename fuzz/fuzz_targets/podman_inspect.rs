//! `podman inspect --format json` output as the engine reads a container's state: never
//! a panic, only `Protocol` errors, and a running container never has an exit code.
//! Input: the command's stdout.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_core::{ErrorKind, parse_inspect_state};

fuzz_target!(|stdout: &[u8]| {
    match parse_inspect_state(stdout) {
        Ok(Some(state)) => {
            assert!(!(state.running && state.exit_code.is_some()), "running with an exit code: {state:?}");
        }
        Ok(None) => {}
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            assert!(e.to_string().contains("podman inspect"), "the error does not say what failed: {e}");
        }
    }
});
