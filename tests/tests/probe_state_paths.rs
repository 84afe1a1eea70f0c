//! Probe family `state_paths`: a working dir that is, contains, sits inside, or is a
//! symlink to a state dir of sandbox or of podman must be refused before anything is
//! created. Mounted into a session, such a dir would hand its code other sessions'
//! agent sockets and spools, the agent binary every session runs, the configuration of
//! later sessions, or the engine's storage and API socket. The state paths are worked
//! out here independently of sandbox-core (from the environment, the configuration and
//! `podman info`), so a path the library forgets shows as a started session, an escape.
//! Ordinary project dirs must still start.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sandbox_core::{Config, ErrorKind, ExecOptions, Sandbox};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, rootless, run, unique_id};

/// One state dir of the host, with who owns it.
struct StatePath {
    /// Short name for the probe column.
    key: String,
    /// What it is, for the table.
    name: String,
    path: PathBuf,
    /// Ours (sandbox's): the probe may create a subdirectory in it.
    ours: bool,
}

/// How the probed working dir relates to the state dir.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Relation {
    Equal,
    Parent,
    Child,
    Symlink,
}

impl Relation {
    const ALL: [Relation; 4] = [Relation::Equal, Relation::Parent, Relation::Child, Relation::Symlink];

    fn key(self) -> &'static str {
        match self {
            Relation::Equal => "is",
            Relation::Parent => "parent",
            Relation::Child => "child",
            Relation::Symlink => "symlink",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Relation::Equal => "is",
            Relation::Parent => "contains",
            Relation::Child => "is inside",
            Relation::Symlink => "is a symlink to",
        }
    }
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> PathBuf {
    env_path("HOME").expect("HOME is set")
}

/// `podman info --format json`, read by the test itself.
fn podman_info(config: &Config) -> serde_json::Value {
    let out = Command::new(&config.podman).args(["info", "--format", "json"]).output().expect("podman info");
    assert!(out.status.success(), "podman info: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("podman info json")
}

/// Every state dir this host has, worked out from the documented rules.
fn state_paths(config: &Config, info: &serde_json::Value) -> Vec<StatePath> {
    let uid = rustix::process::getuid().as_raw();
    let mut v: Vec<StatePath> = Vec::new();
    let mut add = |key: &str, name: &str, path: PathBuf, ours: bool| match v.iter_mut().find(|p| p.path == path) {
        Some(p) => p.name = format!("{} = {name}", p.name),
        None => v.push(StatePath { key: key.to_string(), name: name.to_string(), path, ours }),
    };
    let control_base = config.runtime_dir.clone().or_else(|| env_path("XDG_RUNTIME_DIR").map(|x| x.join("sandbox")));
    let control_base = control_base.unwrap_or_else(|| {
        if uid == 0 { PathBuf::from("/run/sandbox") } else { std::env::temp_dir().join(format!("sandbox-{uid}")) }
    });
    add("control_base", "control-dir base", control_base, true);
    let cache = config.cache_dir.clone().unwrap_or_else(|| {
        if uid == 0 {
            PathBuf::from("/var/cache/sandbox")
        } else {
            env_path("XDG_CACHE_HOME").map(|x| x.join("sandbox")).unwrap_or_else(|| home().join(".cache/sandbox"))
        }
    });
    add("agent_cache", "agent cache dir", cache, true);
    let config_dir = match env_path("SANDBOX_CONFIG") {
        Some(file) => file.parent().expect("config file's dir").to_path_buf(),
        None => {
            env_path("XDG_CONFIG_HOME").map(|x| x.join("sandbox")).unwrap_or_else(|| home().join(".config/sandbox"))
        }
    };
    add("config_dir", "config dir", config_dir, true);
    // Root's dirs are refused for every user (a rootless session must not reach them
    // either, even where it could read them).
    add("root_control_base", "root's control-dir base", PathBuf::from("/run/sandbox"), uid == 0);
    add("root_agent_cache", "root's agent cache dir", PathBuf::from("/var/cache/sandbox"), uid == 0);
    for (key, name, ptr) in [
        ("graphroot", "podman graphRoot", "/store/graphRoot"),
        ("runroot", "podman runRoot", "/store/runRoot"),
        ("volumepath", "podman volumePath", "/store/volumePath"),
    ] {
        let p = info.pointer(ptr).and_then(|x| x.as_str()).unwrap_or_else(|| panic!("podman info has no {ptr}"));
        add(key, name, PathBuf::from(p), false);
    }
    let sock = info.pointer("/host/remoteSocket/path").and_then(|x| x.as_str()).expect("podman info: remoteSocket");
    let sock = sock.strip_prefix("unix://").unwrap_or(sock);
    add("api_socket_dir", "podman API socket dir", Path::new(sock).parent().expect("socket dir").to_path_buf(), false);
    add("config_containers", "~/.config/containers", home().join(".config/containers"), false);
    if let Some(x) = env_path("XDG_CONFIG_HOME") {
        add("xdg_config_containers", "$XDG_CONFIG_HOME/containers", x.join("containers"), false);
    }
    add("share_containers", "~/.local/share/containers", home().join(".local/share/containers"), false);
    if let Some(x) = env_path("XDG_RUNTIME_DIR") {
        add("xdg_runtime_dir", "$XDG_RUNTIME_DIR", x, false);
    }
    add("run_user", "/run/user", PathBuf::from("/run/user"), false);
    if uid == 0 {
        // Root starts sessions in dirs other users own (the container's root is the
        // owner), so those users' own sandbox and podman state must be refused too: a
        // session in another user's ~/.config could plant ~/.config/containers (a
        // runtime or hook podman runs on the host as that user) or ~/.config/sandbox
        // (the policy of their sessions); one in their podman storage could rewrite
        // their containers' files.
        for (user, home) in other_users() {
            for (key, rel) in PER_USER {
                add(&format!("{user}_{key}"), &format!("{user}'s ~/{rel}"), home.join(rel), false);
            }
        }
    }
    v
}

/// Per-user state dirs, relative to the home dir: (probe key, path).
const PER_USER: [(&str, &str); 4] = [
    ("agent_cache", ".cache/sandbox"),
    ("config_dir", ".config/sandbox"),
    ("config_containers", ".config/containers"),
    ("share_containers", ".local/share/containers"),
];

/// Login users other than root who have used sandbox or podman (one of their
/// [`PER_USER`] dirs exists): (name, home).
fn other_users() -> Vec<(String, PathBuf)> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid: u32 = f.get(2)?.parse().ok()?;
            let home = PathBuf::from(f.get(5)?);
            let used = PER_USER.iter().any(|(_, rel)| home.join(rel).exists());
            ((1000..65534).contains(&uid) && home != Path::new("/") && used)
                .then(|| (f[0].replace(|c: char| !c.is_ascii_alphanumeric(), "_"), home))
        })
        .collect()
}

/// An existing subdirectory of a dir that is not ours (never created by the probe).
fn existing_subdir(dir: &Path) -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    let preferred = ["overlay", "vfs", "containers", "sandbox", uid.as_str()];
    preferred
        .iter()
        .find_map(|name| subdirs.iter().find(|p| p.file_name().is_some_and(|f| f == *name)).cloned())
        .or_else(|| subdirs.into_iter().next())
}

/// What one start attempt produced.
struct Attempt {
    /// The error, if the start failed.
    error: Option<(ErrorKind, String)>,
    /// Containers of the probe's scope that exist after the attempt.
    leftovers: Vec<String>,
    /// Whether a control dir for the attempt's session id exists.
    control_made: bool,
}

impl Attempt {
    fn nothing_made(&self) -> bool {
        self.leftovers.is_empty() && !self.control_made
    }
    fn summary(&self) -> String {
        let made = if self.nothing_made() {
            "no container, no control dir".to_string()
        } else {
            format!("CREATED: containers {:?}, control dir {}", self.leftovers, self.control_made)
        };
        match &self.error {
            None => format!("the session STARTED there (the probe stopped it again); {made}"),
            Some((kind, msg)) => {
                let guard = if msg.contains("keep their state") {
                    "state-dir check"
                } else if msg.contains("system directory") {
                    "system-dir check"
                } else if msg.contains("does not exist") || msg.contains("cannot be read") {
                    "missing/unreadable"
                } else {
                    "other"
                };
                format!("{kind:?} ({guard}); {made}")
            }
        }
    }
}

/// Starts a session in `dir` with the refusing scope, and records what it left.
async fn attempt(t: &TestScope, control_base: &Path, dir: &Path) -> Attempt {
    let id = unique_id("statepath");
    let result = t.sandbox.start(sandbox_core::SessionSpec::new(id.clone(), dir)).await;
    let error = match result {
        Ok(s) => {
            let _ = s.stop().await;
            None
        }
        Err(e) => Some((e.kind(), e.to_string())),
    };
    let leftovers = t.leftovers();
    let control_made = control_base.join(&id).exists();
    Attempt { error, leftovers, control_made }
}

/// Removes, on drop, what the probe created: its own subdirs of our state dirs, the
/// config dir if the probe made it, symlinks, and a podman volume.
#[derive(Default)]
struct Cleanup {
    dirs: Vec<PathBuf>,
    made_config_dir: Option<PathBuf>,
    volume: Option<(PathBuf, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some(d) = &self.made_config_dir {
            // Only if still empty: never remove a configuration someone else wrote.
            let _ = std::fs::remove_dir(d);
        }
        if let Some((podman, name)) = &self.volume {
            let _ = Command::new(podman).args(["volume", "rm", "--force", name]).output();
        }
    }
}

/// Starts a session in an ordinary project dir and proves it runs commands there.
async fn allowed(sandbox: &Sandbox, dir: &Path, tag: &str) -> Result<sandbox_core::Session, String> {
    let s = sandbox.start(sandbox_core::SessionSpec::new(unique_id(tag), dir)).await.map_err(|e| e.to_string())?;
    let o = s
        .exec(&["sh", "-c", "pwd && touch ./probe-ok"], ExecOptions::new().timeout(Duration::from_secs(20)))
        .await
        .map_err(|e| e.to_string())?;
    let real = std::fs::canonicalize(dir).unwrap();
    if !o.success() || o.stdout_lossy().trim() != real.to_str().unwrap() || !dir.join("probe-ok").exists() {
        return Err(format!("the session did not work in {}: {o:?}", dir.display()));
    }
    Ok(s)
}

#[test]
fn state_dirs_are_refused_as_working_dirs() {
    // `live` holds sessions that must start; `t` only ever sees refused starts, so its
    // left-over list must stay empty.
    let live = TestScope::new("statepaths-live");
    let t = TestScope::new("statepaths");
    let mut cleanup = Cleanup::default();
    run(Duration::from_secs(240), async {
        let mut rows = ProbeTable::new("state_paths");
        let mode = if rootless() { "rootless" } else { "rootful" };
        let config = t.sandbox.config().clone();

        // Ordinary project dirs start fine (this also creates our control base and agent
        // cache, so "is" and "is inside" below are meaningful).
        let s = allowed(&live.sandbox, live.dir.path(), "statepaths-tmp").await;
        rows.row(
            "allowed_tmp",
            format!("start in a fresh tempdir {}", live.dir.path().display()),
            if s.is_ok() { Outcome::Contained } else { Outcome::Escaped },
            match &s {
                Ok(_) => "allowed: not a state dir; the session runs commands there".to_string(),
                Err(e) => format!("an ordinary dir was REFUSED (the check is too broad): {e}"),
            },
        );
        let live_session = s.expect("an ordinary tempdir must start");
        let live_control = live_session.control_dir().to_path_buf();

        let home_project = tempfile::Builder::new().prefix("sbx-probe-project-").tempdir_in(home()).unwrap();
        let s = allowed(&live.sandbox, home_project.path(), "statepaths-home").await;
        rows.row(
            "allowed_home",
            format!(
                "start in a project dir in $HOME ({}), next to ~/.config and ~/.cache",
                home_project.path().display()
            ),
            if s.is_ok() { Outcome::Contained } else { Outcome::Escaped },
            match &s {
                Ok(_) => "allowed: not a state dir".to_string(),
                Err(e) => format!("an ordinary dir was REFUSED: {e}"),
            },
        );
        if let Ok(s) = s {
            s.stop().await.unwrap();
        }

        let info = podman_info(&config);
        let paths = state_paths(&config, &info);
        let control_base = paths[0].path.clone();
        let config_dir = paths.iter().find(|p| p.name.contains("config dir")).unwrap().path.clone();
        if !config_dir.exists() {
            std::fs::create_dir_all(&config_dir).unwrap();
            cleanup.made_config_dir = Some(config_dir.clone());
        }
        // A name that merely starts like a state dir's is a different dir.
        let sibling = PathBuf::from(format!("{}-probe-{}", config_dir.display(), std::process::id()));
        std::fs::create_dir(&sibling).unwrap();
        cleanup.dirs.push(sibling.clone());
        let s = allowed(&live.sandbox, &sibling, "statepaths-sibling").await;
        rows.row(
            "allowed_sibling",
            format!("start in {}, whose name only starts with the config dir's", sibling.display()),
            if s.is_ok() { Outcome::Contained } else { Outcome::Escaped },
            match &s {
                Ok(_) => "allowed: paths are compared by component, not by string prefix".to_string(),
                Err(e) => format!("an ordinary dir was REFUSED: {e}"),
            },
        );
        if let Ok(s) = s {
            s.stop().await.unwrap();
        }

        // A podman volume, made the ordinary way, so volumePath exists and has a subdir.
        let volume = unique_id("sbx-probe-vol");
        let made = Command::new(&config.podman).args(["volume", "create", &volume]).output().unwrap();
        assert!(made.status.success(), "podman volume create: {}", String::from_utf8_lossy(&made.stderr));
        cleanup.volume = Some((config.podman.clone(), volume.clone()));
        let volume_data = Path::new(info.pointer("/store/volumePath").and_then(|x| x.as_str()).expect("volumePath"))
            .join(&volume)
            .join("_data");

        let links = tempfile::tempdir().unwrap();
        let mut planned = 3;
        for (i, p) in paths.iter().enumerate() {
            let canon = std::fs::canonicalize(&p.path).unwrap_or_else(|_| p.path.clone());
            let exists = p.path.is_dir();
            for rel in Relation::ALL {
                planned += 1;
                // The dir to start in, and why a missing one cannot be tried.
                let (dir, missing): (PathBuf, Option<String>) = match rel {
                    Relation::Equal => (p.path.clone(), (!exists).then(|| "it does not exist on this host".into())),
                    Relation::Parent => {
                        let parent = canon.parent().expect("not /").to_path_buf();
                        let gone = !parent.is_dir();
                        (parent, gone.then(|| "neither it nor its parent exists on this host".into()))
                    }
                    Relation::Child => {
                        let child = if p.path == control_base {
                            // The live session's own control dir: what the reviewer reached.
                            Some(live_control.join("shared"))
                        } else if p.path.ends_with("volumes") && volume_data.starts_with(&p.path) {
                            Some(volume_data.clone())
                        } else if p.ours && exists {
                            let d = p.path.join(format!("probe-child-{}", std::process::id()));
                            std::fs::create_dir_all(&d).unwrap();
                            cleanup.dirs.push(d.clone());
                            Some(d)
                        } else if exists {
                            existing_subdir(&p.path)
                        } else {
                            None
                        };
                        match child {
                            Some(c) if c.is_dir() => (c, None),
                            _ => (
                                p.path.join("probe-missing"),
                                Some(if exists {
                                    "it has no subdir this user can open, and it is not ours to create one in".into()
                                } else {
                                    "it does not exist on this host".into()
                                }),
                            ),
                        }
                    }
                    Relation::Symlink => {
                        let link = links.path().join(format!("link-{i}"));
                        std::os::unix::fs::symlink(&p.path, &link).unwrap();
                        (link, (!exists).then(|| "it does not exist on this host (a dangling link)".into()))
                    }
                };
                let a = attempt(&t, &control_base, &dir).await;
                let tried = format!("working dir {} ({} {} {})", dir.display(), rel.word(), p.name, p.path.display());
                let probe = format!("{}_{}", p.key, rel.key());
                let outcome = match (&a.error, &missing) {
                    (Some((ErrorKind::InvalidInput, _)), Some(_)) if a.nothing_made() => Outcome::Contained,
                    (Some((ErrorKind::InvalidInput, msg)), None) if a.nothing_made() => {
                        let canon_dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
                        let names_state = msg.contains(canon.to_str().unwrap());
                        // A parent may be refused for another state dir it also
                        // contains, or as a system dir, before this one is looked at.
                        let parent_refused = rel == Relation::Parent
                            && (msg.contains("keep their state") || msg.contains("system directory"))
                            && msg.contains(canon_dir.to_str().unwrap());
                        if names_state || parent_refused { Outcome::Refused } else { Outcome::Escaped }
                    }
                    _ => Outcome::Escaped,
                };
                let detail = match &missing {
                    Some(why) => format!("cannot be a working dir: {why}; start refused: {}", a.summary()),
                    None => match &a.error {
                        Some((_, msg)) => format!("{}; message: {msg}", a.summary()),
                        None => a.summary(),
                    },
                };
                rows.row(probe, tried, outcome, detail);
            }
        }
        // A home dir holds all of its user's state (and their shell start-up files).
        let mut homes = vec![("own".to_string(), home())];
        if !rootless() {
            homes.extend(other_users());
        }
        for (user, dir) in homes {
            planned += 1;
            let a = attempt(&t, &control_base, &dir).await;
            let canon = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            let refused = matches!(&a.error, Some((ErrorKind::InvalidInput, msg)) if msg.contains(canon.to_str().unwrap()))
                && a.nothing_made();
            rows.row(
                format!("{user}_home"),
                format!(
                    "working dir {} ({}, containing sandbox's and podman's per-user state dirs)",
                    dir.display(),
                    if user == "own" {
                        "the home of the user running sandbox".to_string()
                    } else {
                        format!("{user}'s home")
                    }
                ),
                if refused { Outcome::Refused } else { Outcome::Escaped },
                match &a.error {
                    Some((_, msg)) => format!("{}; message: {msg}", a.summary()),
                    None => a.summary(),
                },
            );
        }
        if env_path("XDG_RUNTIME_DIR").is_none() {
            planned += 1;
            rows.row(
                "xdg_runtime_dir",
                "$XDG_RUNTIME_DIR as working dir",
                Outcome::Contained,
                format!("not set in this {mode} process: there is no such dir to refuse; /run/user is probed above"),
            );
        }
        live_session.stop().await.unwrap();
        assert!(t.leftovers().is_empty(), "a refused start left containers: {:?}", t.leftovers());
        assert!(paths.len() >= 9, "too few state paths found: {}", paths.len());
        rows.finish(planned);
    });
    drop(cleanup);
    assert!(live.leftovers().is_empty(), "{:?}", live.leftovers());
}
