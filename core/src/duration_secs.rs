//! Serializes a `Duration` as a number of seconds (a float), which every JSON consumer
//! (Python, Go, nu, jq) reads directly, unlike serde's `{secs, nanos}` default.

use std::time::Duration;

/// `#[serde(serialize_with = "crate::duration_secs::serialize")]`.
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
