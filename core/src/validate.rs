//! Checks on caller input, done before anything touches the engine, so bad input gives a
//! typed [`Error::InvalidInput`] and leaves nothing behind.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Longest accepted session id (container names and socket paths stay short).
pub const MAX_SESSION_ID_LEN: usize = 64;

/// A session id: 1 to 64 characters of `[A-Za-z0-9_.-]`, starting with a letter or
/// digit, without `..`. It becomes part of a container name and of a directory path.
pub fn session_id(id: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid("session id", format!("{id:?}: {reason}")));
    if id.is_empty() {
        return bad("is empty");
    }
    if id.len() > MAX_SESSION_ID_LEN {
        return bad(&format!("is longer than {MAX_SESSION_ID_LEN} characters"));
    }
    if !id.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return bad(&format!("contains {c:?}; only letters, digits, '_', '.' and '-' are allowed"));
    }
    if id.contains("..") {
        return bad("contains \"..\"");
    }
    Ok(())
}

/// An image reference as passed to podman: non-empty, no whitespace or control
/// characters, and not starting with `-` (it would be read as an option).
pub fn image(image: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid("image", format!("{image:?}: {reason}")));
    if image.is_empty() {
        return bad("is empty");
    }
    if image.starts_with('-') {
        return bad("starts with '-'");
    }
    if image.len() > 512 {
        return bad("is longer than 512 characters");
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or control characters");
    }
    Ok(())
}

/// The container name prefix: like a session id but may be empty-free and short.
pub fn container_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() || prefix.len() > 32 {
        return Err(Error::invalid("container prefix", format!("{prefix:?} must be 1 to 32 characters")));
    }
    if !prefix.as_bytes()[0].is_ascii_alphanumeric()
        || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(Error::invalid(
            "container prefix",
            format!("{prefix:?} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"),
        ));
    }
    Ok(())
}

/// Directories that must never be mounted over the same path in the container: it
/// would replace the container's own system files (or expose the host's).
const SYSTEM_DIRS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys",
    "/tmp", "/usr", "/var",
];
/// Trees no working dir may be in: kernel interfaces, devices, boot files, host
/// configuration, and runtime state (every user's runtime dir, the engine's sockets and
/// our control dirs live under `/run`).
const SYSTEM_TREES: &[&str] = &["/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/var/lib/containers"];

/// Resolves the working dir to the absolute, symlink-free path that will be mounted.
/// It must exist, be a directory, be valid UTF-8 without control characters, and not be
/// a system directory.
pub fn working_dir(dir: &Path) -> Result<PathBuf> {
    let shown = dir.display().to_string();
    let bad = |reason: String| Err(Error::invalid("working dir", format!("{shown:?}: {reason}")));
    if dir.as_os_str().is_empty() {
        return bad("is empty".into());
    }
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return bad("does not exist".into()),
        Err(e) => return bad(format!("cannot be read: {e}")),
    };
    if !meta.is_dir() {
        return bad("is not a directory".into());
    }
    let real = std::fs::canonicalize(dir).or_else(|e| bad(format!("cannot be resolved: {e}")))?;
    let Some(s) = real.to_str() else {
        return bad("is not valid UTF-8".into());
    };
    if s.chars().any(char::is_control) {
        return bad("contains control characters".into());
    }
    if SYSTEM_DIRS.contains(&s) || SYSTEM_TREES.iter().any(|t| s.starts_with(&format!("{t}/"))) {
        return bad(format!("{s} is a system directory; use a project directory"));
    }
    Ok(real)
}

/// Refuses a working dir (canonical) that is, contains or sits inside one of `dirs`: the
/// state of this library (control dirs, the agent cache, the configuration) and of the
/// engine (storage, runtime dir, API socket). Mounted into a session, any of them would
/// hand its code other sessions' sockets and spools, the agent binary every session
/// runs, the policy of later sessions, or the engine itself.
pub fn outside_state_dirs(working_dir: &Path, dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        let d = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        let relation = if working_dir == d {
            "is"
        } else if d.starts_with(working_dir) {
            "contains"
        } else if working_dir.starts_with(&d) {
            "is inside"
        } else {
            continue;
        };
        return Err(Error::invalid(
            "working dir",
            format!(
                "{} {relation} {}, where sandbox or podman keep their state; a session there could reach other sessions or the engine: use a project directory",
                working_dir.display(),
                d.display()
            ),
        ));
    }
    Ok(())
}

/// A protected path: relative to the working dir, no `..`, no empty or odd components.
pub fn protected_path(p: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::invalid("protected path", format!("{p:?}: {reason}")));
    if p.is_empty() || p.starts_with('/') {
        return bad("must be a relative path inside the working dir");
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return bad("must not contain empty, '.' or '..' components");
    }
    if p.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    Ok(())
}

/// Host ports to publish: 1..=65535, no duplicates, and not below the unprivileged
/// port start when podman runs rootless.
pub fn ports(ports: &[u16], rootless: bool, unprivileged_port_start: u16) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for &p in ports {
        if p == 0 {
            return Err(Error::invalid("port", "0 is not a port; use 1 to 65535"));
        }
        if !seen.insert(p) {
            return Err(Error::invalid("port", format!("{p} is listed twice")));
        }
        if rootless && p < unprivileged_port_start {
            return Err(Error::invalid(
                "port",
                format!(
                    "{p} is below {unprivileged_port_start} (net.ipv4.ip_unprivileged_port_start): rootless podman cannot bind it; use a higher port"
                ),
            ));
        }
    }
    Ok(())
}

/// Converts a port given as a wider integer (from C, Python or nu) with a clear error.
pub fn port_from_i64(p: i64) -> Result<u16> {
    if (1..=65535).contains(&p) {
        Ok(p as u16)
    } else {
        Err(Error::invalid("port", format!("{p} is out of range; use 1 to 65535")))
    }
}

/// Environment variables: non-empty names without `=` or NUL, values without NUL (the
/// check the agent applies too).
pub fn env(env: &[(String, String)]) -> Result<()> {
    Ok(sandbox_proto::validate::environment(env)?)
}

/// A command line: at least the program, no NUL bytes anywhere (the check the agent
/// applies too).
pub fn argv<S: AsRef<str>>(argv: &[S]) -> Result<()> {
    Ok(sandbox_proto::validate::command(argv)?)
}

/// A terminal size: rows and columns from 1 to
/// [`MAX_TERMINAL_DIMENSION`](crate::MAX_TERMINAL_DIMENSION) (the check the agent
/// applies too).
pub fn terminal_size(rows: u16, cols: u16) -> Result<()> {
    Ok(sandbox_proto::validate::terminal_size(rows, cols)?)
}

/// A task id: 1 to 64 letters, digits and '-' (the check the agent applies too).
pub fn task_id(id: &str) -> Result<()> {
    Ok(sandbox_proto::validate::held_id(sandbox_proto::validate::HeldKind::Task, id)?)
}

/// A terminal id: 1 to 64 letters, digits and '-' (the check the agent applies too).
pub fn terminal_id(id: &str) -> Result<()> {
    Ok(sandbox_proto::validate::held_id(sandbox_proto::validate::HeldKind::Terminal, id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        for ok in ["a", "s1", "my-session_2.x", &"x".repeat(64)] {
            session_id(ok).unwrap();
        }
        for bad in ["", &"x".repeat(65), "a/b", "a b", "..", "a..b", "-rf", ".hidden", "é", "a\nb"] {
            assert_eq!(session_id(bad).unwrap_err().kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn images() {
        image("localhost/sandbox-busybox:latest").unwrap();
        image("docker.io/library/alpine@sha256:abc").unwrap();
        for bad in ["", "-v", "a b", "a\nb"] {
            assert!(image(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn working_dirs() {
        let t = tempfile::tempdir().unwrap();
        let real = working_dir(t.path()).unwrap();
        assert!(real.is_absolute());
        let file = t.path().join("f");
        std::fs::write(&file, "x").unwrap();
        for bad in [
            t.path().join("missing"),
            file,
            PathBuf::from(""),
            PathBuf::from("/"),
            PathBuf::from("/etc"),
            PathBuf::from("/etc/ssh"),
            PathBuf::from("/proc/self"),
            PathBuf::from("/run/user"),
            PathBuf::from("/var/run"),
        ] {
            assert_eq!(working_dir(&bad).unwrap_err().kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        let odd = t.path().join("a:b,c");
        std::fs::create_dir(&odd).unwrap();
        assert!(working_dir(&odd).is_ok(), "':' and ',' are handled by quoting, not refused");
        let ctl = t.path().join("a\nb");
        std::fs::create_dir(&ctl).unwrap();
        assert!(working_dir(&ctl).is_err());
    }

    /// Every state dir x {equal, parent, child, symlink to it} is refused; siblings and
    /// prefixes that are not path parents are not.
    #[test]
    fn state_dirs_and_their_parents_and_children_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let state = root.join("home/.cache/sandbox");
        let missing = root.join("run/sandbox");
        std::fs::create_dir_all(state.join("agents")).unwrap();
        std::os::unix::fs::symlink(&state, root.join("link")).unwrap();
        std::fs::create_dir_all(root.join("home/.cache/sandbox-other")).unwrap();
        std::fs::create_dir_all(root.join("home/project")).unwrap();
        let dirs = vec![state.clone(), missing.clone()];
        for bad in [
            state.clone(),
            state.join("agents"),
            root.join("home/.cache"),
            root.join("home"),
            root.clone(),
            missing.clone(),
        ] {
            let e = outside_state_dirs(&bad, &dirs).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        let via_link = working_dir(&root.join("link")).unwrap();
        assert!(outside_state_dirs(&via_link, &dirs).is_err(), "a symlink to a state dir resolves to it");
        for good in [root.join("home/project"), root.join("home/.cache/sandbox-other")] {
            outside_state_dirs(&good, &dirs).unwrap();
        }
    }

    #[test]
    fn port_rules() {
        ports(&[3000, 5173], false, 1024).unwrap();
        ports(&[80], false, 1024).unwrap();
        assert!(ports(&[0], false, 1024).is_err());
        assert!(ports(&[3000, 3000], false, 1024).is_err());
        assert!(ports(&[80], true, 1024).is_err());
        ports(&[80], true, 0).unwrap();
        assert_eq!(port_from_i64(65535).unwrap(), 65535);
        assert!(port_from_i64(65536).is_err());
        assert!(port_from_i64(0).is_err());
        assert!(port_from_i64(-1).is_err());
    }

    #[test]
    fn argv_and_env() {
        argv(&["true"]).unwrap();
        assert!(argv::<&str>(&[]).is_err());
        assert!(argv(&[""]).is_err());
        assert!(argv(&["echo", "a\0b"]).is_err());
        env(&[("A".into(), "1".into())]).unwrap();
        assert!(env(&[("".into(), "1".into())]).is_err());
        assert!(env(&[("A=B".into(), "1".into())]).is_err());
        assert!(env(&[("A".into(), "\0".into())]).is_err());
    }
}
