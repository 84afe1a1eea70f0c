//! Random hex strings from the kernel's random source, for what either side names at
//! random: the agent's task and terminal ids, the client's call keys
//! ([`crate::Request::Once`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// `bytes` random bytes in hex (twice as many digits). Where the random source fails
/// (it cannot on Linux >= 3.17 once seeded): time, pid and a counter, mixed.
pub fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty()).is_err() {
        static N: AtomicU64 = AtomicU64::new(0);
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
        let n = N.fetch_add(1, Ordering::Relaxed).rotate_left(32) ^ u64::from(std::process::id()) << 16;
        for (i, chunk) in buf.chunks_mut(8).enumerate() {
            let word = (t ^ n).rotate_left(i as u32 * 13).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_the_asked_length_and_different_each_time() {
        let (a, b) = (super::hex(16), super::hex(16));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
        assert_eq!(super::hex(8).len(), 16);
    }
}
