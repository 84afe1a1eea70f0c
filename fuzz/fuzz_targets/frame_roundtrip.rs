//! Encode then decode: any list of frames, written with `encode_frame` (or
//! `write_frame`, the same bytes) and read back through `FrameDecoder` or `read_frame`
//! in any read pattern, comes out unchanged and leaves nothing pending.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sandbox_fuzz::{PiecewiseReader, read_schedule, run_ready};
use sandbox_proto::{Frame, FrameDecoder, FrameKind, HEADER_LEN, encode_frame, read_frame, write_frame};

const KINDS: [FrameKind; 9] = [
    FrameKind::Request,
    FrameKind::Reply,
    FrameKind::Stdin,
    FrameKind::Stdout,
    FrameKind::Stderr,
    FrameKind::Cancel,
    FrameKind::Credit,
    FrameKind::Event,
    FrameKind::Signal,
];

#[derive(Debug, Arbitrary)]
struct Input {
    schedule: u16,
    /// Bytes already in the output buffer: `encode_frame` appends after them.
    prefix: Vec<u8>,
    frames: Vec<(u8, u32, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let frames: Vec<Frame> =
        input.frames.into_iter().map(|(k, id, payload)| Frame::new(KINDS[usize::from(k) % 9], id, payload)).collect();
    let mut out = input.prefix.clone();
    for f in &frames {
        let before = out.len();
        encode_frame(f.kind, f.id, &f.payload, &mut out);
        assert_eq!(out.len() - before, HEADER_LEN + f.payload.len(), "encoded size");
        assert_eq!(FrameKind::from_u8(out[before + 4]), Some(f.kind), "kind byte");
    }
    assert!(out.starts_with(&input.prefix), "encode_frame overwrote earlier bytes");
    let wire = &out[input.prefix.len()..];

    let mut written = Vec::new();
    for f in &frames {
        run_ready(write_frame(&mut written, f.kind, f.id, &f.payload)).expect("writing to memory");
    }
    assert!(written == wire, "write_frame and encode_frame disagree");

    let mut socket = PiecewiseReader::new(read_schedule(input.schedule.rotate_left(8), wire));
    let mut read = Vec::new();
    while let Some(f) = run_ready(read_frame(&mut socket)).expect("a well-formed stream reads") {
        read.push(f);
    }
    assert!(read == frames, "frames changed in a write_frame/read_frame round trip");

    let mut decoder = FrameDecoder::new();
    let mut decoded = Vec::new();
    for piece in read_schedule(input.schedule, wire) {
        decoder.feed(piece);
        while let Some(f) = decoder.next_frame().expect("a well-formed stream decodes") {
            decoded.push(f);
        }
    }
    assert!(decoded == frames, "frames changed in an encode/decode round trip");
    assert_eq!(decoder.pending(), 0, "bytes left over");
    assert_eq!(decoder.next_frame(), Ok(None));
});
