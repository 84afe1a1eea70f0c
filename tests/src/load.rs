//! The load scenario: many sessions at once, each running execs and tasks concurrently,
//! every byte checked, then everything stopped and checked gone. Used by the `load` test
//! (small numbers) and the `sandbox-load` binary (the full numbers).

use std::time::{Duration, Instant};

use sandbox_core::{ExecOptions, Sandbox, SessionSpec, TaskSpec, TaskStream};

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct LoadParams {
    /// Sessions started at once.
    pub sessions: usize,
    /// Execs per session.
    pub execs: usize,
    /// Background tasks per session.
    pub tasks: usize,
    /// Execs in flight per session.
    pub concurrency: usize,
    /// Bytes of random output per exec.
    pub exec_bytes: usize,
    /// Bytes of output per task.
    pub task_bytes: usize,
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Sessions started.
    pub sessions: usize,
    /// Execs run (all checked byte-exact).
    pub execs: usize,
    /// Tasks run (all checked byte-exact).
    pub tasks: usize,
    /// Execs whose output did not match (must be 0).
    pub mismatches: usize,
    /// Calls that returned an error (must be 0).
    pub errors: Vec<String>,
    /// Exec throughput over the exec phase.
    pub execs_per_sec: f64,
    /// Exec latency percentiles.
    pub p50: Duration,
    /// Exec latency percentiles.
    pub p99: Duration,
    /// Time to start all sessions.
    pub start_all: Duration,
    /// Time to stop all sessions.
    pub stop_all: Duration,
    /// Peak resident memory of this process.
    pub peak_rss: u64,
    /// Open file descriptors before and after.
    pub fds: (usize, usize),
    /// Control dirs of the scenario's sessions that still exist after the stop.
    pub control_dirs_left: usize,
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Runs the scenario in `sandbox`'s scope, in `dir`.
pub async fn run_load(sandbox: &Sandbox, dir: &std::path::Path, p: LoadParams) -> LoadReport {
    let fds_before = open_fds();
    let t = Instant::now();
    let mut starts = Vec::new();
    for i in 0..p.sessions {
        let sb = sandbox.clone();
        let spec = SessionSpec::new(crate::unique_id(&format!("load{i}")), dir);
        starts.push(tokio::spawn(async move { sb.start(spec).await }));
    }
    let mut sessions = Vec::new();
    let mut errors = Vec::new();
    for s in starts {
        match s.await.expect("start task") {
            Ok(s) => sessions.push(s),
            Err(e) => errors.push(format!("start: {e}")),
        }
    }
    let start_all = t.elapsed();
    let control_dirs: Vec<std::path::PathBuf> = sessions.iter().map(|s| s.control_dir().to_path_buf()).collect();

    let t = Instant::now();
    let mut work = Vec::new();
    for (si, s) in sessions.iter().enumerate() {
        // Tasks first: they run while the execs do.
        let mut task_ids = Vec::new();
        for ti in 0..p.tasks {
            match s.spawn_task(TaskSpec::shell(format!("yes s{si}-t{ti} | head -c {}", p.task_bytes))).await {
                Ok(t) => task_ids.push((ti, t.id().to_string())),
                Err(e) => errors.push(format!("spawn: {e}")),
            }
        }
        for lane in 0..p.concurrency {
            let s = s.clone();
            let n = (p.execs + p.concurrency - 1 - lane) / p.concurrency;
            let bytes = p.exec_bytes;
            work.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut bad = 0;
                let mut errs = Vec::new();
                for _ in 0..n {
                    let script = format!(
                        "f=/tmp/l$$; head -c {bytes} /dev/urandom > $f; cat $f; sha256sum $f | cut -d' ' -f1 >&2; rm $f"
                    );
                    let t = Instant::now();
                    match s.exec(&["sh", "-c", &script], ExecOptions::new().timeout(Duration::from_secs(120))).await {
                        Ok(o) => {
                            lat.push(t.elapsed());
                            if !o.success()
                                || crate::sha256(&o.stdout) != o.stderr_lossy().trim()
                                || o.stdout.len() != bytes
                            {
                                eprintln!(
                                    "load: exec mismatch: exit {:?} signal {:?} timed_out {} stdout {} bytes (total {}), stderr {:?}",
                                    o.exit_code,
                                    o.signal,
                                    o.timed_out,
                                    o.stdout.len(),
                                    o.stdout_total,
                                    o.stderr_lossy()
                                );
                                bad += 1;
                            }
                        }
                        Err(e) => errs.push(format!("exec: {e}")),
                    }
                }
                (lat, bad, errs)
            }));
        }
        let s = s.clone();
        let task_bytes = p.task_bytes;
        work.push(tokio::spawn(async move {
            let mut bad = 0;
            let mut errs = Vec::new();
            for (ti, id) in task_ids {
                let expected: Vec<u8> =
                    format!("s{si}-t{ti}\n").into_bytes().into_iter().cycle().take(task_bytes).collect();
                if let Err(e) = s.task(&id).wait(Some(Duration::from_secs(300))).await {
                    errs.push(format!("wait: {e}"));
                    continue;
                }
                let mut got = Vec::new();
                let mut off = 0;
                loop {
                    match s.task(&id).read(TaskStream::Stdout, off, 1 << 20, Some(Duration::ZERO)).await {
                        Ok(c) => {
                            got.extend_from_slice(&c.data);
                            off = c.next_offset();
                            if off >= c.end {
                                break;
                            }
                        }
                        Err(e) => {
                            errs.push(format!("task output: {e}"));
                            break;
                        }
                    }
                }
                if got != expected {
                    let same = got.iter().zip(&expected).take_while(|(a, b)| a == b).count();
                    eprintln!(
                        "load: task {id} output mismatch: {} bytes, expected {}, first difference at {same}",
                        got.len(),
                        expected.len()
                    );
                    bad += 1;
                }
            }
            (Vec::new(), bad, errs)
        }));
    }
    let mut lat = Vec::new();
    let mut mismatches = 0;
    for w in work {
        let (l, bad, errs) = w.await.expect("load task");
        lat.extend(l);
        mismatches += bad;
        errors.extend(errs);
    }
    let exec_phase = t.elapsed();
    let execs = lat.len();
    lat.sort();
    let pct = |q: f64| lat.get(((lat.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or_default();

    let t = Instant::now();
    let mut stops = Vec::new();
    for s in sessions.drain(..) {
        stops.push(tokio::spawn(async move { s.stop().await }));
    }
    for s in stops {
        if let Err(e) = s.await.expect("stop task") {
            errors.push(format!("stop: {e}"));
        }
    }
    let stop_all = t.elapsed();
    // Let the connection tasks notice their sockets closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    LoadReport {
        sessions: p.sessions,
        execs,
        tasks: p.sessions * p.tasks,
        mismatches,
        errors,
        execs_per_sec: execs as f64 / exec_phase.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        start_all,
        stop_all,
        peak_rss: crate::peak_rss(),
        fds: (fds_before, open_fds()),
        control_dirs_left: control_dirs.iter().filter(|d| d.symlink_metadata().is_ok()).count(),
    }
}
