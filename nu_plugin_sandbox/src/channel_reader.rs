//! [`ChannelReader`]: an `AsyncRead` fed chunk by chunk from another thread, so a byte
//! stream piped into a command (read blocking, as nushell streams are) can be written
//! into the sandbox by core's async file API. A read error on the feeding side reaches
//! the reader as an error, so a half-read input is never taken for a complete one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// The reading end.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    /// A reader and the sender that feeds it; dropping the sender is the end of input.
    pub(crate) fn new() -> (mpsc::Sender<io::Result<Vec<u8>>>, ChannelReader) {
        let (tx, rx) = mpsc::channel(4);
        (tx, ChannelReader { rx, chunk: Vec::new(), pos: 0 })
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pos >= this.chunk.len() {
            match ready!(this.rx.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(this.chunk.len() - this.pos);
        buf.put_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn delivers_chunks_then_the_end_or_the_error() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (tx, mut r) = ChannelReader::new();
            tokio::spawn(async move {
                tx.send(Ok(b"ab".to_vec())).await.unwrap();
                tx.send(Ok(Vec::new())).await.unwrap();
                tx.send(Ok(b"c".to_vec())).await.unwrap();
            });
            let mut out = Vec::new();
            r.read_to_end(&mut out).await.unwrap();
            assert_eq!(out, b"abc");

            let (tx, mut r) = ChannelReader::new();
            tokio::spawn(async move {
                tx.send(Ok(b"x".to_vec())).await.unwrap();
                tx.send(Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))).await.unwrap();
            });
            let mut out = Vec::new();
            assert_eq!(r.read_to_end(&mut out).await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        });
    }
}
