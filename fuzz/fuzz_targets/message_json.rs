//! The JSON control messages (`Request`, `Reply`, `Event`) decoded from hostile frame
//! payloads: a decode either fails with an error or gives a message that survives an
//! encode/decode round trip unchanged. Input: the payload.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_fuzz::check_json_round_trip;
use sandbox_proto::{Event, Reply, Request};

fuzz_target!(|payload: &[u8]| {
    check_json_round_trip::<Request>(payload);
    check_json_round_trip::<Reply>(payload);
    check_json_round_trip::<Event>(payload);
});
