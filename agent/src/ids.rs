//! Random ids for tasks and terminals (the original component used the current
//! millisecond, so two in the same millisecond collided).

/// A fresh 16-hex-digit id from the kernel's random source.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", sandbox_proto::random::hex(8))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}
