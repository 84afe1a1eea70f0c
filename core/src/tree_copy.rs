//! Copies and removals of whole trees (working dirs, snapshot trees): reflinks where the
//! filesystem has them, else plain copies; rootless in podman's user namespace, where every
//! file a session made is readable and removable.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a working dir was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyMethod {
    /// Reflinks (`FICLONE`): the copy shares the data blocks until either side writes.
    Reflink,
    /// An overlay: the snapshot's tree is the read-only lower layer, the copy's changes
    /// go to an upper layer in the snapshot dir (no data copied).
    Overlay,
    /// A plain copy of every byte: the filesystem has no reflinks, or the two sides are
    /// on different filesystems.
    Copy,
}

impl CopyMethod {
    /// The method's name as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            CopyMethod::Reflink => "reflink",
            CopyMethod::Overlay => "overlay",
            CopyMethod::Copy => "copy",
        }
    }
}

/// Whether `FICLONE` works from files in `from`'s filesystem to files in `to`'s: they
/// must be one filesystem, and it must have reflinks (tried on two scratch files in
/// `to`, which must be a directory this process can write).
pub fn reflinks_between(from: &Path, to: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(from), std::fs::metadata(to)) else { return false };
    if a.dev() != b.dev() {
        return false;
    }
    let probe = |suffix: &str| to.join(format!(".reflink-probe-{}-{suffix}", std::process::id()));
    let (src, dst) = (probe("a"), probe("b"));
    let works = (|| -> std::io::Result<bool> {
        std::fs::write(&src, b"probe")?;
        let s = std::fs::File::open(&src)?;
        let d = std::fs::File::create(&dst)?;
        Ok(rustix::fs::ioctl_ficlone(&d, &s).is_ok())
    })()
    .unwrap_or(false);
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);
    works
}

/// `program` run on the trees of sessions: rootless in podman's user namespace (`podman
/// unshare`), where every file a session made is readable and removable.
fn tree_command(program: &str, rootless: bool, podman: &Path) -> tokio::process::Command {
    if rootless {
        let mut c = tokio::process::Command::new(podman);
        c.args(["unshare", program]);
        c
    } else {
        tokio::process::Command::new(program)
    }
}

/// Copies the tree `from` into the new directory `to` (which must not exist; its parent
/// must), with reflinks where [`reflinks_between`] says they work. On failure nothing of
/// `to` is left. `rootless`: run the copy in podman's user namespace through `podman`.
pub(crate) async fn copy_tree(from: &Path, to: &Path, rootless: bool, podman: &Path) -> Result<CopyMethod> {
    let parent = to.parent().ok_or_else(|| Error::invalid("copy target", format!("{} has no parent", to.display())))?;
    let method = if reflinks_between(from, parent) { CopyMethod::Reflink } else { CopyMethod::Copy };
    std::fs::create_dir(to).map_err(|e| Error::io(format!("making {}", to.display()), e))?;
    let reflink = if method == CopyMethod::Reflink { "--reflink=always" } else { "--reflink=never" };
    let mut cmd = tree_command("cp", rootless, podman);
    cmd.args(["-a", "--no-target-directory", reflink, "--"]).arg(from.join(".")).arg(to);
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true).current_dir("/");
    let out = cmd.output().await.map_err(|e| Error::io("running cp", e));
    let failed = match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            // An I/O error with cp's words; a full disk keeps its errno (ENOSPC).
            let words = String::from_utf8_lossy(&o.stderr).trim().to_string();
            let source = if words.contains("No space left on device") {
                std::io::Error::new(std::io::ErrorKind::StorageFull, words)
            } else {
                std::io::Error::other(words)
            };
            Some(Error::io(format!("copying {} to {} (cp -a)", from.display(), to.display()), source))
        }
        Err(e) => Some(e),
    };
    match failed {
        None => Ok(method),
        Some(e) => {
            remove_tree(to, rootless, podman).await;
            Err(e)
        }
    }
}

/// Removes the tree at `path`, best effort (rootless: in podman's user namespace, where
/// every file the sessions made is removable).
pub(crate) async fn remove_tree(path: &Path, rootless: bool, podman: &Path) {
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    let mut cmd = tree_command("rm", rootless, podman);
    let _ = cmd.args(["-rf", "--"]).arg(path).current_dir("/").stdin(std::process::Stdio::null()).output().await;
}
