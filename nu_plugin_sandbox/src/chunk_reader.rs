//! [`ChunkReader`]: a blocking `Read` over an async source of chunks, the shape nushell
//! wants for a `ByteStream` a plugin returns.
//!
//! nu-plugin writes a returned byte stream from a thread of its own, reading it like a
//! file; each read here runs the source's next step on the plugin's runtime. When the
//! engine stops reading (`| first 3`, an error downstream), nu-plugin drops the reader,
//! and with it the source: for `sandbox run` that drops the exec stream, which kills the
//! command in the sandbox.
//!
//! Two limits of nu-plugin 0.115.1 shape the error path. It turns a read error into an
//! `IoError` that keeps only the error's `io::ErrorKind` (the message is dropped), and in
//! debug builds it panics on `ErrorKind::Other`, which is what a `ShellError` carried in
//! an `io::Error` is. So sources end a stream with a specific `io::ErrorKind` (the label
//! nushell shows) after writing the full message to stderr, and the stream's own
//! `Signals` must be empty (an interrupt there would surface as such an `Other` error);
//! sources watch for Ctrl-C themselves through [`Interrupt`](crate::interrupt::Interrupt).

use std::future::Future;
use std::io::{self, Read};

use nu_protocol::{ByteStream, ByteStreamType, Signals, Span};
use tokio::runtime::Handle;

/// Where a [`ChunkReader`] gets its bytes.
pub(crate) trait ChunkSource: Send + 'static {
    /// The next bytes (never empty); `Ok(None)` at the end. An error ends the stream; its
    /// message should already have been written to stderr (see the module docs).
    fn next_chunk(&mut self) -> impl Future<Output = io::Result<Option<Vec<u8>>>> + Send;
}

/// A blocking reader over a [`ChunkSource`].
pub(crate) struct ChunkReader<S: ChunkSource> {
    handle: Handle,
    source: Option<S>,
    chunk: Vec<u8>,
    pos: usize,
}

impl<S: ChunkSource> ChunkReader<S> {
    /// A reader that starts with the bytes of `first` (already taken from `source`).
    pub(crate) fn new(handle: Handle, source: S, first: Vec<u8>) -> ChunkReader<S> {
        ChunkReader { handle, source: Some(source), chunk: first, pos: 0 }
    }

    /// The reader as a nushell byte stream labelled at `span`.
    pub(crate) fn into_byte_stream(self, span: Span, type_: ByteStreamType) -> ByteStream {
        // Empty signals: see the module docs; the source handles Ctrl-C.
        ByteStream::read(self, span, Signals::empty(), type_)
    }

    fn finish(&mut self) {
        // Inside the runtime: dropping an exec stream may need to spawn its cancel frame.
        let _entered = self.handle.enter();
        self.source = None;
    }
}

impl<S: ChunkSource> Read for ChunkReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            let Some(source) = self.source.as_mut() else {
                return Ok(0);
            };
            match self.handle.block_on(source.next_chunk()) {
                Ok(Some(bytes)) => {
                    self.chunk = bytes;
                    self.pos = 0;
                }
                Ok(None) => {
                    self.finish();
                    return Ok(0);
                }
                Err(e) => {
                    self.finish();
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<S: ChunkSource> Drop for ChunkReader<S> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The error that ends a stream: `kind` is what nushell will show as its label.
pub(crate) fn stream_error(kind: io::ErrorKind, message: String) -> io::Error {
    debug_assert_ne!(kind, io::ErrorKind::Other, "nu-plugin panics on Other in debug builds");
    io::Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(Vec<Vec<u8>>);

    impl ChunkSource for Counting {
        async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
            if self.0.is_empty() {
                return Err(stream_error(io::ErrorKind::InvalidData, "done with an error".into()));
            }
            Ok(Some(self.0.remove(0)))
        }
    }

    #[test]
    fn reads_every_chunk_in_order_then_the_error() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut r =
            ChunkReader::new(rt.handle().clone(), Counting(vec![b"bc".to_vec(), b"def".to_vec()]), b"a".to_vec());
        let mut out = Vec::new();
        let mut buf = [0u8; 2];
        let err = loop {
            match r.read(&mut buf) {
                Ok(0) => panic!("ended without the error"),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(out, b"abcdef");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(r.read(&mut buf).unwrap(), 0, "after the error: the end");
    }
}
