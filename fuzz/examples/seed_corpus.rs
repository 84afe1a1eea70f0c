//! Writes the seed inputs of the fuzz targets whose input is raw bytes into
//! `fuzz/corpus/<target>/seed-*`: real protocol traffic (frames and JSON built from the
//! protocol's own types, so the seeds follow the protocol), the real podman 4.3.1
//! output and error messages captured in `fuzz/samples/podman/`, and UTF-8 text.
//! Targets whose input is `Arbitrary`-structured (`frame_roundtrip`, `spool`) are seeded
//! by fuzzing instead. Re-run after a protocol change:
//! `SANDBOX_AGENT_BIN=/dev/null cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`
//! (the variable spares building the agent, which sandbox-core would embed).

use std::path::{Path, PathBuf};

use sandbox_proto::{
    ErrorKind, Event, ExecExit, ExecRequest, FileInfo, FileKind, FrameKind, HelloReply, OpenTerminal, OutputMeta,
    OutputSource, PROTOCOL_VERSION, ProcState, ReadOutput, Reply, Request, SpawnTask, StdinMode, TaskInfo, TaskStream,
    TerminalInfo, encode_frame,
};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("creating the corpus dir");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
}

fn samples(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("samples").join("podman");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("reading fuzz/samples/podman")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| file_name(p).starts_with(prefix))
        .map(|p| (file_name(&p), std::fs::read(&p).expect("reading a sample")))
        .collect();
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("a file name").to_string_lossy().into_owned()
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("a message encodes")
}

fn requests() -> Vec<(&'static str, Request)> {
    let env = vec![("LANG".to_string(), "C.UTF-8".to_string())];
    vec![
        ("hello", Request::Hello { protocol: PROTOCOL_VERSION, client: "sandbox-core 0.1.0".into() }),
        ("ping", Request::Ping),
        (
            "exec",
            Request::Exec(ExecRequest {
                argv: vec!["sh".into(), "-c".into(), "echo hello; echo oops >&2; exit 3".into()],
                env: env.clone(),
                cwd: Some("/work/a b:c".into()),
                timeout_ms: Some(30_000),
                kill_grace_ms: Some(2_000),
                linger_ms: Some(100),
                stdout_cap: 1 << 20,
                stderr_cap: 1 << 20,
                stdin: StdinMode::Pipe,
                window: Some(256 * 1024),
            }),
        ),
        (
            "spawn-task",
            Request::SpawnTask(SpawnTask {
                argv: vec!["sh".into(), "-c".into(), "make test".into()],
                command: Some("make test".into()),
                env: env.clone(),
                cwd: None,
                spool_cap: Some(1 << 20),
            }),
        ),
        ("list-tasks", Request::ListTasks),
        ("wait-task", Request::WaitTask { id: "t-5f2c9a".into(), timeout_ms: Some(500) }),
        ("kill-task", Request::KillTask { id: "t-5f2c9a".into(), signal: 15 }),
        (
            "read-output",
            Request::ReadOutput(ReadOutput {
                source: OutputSource::Task { id: "t-5f2c9a".into(), stream: TaskStream::Stderr },
                offset: 4096,
                tail: None,
                max: 65536,
                wait_ms: Some(1000),
            }),
        ),
        (
            "read-scrollback",
            Request::ReadOutput(ReadOutput {
                source: OutputSource::Terminal { id: "p-77".into() },
                offset: 0,
                tail: Some(2000),
                max: 2000,
                wait_ms: None,
            }),
        ),
        (
            "open-terminal",
            Request::OpenTerminal(OpenTerminal {
                argv: vec![],
                command: None,
                rows: 24,
                cols: 80,
                env,
                cwd: Some("/work".into()),
                scrollback: Some(1 << 16),
            }),
        ),
        ("write-terminal", Request::WriteTerminal { id: "p-77".into() }),
        ("resize-terminal", Request::ResizeTerminal { id: "p-77".into(), rows: 50, cols: 132 }),
        ("wait-terminal", Request::WaitTerminal { id: "p-77".into(), timeout_ms: None }),
        ("read-file", Request::ReadFile {
                path: "/etc/os-release".into(),
                window: Some(65536),
                offset: Some(4096),
                stamp: Some("2049:1311:4096:1764979200000000000".into()),
            }),
        ("write-file", Request::WriteFile { path: "/work/out.bin".into(), mode: Some(0o600) }),
        ("list-dir", Request::ListDir { path: "/work".into() }),
        ("stat", Request::Stat { path: "/work/link".into() }),
        ("remove", Request::Remove { path: "/work/tmp".into(), recursive: true }),
        (
            "once",
            Request::Once {
                key: "9f86d081884c7d659a2feaa0c55ad015".into(),
                request: Box::new(Request::KillTask { id: "t-5f2c9a".into(), signal: 15 }),
            },
        ),
    ]
}

fn task(state: ProcState) -> TaskInfo {
    TaskInfo {
        id: "t-5f2c9a".into(),
        command: "make test".into(),
        state,
        pid: 42,
        started_ms: 1_795_825_552_000,
        ended_ms: (state != ProcState::Running).then_some(1_795_825_560_500),
        spool_cap: 1 << 20,
    }
}

fn terminal() -> TerminalInfo {
    TerminalInfo {
        id: "p-77".into(),
        command: "/bin/sh".into(),
        state: ProcState::Killed { signal: 9 },
        pid: 77,
        rows: 24,
        cols: 80,
        started_ms: 1_795_825_552_000,
        ended_ms: Some(1_795_825_599_000),
        scrollback: 1 << 16,
    }
}

fn replies() -> Vec<(&'static str, Reply)> {
    let file = FileInfo {
        name: "link".into(),
        kind: FileKind::Symlink,
        size: 7,
        mode: 0o777,
        modified_ms: 1_795_825_552_123,
        target: Some("../etc".into()),
    };
    vec![
        ("hello", Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION, agent: "0.1.0".into(), pid: 2 })),
        ("pong", Reply::Pong),
        (
            "exit",
            Reply::Exit(ExecExit {
                exit_code: Some(3),
                signal: None,
                timed_out: false,
                cancelled: false,
                stdout_total: 6,
                stderr_total: 5,
                duration_us: 1312,
                ..ExecExit::default()
            }),
        ),
        (
            "exit-timeout",
            Reply::Exit(ExecExit {
                signal: Some(9),
                timed_out: true,
                oom_killed: true,
                duration_us: 30_000_512,
                ..ExecExit::default()
            }),
        ),
        ("task", Reply::Task(task(ProcState::Running))),
        (
            "tasks",
            Reply::Tasks { tasks: vec![task(ProcState::Exited { code: 0 }), task(ProcState::Killed { signal: 15 })] },
        ),
        (
            "output",
            Reply::Output(OutputMeta {
                offset: 4096,
                len: 512,
                window_start: 1024,
                end: 4608,
                finished: true,
                lost: 0,
            }),
        ),
        ("terminal", Reply::Terminal(terminal())),
        ("terminals", Reply::Terminals { terminals: vec![terminal()] }),
        ("file", Reply::File(file.clone())),
        (
            "files",
            Reply::Files {
                entries: vec![
                    FileInfo { name: "a\u{fffd}b".into(), kind: FileKind::File, target: None, ..file.clone() },
                    FileInfo { name: "dir".into(), kind: FileKind::Dir, target: None, ..file },
                ],
            },
        ),
        ("done", Reply::Done { bytes: 1 << 20 }),
        ("error", Reply::error(ErrorKind::NotFound, "no task t-404")),
        ("error-protocol", Reply::error(ErrorKind::ProtocolMismatch, "client speaks protocol 2, agent 1")),
    ]
}

fn frame(kind: FrameKind, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(kind, id, payload, &mut out);
    out
}

/// What a client sends on one connection, and what the agent answers.
fn conversations() -> Vec<(&'static str, Vec<u8>)> {
    let mut client = Vec::new();
    for (id, (_, r)) in requests().iter().enumerate() {
        client.extend(frame(FrameKind::Request, id as u32 + 1, &json(r)));
        if matches!(r, Request::Exec(_) | Request::WriteFile { .. } | Request::WriteTerminal { .. }) {
            client.extend(frame(FrameKind::Stdin, id as u32 + 1, b"line one\nline two\n"));
            client.extend(frame(FrameKind::Credit, id as u32 + 1, &65536u64.to_le_bytes()));
            client.extend(frame(FrameKind::Stdin, id as u32 + 1, b""));
        }
    }
    client.extend(frame(FrameKind::Signal, 3, &15i32.to_le_bytes()));
    client.extend(frame(FrameKind::Cancel, 3, b""));

    let mut agent = Vec::new();
    agent.extend(frame(
        FrameKind::Reply,
        1,
        &json(&Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION, agent: "0.1.0".into(), pid: 2 })),
    ));
    agent.extend(frame(FrameKind::Event, 3, &json(&Event::StdinAck { total: 18 })));
    agent.extend(frame(FrameKind::Stdout, 3, b"hello\n"));
    agent.extend(frame(FrameKind::Stderr, 3, b"oops\n"));
    agent.extend(frame(FrameKind::Stdout, 3, b"\xff\xfe\x00binary \xe2\x82"));
    agent.extend(frame(FrameKind::Stdout, 3, b"\xac split euro"));
    for (id, (_, r)) in replies().iter().enumerate() {
        agent.extend(frame(FrameKind::Reply, id as u32 + 3, &json(r)));
    }
    vec![("client", client), ("agent", agent)]
}

fn frame_decoder_seeds() {
    let conversations = conversations();
    // Read patterns (see the target): all at once, byte by byte, small and large reads,
    // and 64 repetitions read at once (to reach the buffer compaction).
    let schedules: [(&str, u16); 5] =
        [("whole", 0), ("bytewise", 1), ("small", 0x0102), ("large", 0x0a03), ("repeated", 0xfc04)];
    for (conv, wire) in &conversations {
        for (sched, seed) in schedules {
            let mut input = seed.to_le_bytes().to_vec();
            input.extend_from_slice(wire);
            write("frame_decoder", &format!("{conv}-{sched}"), &input);
        }
    }
    let hello = frame(FrameKind::Request, 1, &json(&requests()[0].1));
    let broken: [(&str, Vec<u8>); 5] = [
        ("too-short", 4u32.to_le_bytes().to_vec()),
        ("too-large", [&u32::MAX.to_le_bytes()[..], &[1, 0, 0, 0, 0]].concat()),
        ("unknown-kind", [&hello[..], &[5, 0, 0, 0, 99, 1, 0, 0, 0]].concat()),
        ("truncated", hello[..hello.len() - 3].to_vec()),
        ("bad-json", frame(FrameKind::Request, 7, br#"{"op":"exec","argv":"sh"}"#)),
    ];
    for (name, wire) in broken {
        write("frame_decoder", name, &[&[2u8, 0][..], &wire].concat());
    }
}

fn message_json_seeds() {
    for (name, r) in requests() {
        write("message_json", &format!("request-{name}"), &json(&r));
    }
    for (name, r) in replies() {
        write("message_json", &format!("reply-{name}"), &json(&r));
    }
    write("message_json", "event-stdin-ack", &json(&Event::StdinAck { total: 1 << 40 }));
    write("message_json", "reply-future-error-kind", br#"{"reply":"error","kind":"brand_new","message":"m"}"#);
}

fn podman_seeds() {
    for (name, bytes) in samples("ps-") {
        write("podman_ps", &name, &bytes);
    }
    for (name, bytes) in samples("inspect-") {
        write("podman_inspect", &name, &bytes);
    }
    // Readings as the podman_info target lays them out: three flags, hard nofile,
    // hard nproc, pid_max, unprivileged port start, uid.
    let readings = |unified: bool, cap: bool, runc: bool, uid: u32| {
        let mut r = vec![u8::from(unified), u8::from(cap), u8::from(runc)];
        r.extend(1_048_576u64.to_le_bytes());
        r.extend(96_364u64.to_le_bytes());
        r.extend(4_194_304u64.to_le_bytes());
        r.extend(1024u16.to_le_bytes());
        r.extend(uid.to_le_bytes());
        r
    };
    for (name, bytes) in samples("info-") {
        let uid = if name.contains("rootless") { 1002 } else { 0 };
        write("podman_info", &name, &[readings(true, false, true, uid), bytes.clone()].concat());
        write("podman_info", &format!("v2-{name}"), &[readings(false, true, false, uid), bytes].concat());
    }
}

fn run_failure_seeds() {
    let ports: [&[u16]; 3] = [&[18777], &[3000, 18090, 18777], &[]];
    for (name, bytes) in samples("run-stderr-") {
        for (i, p) in ports.iter().enumerate() {
            let mut input = vec![p.len() as u8];
            input.extend(p.iter().flat_map(|p| p.to_le_bytes()));
            input.extend_from_slice(&bytes);
            write("run_failure", &format!("{i}-{name}"), &input);
        }
    }
}

fn utf8_seeds() {
    let text = "plain ascii, é, €, 😀, 中文 and a tab\t".as_bytes();
    write("utf8_len", "text", text);
    write("utf8_len", "cut-emoji", &"a😀".as_bytes()[..3]);
    write("utf8_len", "cut-euro", &"x€".as_bytes()[..3]);
    write("utf8_len", "invalid", b"\xff\xfe\xc0\xaf\xed\xa0\x80");
}

fn main() {
    frame_decoder_seeds();
    message_json_seeds();
    podman_seeds();
    run_failure_seeds();
    utf8_seeds();
    println!("seeds written under {}", fuzz_dir().join("corpus").display());
}
