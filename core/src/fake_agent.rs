//! An in-process stand-in for the session agent, for unit tests of what runs over the
//! agent connection: the start pipeline's connect step hands it over instead of waiting
//! for a socket (no agent can run in a unit test). It answers the handshake, and each
//! exec with the output and exit status a script gives for the command's `sh -c` text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandbox_proto::{
    ErrorKind as WireErrorKind, ExecExit, ExecRequest, FrameKind, HelloReply, PROTOCOL_VERSION, Reply, Request,
    encode_frame, read_frame,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::agent_client::AgentClient;
use crate::engine::{BoxFuture, Engine};
use crate::error::Result;
use crate::session::{CLIENT_NAME, SessionAddress};
use crate::start::Connect;

/// The output and exit code of one command.
type Answer = Box<dyn Fn(&str) -> (Vec<u8>, i32) + Send + Sync>;

/// Output frames are sent in pieces of this size, as the agent sends pipe reads.
const CHUNK: usize = 1000;

pub(crate) struct FakeAgent {
    answer: Arc<Answer>,
    execs: Arc<Mutex<Vec<ExecRequest>>>,
}

impl FakeAgent {
    /// An agent answering each exec of `sh -c <text>` with `answer(text)`: the bytes it
    /// prints (to stdout) and its exit code.
    pub fn new(answer: impl Fn(&str) -> (Vec<u8>, i32) + Send + Sync + 'static) -> FakeAgent {
        FakeAgent { answer: Arc::new(Box::new(answer)), execs: Arc::default() }
    }

    /// The exec requests received so far.
    pub fn execs(&self) -> Vec<ExecRequest> {
        self.execs.lock().unwrap().clone()
    }
}

impl Connect for FakeAgent {
    fn connect<'a>(
        &'a self,
        _engine: &'a dyn Engine,
        _at: &'a SessionAddress,
        _limit: Duration,
    ) -> BoxFuture<'a, Result<AgentClient>> {
        Box::pin(async move {
            let (ours, theirs) = UnixStream::pair().expect("socket pair");
            tokio::spawn(serve(theirs, self.answer.clone(), self.execs.clone()));
            AgentClient::handshake(ours, CLIENT_NAME).await
        })
    }
}

async fn serve(stream: UnixStream, answer: Arc<Answer>, execs: Arc<Mutex<Vec<ExecRequest>>>) {
    let (mut rd, mut wr) = stream.into_split();
    while let Ok(Some(frame)) = read_frame(&mut rd).await {
        if frame.kind != FrameKind::Request {
            continue;
        }
        let mut out = Vec::new();
        let reply = match serde_json::from_slice::<Request>(&frame.payload) {
            Ok(Request::Hello { .. }) => {
                Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION, agent: "fake".into(), pid: 1 })
            }
            Ok(Request::Exec(req)) => {
                let script = req.argv.get(2).cloned().unwrap_or_default();
                execs.lock().unwrap().push(req);
                let (output, code) = answer(&script);
                for piece in output.chunks(CHUNK) {
                    encode_frame(FrameKind::Stdout, frame.id, piece, &mut out);
                }
                Reply::Exit(ExecExit {
                    exit_code: Some(code),
                    stdout_total: output.len() as u64,
                    duration_us: 1000,
                    ..Default::default()
                })
            }
            _ => Reply::error(WireErrorKind::Internal, "the fake agent only answers hello and exec"),
        };
        encode_frame(FrameKind::Reply, frame.id, &serde_json::to_vec(&reply).unwrap(), &mut out);
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
}
