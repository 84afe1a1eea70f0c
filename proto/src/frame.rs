//! Length-prefixed frames: `len: u32 LE | kind: u8 | id: u32 LE | payload`.
//! `len` counts kind, id and payload, so the smallest frame has `len == 5`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes of the fixed part of a frame (length, kind, id).
pub const HEADER_LEN: usize = 9;

/// Largest payload a peer accepts. Larger frames are a protocol error: they could only
/// come from a broken or hostile peer, and refusing them bounds memory per frame.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;

/// What a frame carries. Numbers are part of the protocol and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Client to agent: a JSON [`crate::Request`].
    Request = 1,
    /// Agent to client: the JSON [`crate::Reply`] that ends a request.
    Reply = 2,
    /// Client to agent: raw bytes for the process's stdin; an empty payload closes stdin.
    Stdin = 3,
    /// Agent to client: raw bytes the process wrote to stdout.
    Stdout = 4,
    /// Agent to client: raw bytes the process wrote to stderr.
    Stderr = 5,
    /// Client to agent: stop the request (kills its process group), payload empty.
    Cancel = 6,
    /// Client to agent: the client can take this many more output bytes (u64 LE).
    Credit = 7,
    /// Agent to client: an intermediate JSON event of a running request.
    Event = 8,
    /// Client to agent: send a signal (i32 LE) to the request's process group.
    Signal = 9,
}

impl FrameKind {
    /// Maps a wire byte to a kind; `None` for numbers this version does not know.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Request,
            2 => Self::Reply,
            3 => Self::Stdin,
            4 => Self::Stdout,
            5 => Self::Stderr,
            6 => Self::Cancel,
            7 => Self::Credit,
            8 => Self::Event,
            9 => Self::Signal,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload means.
    pub kind: FrameKind,
    /// The request this frame belongs to.
    pub id: u32,
    /// Raw payload (JSON for control kinds, bytes for data kinds).
    pub payload: Vec<u8>,
}

impl Frame {
    /// Builds a frame; used by both peers so the layout lives in one place.
    pub fn new(kind: FrameKind, id: u32, payload: Vec<u8>) -> Self {
        Self { kind, id, payload }
    }
}

/// Why a byte stream is not a valid sequence of frames.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is below the header size.
    #[error("frame length {0} is shorter than the 5-byte kind+id header")]
    TooShort(u32),
    /// The length prefix is above [`MAX_PAYLOAD_LEN`].
    #[error("frame payload of {0} bytes exceeds the {MAX_PAYLOAD_LEN}-byte limit")]
    TooLarge(usize),
    /// The kind byte is not one this version knows.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
}

/// Appends the header of a frame whose payload is `payload_len` bytes to `out` (for a
/// writer that sends a large payload from its own buffer, after the header).
pub fn encode_header(kind: FrameKind, id: u32, payload_len: usize, out: &mut Vec<u8>) {
    debug_assert!(payload_len <= MAX_PAYLOAD_LEN);
    let len = (payload_len + 5) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&id.to_le_bytes());
}

/// Reads a frame header: its kind, request id and payload length.
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<(FrameKind, u32, usize), FrameError> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let payload_len = check_len(len)?;
    let kind = FrameKind::from_u8(header[4]).ok_or(FrameError::UnknownKind(header[4]))?;
    let id = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
    Ok((kind, id, payload_len))
}

/// Appends the encoding of one frame to `out`.
pub fn encode_frame(kind: FrameKind, id: u32, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + payload.len());
    encode_header(kind, id, payload.len(), out);
    out.extend_from_slice(payload);
}

/// Incremental decoder: feed it bytes as they arrive, take frames out.
///
/// It never allocates more than one frame's payload beyond what it was fed, and it
/// checks the length prefix before buffering, so a hostile length cannot make it
/// reserve memory.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]);
        let payload_len = check_len(len)?;
        if avail.len() >= 5 && FrameKind::from_u8(avail[4]).is_none() {
            return Err(FrameError::UnknownKind(avail[4]));
        }
        if avail.len() < HEADER_LEN + payload_len {
            return Ok(None);
        }
        let kind = FrameKind::from_u8(avail[4]).ok_or(FrameError::UnknownKind(avail[4]))?;
        let id = u32::from_le_bytes([avail[5], avail[6], avail[7], avail[8]]);
        let payload = avail[HEADER_LEN..HEADER_LEN + payload_len].to_vec();
        self.start += HEADER_LEN + payload_len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(Frame { kind, id, payload }))
    }

    /// Bytes fed but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

fn check_len(len: u32) -> Result<usize, FrameError> {
    if len < 5 {
        return Err(FrameError::TooShort(len));
    }
    let payload_len = len as usize - 5;
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(FrameError::TooLarge(payload_len));
    }
    Ok(payload_len)
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let (kind, id, payload_len) = decode_header(&header).map_err(invalid)?;
    // Grow the buffer as bytes arrive rather than trusting the length up front: a peer
    // that announces 16 MiB and sends nothing costs nothing.
    let mut payload = Vec::with_capacity(payload_len.min(64 * 1024));
    (&mut *r).take(payload_len as u64).read_to_end(&mut payload).await?;
    if payload.len() != payload_len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(Frame { kind, id, payload }))
}

/// Writes one frame (header and payload in a single buffer, one syscall when small).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: FrameKind,
    id: u32,
    payload: &[u8],
) -> std::io::Result<()> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(invalid(FrameError::TooLarge(payload.len())));
    }
    let mut buf = Vec::new();
    encode_frame(kind, id, payload, &mut buf);
    w.write_all(&buf).await
}

fn invalid(e: FrameError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(kind: FrameKind, id: u32, p: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(kind, id, p, &mut v);
        v
    }

    #[test]
    fn round_trip_byte_by_byte() {
        let mut wire = enc(FrameKind::Stdout, 7, b"\xff\x00abc");
        wire.extend(enc(FrameKind::Reply, 8, b"{}"));
        let mut d = FrameDecoder::new();
        let mut frames = Vec::new();
        for b in &wire {
            d.feed(&[*b]);
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(
            frames,
            vec![
                Frame::new(FrameKind::Stdout, 7, b"\xff\x00abc".to_vec()),
                Frame::new(FrameKind::Reply, 8, b"{}".to_vec())
            ]
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn rejects_short_huge_and_unknown() {
        let mut d = FrameDecoder::new();
        d.feed(&4u32.to_le_bytes());
        assert_eq!(d.next_frame(), Err(FrameError::TooShort(4)));

        let mut d = FrameDecoder::new();
        d.feed(&u32::MAX.to_le_bytes());
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge(_))));

        let mut d = FrameDecoder::new();
        d.feed(&[5, 0, 0, 0, 99]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownKind(99)));
    }

    #[tokio::test]
    async fn async_read_write_and_clean_eof() {
        let mut buf = Vec::new();
        write_frame(&mut buf, FrameKind::Stdin, 1, b"").await.unwrap();
        write_frame(&mut buf, FrameKind::Credit, 2, &9u64.to_le_bytes()).await.unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).await.unwrap().unwrap().kind, FrameKind::Stdin);
        let f = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!((f.kind, f.id, f.payload.len()), (FrameKind::Credit, 2, 8));
        assert!(read_frame(&mut r).await.unwrap().is_none());
        let mut truncated = &buf[..3];
        assert!(read_frame(&mut truncated).await.is_err());
    }
}
