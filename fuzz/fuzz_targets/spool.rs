//! Reading a spool (the bounded on-disk output logs of tasks and terminals) from a
//! directory listing the container could have tampered with: `segments_from_listing`
//! over arbitrary (name, size) pairs, then `read_segments` over in-memory segment files
//! (memfds) whose contents, sizes and presence need not match the listing (a segment
//! rotated away mid-read, a file shorter than listed, one that cannot be opened).
//!
//! Checks: no panic; the listing yields a sorted, contiguous run of numeric entries
//! ending at the newest; a read past the end is `PastEnd`; a chunk starts at
//! `max(from, window_start)`, lies within `[window_start, end]`, holds at most `max`
//! bytes, every byte is the one at that offset in the segment file, and when every file
//! is there and as long as listed the chunk is as long as it can be.

#![no_main]

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rustix::fs::{MemfdFlags, memfd_create};
use sandbox_proto::spool::{ReadError, Segment, read_segments, segments_from_listing};

#[derive(Debug, Arbitrary)]
enum Start {
    /// Right after the previous entry (what the writer produces).
    Next,
    /// Anywhere.
    At(u64),
    /// Near the top of the offset range.
    NearMax(u16),
}

#[derive(Debug, Arbitrary)]
enum Name {
    /// The decimal start, as the writer names segments.
    Canonical,
    /// `+<start>`: parses as the same number, but is another file.
    Plus,
    /// `0<start>`: likewise.
    LeadingZero,
    /// Not a number (ignored by the listing).
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum Presence {
    Present,
    /// Deleted between listing and reading (rotated away).
    Vanished,
    /// Opening fails with something other than "not found".
    Unreadable,
}

#[derive(Debug, Arbitrary)]
struct Entry {
    start: Start,
    name: Name,
    content: Vec<u8>,
    /// Size the listing reports, when not the content's length (a file that changed
    /// between listing and reading).
    listed_len: Option<u64>,
    presence: Presence,
}

#[derive(Debug, Arbitrary)]
enum From {
    At(u64),
    BeforeEnd(u16),
    AfterWindowStart(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    entries: Vec<Entry>,
    from: From,
    max: u32,
}

struct SegmentFile {
    content: Vec<u8>,
    presence: Presence,
}

fn memfd(content: &[u8]) -> std::io::Result<File> {
    let mut f = File::from(memfd_create("spool-segment", MemfdFlags::CLOEXEC)?);
    f.write_all(content)?;
    Ok(f)
}

fuzz_target!(|input: Input| {
    let mut listing: Vec<(String, u64)> = Vec::new();
    let mut files: HashMap<String, SegmentFile> = HashMap::new();
    let mut next_start = 0u64;
    for e in input.entries.into_iter().take(16) {
        let start = match e.start {
            Start::Next => next_start,
            Start::At(s) => s,
            Start::NearMax(n) => u64::MAX - u64::from(n),
        };
        let name = match e.name {
            Name::Canonical => start.to_string(),
            Name::Plus => format!("+{start}"),
            Name::LeadingZero => format!("0{start}"),
            Name::Other(s) => s,
        };
        if files.contains_key(&name) {
            continue; // a directory has one file of each name
        }
        // A listed size is a file's st_size: never above i64::MAX.
        let len = e.listed_len.map_or(e.content.len() as u64, |l| l & i64::MAX as u64);
        next_start = start.saturating_add(e.content.len() as u64);
        listing.push((name.clone(), len));
        files.insert(name, SegmentFile { content: e.content, presence: e.presence });
    }

    // The entries a listing may use: canonical decimal names whose end fits in a u64
    // (anything else in the directory was planted by the container).
    let numeric: Vec<Segment> = listing
        .iter()
        .filter_map(|(n, len)| {
            let start = n.parse::<u64>().ok().filter(|s| s.to_string() == *n)?;
            start.checked_add(*len)?;
            Some(Segment { start, len: *len })
        })
        .collect();

    let segments = segments_from_listing(listing.clone());
    check_listing(&numeric, &segments);

    // Saturating, so that with SANDBOX_FUZZ_KNOWN_BUGS set the library's overflow shows,
    // not the harness's.
    let end = segments.last().map(|s| s.start.saturating_add(s.len)).unwrap_or(0);
    let window_start = segments.first().map(|s| s.start).unwrap_or(end);
    let from = match input.from {
        From::At(x) => x,
        From::BeforeEnd(n) => end.saturating_sub(u64::from(n)),
        From::AfterWindowStart(n) => window_start.saturating_add(u64::from(n)),
    };
    let max = (input.max & 0xF_FFFF) as usize;
    let file_of = |start: u64| files.get(&start.to_string()).filter(|f| f.presence == Presence::Present);

    let offset = from.max(window_start);

    let opened = std::cell::Cell::new(0usize);
    let result = read_segments(
        &segments,
        |start| {
            opened.set(opened.get() + 1);
            match files.get(&start.to_string()) {
                Some(f) if f.presence == Presence::Present => memfd(&f.content),
                Some(f) if f.presence == Presence::Unreadable => Err(std::io::ErrorKind::PermissionDenied.into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        },
        from,
        max,
    );

    let chunk = match result {
        Err(ReadError::PastEnd { offset: o, window_start: w, end: e }) => {
            assert!(from > end, "PastEnd for offset {from} within the spool (end {end})");
            assert_eq!((o, w, e), (from, window_start, end));
            return;
        }
        Err(ReadError::Io(e)) => {
            assert!(from <= end);
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "unexpected I/O error {e}");
            return;
        }
        Ok(c) => c,
    };
    assert!(from <= end, "read past the end succeeded");
    assert_eq!((chunk.window_start, chunk.end), (window_start, end));
    // A chunk starts at max(from, window_start), or after segments that vanished before
    // anything was read from them.
    assert!(chunk.offset >= offset, "a chunk starts before the offset asked for");
    for seg in segments.iter().filter(|s| s.len > 0 && s.start + s.len > offset && s.start + s.len <= chunk.offset) {
        assert!(file_of(seg.start).is_none(), "skipped over a segment that was there: {seg:?}");
    }
    assert!(chunk.data.len() <= max, "{} bytes returned, {max} asked for", chunk.data.len());
    let chunk_end = chunk.offset.checked_add(chunk.data.len() as u64).expect("chunk end fits");
    assert!(window_start <= chunk.offset && chunk_end <= end, "chunk outside [window_start, end]");
    assert_eq!(chunk.next_offset(), chunk_end);
    assert!(opened.get() <= segments.len(), "a segment was opened twice");

    // Every byte is the one at its offset in the segment that holds it.
    let offset = chunk.offset;
    let want_end = end.min(offset.saturating_add(max as u64));
    let mut complete = true;
    for seg in segments.iter().filter(|s| s.len > 0) {
        let seg_end = seg.start + seg.len;
        let file = file_of(seg.start);
        let (lo, hi) = (seg.start.max(offset), seg_end.min(chunk_end));
        if lo < hi {
            let file = file.expect("bytes came from a segment whose file is not there");
            let (a, b) = ((lo - seg.start) as usize, (hi - seg.start) as usize);
            assert!(b <= file.content.len(), "bytes {lo}..{hi} are beyond the segment file's end");
            let got = &chunk.data[(lo - offset) as usize..(hi - offset) as usize];
            assert_eq!(got, &file.content[a..b], "bytes {lo}..{hi} differ from the segment file");
        }
        if seg.start < want_end && seg_end > offset && file.is_none_or(|f| (f.content.len() as u64) < seg.len) {
            complete = false;
        }
    }
    if complete {
        assert_eq!(chunk.data.len() as u64, want_end - offset, "short read although every segment was there");
    }
});

/// The listing keeps the contiguous run of numeric entries that ends at the newest.
fn check_listing(numeric: &[Segment], segments: &[Segment]) {
    let mut sorted = numeric.to_vec();
    sorted.sort_by_key(|s| s.start);
    assert!(sorted.ends_with(segments), "not a suffix of the sorted numeric entries");
    assert_eq!(segments.is_empty(), sorted.is_empty(), "a non-empty listing lost every segment");
    for w in segments.windows(2) {
        assert_eq!(w[0].start.checked_add(w[0].len), Some(w[1].start), "segments not contiguous");
    }
    let dropped = sorted.len() - segments.len();
    if dropped > 0 {
        let before = sorted[dropped - 1];
        assert_ne!(before.start.checked_add(before.len), Some(segments[0].start), "a contiguous segment was dropped");
    }
}
