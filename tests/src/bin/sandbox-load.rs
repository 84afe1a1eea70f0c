//! The full load test (the CI test runs smaller numbers):
//! `cargo run --release -p sandbox-e2e --bin sandbox-load -- [--sessions 50] [--execs 200] [--tasks 5]`
//! Prints the figures and exits non-zero on any error, mismatch or leftover.

use sandbox_core::Sandbox;
use sandbox_e2e::load::{LoadParams, run_load};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
            .unwrap_or(default)
    };
    let params = LoadParams {
        sessions: arg("--sessions", 50),
        execs: arg("--execs", 200),
        tasks: arg("--tasks", 5),
        concurrency: arg("--concurrency", 4),
        exec_bytes: arg("--exec-bytes", 4096),
        task_bytes: arg("--task-bytes", 256 * 1024),
    };
    let scope = sandbox_e2e::unique_id("load");
    let sandbox = Sandbox::new(sandbox_e2e::test_config(&scope));
    let dir = tempfile::tempdir().expect("tempdir");
    let host = sandbox.info().await.expect("engine probe");
    let agents_before = agent_pids();
    let r = run_load(&sandbox, dir.path(), params).await;
    let left = sandbox.list().await.expect("list").len();
    // Agents of this run's sessions: `.sandbox-agent` processes that were not there
    // before the run and whose working directory is this run's (where the agent lets us
    // read it; it is non-dumpable), so sessions of other runs or users do not count.
    let ours = std::fs::canonicalize(dir.path()).expect("working dir");
    let agents = agent_pids()
        .into_iter()
        .filter(|p| !agents_before.contains(p))
        .filter(|p| std::fs::read_link(format!("/proc/{p}/cwd")).map_or(true, |cwd| cwd.starts_with(&ours)))
        .count();
    println!(
        "load ({}, podman {}): {} sessions, {} execs and {} tasks, all outputs checked by SHA-256",
        if host.rootless { "rootless" } else { "rootful" },
        host.version,
        r.sessions,
        r.execs,
        r.tasks
    );
    println!(
        "| sessions | execs | tasks | execs/s | exec p50 | exec p99 | start all | stop all | peak RSS | fds before/after | mismatches | errors | sessions/control dirs/agents left |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} s | {:.1} s | {} MiB | {}/{} | {} | {} | {}/{}/{} |",
        r.sessions,
        r.execs,
        r.tasks,
        r.execs_per_sec,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.start_all.as_secs_f64(),
        r.stop_all.as_secs_f64(),
        r.peak_rss >> 20,
        r.fds.0,
        r.fds.1,
        r.mismatches,
        r.errors.len(),
        left,
        r.control_dirs_left,
        agents
    );
    for e in r.errors.iter().take(10) {
        eprintln!("error: {e}");
    }
    if !r.errors.is_empty()
        || r.mismatches > 0
        || left > 0
        || r.control_dirs_left > 0
        || agents > 0
        || r.fds.1 > r.fds.0 + 2
    {
        std::process::exit(1);
    }
}

/// Pids of the `.sandbox-agent` processes on this machine.
fn agent_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let pid = e.file_name().to_str()?.parse().ok()?;
                let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
                (comm.trim() == ".sandbox-agent").then_some(pid)
            })
            .collect()
        })
        .unwrap_or_default()
}
