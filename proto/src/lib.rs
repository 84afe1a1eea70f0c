//! The wire protocol spoken between `sandbox-core` (on the host) and `sandbox-agent`
//! (inside each session container) over a unix socket.
//!
//! A connection carries length-prefixed [`Frame`]s. Control messages (requests, replies)
//! are small JSON documents; process output and input travel as raw bytes in their own
//! frames so binary output is never re-encoded. Every frame carries a request id, so many
//! calls share one connection. The first exchange on a connection is a versioned
//! handshake ([`Request::Hello`]); peers with different [`PROTOCOL_VERSION`]s refuse each
//! other with a clear message instead of misreading frames.

#![forbid(unsafe_code)]

pub mod egress;
pub mod events;
mod frame;
pub mod layout;
pub mod limits;
mod message;
pub mod random;
pub mod spool;
pub mod validate;

pub use frame::{
    Frame, FrameDecoder, FrameError, FrameKind, HEADER_LEN, MAX_PAYLOAD_LEN, decode_header, encode_frame,
    encode_header, read_frame, write_frame,
};
pub use message::{
    ErrorKind, ErrorReply, Event, ExecExit, ExecRequest, FileInfo, FileKind, HelloReply, OpenTerminal, OutputMeta,
    OutputSource, PauseReport, ProcState, ReadOutput, Repeat, Reply, Request, SpawnTask, StdinMode, TaskInfo,
    TaskStream, TerminalInfo,
};

/// Version of the frame layout and message set. Bumped on any incompatible change;
/// a client and an agent only talk when their versions are equal.
pub const PROTOCOL_VERSION: u32 = 2;
