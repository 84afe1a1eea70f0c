//! [`Isolation`]: gives a test its own sandbox scope, container-name prefix, control-dir
//! base, snapshot dir, copy dir and working dir, and removes everything made in them (containers,
//! control dirs, snapshot images, copies of snapshots, overlay copies unmounted first)
//! when it drops, whether the test passed or panicked.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Everything a test's sessions are confined to.
pub struct Isolation {
    /// The `sandbox.scope` label value of this test's sessions.
    pub scope: String,
    /// Container names start with this, so ids like `demo` cannot clash across tests.
    pub prefix: String,
    /// Control dirs of this test's sessions are made under this private dir.
    pub runtime_dir: tempfile::TempDir,
    /// A working dir to start sessions on.
    pub work_dir: tempfile::TempDir,
    /// An empty config home, so no user config file is read.
    pub config_home: tempfile::TempDir,
    /// The snapshot dir (`SANDBOX_SNAPSHOT_DIR`) of this test's sessions.
    pub snapshot_dir: tempfile::TempDir,
    /// A dir outside the working dir for what a test makes beside it (sessions started
    /// from snapshots, forks' children, merge targets).
    pub scratch_dir: tempfile::TempDir,
    /// Holds the copy dir (`SANDBOX_COPY_DIR`, see [`Isolation::copy_path`]) of this
    /// test's managed copies.
    pub copy_base: tempfile::TempDir,
    extra_scopes: Vec<String>,
}

/// The podman program the tests clean up with.
pub fn podman() -> String {
    std::env::var("SANDBOX_PODMAN").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "podman".into())
}

impl Isolation {
    /// A fresh isolation named after the test.
    pub fn new(tag: &str) -> Isolation {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(30).collect();
        Isolation {
            scope: format!("nu-{tag}-{pid}-{n}"),
            prefix: format!("nu{pid}x{n}-"),
            runtime_dir: tempfile::Builder::new().prefix("sbx-nu-rt").tempdir().expect("runtime tempdir"),
            work_dir: tempfile::Builder::new().prefix("sbx-nu-work").tempdir().expect("work tempdir"),
            config_home: tempfile::Builder::new().prefix("sbx-nu-cfg").tempdir().expect("config tempdir"),
            snapshot_dir: tempfile::Builder::new().prefix("sbx-nu-snap").tempdir().expect("snapshot tempdir"),
            scratch_dir: tempfile::Builder::new().prefix("sbx-nu-scratch").tempdir().expect("scratch tempdir"),
            copy_base: tempfile::Builder::new().prefix("sbx-nu-copies").tempdir().expect("copy tempdir"),
            extra_scopes: Vec::new(),
        }
    }

    /// Another scope a test uses (e.g. set through `$env.config.plugins.sandbox`); it
    /// is cleaned up too.
    pub fn extra_scope(&mut self, suffix: &str) -> String {
        let s = format!("{}-{suffix}", self.scope);
        self.extra_scopes.push(s.clone());
        s
    }

    /// The scratch dir, with symlinks resolved.
    pub fn scratch_path(&self) -> PathBuf {
        std::fs::canonicalize(self.scratch_dir.path()).expect("canonical scratch dir")
    }

    /// The copy dir (`SANDBOX_COPY_DIR`), with symlinks resolved: made by the first
    /// managed copy, removed with the last.
    pub fn copy_path(&self) -> PathBuf {
        std::fs::canonicalize(self.copy_base.path()).expect("canonical copy base").join("work")
    }

    /// The working dir, with symlinks resolved (what sessions report).
    pub fn work_path(&self) -> PathBuf {
        std::fs::canonicalize(self.work_dir.path()).expect("canonical work dir")
    }

    /// Environment that confines sessions to this isolation; `with_scope` false leaves
    /// the scope to the test (e.g. to set it in the plugin configuration).
    pub fn env(&self, with_scope: bool) -> Vec<(String, String)> {
        let mut env = vec![
            ("SANDBOX_CONTAINER_PREFIX".to_string(), self.prefix.clone()),
            ("SANDBOX_RUNTIME_DIR".to_string(), self.runtime_dir.path().display().to_string()),
            ("XDG_CONFIG_HOME".to_string(), self.config_home.path().display().to_string()),
            ("SANDBOX_SNAPSHOT_DIR".to_string(), self.snapshot_dir.path().display().to_string()),
            ("SANDBOX_COPY_DIR".to_string(), self.copy_base.path().join("work").display().to_string()),
            ("PWD".to_string(), self.work_path().display().to_string()),
        ];
        if with_scope {
            env.push(("SANDBOX_SCOPE".to_string(), self.scope.clone()));
        }
        env
    }

    /// Names of containers of this isolation's scopes that still exist.
    pub fn leftovers(&self) -> Vec<String> {
        self.containers().into_iter().map(|(name, _)| name).collect()
    }

    /// Control dirs of this isolation that still exist.
    pub fn control_dirs_left(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime_dir.path())
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// Snapshot images of this isolation's snapshot dir that still exist (their ids).
    pub fn snapshot_images(&self) -> Vec<String> {
        let filter = format!("label=sandbox.snapshot.store={}", self.snapshot_dir.path().display());
        let Ok(o) = Command::new(podman()).args(["images", "--quiet", "--filter", &filter]).output() else {
            return Vec::new();
        };
        let mut ids: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
        ids.dedup();
        ids
    }

    /// What is left in this isolation's snapshot dir (snapshots, partial ones).
    pub fn snapshots_left(&self) -> Vec<String> {
        std::fs::read_dir(self.snapshot_dir.path())
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// The paths of the copies of this isolation's snapshots that are recorded in its
    /// snapshot dir (`<snapshot>/copies/<key>/path`, partial ones too): the working dirs
    /// sessions started from them got.
    pub fn copies_left(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for snapshot in std::fs::read_dir(self.snapshot_dir.path()).into_iter().flatten().flatten() {
            for record in std::fs::read_dir(snapshot.path().join("copies")).into_iter().flatten().flatten() {
                if let Ok(path) = std::fs::read(record.path().join("path")) {
                    paths.push(PathBuf::from(std::ffi::OsStr::from_bytes(&path)));
                }
            }
        }
        paths.sort();
        paths
    }

    /// Unmounts the overlay copies of this isolation's snapshots still mounted, and
    /// removes their mount points (a copy outside the scratch dir, e.g. in the working
    /// dir, would else keep its temp dir from going).
    pub fn unmount_copies(&self) {
        for path in self.copies_left() {
            if mounted_at_or_below(&path).is_empty() {
                continue;
            }
            let _ = if rootless() {
                Command::new("fusermount3").arg("-uz").arg(&path).output()
            } else {
                Command::new("umount").arg("-l").arg(&path).output()
            };
            let _ = std::fs::remove_dir(&path);
        }
    }

    /// Kills every process still running with this isolation's environment.
    pub fn kill_processes(&self) -> usize {
        kill_marked(&format!("SANDBOX_CONTAINER_PREFIX={}", self.prefix), None)
    }

    fn containers(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for scope in std::iter::once(&self.scope).chain(&self.extra_scopes) {
            let Ok(o) = Command::new(podman())
                .args(["ps", "--all", "--filter", &format!("label=sandbox.scope={scope}"), "--format", "json"])
                .output()
            else {
                continue;
            };
            let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
            for c in list.as_array().into_iter().flatten() {
                let name = c["Names"][0].as_str().unwrap_or_default().to_string();
                let control = c["Labels"]["sandbox.control"].as_str().map(String::from);
                if !name.is_empty() {
                    out.push((name, control));
                }
            }
        }
        out
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        self.kill_processes();
        for (name, control) in self.containers() {
            let _ = Command::new(podman()).args(["rm", "--force", "--time", "0", &name]).output();
            if let Some(dir) = control {
                let _ = std::fs::remove_dir_all(Path::new(&dir));
            }
        }
        // Snapshots: their images (containers using them are gone now), then their copies
        // (rootless, some of their files are removable only in podman's user namespace).
        for image in self.snapshot_images() {
            let _ = Command::new(podman()).args(["image", "rm", "--force", &image]).output();
        }
        self.unmount_copies();
        for dir in [self.snapshot_dir.path(), self.scratch_dir.path(), self.copy_base.path()] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if std::fs::remove_dir_all(entry.path()).is_err() {
                    let _ = Command::new(podman()).args(["unshare", "rm", "-rf", "--"]).arg(entry.path()).output();
                }
            }
        }
    }
}

/// Whether these tests run rootless (podman then is too).
pub fn rootless() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    uid != Some("0")
}

/// The mount points of this process's mount namespace at `dir` or below it.
pub fn mounted_at_or_below(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        // id parent major:minor root mount-point ...; spaces in the point are `\040`.
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Kills the processes whose environment holds `marker` (`NAME=value`) and whose program
/// is one of `programs` (any when `None`); returns how many.
pub fn kill_marked(marker: &str, programs: Option<&[PathBuf]>) -> usize {
    let me = std::process::id();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        if let Some(programs) = programs {
            let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
            if !programs.iter().any(|p| std::fs::canonicalize(p).is_ok_and(|p| p == exe)) {
                continue;
            }
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        if env.split(|b| *b == 0).any(|var| var == marker.as_bytes()) {
            let ok = Command::new("kill").args(["-KILL", &pid.to_string()]).status().is_ok_and(|s| s.success());
            killed += usize::from(ok);
        }
    }
    killed
}
