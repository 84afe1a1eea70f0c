//! What the CLI's test crates share: [`CopyDir`], a copy dir of the test's own.
// Each test crate uses what it needs of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A copy dir (`SANDBOX_COPY_DIR`) of the test's own: `<temp dir>/work`, which does not
/// exist until a managed copy is made there (and goes with the last one). Whatever is
/// left in it when the test ends (passed or not) is removed: rootless, in podman's user
/// namespace, where a session's files can be removed. Make it before the test's
/// `TestScope`, so that it goes after (the scope's Drop unmounts overlay copies).
pub struct CopyDir {
    base: tempfile::TempDir,
    podman: PathBuf,
}

impl CopyDir {
    /// A new one (its dir not made yet).
    pub fn new() -> CopyDir {
        let base = tempfile::Builder::new().prefix("sbx-copies").tempdir().expect("copy dir tempdir");
        let podman = sandbox_core::Config::load().map(|c| c.podman).unwrap_or_else(|_| PathBuf::from("podman"));
        CopyDir { base, podman }
    }

    /// The copy dir.
    pub fn path(&self) -> PathBuf {
        self.base.path().join("work")
    }

    /// The copy dir with symlinks resolved (its parent's, when it is gone).
    pub fn canonical(&self) -> PathBuf {
        std::fs::canonicalize(self.base.path()).expect("canonical copy dir base").join("work")
    }

    /// Whether the copy dir exists.
    pub fn exists(&self) -> bool {
        self.path().symlink_metadata().is_ok()
    }
}

impl Drop for CopyDir {
    fn drop(&mut self) {
        let dir = self.path();
        if std::fs::remove_dir_all(&dir).is_err() && dir.exists() {
            let _ = Command::new(&self.podman).args(["unshare", "rm", "-rf", "--"]).arg(&dir).output();
        }
    }
}
