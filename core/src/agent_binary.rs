//! The agent binary embedded at build time, written once to a content-addressed cache
//! file that session containers mount read-only.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Error, Result};

static AGENT: &[u8] = include_bytes!(env!("SANDBOX_AGENT_PATH"));

/// SHA-256 of the embedded agent (hex).
pub const AGENT_SHA256: &str = env!("SANDBOX_AGENT_SHA256");

/// Paths already verified by this process.
static VERIFIED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The directory the agent is cached in.
pub fn cache_dir(config: &Config, uid: u32) -> PathBuf {
    let xdg = ("XDG_CACHE_HOME", "sandbox");
    crate::config::user_dir(
        config.cache_dir.as_ref(),
        uid,
        "/var/cache/sandbox",
        xdg,
        ".cache/sandbox",
        "sandbox-cache",
    )
}

/// Makes sure `<dir>/agent-<hash>` holds the embedded agent and returns its path. An
/// existing file is checked against the hash once per process; a wrong one is replaced.
pub fn install(dir: &Path, uid: u32) -> Result<PathBuf> {
    let path = dir.join(format!("sandbox-agent-{}", &AGENT_SHA256[..16]));
    if VERIFIED.lock().unwrap_or_else(|p| p.into_inner()).contains(&path) {
        return Ok(path);
    }
    crate::control_dir::ensure_private_dir(dir, uid)?;
    let good = match std::fs::read(&path) {
        Ok(bytes) => hex(&Sha256::digest(&bytes)) == AGENT_SHA256,
        Err(_) => false,
    };
    if !good {
        let action = || format!("writing the agent binary to {}", path.display());
        let mut tmp = tempfile_in(dir).map_err(|e| Error::io(action(), e))?;
        tmp.1.write_all(AGENT).map_err(|e| Error::io(action(), e))?;
        tmp.1.set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(action(), e))?;
        tmp.1.sync_all().map_err(|e| Error::io(action(), e))?;
        std::fs::rename(&tmp.0, &path).map_err(|e| Error::io(action(), e))?;
    }
    VERIFIED.lock().unwrap_or_else(|p| p.into_inner()).push(path.clone());
    Ok(path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    for n in 0..100u32 {
        let p = dir.join(format!(".agent-{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_agent_is_a_static_elf_matching_its_hash() {
        assert_eq!(&AGENT[..4], b"\x7fELF");
        assert_eq!(hex(&Sha256::digest(AGENT)), AGENT_SHA256);
    }

    #[test]
    fn install_writes_once_and_repairs_a_corrupt_copy() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("cache");
        let uid = rustix::process::getuid().as_raw();
        let p = install(&dir, uid).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), AGENT);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o755);
        // Corrupt it; a fresh process (simulated by clearing the memo) repairs it.
        std::fs::write(&p, b"junk").unwrap();
        VERIFIED.lock().unwrap().clear();
        let p2 = install(&dir, uid).unwrap();
        assert_eq!(p, p2);
        assert_eq!(std::fs::read(&p2).unwrap(), AGENT);
    }
}
