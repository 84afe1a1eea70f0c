//! Spooled output (a task stream or a terminal's scrollback) plus a way for readers to
//! wait for more.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sandbox_proto::spool::{Chunk, ReadError, Segment, SpoolWriter, read_segments};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

/// One bounded output log.
pub struct OutputLog {
    writer: Mutex<SpoolWriter>,
    dir: PathBuf,
    /// (end offset, finished)
    progress: watch::Sender<(u64, bool)>,
}

/// A read result with the log's status.
pub struct Read {
    /// The bytes and window.
    pub chunk: Chunk,
    /// No more bytes will come.
    pub finished: bool,
    /// Bytes that could not be spooled.
    pub lost: u64,
}

impl OutputLog {
    /// A log spooled to `dir` with `cap` bytes kept; the directory is made when the
    /// first byte comes.
    pub fn new(dir: &Path, cap: u64) -> OutputLog {
        let writer = SpoolWriter::new(dir, cap);
        OutputLog { writer: Mutex::new(writer), dir: dir.to_path_buf(), progress: watch::Sender::new((0, false)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SpoolWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends bytes and wakes waiting readers.
    pub fn append(&self, data: &[u8]) {
        let end = {
            let mut w = self.lock();
            w.append(data);
            w.end()
        };
        self.progress.send_modify(|p| p.0 = end);
    }

    /// Marks the log complete.
    pub fn finish(&self) {
        self.progress.send_modify(|p| p.1 = true);
    }

    /// Reads from `from` (or the last `tail` bytes) up to `max` bytes.
    pub fn read(&self, from: u64, tail: Option<u64>, max: usize) -> Result<Read, ReadError> {
        let (segments, lost): (Vec<Segment>, u64) = {
            let w = self.lock();
            (w.segments(), w.lost())
        };
        let finished = self.progress.borrow().1;
        let from = match tail {
            Some(n) => segments.last().map(|s| s.start + s.len).unwrap_or(0).saturating_sub(n),
            None => from,
        };
        let chunk = read_segments(&segments, |s| File::open(self.dir.join(s.to_string())), from, max)?;
        Ok(Read { chunk, finished, lost })
    }

    /// Waits until there are bytes beyond `offset` or the log is finished; false when
    /// `deadline` passed first.
    pub async fn wait_beyond(&self, offset: u64, deadline: Instant) -> bool {
        let mut rx = self.progress.subscribe();
        loop {
            let (end, finished) = *rx.borrow_and_update();
            if end > offset || finished {
                return true;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return true },
                _ = sleep_until(deadline) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sandbox_proto::spool::SEGMENTS;

    use super::*;

    fn log(cap: u64) -> (tempfile::TempDir, OutputLog) {
        let tmp = tempfile::tempdir().unwrap();
        let log = OutputLog::new(&tmp.path().join("out"), cap);
        (tmp, log)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn appends_are_read_back_by_offset_by_tail_and_up_to_max() {
        let (_tmp, log) = log(1 << 20);
        log.append(b"hello ");
        log.append(b"world");
        let r = log.read(0, None, 100).unwrap();
        assert_eq!((r.chunk.offset, r.chunk.data.as_slice(), r.chunk.end), (0, &b"hello world"[..], 11));
        assert_eq!((r.chunk.window_start, r.finished, r.lost), (0, false, 0));
        assert_eq!(log.read(6, None, 100).unwrap().chunk.data, b"world");
        let r = log.read(0, None, 5).unwrap();
        assert_eq!((r.chunk.data.as_slice(), r.chunk.next_offset()), (&b"hello"[..], 5));
        let r = log.read(0, Some(5), 100).unwrap();
        assert_eq!((r.chunk.offset, r.chunk.data.as_slice()), (6, &b"world"[..]), "the tail wins over the offset");
        assert_eq!(log.read(0, Some(100), 100).unwrap().chunk.data, b"hello world", "a tail longer than the log");
    }

    #[test]
    fn past_the_cap_the_oldest_bytes_are_dropped_and_reads_start_at_the_window() {
        let cap = 64 * 1024;
        let (_tmp, log) = log(cap);
        let data = pattern(100_000);
        for piece in data.chunks(3000) {
            log.append(piece);
        }
        let r = log.read(0, None, 1 << 20).unwrap();
        let start = r.chunk.window_start;
        assert!(start > 0, "old bytes were dropped");
        let kept = 100_000 - start;
        assert!(kept <= cap && kept >= cap * (SEGMENTS - 1) / SEGMENTS, "kept {kept} of a {cap} cap");
        assert_eq!(r.chunk.offset, start, "a read of dropped bytes starts at the window");
        assert_eq!(r.chunk.end, 100_000, "offsets never restart");
        assert_eq!(r.chunk.data, &data[start as usize..]);
        let r = log.read(start + 10, None, 20).unwrap();
        assert_eq!(r.chunk.data, &data[start as usize + 10..start as usize + 30]);
    }

    #[test]
    fn reads_at_the_end_are_empty_and_past_it_are_refused() {
        let (_tmp, log) = log(1 << 20);
        assert!(log.read(0, None, 10).unwrap().chunk.data.is_empty(), "an empty log reads empty");
        log.append(b"0123456789");
        let r = log.read(10, None, 10).unwrap();
        assert_eq!((r.chunk.offset, r.chunk.data.len(), r.chunk.end), (10, 0, 10));
        match log.read(11, None, 10) {
            Err(ReadError::PastEnd { offset: 11, window_start: 0, end: 10 }) => {}
            other => panic!("a read past the end: {:?}", other.map(|r| r.chunk)),
        }
    }

    #[tokio::test]
    async fn waiters_wake_on_new_bytes_and_on_finish() {
        let (_tmp, log) = log(1 << 20);
        let soon = || Instant::now() + Duration::from_millis(50);
        assert!(!log.wait_beyond(0, soon()).await, "nothing came");
        log.append(b"abc");
        assert!(log.wait_beyond(2, soon()).await, "a byte beyond 2 is there");
        assert!(!log.wait_beyond(3, soon()).await, "none beyond 3");
        let log = std::sync::Arc::new(log);
        let waiter = tokio::spawn({
            let log = log.clone();
            async move { log.wait_beyond(3, Instant::now() + Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.append(b"d");
        assert!(tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap(), "woken by an append");
        assert!(!log.read(0, None, 10).unwrap().finished);
        log.finish();
        assert!(log.read(0, None, 10).unwrap().finished);
        assert!(log.wait_beyond(4, soon()).await, "a finished log has nothing to wait for");
        assert_eq!(log.read(0, None, 10).unwrap().chunk.data, b"abcd", "finishing keeps the bytes");
    }
}
