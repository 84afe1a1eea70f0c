//! `scripts/bench-egress`: the egress relay and forwarded ports, each figure beside its
//! baseline from the same run.
//!
//! - connection setup: a request through the egress proxy (session -> agent -> enforcer
//!   -> host server) against the same request made directly from a bridge session
//!   without network isolation (session -> host server);
//! - one large download the same two ways;
//! - the enforcer's memory with 100 connections open through it, against its idle size;
//! - a forwarded port: how soon after the server inside listens the host reaches it, and
//!   a large download through it against the same through a published port of a bridge
//!   session.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_core::{Config, EgressPolicy, ExecOptions, Sandbox, Session, SessionSpec, TaskSpec};

const SOURCE: &str = include_str!("net_bench.c");
const BIG: u64 = 1 << 30;

/// A host server on every address: `/big` gets [`BIG`] bytes, `/slow` an answer after
/// five seconds, anything else two bytes.
fn host_server() -> u16 {
    let l = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let len = if text.contains("/big") { BIG } else { 2 };
                if text.contains("/slow") {
                    std::thread::sleep(Duration::from_secs(5));
                }
                let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
                let chunk = vec![b'x'; 1 << 20];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if s.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    port
}

fn host_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `net_bench get` in the session; returns (p50 ms, p99 ms, bytes, secs).
async fn get(s: &Session, bin: &str, ip: &str, port: u16, request: &str, n: u32) -> (f64, f64, f64, f64) {
    let o = s
        .exec(
            &[bin, "get", ip, &port.to_string(), request, &n.to_string()],
            ExecOptions::new().timeout(Duration::from_secs(600)),
        )
        .await
        .expect("exec");
    let text = o.stdout_lossy();
    assert!(o.success(), "net_bench get: {text} {}", o.stderr_lossy());
    let nums: Vec<f64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (nums[0] / 1000.0, nums[1] / 1000.0, nums[2], nums[3])
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Reads everything from host 127.0.0.1:`port`; (bytes, secs).
fn download(port: u16) -> (u64, f64) {
    let t = Instant::now();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (0, 0.0) };
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    (total, t.elapsed().as_secs_f64())
}

fn row(metric: &str, ours: String, base: String, ratio: String, target: &str, met: bool) {
    println!("| {metric} | {ours} | {base} | {ratio} | {target} | {} |", if met { "yes" } else { "NO" });
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_lat, rounds) = if quick { (50, 1) } else { (300, 3) };
    let mut config = Config::load()?;
    config.provision = false;
    config.scope = format!("bench-egress-{}", std::process::id());
    let sandbox = Sandbox::new(config.clone());
    let mut open = config.clone();
    open.policy.isolate_network = false;
    let open_sandbox = Sandbox::new(open);
    let dir = tempfile::tempdir_in(std::env::var("HOME").unwrap_or_else(|_| ".".into()))?;
    let bin_path = dir.path().join("net_bench");
    let src = dir.path().join("net_bench.c");
    std::fs::write(&src, SOURCE)?;
    let cc = Command::new("cc").args(["-static", "-O2", "-o"]).arg(&bin_path).arg(&src).output()?;
    assert!(cc.status.success(), "cc: {}", String::from_utf8_lossy(&cc.stderr));
    let bin = bin_path.to_str().unwrap().to_string();
    let port = host_server();
    let host_ip = host_address().ok_or("this host has no non-loopback address for the direct baseline")?;
    let pid = std::process::id();

    let mut policy = EgressPolicy::from_rules(&["bench.test".to_string(), format!("127.0.0.1:{port}")])?;
    policy.hosts.insert("bench.test".into(), vec!["127.0.0.1".parse()?]);
    let egress = sandbox.start(SessionSpec::new(format!("bench-egress-{pid}"), dir.path()).egress(policy)).await?;
    let direct = open_sandbox.start(SessionSpec::new(format!("bench-direct-{pid}"), dir.path())).await?;
    let via_proxy = |path: &str| format!("GET http://bench.test:{port}{path} HTTP/1.1\\nHost: bench.test:{port}\\n\\n");
    let plain = |path: &str| format!("GET {path} HTTP/1.1\\nHost: {host_ip}:{port}\\n\\n");
    let ip = host_ip.to_string();

    let kind = if sandbox.info().await?.rootless { "rootless" } else { "rootful" };
    println!("egress benchmark, {kind}, {} rounds, interleaved\n", rounds);
    println!("| metric | sandbox | baseline (same run) | ratio | target | met |\n|---|---|---|---|---|---|");

    // Connection setup, interleaved rounds.
    let (mut ours, mut base, mut ours99, mut base99) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (p50, p99, _, _) = get(&egress, &bin, "127.0.0.1", 3128, &via_proxy("/small"), n_lat).await;
        ours.push(p50);
        ours99.push(p99);
        let (p50, p99, _, _) = get(&direct, &bin, &ip, port, &plain("/small"), n_lat).await;
        base.push(p50);
        base99.push(p99);
    }
    let (o, b) = (median(ours), median(base));
    row(
        &format!("connection + request through the egress proxy, p50 (p99) of {n_lat}"),
        format!("{o:.3} ms ({:.3} ms)", median(ours99)),
        format!("direct from a bridge session: {b:.3} ms ({:.3} ms)", median(base99)),
        format!("+{:.3} ms", o - b),
        "added p50 <= 2 ms",
        o - b <= 2.0,
    );

    // One large download.
    let (mut ours, mut base) = (vec![], vec![]);
    for _ in 0..rounds {
        let (_, _, bytes, secs) = get(&egress, &bin, "127.0.0.1", 3128, &via_proxy("/big"), 1).await;
        ours.push(bytes / secs / 1048576.0);
        let (_, _, bytes, secs) = get(&direct, &bin, &ip, port, &plain("/big"), 1).await;
        base.push(bytes / secs / 1048576.0);
    }
    let (o, b) = (median(ours), median(base));
    row(
        "1 GiB download through the egress proxy",
        format!("{o:.0} MiB/s"),
        format!("direct from a bridge session: {b:.0} MiB/s"),
        format!("{:.2}x", o / b),
        ">= 200 MiB/s and >= 0.5x",
        o >= 200.0 && o / b >= 0.5,
    );

    // The enforcer's memory with 100 connections open.
    let enforcer = sandbox_core::egress::enforcer_pid(egress.control_dir()).ok_or("no enforcer")?;
    let idle = rss_kib(enforcer);
    let hold = egress
        .spawn_task(TaskSpec::argv(vec![
            bin.clone(),
            "hold".into(),
            "127.0.0.1".into(),
            "3128".into(),
            via_proxy("/slow"),
            "100".into(),
            "4".into(),
        ]))
        .await?;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let busy = rss_kib(enforcer);
    hold.wait(None).await?;
    row(
        "egress enforcer RSS with 100 connections open",
        format!("{:.1} MiB", busy as f64 / 1024.0),
        format!("idle: {:.1} MiB", idle as f64 / 1024.0),
        format!("+{:.1} MiB", (busy as f64 - idle as f64) / 1024.0),
        "<= 16 MiB",
        busy <= 16 * 1024,
    );
    egress.stop().await?;
    direct.stop().await?;

    // Forwarded port vs published port.
    let (fport, pport) = (free(), free());
    let fwd = sandbox
        .start(SessionSpec::new(format!("bench-fwd-{pid}"), dir.path()).egress(EgressPolicy::default()).ports([fport]))
        .await?;
    let publ = sandbox.start(SessionSpec::new(format!("bench-pub-{pid}"), dir.path()).ports([pport])).await?;
    let serve = |p: u16| TaskSpec::argv(vec![bin.clone(), "serve".into(), p.to_string(), BIG.to_string()]);
    let t = Instant::now();
    fwd.spawn_task(serve(fport)).await?;
    let reach = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", fport)) {
            let mut b = [0u8; 1];
            if s.read(&mut b).is_ok_and(|n| n == 1) {
                break t.elapsed();
            }
        }
        if t.elapsed() > Duration::from_secs(10) {
            break t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    publ.spawn_task(serve(pport)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    row(
        "forwarded port reachable from the host after the server inside starts",
        format!("{:.0} ms", reach.as_secs_f64() * 1000.0),
        "-".into(),
        "-".into(),
        "<= 300 ms",
        reach <= Duration::from_millis(300),
    );
    let (mut ours, mut base) = (vec![], vec![]);
    for _ in 0..rounds {
        let (bytes, secs) = tokio::task::spawn_blocking(move || download(fport)).await?;
        ours.push(bytes as f64 / secs / 1048576.0);
        let (bytes, secs) = tokio::task::spawn_blocking(move || download(pport)).await?;
        base.push(bytes as f64 / secs / 1048576.0);
    }
    let (o, b) = (median(ours), median(base));
    row(
        "1 GiB download from the host through a forwarded port",
        format!("{o:.0} MiB/s"),
        format!("published port of a bridge session: {b:.0} MiB/s"),
        format!("{:.2}x", o / b),
        ">= 500 MiB/s",
        o >= 500.0,
    );
    fwd.stop().await?;
    publ.stop().await?;
    Ok(())
}

fn free() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
