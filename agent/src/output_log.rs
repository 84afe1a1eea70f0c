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
    /// Creates the spool directory `dir` with `cap` bytes kept.
    pub fn create(dir: &Path, cap: u64) -> std::io::Result<OutputLog> {
        let writer = SpoolWriter::create(dir, cap)?;
        Ok(OutputLog { writer: Mutex::new(writer), dir: dir.to_path_buf(), progress: watch::Sender::new((0, false)) })
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
