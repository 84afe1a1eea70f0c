//! [`TaskFollow`]: a task's output as a stream that keeps going until the task ends
//! (`sandbox task logs --follow`), never cutting a character in two.

use std::io;
use std::time::Duration;

use sandbox_core::{ErrorKind, OutputChunk, Session, TaskStream};

use crate::chunk_reader::{ChunkSource, stream_error};
use crate::interrupt::Interrupt;
use crate::records::TextCarry;

/// How long one read waits for new output before asking again.
const WAIT: Duration = Duration::from_secs(30);
/// Most bytes one read returns.
const READ_MAX: usize = 1024 * 1024;
/// Pause before asking again when a read returned nothing without waiting (the agent is
/// gone and the output comes from its spool on disk).
const RETRY: Duration = Duration::from_millis(500);

/// Follows one output stream of one task from an offset.
pub(crate) struct TaskFollow {
    session: Session,
    id: String,
    stream: TaskStream,
    /// Where the next read starts.
    offset: u64,
    /// Holds a character cut at the end of a read until its other bytes come.
    carry: TextCarry,
    raw: bool,
    done: bool,
    interrupt: Interrupt,
}

impl TaskFollow {
    /// A follower reading `stream` of task `id` from `offset`; with `raw`, bytes go out
    /// as read (no holding back of cut characters).
    pub(crate) fn new(
        session: Session,
        id: String,
        stream: TaskStream,
        offset: u64,
        raw: bool,
        interrupt: Interrupt,
    ) -> TaskFollow {
        TaskFollow { session, id, stream, offset, carry: TextCarry::default(), raw, done: false, interrupt }
    }

    /// Takes a chunk read from the current offset: returns the bytes to pass on (whole
    /// characters only, unless raw) and keeps a cut character for next time.
    /// `cut_start`: the chunk may begin inside a character (a tail), whose bytes are
    /// skipped.
    pub(crate) fn take(&mut self, chunk: OutputChunk, mut cut_start: bool) -> Vec<u8> {
        if chunk.offset > self.offset {
            // The spool dropped output before it could be read (a slow reader, a small
            // --spool-cap): say so rather than skip it silently.
            eprintln!(
                "sandbox task logs: {} bytes of {}'s output were dropped from its spool before they could be read",
                chunk.offset - self.offset,
                self.id
            );
            cut_start = true;
        }
        self.offset = chunk.next_offset();
        // Done at the end only: a read of a lost session's spool says finished (nothing
        // more will come) before it has reached the end.
        self.done = chunk.finished && self.offset >= chunk.end;
        self.carry.push(&chunk.data, cut_start, self.done, self.raw)
    }
}

/// Ctrl-C ends the stream with an error, as an interrupted pipeline does; the task keeps
/// running.
fn interrupted(id: &str) -> io::Error {
    stream_error(io::ErrorKind::Interrupted, format!("sandbox task logs: following {id} was interrupted"))
}

enum Read {
    Chunk(sandbox_core::Result<OutputChunk>),
    Interrupted,
}

impl ChunkSource for TaskFollow {
    async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.interrupt.is_set() {
                return Err(interrupted(&self.id));
            }
            let read = self.session.task_output_wait(&self.id, self.stream, self.offset, READ_MAX, WAIT);
            let read = tokio::select! {
                biased;
                _ = self.interrupt.wait() => Read::Interrupted,
                r = read => Read::Chunk(r),
            };
            match read {
                Read::Interrupted => return Err(interrupted(&self.id)),
                Read::Chunk(Ok(chunk)) => {
                    let waited_for_nothing = chunk.data.is_empty() && !chunk.finished;
                    let bytes = self.take(chunk, false);
                    if !bytes.is_empty() {
                        return Ok(Some(bytes));
                    }
                    if waited_for_nothing {
                        tokio::select! {
                            _ = self.interrupt.wait() => {}
                            _ = tokio::time::sleep(RETRY) => {}
                        }
                    }
                }
                Read::Chunk(Err(e)) if e.kind() == ErrorKind::Timeout => {}
                Read::Chunk(Err(e)) => {
                    let message = format!("sandbox task logs: following {} failed: {e}", self.id);
                    eprintln!("Error: {message}");
                    return Err(stream_error(io::ErrorKind::ConnectionAborted, message));
                }
            }
        }
    }
}
