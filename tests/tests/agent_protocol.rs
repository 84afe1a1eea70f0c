//! The agent protocol spoken to a real in-container agent with raw frames: handshake
//! versions, malformed and oversized frames. The agent refuses cleanly and survives.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use sandbox_core::ExecOptions;
use sandbox_e2e::{TestScope, run};
use sandbox_proto::{
    ErrorKind, FrameKind, HEADER_LEN, PROTOCOL_VERSION, Reply, Request, SpawnTask, decode_header, encode_frame, layout,
};

const T: Duration = Duration::from_secs(120);

fn connect(dir: &std::path::Path) -> UnixStream {
    let s = UnixStream::connect(dir.join(layout::SHARED_DIR).join(layout::SOCKET)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send(s: &mut UnixStream, kind: FrameKind, id: u32, payload: &[u8]) {
    let mut buf = Vec::new();
    encode_frame(kind, id, payload, &mut buf);
    s.write_all(&buf).unwrap();
}

fn recv(s: &mut UnixStream) -> Option<(FrameKind, u32, Vec<u8>)> {
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header).ok()?;
    let (kind, id, len) = decode_header(&header).expect("a well-formed frame header from the agent");
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((kind, id, payload))
}

fn reply(s: &mut UnixStream) -> Reply {
    let (kind, _, payload) = recv(s).expect("a reply");
    assert_eq!(kind, FrameKind::Reply);
    serde_json::from_slice(&payload).unwrap()
}

fn hello(s: &mut UnixStream, protocol: u32) -> Reply {
    let req = Request::Hello { protocol, client: "test-client 9.9".into() };
    send(s, FrameKind::Request, 0, &serde_json::to_vec(&req).unwrap());
    reply(s)
}

fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn version_mismatch_bad_frames_and_survival() {
    let t = TestScope::new("proto");
    run(T, async {
        let session = t.sandbox.start(t.spec("proto")).await.unwrap();
        let dir = session.control_dir().to_path_buf();
        tokio::task::spawn_blocking(move || {
            // Another protocol version: refused with both versions named.
            let mut s = connect(&dir);
            match hello(&mut s, PROTOCOL_VERSION + 41) {
                Reply::Error(e) => {
                    assert_eq!(e.kind, ErrorKind::ProtocolMismatch);
                    assert!(e.message.contains(&format!("protocol {}", PROTOCOL_VERSION + 41)), "{}", e.message);
                    assert!(e.message.contains("test-client 9.9"), "{}", e.message);
                }
                other => panic!("{other:?}"),
            }
            assert!(closed(&mut s));

            // A request before the handshake.
            let mut s = connect(&dir);
            send(&mut s, FrameKind::Request, 1, br#"{"op":"ping"}"#);
            assert!(matches!(reply(&mut s), Reply::Error(e) if e.kind == ErrorKind::InvalidRequest));
            assert!(closed(&mut s));

            // Malformed JSON gets an error for that request; the connection stays usable.
            let mut s = connect(&dir);
            assert!(matches!(hello(&mut s, PROTOCOL_VERSION), Reply::Hello(_)));
            send(&mut s, FrameKind::Request, 7, b"{not json");
            assert!(matches!(reply(&mut s), Reply::Error(e) if e.kind == ErrorKind::InvalidRequest));
            send(&mut s, FrameKind::Request, 8, br#"{"op":"exec","argv":[],"stdout_cap":1,"stderr_cap":1}"#);
            assert!(matches!(reply(&mut s), Reply::Error(e) if e.kind == ErrorKind::InvalidRequest));
            // Invalid UTF-8 inside a JSON string (a program name): refused, not mangled.
            send(
                &mut s,
                FrameKind::Request,
                10,
                b"{\"op\":\"exec\",\"argv\":[\"\xff\xfe\"],\"stdout_cap\":1,\"stderr_cap\":1}",
            );
            assert!(matches!(reply(&mut s), Reply::Error(e) if e.kind == ErrorKind::InvalidRequest));
            // Frames for a request id nobody started are ignored.
            send(&mut s, FrameKind::Stdin, 4242, b"stray");
            send(&mut s, FrameKind::Cancel, 4243, b"");
            send(&mut s, FrameKind::Request, 9, br#"{"op":"ping"}"#);
            assert_eq!(reply(&mut s), Reply::Pong);

            // An oversized length prefix: refused without allocating, connection closed.
            s.write_all(&u32::MAX.to_le_bytes()).unwrap();
            s.write_all(&[1, 0, 0, 0, 0]).unwrap();
            assert!(matches!(reply(&mut s), Reply::Error(e) if e.kind == ErrorKind::InvalidRequest));
            assert!(closed(&mut s));

            // An unknown frame kind.
            let mut s = connect(&dir);
            assert!(matches!(hello(&mut s, PROTOCOL_VERSION), Reply::Hello(_)));
            s.write_all(&[5, 0, 0, 0, 200, 0, 0, 0, 0]).unwrap();
            let _ = recv(&mut s);
            assert!(closed(&mut s));
        })
        .await
        .unwrap();
        // The agent is still serving.
        assert!(session.exec(&["true"], ExecOptions::new()).await.unwrap().success());
        session.ping().await.unwrap();
        session.stop().await.unwrap();
    });
}

/// `request` under the call key `key`.
fn once(key: &str, request: Request) -> Request {
    Request::Once { key: key.into(), request: Box::new(request) }
}

/// Sends `request` as request `id` and returns its reply.
fn ask(s: &mut UnixStream, id: u32, request: &Request) -> Reply {
    send(s, FrameKind::Request, id, &serde_json::to_vec(request).unwrap());
    reply(s)
}

#[test]
fn a_keyed_call_runs_once_whichever_connection_repeats_it() {
    let t = TestScope::new("once");
    run(T, async {
        let session = t.sandbox.start(t.spec("once")).await.unwrap();
        let dir = session.control_dir().to_path_buf();
        let key = "e2e-key-0123456789abcdef".to_string();
        let spawn = SpawnTask {
            argv: vec!["sleep".into(), "60".into()],
            command: None,
            env: vec![],
            cwd: None,
            spool_cap: None,
        };
        let task_id = tokio::task::spawn_blocking(move || {
            let mut a = connect(&dir);
            assert!(matches!(hello(&mut a, PROTOCOL_VERSION), Reply::Hello(_)));
            let Reply::Task(first) = ask(&mut a, 1, &once(&key, Request::SpawnTask(spawn.clone()))) else {
                panic!("a task")
            };
            // The same key from another connection (a client's retry): the same task,
            // and no second one.
            let mut b = connect(&dir);
            assert!(matches!(hello(&mut b, PROTOCOL_VERSION), Reply::Hello(_)));
            let Reply::Task(again) = ask(&mut b, 1, &once(&key, Request::SpawnTask(spawn.clone()))) else {
                panic!("the first run's reply")
            };
            assert_eq!(again.id, first.id);
            let Reply::Tasks { tasks } = ask(&mut b, 2, &Request::ListTasks) else { panic!("tasks") };
            assert_eq!(tasks.len(), 1, "one task: {tasks:?}");
            // The key with another request, a stream or a bad key: refused.
            let other = SpawnTask { argv: vec!["true".into()], ..spawn.clone() };
            let refused = |r: Reply| matches!(r, Reply::Error(e) if e.kind == ErrorKind::InvalidRequest);
            assert!(refused(ask(&mut b, 3, &once(&key, Request::SpawnTask(other)))));
            let exec = serde_json::json!({"op": "once", "key": "k".repeat(16), "request":
                {"op": "exec", "argv": ["true"], "stdout_cap": 1, "stderr_cap": 1}});
            send(&mut b, FrameKind::Request, 4, exec.to_string().as_bytes());
            assert!(refused(reply(&mut b)));
            assert!(refused(ask(&mut b, 5, &once("short", Request::ListTasks))));
            let Reply::Tasks { tasks } = ask(&mut b, 6, &Request::ListTasks) else { panic!("tasks") };
            assert_eq!(tasks.len(), 1, "nothing refused ran: {tasks:?}");
            first.id
        })
        .await
        .unwrap();
        session.task(&task_id).kill(9).await.unwrap();
        session.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_keyed_terminal_write_whose_input_never_came_runs_when_repeated_and_only_then() {
    let t = TestScope::new("oncewrite");
    run(T, async {
        let session = t.sandbox.start(t.spec("oncewrite")).await.unwrap();
        let term = session.open_terminal(sandbox_core::TerminalSpec::shell(24, 80)).await.unwrap();
        let (dir, id) = (session.control_dir().to_path_buf(), term.id().to_string());
        tokio::task::spawn_blocking(move || {
            let write = once("write-key-0123456789", Request::WriteTerminal { id });
            // The first sending: its connection goes before its input came.
            let mut a = connect(&dir);
            assert!(matches!(hello(&mut a, PROTOCOL_VERSION), Reply::Hello(_)));
            send(&mut a, FrameKind::Request, 1, &serde_json::to_vec(&write).unwrap());
            drop(a);
            // The repeat, with its input: written.
            let mut b = connect(&dir);
            assert!(matches!(hello(&mut b, PROTOCOL_VERSION), Reply::Hello(_)));
            send(&mut b, FrameKind::Request, 1, &serde_json::to_vec(&write).unwrap());
            send(&mut b, FrameKind::Stdin, 1, b"echo typed-$((6 * 7))\n");
            assert!(matches!(reply(&mut b), Reply::Done { .. }));
            // Once more under the key, with other input: the first reply, nothing written.
            send(&mut b, FrameKind::Request, 2, &serde_json::to_vec(&write).unwrap());
            send(&mut b, FrameKind::Stdin, 2, b"echo other-$((2 * 2))\n");
            assert!(matches!(reply(&mut b), Reply::Done { .. }));
        })
        .await
        .unwrap();
        term.write(b"echo end-$((1 + 1))\n").await.unwrap();
        let all = term.read_until(0, b"end-2", 1 << 20, Some(Duration::from_secs(20))).await.unwrap();
        let text = String::from_utf8_lossy(&all.chunk.data);
        assert!(all.found, "{text:?}");
        assert_eq!(text.matches("typed-42").count(), 1, "written once: {text:?}");
        assert_eq!(text.matches("other-4").count(), 0, "the key's repeat wrote nothing: {text:?}");
        term.kill(9).await.unwrap();
        session.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}
