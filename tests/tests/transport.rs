//! The agent protocol over the `exec` transport (config `transport = "exec"`): each
//! connection is one `podman exec -i <container> /.sandbox-agent bridge`, whose stdin and
//! stdout carry the same frames as the control dir's socket. Against real podman: every
//! kind of call works through it, a bridge the session kills is replaced by the next
//! call, and the bridge reaches the agent on a socket the session can neither take nor
//! replace (whatever it plants in the shared dir).

use std::time::Duration;

use sandbox_core::{ExecOptions, Sandbox, Session, TaskSpec, TerminalSpec, Transport};
use sandbox_e2e::{TestScope, run, test_config};

const T: Duration = Duration::from_secs(180);

/// A sandbox of the test's scope whose sessions are reached through the bridge.
fn over_exec(t: &TestScope) -> Sandbox {
    let mut config = test_config(&t.scope);
    config.transport = Transport::Exec;
    Sandbox::new(config)
}

async fn sh(s: &Session, script: &str) -> String {
    let o = s.exec(&["sh", "-c", script], ExecOptions::new()).await.unwrap();
    assert!(o.success(), "{script}: {}", o.stderr_lossy());
    o.stdout_lossy()
}

/// The pids of the container's processes whose command line starts with `command`.
async fn pids_running(s: &Session, command: &str) -> Vec<String> {
    let list = sh(s, "for p in /proc/[0-9]*; do printf '%s ' ${p#/proc/}; tr '\\0' ' ' < $p/cmdline; echo; done").await;
    let running = |(_, line): &(&str, &str)| line.starts_with(command);
    list.lines().filter_map(|l| l.split_once(' ')).filter(running).map(|(pid, _)| pid.to_string()).collect()
}

/// The pids of the container's processes that run the agent's bridge.
async fn bridges(s: &Session) -> Vec<String> {
    pids_running(s, "/.sandbox-agent bridge").await
}

#[test]
fn every_kind_of_call_works_over_the_exec_bridge_and_a_killed_bridge_is_replaced() {
    let t = TestScope::new("bridge");
    let sb = over_exec(&t);
    run(T, async {
        let s = sb.start(t.spec("bridge")).await.unwrap();
        // The connection is a bridge process in the container, not the socket.
        let first = bridges(&s).await;
        assert_eq!(first.len(), 1, "one bridge carries the session's calls: {first:?}");

        let o = s.exec(&["sh", "-c", "cat; echo err >&2; exit 3"], ExecOptions::new().stdin(b"in\n".to_vec())).await;
        let o = o.unwrap();
        assert_eq!((o.exit_code, o.stdout_lossy().as_ref(), o.stderr_lossy().as_ref()), (Some(3), "in\n", "err\n"));
        let big = s.exec(&["sh", "-c", "head -c 3000000 /dev/zero"], ExecOptions::new()).await.unwrap();
        assert_eq!(big.stdout.len(), 3_000_000, "bulk output crosses the bridge whole");

        let task = s.spawn_task(TaskSpec::shell("echo from-task")).await.unwrap();
        let info = task.wait(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(info.process.state, sandbox_core::ProcessState::Exited { code: 0 }, "{info:?}");
        let out = task.read(sandbox_core::TaskStream::Merged, 0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
        assert_eq!(out.data, b"from-task\n");

        let term = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap();
        term.write(b"echo typed-$((6 * 7))\n").await.unwrap();
        let r = term.read_until(0, b"typed-42", 1 << 20, Some(Duration::from_secs(20))).await.unwrap();
        assert!(r.found, "the terminal's output came back: {:?}", String::from_utf8_lossy(&r.chunk.data));
        term.kill(9).await.unwrap();

        let file = t.dir.path().join("over-bridge.txt");
        let file = file.to_str().unwrap();
        s.write_file(file, b"written\n", None).await.unwrap();
        assert_eq!(s.read_file(file).await.unwrap(), b"written\n");

        // A pause stops every process of the session but the bridge that carries its
        // reply (and the calls made while paused).
        let busy = s.spawn_task(TaskSpec::shell("while :; do :; done")).await.unwrap();
        let paused = s.pause().await.unwrap();
        assert!(paused.paused && paused.changed, "{paused:?}");
        assert_eq!(s.read_file(file).await.unwrap(), b"written\n", "calls go on while paused");
        let state = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(state.kind(), sandbox_core::ErrorKind::NotRunning, "{state}");
        assert!(s.resume().await.unwrap().changed);
        busy.kill(9).await.unwrap();

        // The session kills its bridge (it can: the bridge runs in its container): the
        // call in the way fails, the next one is carried by a new bridge.
        let cut = s.exec(&["sh", "-c", &format!("kill -9 {}; sleep 5", first[0])], ExecOptions::new()).await;
        assert!(cut.is_err(), "the call whose bridge died cannot answer: {cut:?}");
        let again = s.exec(&["echo", "again"], ExecOptions::new()).await.unwrap();
        assert_eq!(again.stdout_lossy(), "again\n");
        let now = bridges(&s).await;
        assert!(now.len() == 1 && now != first, "the killed bridge {first:?} was replaced by one: {now:?}");

        // Attached from another sandbox: a connection of its own, also over a bridge.
        let other = over_exec(&t);
        let a = other.attach(s.id()).await.unwrap();
        assert_eq!(sh(&a, "echo attached").await, "attached\n");
        assert_eq!(bridges(&s).await.len(), 2, "each connection is its own bridge");
        drop(a);
        drop(other);
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

/// Runs `sh -c script` in the session's container through the engine (`podman exec`):
/// a way in that is not the agent connection under test.
fn engine_sh(s: &Session, script: &str) {
    let o = std::process::Command::new("podman").args(["exec", s.container(), "sh", "-c", script]).output().unwrap();
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn calls_whose_bridge_dies_are_sent_again_and_a_change_runs_once() {
    let t = TestScope::new("bridgedrop");
    let sb = over_exec(&t);
    run(T, async {
        let s = sb.start(t.spec("bridgedrop")).await.unwrap();
        // A wait in flight when its bridge dies: sent again on a new bridge, it returns
        // what the task did, not an error.
        let task = s.spawn_task(TaskSpec::shell("sleep 3; exit 7")).await.unwrap();
        let first = bridges(&s).await;
        let waiting = tokio::spawn({
            let task = task.clone();
            async move { task.wait(None).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        engine_sh(&s, &format!("kill -9 {}", first[0]));
        let info = waiting.await.unwrap().expect("the wait is carried on by a new bridge");
        assert_eq!(info.process.state, sandbox_core::ProcessState::Exited { code: 7 }, "{info:?}");
        let now = bridges(&s).await;
        assert!(now.len() == 1 && now != first, "a new bridge: {first:?} -> {now:?}");

        // A change whose reply is lost with its bridge: the agent is held still while
        // the bridge delivers the request and dies, so the removal runs after the
        // connection is gone. The call goes again under the same key, and the answer
        // is that first run's (done), not a second run's (not found: it is gone).
        let dir = t.dir.path().join("to-remove");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/file"), b"x").unwrap();
        let agent = agent_pid(&s).await;
        let bridge = bridges(&s).await;
        engine_sh(&s, &format!("kill -STOP {agent}"));
        let removing = tokio::spawn({
            let (s, dir) = (s.clone(), dir.clone());
            async move { s.remove(dir.to_str().unwrap(), true).await }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(dir.exists(), "nothing ran while the agent is stopped");
        engine_sh(&s, &format!("kill -9 {}", bridge[0]));
        tokio::time::sleep(Duration::from_millis(300)).await;
        engine_sh(&s, &format!("kill -CONT {agent}"));
        removing.await.unwrap().expect("the repeated removal answers with the first run's reply");
        assert!(!dir.exists());
        assert_ne!(bridges(&s).await, bridge);

        // Exec streams with its caller: it is not sent again, its loss is the caller's.
        let cut = s.exec(&["sh", "-c", "kill -9 $(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline | grep -q '^/.sandbox-agent bridge' && echo ${p#/proc/}; done); sleep 5"], ExecOptions::new()).await;
        assert!(cut.is_err(), "{cut:?}");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

/// The pid (in the container) of the session's agent.
async fn agent_pid(s: &Session) -> String {
    let pids = pids_running(s, "/.sandbox-agent serve").await;
    assert!(pids.len() == 1 && pids[0].parse::<u32>().is_ok(), "the agent's pid: {pids:?}");
    pids[0].clone()
}

#[test]
fn a_terminal_write_and_a_file_read_go_on_across_a_dropped_bridge() {
    let t = TestScope::new("bridgeio");
    let sb = over_exec(&t);
    run(T, async {
        let s = sb.start(t.spec("bridgeio")).await.unwrap();
        // Terminal input whose bridge dies once it delivered it (the agent held still
        // meanwhile): written once, not again by the repeat.
        let term = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap();
        let agent = agent_pid(&s).await;
        let bridge = bridges(&s).await;
        engine_sh(&s, &format!("kill -STOP {agent}"));
        let writing = tokio::spawn({
            let term = term.clone();
            async move { term.write(b"echo typed-$((6 * 7))\n").await }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        engine_sh(&s, &format!("kill -9 {}", bridge[0]));
        tokio::time::sleep(Duration::from_millis(300)).await;
        engine_sh(&s, &format!("kill -CONT {agent}"));
        writing.await.unwrap().expect("the write is answered on a new bridge");
        let r = term.read_until(0, b"typed-42", 1 << 20, Some(Duration::from_secs(20))).await.unwrap();
        assert!(r.found, "{:?}", String::from_utf8_lossy(&r.chunk.data));
        term.write(b"echo end-$((1 + 1))\n").await.unwrap();
        let all = term.read_until(0, b"end-2", 1 << 20, Some(Duration::from_secs(20))).await.unwrap();
        let text = String::from_utf8_lossy(&all.chunk.data);
        assert_eq!(text.matches("typed-42").count(), 1, "the input went in once: {text:?}");
        term.kill(9).await.unwrap();

        // A large file read whose bridge dies half-way: it goes on from where it
        // stopped, and the copy is whole.
        let file = t.dir.path().join("big.bin");
        let content: Vec<u8> = (0..48u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&file, &content).unwrap();
        let (n, got) = read_with_a_cut(&s, &file, || {}).await;
        assert_eq!(n.expect("the read goes on over a new bridge"), content.len() as u64);
        assert!(got == content, "the copy is the file, byte for byte ({} of {} bytes)", got.len(), content.len());
        // The same, with the file replaced while the read was cut: refused, not spliced.
        let (n, got) = read_with_a_cut(&s, &file, || {
            let other = file.with_extension("new");
            std::fs::write(&other, vec![b'x'; 48 << 20]).unwrap();
            std::fs::rename(&other, &file).unwrap();
        })
        .await;
        let e = n.expect_err("a file replaced under a cut read is not read on");
        assert!(e.to_string().contains("changed since the read began"), "{e}");
        assert!(got.len() < content.len() && content.starts_with(&got), "only the old file's bytes were copied");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

/// Reads `file` into a pipe whose reader stops after 8 MiB; meanwhile the connection's
/// bridge is killed and `meanwhile` runs; then the reader takes the rest. The read's
/// outcome and the bytes that came.
async fn read_with_a_cut(
    s: &Session,
    file: &std::path::Path,
    meanwhile: impl FnOnce(),
) -> (sandbox_core::Result<u64>, Vec<u8>) {
    let bridge = bridges(s).await;
    let (mut writer, mut reader) = tokio::io::duplex(64 * 1024);
    let (half_tx, half_rx) = tokio::sync::oneshot::channel::<()>();
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<()>();
    let collect = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut got = vec![0u8; 8 << 20];
        reader.read_exact(&mut got).await.unwrap();
        half_tx.send(()).unwrap();
        cut_rx.await.unwrap();
        reader.read_to_end(&mut got).await.unwrap();
        got
    });
    let reading = tokio::spawn({
        let (s, file) = (s.clone(), file.to_path_buf());
        async move {
            let n = s.read_file_to(file.to_str().unwrap(), &mut writer).await;
            drop(writer);
            n
        }
    });
    half_rx.await.unwrap();
    engine_sh(s, &format!("kill -9 {}", bridge[0]));
    meanwhile();
    cut_tx.send(()).unwrap();
    let n = reading.await.unwrap();
    (n, collect.await.unwrap())
}

/// A listener the session could run in place of its agent: binds the unix socket at
/// argv[1] (`@name`: the abstract name), says so, and counts what connects.
const IMPOSTOR_SOURCE: &str = r#"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len = sizeof a;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (argc < 2 || s < 0 || strlen(argv[1]) >= sizeof a.sun_path) return 1;
    if (argv[1][0] == '@') {
        memcpy(a.sun_path + 1, argv[1] + 1, strlen(argv[1]) - 1);
        len = offsetof(struct sockaddr_un, sun_path) + strlen(argv[1]);
    } else {
        strcpy(a.sun_path, argv[1]);
    }
    if (bind(s, (struct sockaddr *)&a, len) != 0) {
        printf("bind failed: %s\n", strerror(errno));
        return 2;
    }
    listen(s, 16);
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        int c = accept(s, 0, 0);
        if (c >= 0) {
            printf("accepted\n");
            fflush(stdout);
            close(c);
        }
    }
}
"#;

#[test]
fn the_bridge_reaches_the_agent_whatever_the_session_does_to_its_sockets() {
    let t = TestScope::new("bridgeplant");
    let sb = over_exec(&t);
    let impostor = sandbox_e2e::build_static_probe(t.dir.path(), "impostor", IMPOSTOR_SOURCE);
    let impostor = impostor.to_str().unwrap();
    run(T, async {
        let s = sb.start(t.spec("bridgeplant")).await.unwrap();
        // The bridge's own socket name is the agent's while it lives: taking it fails.
        let name = format!("@{}", sandbox_proto::layout::BRIDGE_NAME);
        let o = s.exec(&[impostor, &name], ExecOptions::new()).await.unwrap();
        assert_eq!(o.exit_code, Some(2), "{}", o.stdout_lossy());
        assert!(o.stdout_lossy().contains("Address already in use"), "{}", o.stdout_lossy());
        // A listener of the session's own in place of the shared dir's socket (a link to
        // it, first; then the listener itself): a new connection over the bridge still
        // reaches the agent, and the impostor sees nothing.
        sh(&s, "mv /.sandbox/agent.sock /.sandbox/real.sock && ln -s /.sandbox/real.sock /.sandbox/agent.sock").await;
        let a = over_exec(&t).attach(s.id()).await.unwrap();
        assert_eq!(sh(&a, "echo through-bridge").await, "through-bridge\n");
        drop(a);
        sh(&s, "rm /.sandbox/agent.sock").await;
        let listener = s.spawn_task(TaskSpec::argv([impostor, "/.sandbox/agent.sock"])).await.unwrap();
        let r = listener
            .read_until(sandbox_core::TaskStream::Merged, 0, b"listening", 1 << 10, Some(Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(r.found, "the impostor listens");
        let a = over_exec(&t).attach(s.id()).await.unwrap();
        let ps = sh(&a, "echo pid $$; cat /proc/1/cmdline | tr '\\0' ' '").await;
        assert!(ps.starts_with("pid "), "{ps}");
        drop(a);
        let said = listener.read(sandbox_core::TaskStream::Merged, 0, 1 << 10, Some(Duration::ZERO)).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&said.data), "listening\n", "nothing connected to the impostor");
        listener.kill(9).await.unwrap();
        sh(&s, "rm -f /.sandbox/agent.sock && mv /.sandbox/real.sock /.sandbox/agent.sock").await;
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}
