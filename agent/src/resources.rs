//! Resource samples and limit warnings: CPU time, memory (now, peak, limit), pids and
//! disk writes of the session, from its cgroup (v2, or v1's per-controller files) where
//! the container can read it, else summed over `/proc`. Where the container has no
//! cgroup of its own (rootless podman on cgroup v1), what it sees under `/sys/fs/cgroup`
//! is the host's: the host says so (`--resources proc`) and the agent reads `/proc` only,
//! so a sample never reports (or leaks) the machine's figures as the session's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sandbox_proto::events::{EventAction, EventKind, ResourceSample, SessionEvent};

use crate::journal::journal;

const V2: &str = "/sys/fs/cgroup";

/// Whether the cgroup the container sees is not its own (set once at start).
static NOT_OURS: AtomicBool = AtomicBool::new(false);

/// From now on, figures come from `/proc` only, and OOM kills and limit hits are not
/// known: the cgroup files the container sees belong to the host.
pub fn ignore_cgroup() {
    NOT_OURS.store(true, Ordering::Relaxed);
}

fn cgroup_is_ours() -> bool {
    !NOT_OURS.load(Ordering::Relaxed)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn number(path: &str) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file (`key value` lines).
fn keyed(path: &str, key: &str) -> Option<u64> {
    read(path)?.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// How many processes the OOM killer has killed in this container's memory cgroup
/// (cgroup v1 `memory.oom_control`, or v2 `memory.events`); 0 when unknown.
pub fn oom_kills() -> u64 {
    if !cgroup_is_ours() {
        return 0;
    }
    keyed("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill")
        .or_else(|| keyed("/sys/fs/cgroup/memory.events", "oom_kill"))
        .unwrap_or(0)
}

/// The session's resources now.
pub fn sample() -> ResourceSample {
    if !cgroup_is_ours() {
        return from_proc();
    }
    from_cgroup_v2().or_else(from_cgroup_v1).unwrap_or_else(from_proc)
}

fn from_cgroup_v2() -> Option<ResourceSample> {
    let cpu_usec = keyed(&format!("{V2}/cpu.stat"), "usage_usec")?;
    let memory_bytes = number(&format!("{V2}/memory.current"))?;
    let written = read(&format!("{V2}/io.stat"))
        .map(|t| t.split_whitespace().filter_map(|f| f.strip_prefix("wbytes=")?.parse::<u64>().ok()).sum::<u64>());
    Some(ResourceSample {
        cpu_usec,
        memory_bytes,
        memory_peak_bytes: number(&format!("{V2}/memory.peak")),
        memory_limit_bytes: number(&format!("{V2}/memory.max")),
        pids: number(&format!("{V2}/pids.current")).unwrap_or_else(count_tasks),
        disk_written_bytes: written,
        source: "cgroup".into(),
    })
}

fn from_cgroup_v1() -> Option<ResourceSample> {
    let cpu_usec = number("/sys/fs/cgroup/cpuacct/cpuacct.usage")? / 1000;
    let memory_bytes = number("/sys/fs/cgroup/memory/memory.usage_in_bytes")?;
    // v1 reports "no limit" as a huge page-rounded number.
    let limit = number("/sys/fs/cgroup/memory/memory.limit_in_bytes").filter(|l| *l < (1 << 62));
    let written = read("/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes").map(|t| {
        t.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[1] == "Write").then(|| f[2].parse::<u64>().ok()).flatten()
            })
            .sum::<u64>()
    });
    Some(ResourceSample {
        cpu_usec,
        memory_bytes,
        memory_peak_bytes: number("/sys/fs/cgroup/memory/memory.max_usage_in_bytes"),
        memory_limit_bytes: limit,
        pids: number("/sys/fs/cgroup/pids/pids.current").unwrap_or_else(count_tasks),
        disk_written_bytes: written,
        source: "cgroup".into(),
    })
}

/// (CPU ticks, threads, resident pages) of one `/proc/<pid>/stat` line. The CPU ticks
/// include those of the process's children that ended and were waited for (the agent
/// waits for every command it runs, init for the orphans), so a command that has ended
/// still counts.
fn stat_figures(stat: &str) -> Option<(u64, u64, u64)> {
    use crate::procfs::field;
    let f = crate::procfs::stat_fields(stat)?;
    // utime is field 14, stime 15, cutime 16, cstime 17, num_threads 20, rss 24.
    Some((field(&f, 14) + field(&f, 15) + field(&f, 16) + field(&f, 17), field(&f, 20), field(&f, 24)))
}

/// Threads of every process visible in `/proc`.
fn count_tasks() -> u64 {
    crate::procfs::pids().map(|p| std::fs::read_dir(format!("/proc/{p}/task")).map_or(1, |d| d.count() as u64)).sum()
}

fn from_proc() -> ResourceSample {
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let page = rustix::param::page_size() as u64;
    let (mut cpu_ticks, mut rss, mut threads, mut written) = (0u64, 0u64, 0u64, None::<u64>);
    for pid in crate::procfs::pids() {
        let Some(stat) = read(&format!("/proc/{pid}/stat")) else { continue };
        let Some((ticks_used, n_threads, pages)) = stat_figures(&stat) else { continue };
        cpu_ticks += ticks_used;
        threads += n_threads.max(1);
        rss += pages * page;
        if let Some(w) = keyed(&format!("/proc/{pid}/io"), "write_bytes:") {
            *written.get_or_insert(0) += w;
        }
    }
    ResourceSample {
        cpu_usec: cpu_ticks * 1_000_000 / ticks,
        memory_bytes: rss,
        memory_peak_bytes: None,
        memory_limit_bytes: None,
        pids: threads,
        disk_written_bytes: written,
        source: "proc".into(),
    }
}

/// Counters of limits being hit: (what, count), for the warnings.
fn limit_counters() -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    if !cgroup_is_ours() {
        return out;
    }
    let mut add = |what, v: Option<u64>| {
        if let Some(v) = v {
            out.push((what, v));
        }
    };
    add("memory.max (allocations failed or reclaimed at the limit)", keyed(&format!("{V2}/memory.events"), "max"));
    add("oom_kill (processes killed for memory)", Some(oom_kills()));
    add("pids.max (forks refused)", keyed(&format!("{V2}/pids.events"), "max"));
    add("memory.failcnt (allocations failed at the limit)", number("/sys/fs/cgroup/memory/memory.failcnt"));
    out
}

/// Records a sample every `interval` (none when `None`) and a `limit` event when a
/// limit counter grows (checked every second), until the agent ends.
pub async fn run(interval: Option<Duration>) {
    let mut last = limit_counters();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut next_sample = interval.map(|i| tokio::time::Instant::now() + i);
    loop {
        tokio::select! {
            _ = check.tick() => {
                let now = tokio::task::spawn_blocking(limit_counters).await.unwrap_or_default();
                let mut events = Vec::new();
                for (what, count) in &now {
                    let before = last.iter().find(|(w, _)| w == what).map_or(0, |(_, c)| *c);
                    if *count > before {
                        let reason = format!("{what}: {} more time(s), {count} in all", count - before);
                        events.push(SessionEvent::lifecycle(EventAction::Limit, Some(reason)));
                    }
                }
                last = now;
                journal().push_all(events);
            }
            _ = sleep_until_opt(next_sample) => {
                let s = tokio::task::spawn_blocking(sample).await.unwrap_or_else(|_| from_proc());
                journal().push_all([SessionEvent { sample: Some(s), ..SessionEvent::new(EventKind::Resources, EventAction::Sample) }]);
                next_sample = interval.map(|i| tokio::time::Instant::now() + i);
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_count_this_process() {
        let s = from_proc();
        assert!(s.pids >= 1 && s.memory_bytes > 0, "{s:?}");
        assert_eq!(s.source, "proc");
    }

    #[test]
    fn cpu_time_counts_the_children_that_ended() {
        // pid (comm with ') x' in it) state ppid ... utime=1 stime=2 cutime=30 cstime=40 ...
        let mut line = String::from("7 (a) b) S");
        for n in 4..=52 {
            let v = match n {
                14 => 1,
                15 => 2,
                16 => 30,
                17 => 40,
                20 => 3,
                24 => 5,
                _ => 0,
            };
            line += &format!(" {v}");
        }
        assert_eq!(stat_figures(&line), Some((73, 3, 5)));
        assert_eq!(stat_figures("no parenthesis"), None);
    }

    #[test]
    fn a_sample_has_a_source() {
        let s = sample();
        assert!(s.source == "cgroup" || s.source == "proc");
        assert!(s.memory_bytes > 0);
    }
}
