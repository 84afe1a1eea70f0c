//! Helpers shared by the fuzz targets in `fuzz_targets/`: how a target turns one
//! fuzzer input into a schedule of reads (and an in-memory socket that delivers them),
//! the JSON round-trip check every control message must pass, and the switch that keeps
//! known, reported bugs from stopping a fuzzing run.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};

/// Splits `wire` into the pieces a socket might deliver, in an order fixed by `seed`:
/// all at once, byte by byte, or random pieces up to 16 or 1024 bytes, which include
/// empty reads (a decoder must take them in its stride).
pub fn read_schedule(seed: u16, wire: &[u8]) -> Vec<&[u8]> {
    let mut rng = u32::from(seed) | 0x1_0000;
    let mut next = move || {
        // xorshift32: deterministic, so a crash input replays the same schedule.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng as usize
    };
    let mut pieces = Vec::new();
    let mut rest = wire;
    match seed & 3 {
        0 => pieces.push(rest),
        1 => pieces.extend(rest.chunks(1)),
        mode => {
            let span = if mode == 2 { 17 } else { 1025 };
            while !rest.is_empty() {
                let n = (next() % span).min(rest.len());
                let (head, tail) = rest.split_at(n);
                pieces.push(head);
                rest = tail;
            }
        }
    }
    pieces
}

/// An in-memory socket that hands out a stream in the given pieces, never more than one
/// piece per read (so a reader sees the same short reads as a decoder fed the pieces).
/// It is always ready: the futures reading it finish in one poll.
pub struct PiecewiseReader<'a> {
    pieces: Vec<&'a [u8]>,
}

impl<'a> PiecewiseReader<'a> {
    /// A reader of `pieces`, in order; empty pieces are dropped (an empty read is EOF).
    pub fn new(pieces: Vec<&'a [u8]>) -> Self {
        let mut pieces: Vec<&[u8]> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        pieces.reverse();
        Self { pieces }
    }
}

impl AsyncRead for PiecewiseReader<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(piece) = self.pieces.pop() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.pieces.push(&piece[n..]);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits (it only does I/O on always-ready in-memory streams)
/// to completion.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an in-memory read or write waited"),
    }
}

/// Decodes `json` as a `T`; when that works, the value must survive an encode and a
/// second decode unchanged (what a peer reads is what the sender meant), and its
/// encoding must be stable. Never panics on a decode error: that is the expected
/// outcome for most inputs.
pub fn check_json_round_trip<T>(json: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(first) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let encoded = serde_json::to_vec(&first).expect("a decoded message encodes");
    let second: T = serde_json::from_slice(&encoded)
        .unwrap_or_else(|e| panic!("re-decoding {} failed: {e}", String::from_utf8_lossy(&encoded)));
    assert_eq!(first, second, "a message changed in an encode/decode round trip");
    assert_eq!(serde_json::to_vec(&second).expect("encodes"), encoded, "unstable encoding");
    // Decoding through a `Value` (what a caller holding parsed JSON does) agrees.
    let value: Value = serde_json::from_slice(&encoded).expect("valid JSON");
    assert_eq!(serde_json::from_value::<T>(value).ok().as_ref(), Some(&first));
}
