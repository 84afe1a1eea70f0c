//! `scripts/bench-events`: the session event stream, each figure beside its baseline
//! from the same run.
//!
//! - file change -> event delivered to the caller: the host writes a file in the
//!   working dir; the time until the session's event stream delivers it, against the
//!   time until an inotify watch on the host sees the same write;
//! - the agent while idle with 100k files (1000 directories) watched: CPU share of a
//!   core and memory, against the same agent in a session whose working dir is empty;
//! - port listening -> event: a server task is spawned; the time until the `listening`
//!   event, against the time until a connection from inside first succeeds (polled with
//!   back-to-back execs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::fs::inotify;
use sandbox_core::{Config, EventAction, EventFilter, EventKind, ExecOptions, Sandbox, Session, SessionSpec, TaskSpec};

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn row(metric: &str, ours: String, base: String, ratio: String, target: &str, met: bool) {
    println!("| {metric} | {ours} | {base} | {ratio} | {target} | {} |", if met { "yes" } else { "NO" });
}

/// The host pid of the agent serving the session whose working dir is `dir`.
fn agent_pid(dir: &Path) -> Option<u32> {
    let want = format!("--watch\0{}\0", dir.display());
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        // Not the init process (catatonit) that starts it with the same arguments.
        (cmd.starts_with(sandbox_core::run_args::CONTAINER_AGENT_PATH) && cmd.contains(&want)).then_some(pid)
    })
}

/// (CPU seconds used so far, resident KiB) of `pid`.
fn cpu_and_rss(pid: u32, ticks: f64) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    ((field(14) + field(15)) / ticks, rss)
}

/// The agent's CPU share of one core and its RSS over `secs` idle seconds.
async fn idle_figures(s: &Session, dir: &Path, secs: u64, ticks: f64) -> (f64, u64) {
    let pid = agent_pid(dir).expect("the agent's host pid");
    let (c0, _) = cpu_and_rss(pid, ticks);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (c1, rss) = cpu_and_rss(pid, ticks);
    let _ = s;
    ((c1 - c0) / secs as f64 * 100.0, rss)
}

/// Waits until the session says its working dir is watched; the number of directories.
async fn watching(s: &Session) -> u64 {
    let mut life = s.events(Some(1), EventFilter { kinds: vec![EventKind::Lifecycle], path_prefix: None });
    let e = life.wait_for(|e| e.action == EventAction::Watching, Some(Duration::from_secs(120))).await.unwrap();
    e.count.unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_files, idle_secs, n_ports) = if quick { (30, 5, 2) } else { (300, 20, 15) };
    let ticks: f64 = String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?.trim().parse()?;
    let mut config = Config::load()?;
    config.provision = false;
    config.scope = format!("bench-events-{}", std::process::id());
    let sandbox = Sandbox::new(config);
    let pid = std::process::id();
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    let kind = if sandbox.info().await?.rootless { "rootless" } else { "rootful" };
    println!("event stream benchmark, {kind}\n");
    println!("| metric | sandbox | baseline (same run) | ratio | target | met |\n|---|---|---|---|---|---|");

    // File change -> event, against host inotify on the same directory.
    let dir = tempfile::tempdir_in(&home)?;
    let root = dir.path().canonicalize()?;
    let s = sandbox.start(SessionSpec::new(format!("bench-ev-{pid}"), &root)).await?;
    watching(&s).await;
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
    inotify::add_watch(&fd, &root, inotify::WatchFlags::CREATE)?;
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    std::thread::spawn(move || {
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
        let mut reader = inotify::Reader::new(&fd, &mut buf);
        while reader.next().is_ok() {
            if tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    let mut stream = s.events(None, EventFilter { kinds: vec![EventKind::File], path_prefix: None });
    stream.next_within(Some(Duration::from_millis(10))).await?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for i in 0..n_files {
        let t0 = Instant::now();
        std::fs::write(root.join(format!("f{i}")), b"x")?;
        let e = stream.wait_for(|e| e.action == EventAction::Created, Some(Duration::from_secs(10))).await?;
        ours.push(t0.elapsed().as_secs_f64() * 1000.0);
        base.push(rx.recv_timeout(Duration::from_secs(10))?.duration_since(t0).as_secs_f64() * 1000.0);
        assert!(e.path.unwrap().ends_with(&format!("/f{i}")));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (o50, o99, b50, b99) = (pct(ours.clone(), 0.5), pct(ours, 0.99), pct(base.clone(), 0.5), pct(base, 0.99));
    row(
        &format!("file written on the host -> event delivered, p50 (p99) of {n_files}"),
        format!("{o50:.1} ms ({o99:.1} ms)"),
        format!("host inotify on the same dir: {b50:.2} ms ({b99:.2} ms)"),
        format!("+{:.1} ms p99", o99 - b99),
        "p99 <= 50 ms",
        o99 <= 50.0,
    );
    let (empty_cpu, empty_rss) = idle_figures(&s, &root, idle_secs, ticks).await;
    s.stop().await?;

    // The agent idle with 100k files watched.
    let big = tempfile::tempdir_in(&home)?;
    let big_root = big.path().canonicalize()?;
    for d in 0..1000 {
        let sub = big_root.join(format!("d{d}"));
        std::fs::create_dir(&sub)?;
        for f in 0..100 {
            std::fs::write(sub.join(format!("f{f}")), b"")?;
        }
    }
    let started = Instant::now();
    let s = sandbox.start(SessionSpec::new(format!("bench-ev-big-{pid}"), &big_root)).await?;
    let dirs = watching(&s).await;
    let ready = started.elapsed().as_secs_f64();
    let (cpu, rss) = idle_figures(&s, &big_root, idle_secs, ticks).await;
    row(
        &format!("agent idle for {idle_secs} s with 100k files ({dirs} dirs) watched: CPU of one core"),
        format!("{cpu:.2} %"),
        format!("same agent, empty working dir: {empty_cpu:.2} %"),
        format!("{:+.2} points", cpu - empty_cpu),
        "<= 1 %",
        cpu <= 1.0,
    );
    row(
        "the same agent's memory (RSS)",
        format!("{:.1} MiB", rss as f64 / 1024.0),
        format!("empty working dir: {:.1} MiB", empty_rss as f64 / 1024.0),
        format!("{:.2}x", rss as f64 / empty_rss.max(1) as f64),
        "<= 32 MiB",
        rss <= 32 * 1024,
    );
    println!("\n(start to `watching` with 100k files: {ready:.2} s)\n");
    s.stop().await?;

    // Port listening -> event, against the first successful connection from inside.
    let s = sandbox.start(SessionSpec::new(format!("bench-ev-port-{pid}"), &root)).await?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for i in 0..n_ports {
        let port = 9000 + i as u16;
        let t0 = Instant::now();
        let task = s.spawn_task(TaskSpec::shell(format!("exec httpd -f -p {port}"))).await?;
        let probe = async {
            // busybox nc exits 0 once connected (stdin is empty), 1 when refused.
            while t0.elapsed() < Duration::from_secs(10) {
                let o = s.exec(&["nc", "-w", "1", "127.0.0.1", &port.to_string()], ExecOptions::new()).await;
                if o.is_ok_and(|o| o.exit_code == Some(0)) {
                    break;
                }
            }
            t0.elapsed()
        };
        let event = async { s.wait_for_port(port, Some(Duration::from_secs(10))).await.map(|_| t0.elapsed()) };
        let (reachable, seen) = tokio::join!(probe, event);
        ours.push(seen?.as_secs_f64() * 1000.0);
        base.push(reachable.as_secs_f64() * 1000.0);
        task.kill(9).await?;
        task.wait(Some(Duration::from_secs(10))).await?;
    }
    let (o50, o99, b50) = (pct(ours.clone(), 0.5), pct(ours, 0.99), pct(base, 0.5));
    row(
        &format!("server spawned -> `listening` event, p50 (max) of {n_ports}"),
        format!("{o50:.0} ms ({o99:.0} ms)"),
        format!("first connection from inside: {b50:.0} ms"),
        format!("+{:.0} ms p50", o50 - b50),
        "<= 200 ms after listening",
        o99 - b50 <= 200.0,
    );
    s.stop().await?;
    Ok(())
}
