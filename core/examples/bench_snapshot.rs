//! `scripts/bench-snapshot`: snapshots and starts from them, beside baselines from the
//! same run.
//!
//! - a snapshot of a session whose working dir holds DATA in files and whose container
//!   wrote CHANGES outside it; baseline: doing the same by hand (`cp -a` of the working
//!   dir and `podman commit --pause=false` of the container);
//! - how long the session's processes were frozen for it (baseline: the whole copy and
//!   commit, as a snapshot by hand would freeze them);
//! - starting children from a snapshot (the copy of its working dir and the container),
//!   p50 of 4, with a small working dir and with the big one (the ratio shows whether a
//!   child's start depends on the size; an overlay copy where there are no reflinks);
//!   baseline: a plain start;
//! - as root also on an xfs with reflinks on a loop device (the reflink path).
//!
//! Full run: 1 GiB in 10,000 files plus 200 MiB of container changes; `--quick`: 10 MiB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_core::{Config, ExecOptions, Sandbox, Session, SessionSpec};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn row(metric: &str, ours: String, base: String, ratio: String, target: &str, met: Option<bool>) {
    let met = match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    println!("| {metric} | {ours} | {base} | {ratio} | {target} | {met} |");
}

fn ratio(a: Duration, b: Duration) -> String {
    let r = a.as_secs_f64() / b.as_secs_f64();
    if r < 0.1 { format!("{r:.4}x") } else { format!("{r:.2}x") }
}

/// Fills `dir` with `bytes` in `files` files of pseudo-random data.
fn fill(dir: &Path, bytes: u64, files: u64) -> std::io::Result<()> {
    let per = (bytes / files) as usize;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        let sub = dir.join(format!("d{}", i / 100));
        std::fs::create_dir_all(&sub)?;
        let data: Vec<u8> = (0..per)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(sub.join(format!("f{i}")), data)?;
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// A session on `work` whose container wrote `changes` bytes outside the working dir.
async fn session_with_changes(sb: &Sandbox, id: &str, work: &Path, changes: u64) -> sandbox_core::Result<Session> {
    let s = sb.start(SessionSpec::new(id, work)).await?;
    let script = format!("head -c {changes} /dev/urandom > /var/tmp/changes.bin");
    let out = s.exec(&["sh", "-c", &script], ExecOptions::new().timeout(Duration::from_secs(600))).await?;
    assert!(out.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(s)
}

struct Figures {
    snapshot: Vec<Duration>,
    frozen: Vec<Duration>,
    by_hand: Vec<Duration>,
    copy: &'static str,
}

/// Snapshots of `s` (`rounds`), and the same by hand, alternating.
async fn snapshots(sb: &Sandbox, s: &Session, rounds: usize, scratch: &Path) -> Result<Figures, String> {
    let host = sb.info().await.map_err(|e| e.to_string())?;
    let mut f = Figures { snapshot: Vec::new(), frozen: Vec::new(), by_hand: Vec::new(), copy: "?" };
    for i in 0..rounds {
        let name = format!("bench-{i}");
        let t = Instant::now();
        let r = sb.snapshot(s, &name).await.map_err(|e| e.to_string())?;
        f.snapshot.push(t.elapsed());
        f.frozen.push(Duration::from_micros(r.frozen_us));
        f.copy = r.info.copy.name();
        sb.remove_snapshot(&name).await.map_err(|e| e.to_string())?;

        let dest = scratch.join(format!("by-hand-{i}"));
        let tag = format!("localhost/bench-snapshot-by-hand:{}-{i}", std::process::id());
        let t = Instant::now();
        let mut cp = if host.rootless {
            let mut c = Command::new(&host.podman);
            c.args(["unshare", "cp"]);
            c
        } else {
            Command::new("cp")
        };
        run(cp.arg("-a").arg(s.working_dir()).arg(&dest))?;
        run(Command::new(&host.podman).args(["commit", "-q", "--pause=false", s.container(), &tag]))?;
        f.by_hand.push(t.elapsed());
        let _ = Command::new(&host.podman).args(["rmi", "-f", &tag]).output();
        if host.rootless {
            let _ = Command::new(&host.podman).args(["unshare", "rm", "-rf"]).arg(&dest).output();
        }
        let _ = std::fs::remove_dir_all(&dest);
    }
    Ok(f)
}

/// Starts of 4 children from a snapshot of `s` (each timed), then a plain start; the
/// children's copy method.
async fn child_starts(
    sb: &Sandbox,
    s: &Session,
    kids: &Path,
    tag: &str,
) -> Result<(Vec<Duration>, Duration, &'static str), String> {
    let name = format!("bench-fork-{tag}");
    sb.snapshot(s, &name).await.map_err(|e| e.to_string())?;
    let mut starts = Vec::new();
    let mut children = Vec::new();
    let mut method = "?";
    for i in 0..4 {
        let id = format!("bench-kid-{tag}-{i}-{}", std::process::id());
        let spec = SessionSpec { snapshot: Some(name.clone()), ..SessionSpec::new(&id, kids.join(&id)) };
        let t = Instant::now();
        let child = sb.start(spec).await.map_err(|e| e.to_string())?;
        starts.push(t.elapsed());
        method = child.start_report().and_then(|r| r.snapshot.as_ref()).map_or("?", |f| f.copy.name());
        children.push(child);
    }
    let plain_dir = kids.join(format!("plain-{tag}"));
    std::fs::create_dir(&plain_dir).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let plain = sb
        .start(SessionSpec::new(format!("bench-plain-{tag}-{}", std::process::id()), &plain_dir))
        .await
        .map_err(|e| e.to_string())?;
    let plain_start = t.elapsed();
    plain.stop().await.map_err(|e| e.to_string())?;
    for c in children {
        c.stop().await.map_err(|e| e.to_string())?;
        sb.remove_copy(c.working_dir()).await.map_err(|e| e.to_string())?;
    }
    sb.remove_snapshot(&name).await.map_err(|e| e.to_string())?;
    Ok((starts, plain_start, method))
}

/// An xfs with reflinks on a loop device (root only), removed on drop.
struct Xfs {
    mount: PathBuf,
    image: PathBuf,
}

impl Xfs {
    fn new(size_mib: u64) -> Result<Xfs, String> {
        let base = std::env::temp_dir().join(format!("bench-xfs-{}", std::process::id()));
        let (mount, image) = (base.with_extension("mnt"), base.with_extension("img"));
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        run(Command::new("truncate").arg("-s").arg(format!("{size_mib}M")).arg(&image))?;
        run(Command::new("mkfs.xfs").args(["-q", "-m", "reflink=1"]).arg(&image))?;
        run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&mount))?;
        Ok(Xfs { mount, image })
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).output();
        let _ = std::fs::remove_dir(&self.mount);
        let _ = std::fs::remove_file(&self.image);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let mib = 1u64 << 20;
    let (big, files, changes, rounds) =
        if quick { (10 * mib, 100, 2 * mib, 1) } else { (1024 * mib, 10_000, 200 * mib, 3) };
    let small = if quick { mib } else { 10 * mib };
    let root = tempfile::Builder::new().prefix("bench-snapshot").tempdir_in("/var/tmp")?;
    let mut config = Config::load()?;
    config.provision = false;
    config.scope = format!("bench-snapshot-{}", std::process::id());
    config.snapshot_dir = Some(root.path().join("snapshots"));
    let sb = Sandbox::new(config.clone());
    let host = sb.info().await?;
    let pid = std::process::id();
    let (work_big, work_small, kids) = (root.path().join("big"), root.path().join("small"), root.path().join("kids"));
    for d in [&work_big, &work_small, &kids] {
        std::fs::create_dir_all(d)?;
    }
    fill(&work_big, big, files)?;
    fill(&work_small, small, (files / 100).max(10))?;

    let s_big = session_with_changes(&sb, &format!("bench-snap-big-{pid}"), &work_big, changes).await?;
    let s_small = session_with_changes(&sb, &format!("bench-snap-small-{pid}"), &work_small, changes).await?;
    let figures = snapshots(&sb, &s_big, rounds, root.path()).await?;
    let (mut kids_big, plain_big, method) = child_starts(&sb, &s_big, &kids, "big").await?;
    let (mut kids_small, _, _) = child_starts(&sb, &s_small, &kids, "small").await?;
    s_big.stop().await?;
    s_small.stop().await?;

    // The reflink path, as root: the same on an xfs with reflinks.
    let reflink = if host.rootless {
        Err("rootless: no loop device to make an xfs on (the test suite covers it with one scripts/test makes)".into())
    } else {
        match Xfs::new(big / mib * 3 + 600) {
            Ok(xfs) => {
                let work = xfs.mount.join("work");
                std::fs::create_dir_all(&work)?;
                fill(&work, big, files)?;
                let mut c = config.clone();
                c.snapshot_dir = Some(xfs.mount.join("snapshots"));
                let sbx = Sandbox::new(c);
                let s = session_with_changes(&sbx, &format!("bench-snap-xfs-{pid}"), &work, changes).await?;
                let f = snapshots(&sbx, &s, rounds, &xfs.mount).await;
                let kids_xfs = xfs.mount.join("kids");
                std::fs::create_dir_all(&kids_xfs)?;
                let k = child_starts(&sbx, &s, &kids_xfs, "xfs").await;
                s.stop().await?;
                match (f, k) {
                    (Ok(f), Ok(k)) => Ok((f, k)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            Err(e) => Err(format!("no xfs: {e}")),
        }
    };

    let mode = if host.rootless { "rootless" } else { "rootful" };
    println!(
        "snapshots, {mode}, podman {}: working dir {} MiB in {files} files, {} MiB of container changes, {rounds} round(s); /var/tmp on {}",
        host.version,
        big / mib,
        changes / mib,
        fs_type(root.path())
    );
    println!("| metric | sandbox | baseline (same run) | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    let print_snapshots = |label: &str, mut f: Figures, target_ratio: Option<f64>| {
        let (ours, theirs) = (pct(&mut f.snapshot, 0.5), pct(&mut f.by_hand, 0.5));
        let r = ours.as_secs_f64() / theirs.as_secs_f64();
        row(
            &format!("snapshot ({label}, {}), p50", f.copy),
            secs(ours),
            format!("cp -a + podman commit: {}", secs(theirs)),
            ratio(ours, theirs),
            &target_ratio.map_or("<= 0.5 s".into(), |t| format!("<= {t}x")),
            Some(target_ratio.map_or(ours <= Duration::from_millis(500), |t| r <= t)),
        );
        let frozen = pct(&mut f.frozen, 0.5);
        // Baseline: frozen for the whole copy and commit, as by hand.
        row(
            &format!("processes frozen during it ({label}), p50"),
            secs(frozen),
            format!("frozen for cp -a + commit: {}", secs(theirs)),
            ratio(frozen, theirs),
            "<= 100 ms",
            Some(frozen <= Duration::from_millis(100)),
        );
    };
    print_snapshots(&fs_type(root.path()), figures, Some(1.2));
    let (b50, s50) = (pct(&mut kids_big, 0.5), pct(&mut kids_small, 0.5));
    row(
        &format!("child start from a snapshot ({method}), p50 of 4, {} MiB (vs {} MiB)", big / mib, small / mib),
        format!("{} ({})", secs(b50), secs(s50)),
        format!("plain start: {}", secs(plain_big)),
        format!("{} of plain; big/small {}", ratio(b50, plain_big), ratio(b50, s50)),
        "<= 0.5 s, independent of size",
        Some(b50 <= Duration::from_millis(500)),
    );
    match reflink {
        Ok((f, (mut k, plain, _))) => {
            print_snapshots("xfs", f, None);
            let k50 = pct(&mut k, 0.5);
            row(
                &format!("child start from a snapshot (xfs, reflink), p50 of 4, {} MiB", big / mib),
                secs(k50),
                format!("plain start: {}", secs(plain)),
                ratio(k50, plain),
                "<= 0.5 s",
                Some(k50 <= Duration::from_millis(500)),
            );
        }
        Err(why) => row("reflink path (xfs)", "-".into(), why, "-".into(), "-", None),
    }
    if host.rootless {
        let _ = Command::new(&host.podman).args(["unshare", "rm", "-rf"]).arg(root.path()).output();
    }
    Ok(())
}

fn fs_type(p: &Path) -> String {
    Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "-T"])
        .arg(p)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
