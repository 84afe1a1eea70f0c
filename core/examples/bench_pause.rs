//! `scripts/bench-pause`: pausing and resuming a session, beside its baseline from the
//! same run.
//!
//! - pause and resume round trips (the call returning with every process stopped, or
//!   continued) of a session running 2 busy loops and 20 sleeping processes, alternating;
//! - baseline: `podman pause` and `podman unpause` (the cgroup freezer) of a plain
//!   container running the same processes, where podman can (not rootless on cgroup v1,
//!   which has no freezer for it: the row says so).

use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_core::{Config, DEFAULT_IMAGE, HostInfo, Sandbox, SessionSpec, TaskSpec};

const LOAD: &str = "for i in $(seq 20); do sleep 1000 & done; while :; do :; done & while :; do :; done";

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn row(metric: &str, ours: String, base: String, ratio: String, target: &str, met: bool) {
    println!("| {metric} | {ours} | {base} | {ratio} | {target} | {} |", if met { "yes" } else { "NO" });
}

/// `podman pause` / `unpause` round trips of a plain container with the same load, or why
/// there are none.
fn podman_baseline(host: &HostInfo, n: usize) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    if !host.container_has_own_cgroup() {
        return Err("podman cannot pause rootless on cgroup v1".into());
    }
    let name = format!("bench-pause-bare-{}", std::process::id());
    let mut args = vec!["run", "-d", "--name", &name, "--pull=never"];
    if let Some(rt) = &host.runtime_override {
        args.extend(["--runtime", rt.as_str()]);
    }
    let ul = host.ulimits.map(|u| [format!("nofile={0}:{0}", u.nofile), format!("nproc={0}:{0}", u.nproc)]);
    if let Some(ul) = &ul {
        args.extend(["--ulimit", ul[0].as_str(), "--ulimit", ul[1].as_str()]);
    }
    args.extend([DEFAULT_IMAGE, "sh", "-c", LOAD]);
    let podman = |a: &[&str]| Command::new(&host.podman).args(a).output().map_err(|e| e.to_string());
    let out = podman(&args)?;
    if !out.status.success() {
        return Err(format!("podman run: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let (mut pauses, mut resumes) = (Vec::new(), Vec::new());
    let mut failed = None;
    for _ in 0..n {
        for (verb, into) in [("pause", &mut pauses), ("unpause", &mut resumes)] {
            let t = Instant::now();
            let out = podman(&[verb, &name])?;
            into.push(t.elapsed());
            if !out.status.success() {
                failed = Some(format!("podman {verb}: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        if failed.is_some() {
            break;
        }
    }
    let _ = podman(&["rm", "-f", "-t", "0", &name]);
    failed.map_or(Ok((pauses, resumes)), Err)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, n_podman) = if quick { (5, 2) } else { (200, 30) };
    let mut config = Config::load()?;
    config.provision = false;
    config.scope = format!("bench-pause-{}", std::process::id());
    let sandbox = Sandbox::new(config);
    let host = sandbox.info().await?;
    let dir = tempfile::tempdir()?;
    let s = sandbox.start(SessionSpec::new(format!("bench-pause-{}", std::process::id()), dir.path())).await?;
    s.spawn_task(TaskSpec::shell(LOAD)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut pauses, mut resumes, mut inside) = (Vec::new(), Vec::new(), Vec::new());
    let mut processes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let p = s.pause().await?;
        pauses.push(t.elapsed());
        inside.push(Duration::from_micros(p.took_us));
        processes = p.processes;
        let t = Instant::now();
        s.resume().await?;
        resumes.push(t.elapsed());
    }
    s.stop().await?;
    let base = podman_baseline(&host, n_podman);

    let mode = if host.rootless { "rootless" } else { "rootful" };
    println!("pause and resume, {mode}, podman {}, {n} rounds, {processes} processes stopped each time", host.version);
    println!("| metric | sandbox | baseline (same run) | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    let target = Duration::from_millis(50);
    for (what, ours, theirs) in [
        ("pause", &mut pauses, base.as_ref().ok().map(|b| b.0.clone())),
        ("resume", &mut resumes, base.as_ref().ok().map(|b| b.1.clone())),
    ] {
        let (p50, p99) = (pct(ours, 0.5), pct(ours, 0.99));
        let (base_text, ratio) = match (theirs, &base) {
            (Some(mut b), _) => {
                let b50 = pct(&mut b, 0.5);
                (
                    format!("podman {}: {}", if what == "pause" { "pause" } else { "unpause" }, ms(b50)),
                    format!("{:.2}x", p50.as_secs_f64() / b50.as_secs_f64()),
                )
            }
            (None, Err(why)) => (why.clone(), "-".into()),
            (None, Ok(_)) => ("-".into(), "-".into()),
        };
        row(
            &format!("{what} round trip, p50 (p99) of {n}"),
            format!("{} ({})", ms(p50), ms(p99)),
            base_text,
            ratio,
            "<= 50 ms",
            p50 <= target,
        );
    }
    let (i50, i99) = (pct(&mut inside, 0.5), pct(&mut inside, 0.99));
    row(
        "stopping every process, inside the agent, p50 (p99)",
        format!("{} ({})", ms(i50), ms(i99)),
        "-".into(),
        "-".into(),
        "-",
        true,
    );
    Ok(())
}
