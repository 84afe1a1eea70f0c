//! Bounded on-disk logs of task and terminal output ("spools"), written by the agent in
//! the session's control dir and read by the agent or, when the agent is gone, by the
//! host. The format is part of the contract between the two, so it lives here.
//!
//! A spool is a directory of segment files, each named by the absolute byte offset of
//! its first byte (decimal), made when the first byte comes (a stream that never had
//! output has no directory: readers take a missing one as empty). The writer appends to the newest segment and starts a new
//! one every `cap / SEGMENTS` bytes, deleting the oldest segments so at most `cap` bytes
//! are kept (at least `cap * (SEGMENTS-1) / SEGMENTS`). Offsets never restart, so a
//! reader can resume from any offset it saw, and knows exactly how many bytes were
//! dropped before the retained window.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Number of segments a full spool is split into.
pub const SEGMENTS: u64 = 8;
/// Smallest segment size accepted.
pub const MIN_SEGMENT: u64 = 4096;

/// Where a segment starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Absolute offset of the segment's first byte.
    pub start: u64,
    /// Bytes in it.
    pub len: u64,
}

/// Appends to a spool, dropping the oldest segments beyond the cap. Write errors (a
/// full disk) never fail the writer: the bytes are counted in [`lost`](Self::lost).
#[derive(Debug)]
pub struct SpoolWriter {
    dir: PathBuf,
    seg_size: u64,
    segments: VecDeque<Segment>,
    file: Option<File>,
    lost: u64,
    made: bool,
}

impl SpoolWriter {
    /// A spool in `dir` with a cap in bytes. Nothing touches the disk until the first
    /// byte is appended: starting a task costs no directory per stream (on a disk-backed
    /// control dir each is a journaled metadata write on the spawn's path).
    pub fn new(dir: &Path, cap: u64) -> SpoolWriter {
        let seg_size = (cap / SEGMENTS).max(MIN_SEGMENT);
        SpoolWriter { dir: dir.to_path_buf(), seg_size, segments: VecDeque::new(), file: None, lost: 0, made: false }
    }

    /// The offset one past the last byte written.
    pub fn end(&self) -> u64 {
        self.segments.back().map(|s| s.start + s.len).unwrap_or(0)
    }

    /// The offset of the oldest byte still kept (= bytes dropped so far).
    pub fn window_start(&self) -> u64 {
        self.segments.front().map(|s| s.start).unwrap_or_else(|| self.end())
    }

    /// Bytes that could not be written (disk full, I/O error).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The retained segments, oldest first.
    pub fn segments(&self) -> Vec<Segment> {
        self.segments.iter().copied().collect()
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends bytes.
    pub fn append(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let need_new = match self.segments.back() {
                None => true,
                Some(s) => s.len >= self.seg_size || self.file.is_none(),
            };
            if need_new && !self.start_segment() {
                self.lost += data.len() as u64;
                return;
            }
            let seg = self.segments.back_mut().expect("a segment was just ensured");
            let room = (self.seg_size - seg.len) as usize;
            let take = room.min(data.len());
            let file = self.file.as_mut().expect("an open segment");
            match file.write_all(&data[..take]) {
                Ok(()) => seg.len += take as u64,
                Err(_) => {
                    // Keep offsets consistent: what could not be written never existed.
                    self.lost += data.len() as u64;
                    self.file = None;
                    return;
                }
            }
            data = &data[take..];
        }
    }

    fn start_segment(&mut self) -> bool {
        let start = self.end();
        if self.segments.back().is_some_and(|s| s.len == 0) {
            // Reuse an empty segment whose file failed to open before.
            self.segments.pop_back();
        }
        if !self.made {
            if std::fs::create_dir_all(&self.dir).is_err() {
                return false;
            }
            self.made = true;
        }
        match File::options().create(true).append(true).open(self.dir.join(start.to_string())) {
            Ok(f) => {
                self.file = Some(f);
                self.segments.push_back(Segment { start, len: 0 });
                while self.segments.len() as u64 > SEGMENTS {
                    let old = self.segments.pop_front().expect("more than SEGMENTS segments");
                    let _ = std::fs::remove_file(self.dir.join(old.start.to_string()));
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// A range read from a spool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of `data[0]`. Greater than the requested offset when the bytes asked for
    /// were already dropped.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// Oldest offset still kept (everything before it was dropped).
    pub window_start: u64,
    /// One past the newest byte.
    pub end: u64,
}

impl Chunk {
    /// The offset to continue reading from.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The requested offset is beyond the end of the spool.
    #[error(
        "offset {offset} is past the end of the output ({end} bytes so far; retained window {window_start}..{end})"
    )]
    PastEnd {
        /// Requested offset.
        offset: u64,
        /// Oldest retained offset.
        window_start: u64,
        /// Current end.
        end: u64,
    },
    /// A segment could not be read.
    #[error("reading output: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks segments are sorted, contiguous and within u64 offsets; returns the end.
fn checked_end(segments: &[Segment]) -> Result<u64, ReadError> {
    let bad = || ReadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "inconsistent spool segments"));
    let mut end = None;
    for seg in segments {
        if end.is_some_and(|e| e != seg.start) {
            return Err(bad());
        }
        end = Some(seg.start.checked_add(seg.len).ok_or_else(bad)?);
    }
    Ok(end.unwrap_or(0))
}

/// Reads up to `max` bytes from `from` given the segment list and a way to open a
/// segment by its start offset. A segment that vanished (rotated away) before anything
/// was read is skipped, and the chunk starts after it; one that vanishes mid-read ends
/// the read early, and the caller reads again from [`Chunk::next_offset`].
pub fn read_segments(
    segments: &[Segment],
    open: impl Fn(u64) -> std::io::Result<File>,
    from: u64,
    max: usize,
) -> Result<Chunk, ReadError> {
    let end = checked_end(segments)?;
    let window_start = segments.first().map(|s| s.start).unwrap_or(end);
    if from > end {
        return Err(ReadError::PastEnd { offset: from, window_start, end });
    }
    let mut offset = from.max(window_start);
    let mut data = Vec::with_capacity(max.min((end - offset) as usize).min(1 << 20));
    let mut pos = offset;
    for seg in segments {
        let seg_end = seg.start + seg.len;
        if seg_end <= pos {
            continue;
        }
        if data.len() >= max {
            break;
        }
        let file = match open(seg.start) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && data.is_empty() => {
                pos = seg_end;
                offset = seg_end;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e.into()),
        };
        // Contiguous segments: pos lies within this one.
        let mut in_seg = pos - seg.start;
        while in_seg < seg.len && data.len() < max {
            let want = ((seg.len - in_seg) as usize).min(max - data.len()).min(1 << 20);
            let old = data.len();
            data.resize(old + want, 0);
            let n = file.read_at(&mut data[old..], in_seg)?;
            data.truncate(old + n);
            if n == 0 {
                break;
            }
            in_seg += n as u64;
            pos += n as u64;
        }
        if in_seg < seg.len {
            break;
        }
    }
    Ok(Chunk { offset, data, window_start, end })
}

/// Lists a spool directory's segments from the files themselves (used when no writer is
/// alive to ask). `list` yields (file name, size) pairs. Only canonical decimal names
/// count (`0`, not `00` or `+0`), and segments whose end would overflow are dropped: the
/// container can write anything into the directory.
pub fn segments_from_listing(list: impl IntoIterator<Item = (String, u64)>) -> Vec<Segment> {
    let mut segs: Vec<Segment> = list
        .into_iter()
        .filter_map(|(name, len)| {
            let start = name.parse::<u64>().ok().filter(|s| s.to_string() == name)?;
            start.checked_add(len)?;
            Some(Segment { start, len })
        })
        .collect();
    segs.sort_by_key(|s| s.start);
    // Keep only the contiguous run that ends at the newest segment.
    let mut first = segs.len().saturating_sub(1);
    while first > 0 && segs[first - 1].start + segs[first - 1].len == segs[first].start {
        first -= 1;
    }
    segs.drain(..first);
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(w: &SpoolWriter, from: u64) -> Chunk {
        read_segments(&w.segments(), |s| File::open(w.dir().join(s.to_string())), from, usize::MAX).unwrap()
    }

    #[test]
    fn keeps_the_newest_bytes_with_absolute_offsets() {
        let t = tempfile::tempdir().unwrap();
        let mut w = SpoolWriter::new(&t.path().join("s"), 8 * 4096);
        let mut all = Vec::new();
        for i in 0..100_000u32 {
            let line = format!("{i}\n");
            all.extend_from_slice(line.as_bytes());
            w.append(line.as_bytes());
        }
        assert_eq!(w.end(), all.len() as u64);
        let c = read_all(&w, 0);
        assert!(c.offset > 0, "the oldest part was dropped");
        assert_eq!(c.window_start, c.offset);
        assert_eq!(c.end, all.len() as u64);
        assert_eq!(c.data, &all[c.offset as usize..]);
        assert!(c.data.len() as u64 <= 8 * 4096 && c.data.len() as u64 >= 7 * 4096, "{}", c.data.len());
        assert_eq!(std::fs::read_dir(w.dir()).unwrap().count() as u64, SEGMENTS);
        // Reading a middle range across segments.
        let from = c.offset + 5000;
        let part = read_segments(&w.segments(), |s| File::open(w.dir().join(s.to_string())), from, 9000).unwrap();
        assert_eq!(part.offset, from);
        assert_eq!(part.data, &all[from as usize..from as usize + 9000]);
    }

    #[test]
    fn past_end_is_an_error_and_end_is_empty() {
        let t = tempfile::tempdir().unwrap();
        let mut w = SpoolWriter::new(&t.path().join("s"), 1 << 20);
        w.append(b"hello");
        assert!(read_all(&w, 5).data.is_empty());
        let e = read_segments(&w.segments(), |s| File::open(w.dir().join(s.to_string())), 6, 10).unwrap_err();
        assert!(matches!(e, ReadError::PastEnd { offset: 6, end: 5, .. }), "{e}");
        let empty = SpoolWriter::new(&t.path().join("e"), 1 << 20);
        assert_eq!(read_all(&empty, 0), Chunk::default());
        assert!(!t.path().join("e").exists(), "no directory before the first byte");
    }

    #[test]
    fn unwritable_spool_counts_lost_bytes() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("s");
        let mut w = SpoolWriter::new(&dir, 1 << 20);
        w.append(b"kept");
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, b"not a dir").unwrap();
        let mut w2 = SpoolWriter { file: None, ..w };
        w2.append(b"gone");
        assert_eq!(w2.lost(), 4);
        assert_eq!(w2.end(), 4);
    }

    #[test]
    fn hostile_listings_and_vanished_segments_are_handled() {
        // Found by fuzzing: offsets that overflow, non-canonical names.
        let segs = segments_from_listing(vec![("18446744073709551615".into(), 1), ("00".into(), 3), ("+0".into(), 3)]);
        assert!(segs.is_empty(), "{segs:?}");
        let bad = [Segment { start: u64::MAX, len: 1 }];
        assert!(read_segments(&bad, |_| Err(std::io::ErrorKind::NotFound.into()), 0, 10).is_err());
        let gap = [Segment { start: 0, len: 1 }, Segment { start: 5, len: 1 }];
        assert!(read_segments(&gap, |_| Err(std::io::ErrorKind::NotFound.into()), 0, 10).is_err());
        // The first segment rotated away before it was read: the chunk starts after it.
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("4096"), b"x").unwrap();
        let segs = [Segment { start: 0, len: 4096 }, Segment { start: 4096, len: 1 }];
        let c = read_segments(&segs, |s| File::open(t.path().join(s.to_string())), 0, 100).unwrap();
        assert_eq!((c.offset, c.data.as_slice(), c.end), (4096, &b"x"[..], 4097));
    }

    #[test]
    fn listing_recovers_the_contiguous_tail() {
        let segs = segments_from_listing(vec![
            ("300".into(), 100),
            ("100".into(), 100),
            ("200".into(), 100),
            ("junk".into(), 5),
        ]);
        assert_eq!(
            segs,
            vec![Segment { start: 100, len: 100 }, Segment { start: 200, len: 100 }, Segment { start: 300, len: 100 }]
        );
        let segs = segments_from_listing(vec![("0".into(), 10), ("500".into(), 10), ("510".into(), 3)]);
        assert_eq!(segs, vec![Segment { start: 500, len: 10 }, Segment { start: 510, len: 3 }]);
        assert!(segments_from_listing(Vec::<(String, u64)>::new()).is_empty());
    }
}
