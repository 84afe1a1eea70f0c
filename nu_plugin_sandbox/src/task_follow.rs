//! [`TaskFollow`]: a task's output as a stream that keeps going until the task ends
//! (`sandbox task logs --follow`), never cutting a character in two.

use std::io;

use sandbox_core::{Follow, OutputChunk};

use crate::chunk_reader::{ChunkSource, stream_error};
use crate::interrupt::Interrupt;
use crate::records::TextCarry;

/// Follows one output stream of one task (sandbox-core's [`Follow`]), as text or raw.
pub(crate) struct TaskFollow {
    follow: Follow,
    /// The task's id, for messages.
    id: String,
    /// Where the next piece should start (a piece past it means output was dropped).
    offset: u64,
    /// Holds a character cut at the end of a read until its other bytes come.
    carry: TextCarry,
    raw: bool,
    done: bool,
    interrupt: Interrupt,
}

impl TaskFollow {
    /// A follower passing on what `follow` reads of task `id`, expecting output from
    /// offset `from` (the chunk given to [`take`](Self::take) first, then `follow`'s);
    /// with `raw`, bytes go out as read (no holding back of cut characters).
    pub(crate) fn new(follow: Follow, id: String, from: u64, raw: bool, interrupt: Interrupt) -> TaskFollow {
        TaskFollow { offset: from, follow, id, carry: TextCarry::default(), raw, done: false, interrupt }
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

impl ChunkSource for TaskFollow {
    async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let next = tokio::select! {
                biased;
                _ = self.interrupt.wait() => return Err(interrupted(&self.id)),
                next = self.follow.next() => next,
            };
            match next {
                None => {
                    // The end: pass on a character held back, if any.
                    self.done = true;
                    let rest = self.carry.push(&[], false, true, self.raw);
                    return Ok((!rest.is_empty()).then_some(rest));
                }
                Some(Ok(chunk)) => {
                    let bytes = self.take(chunk, false);
                    if !bytes.is_empty() {
                        return Ok(Some(bytes));
                    }
                }
                Some(Err(e)) => {
                    let message = format!("sandbox task logs: following {} failed: {e}", self.id);
                    eprintln!("Error: {message}");
                    return Err(stream_error(io::ErrorKind::ConnectionAborted, message));
                }
            }
        }
    }
}
