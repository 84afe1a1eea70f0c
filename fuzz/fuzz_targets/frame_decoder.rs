//! The agent protocol's frame decoders, fed a hostile byte stream: the incremental
//! `FrameDecoder`, and `read_frame` (what the agent and the client actually use) over a
//! socket delivering the same short reads.
//!
//! Input: bytes 0-1 (little endian) choose how the stream is cut into reads (see
//! `read_schedule`) and, when bits 0-2 are 0b100, that it is repeated `1 + (seed >> 10)`
//! times; the rest is the stream.
//! Checks: no panic; every frame is exactly what a one-shot reference parse of the
//! whole stream finds, up to the same first error; no payload above
//! `MAX_PAYLOAD_LEN`; `pending()` is always fed minus taken; an error is sticky;
//! re-encoding the frames gives back the bytes they came from; control payloads decode
//! (or fail) as JSON without panicking. `read_frame` returns the same frames, then a clean
//! end only between frames, `UnexpectedEof` inside one, or the frame error as
//! `InvalidData`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox_fuzz::{PiecewiseReader, check_json_round_trip, read_schedule, run_ready};
use sandbox_proto::{
    Event, Frame, FrameDecoder, FrameError, FrameKind, HEADER_LEN, MAX_PAYLOAD_LEN, Reply, Request, encode_frame,
    read_frame,
};

/// The frames of `wire` parsed in one pass, and why parsing stopped (`None`: the
/// remaining bytes are an incomplete frame, or nothing).
fn reference_parse(wire: &[u8]) -> (Vec<Frame>, Option<FrameError>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = &wire[at..];
        if rest.len() < 4 {
            return (frames, None, rest.len());
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len < 5 {
            return (frames, Some(FrameError::TooShort(len)), rest.len());
        }
        let payload_len = len as usize - 5;
        if payload_len > MAX_PAYLOAD_LEN {
            return (frames, Some(FrameError::TooLarge(payload_len)), rest.len());
        }
        if rest.len() < 5 {
            return (frames, None, rest.len());
        }
        let Some(kind) = FrameKind::from_u8(rest[4]) else {
            return (frames, Some(FrameError::UnknownKind(rest[4])), rest.len());
        };
        if rest.len() < HEADER_LEN + payload_len {
            return (frames, None, rest.len());
        }
        let id = u32::from_le_bytes([rest[5], rest[6], rest[7], rest[8]]);
        frames.push(Frame::new(kind, id, rest[HEADER_LEN..HEADER_LEN + payload_len].to_vec()));
        at += HEADER_LEN + payload_len;
    }
}

/// How a sequence of `read_frame` calls ends.
#[derive(Debug, PartialEq)]
enum ReadEnd {
    /// `Ok(None)`: the stream ended between frames.
    Clean,
    /// The stream ended inside a frame.
    Truncated,
    /// A header was invalid.
    Invalid(FrameError),
}

/// What `read_frame` must return for `wire`: it reads a whole header before checking it.
fn reference_reads(wire: &[u8]) -> (Vec<Frame>, ReadEnd) {
    let mut frames = Vec::new();
    let mut rest = wire;
    loop {
        if rest.is_empty() {
            return (frames, ReadEnd::Clean);
        }
        if rest.len() < HEADER_LEN {
            return (frames, ReadEnd::Truncated);
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len < 5 {
            return (frames, ReadEnd::Invalid(FrameError::TooShort(len)));
        }
        let payload_len = len as usize - 5;
        if payload_len > MAX_PAYLOAD_LEN {
            return (frames, ReadEnd::Invalid(FrameError::TooLarge(payload_len)));
        }
        let Some(kind) = FrameKind::from_u8(rest[4]) else {
            return (frames, ReadEnd::Invalid(FrameError::UnknownKind(rest[4])));
        };
        if rest.len() < HEADER_LEN + payload_len {
            return (frames, ReadEnd::Truncated);
        }
        let id = u32::from_le_bytes([rest[5], rest[6], rest[7], rest[8]]);
        frames.push(Frame::new(kind, id, rest[HEADER_LEN..HEADER_LEN + payload_len].to_vec()));
        rest = &rest[HEADER_LEN + payload_len..];
    }
}

/// Reads frames with `read_frame` until it ends; the same checks as for the decoder.
fn check_read_frame(seed: u16, wire: &[u8]) {
    let (expected, expected_end) = reference_reads(wire);
    let mut socket = PiecewiseReader::new(read_schedule(seed, wire));
    let mut frames = Vec::new();
    let end = loop {
        match run_ready(read_frame(&mut socket)) {
            Ok(Some(frame)) => {
                assert!(frame.payload.len() <= MAX_PAYLOAD_LEN, "oversized payload {}", frame.payload.len());
                frames.push(frame);
            }
            Ok(None) => break ReadEnd::Clean,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break ReadEnd::Truncated,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let inner = e.into_inner().expect("an invalid frame says why");
                break ReadEnd::Invalid(*inner.downcast::<FrameError>().expect("the cause is a FrameError"));
            }
            Err(e) => panic!("read_frame failed with {e}"),
        }
    };
    assert_eq!(frames.len(), expected.len(), "read_frame: frame count differs from the one-pass parse");
    assert!(frames == expected, "read_frame: frames differ from the one-pass parse");
    assert_eq!(end, expected_end, "read_frame: the stream ends differently");
}

fn check_payload(frame: &Frame) {
    match frame.kind {
        FrameKind::Request => check_json_round_trip::<Request>(&frame.payload),
        FrameKind::Reply => check_json_round_trip::<Reply>(&frame.payload),
        FrameKind::Event => check_json_round_trip::<Event>(&frame.payload),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let seed = u16::from_le_bytes([data[0], data[1]]);
    // Repeating the stream (only when it is read at once, where it matters) makes it
    // long enough for the decoder to compact its buffer.
    let repeats = if seed & 7 == 4 { 1 + usize::from(seed >> 10) } else { 1 };
    let wire = data[2..].repeat(repeats);

    let (expected, expected_err, expected_rest) = reference_parse(&wire);

    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let (mut fed, mut taken) = (0usize, 0usize);
    let mut error = None;
    'reads: for piece in read_schedule(seed, &wire) {
        decoder.feed(piece);
        fed += piece.len();
        assert_eq!(decoder.pending(), fed - taken, "pending after a feed");
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= MAX_PAYLOAD_LEN, "oversized payload {}", frame.payload.len());
                    taken += HEADER_LEN + frame.payload.len();
                    assert_eq!(decoder.pending(), fed - taken, "pending after a frame");
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(decoder.pending(), fed - taken, "an error consumes nothing");
                    assert_eq!(decoder.next_frame().as_ref(), Err(&e), "errors are sticky");
                    error = Some(e);
                    break 'reads;
                }
            }
        }
    }

    assert_eq!(frames.len(), expected.len(), "frame count differs from the one-pass parse");
    assert!(frames == expected, "frames differ from the one-pass parse");
    assert_eq!(error, expected_err, "the stream's error differs from the one-pass parse");
    if error.is_none() {
        assert_eq!(fed, wire.len());
        assert_eq!(decoder.pending(), expected_rest, "unparsed tail");
    }

    let mut reencoded = Vec::new();
    for frame in &frames {
        encode_frame(frame.kind, frame.id, &frame.payload, &mut reencoded);
    }
    assert!(wire.starts_with(&reencoded), "re-encoding the frames does not give back their bytes");
    assert_eq!(reencoded.len(), taken);

    check_read_frame(seed, &wire);

    // The first few payloads only: JSON decoding dominates the cost of an input, and the
    // message_json target covers it in depth.
    for frame in frames.iter().take(4) {
        check_payload(frame);
    }
});
