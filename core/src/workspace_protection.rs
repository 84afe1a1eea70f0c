//! Workspace protection: agent-sensitive paths of the working dir (`.git` by default,
//! and then every submodule's and linked worktree's git entry point the host's git would
//! use) are mounted read-only inside the container.
//!
//! A read-only mount alone is not enough: a command could rename the parent
//! (`mv .git .git-old`), recreate `.git/hooks` and plant a hook that the host's git
//! later runs. So every directory between the working dir and a protected path is also
//! bind-mounted onto itself (read-write): a mount point cannot be renamed or removed,
//! which pins the whole path in place.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::git_index;
use crate::untrusted_dir::UntrustedDir;

/// One extra mount of a path of the working dir onto itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectMount {
    /// Absolute path (the same on the host and in the container).
    pub path: String,
    /// Read-only (a protected path) or read-write (a pinned parent).
    pub read_only: bool,
}

/// What protection will be applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectionPlan {
    /// Mounts in order: parents first.
    pub mounts: Vec<ProtectMount>,
    /// The protected (read-only) paths.
    pub protected: Vec<String>,
    /// Paths that exist but could not be protected, and why.
    pub warnings: Vec<String>,
}

/// Most bytes of a gitfile, `commondir` or worktree `gitdir` file read.
const MAX_POINTER: u64 = 4096;
/// Most bytes of a repository config read (for its object format).
const MAX_CONFIG: u64 = 1 << 20;
/// Most bytes of an index read.
const MAX_INDEX: u64 = 1 << 30;
/// Most gitlinks protected per index.
const MAX_GITLINKS: usize = 10_000;

/// Plans the mounts for `paths` (relative, validated) under `working_dir` (canonical).
/// Paths that do not exist are skipped; paths reached through a symlink are refused with
/// a warning (the link could point anywhere). When `.git` is listed, so is everything
/// else the host's git would enter (see [`repository_paths`]).
pub fn plan(working_dir: &Path, paths: &[String]) -> ProtectionPlan {
    let mut out = ProtectionPlan::default();
    let mut paths = paths.to_vec();
    if paths.iter().any(|p| p == ".git") {
        for p in repository_paths(working_dir, &mut out.warnings) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        if std::fs::symlink_metadata(working_dir.join(".git")).is_err()
            && let Some(repo) = working_dir.ancestors().skip(1).find(|a| a.join(".git").exists())
        {
            out.warnings.push(format!(
                "the working dir is inside the git repository at {}, whose .git is not in the session: a .git the session creates in the working dir would take over git commands you run there",
                repo.display()
            ));
        }
    }
    for rel in &paths {
        let full = working_dir.join(rel);
        if std::fs::symlink_metadata(&full).is_err() {
            continue;
        }
        let mut cur = working_dir.to_path_buf();
        let mut chain = Vec::new();
        let mut through_link = false;
        for comp in rel.split('/') {
            cur = cur.join(comp);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    through_link = true;
                    break;
                }
                Ok(_) => chain.push(cur.clone()),
                Err(_) => {
                    through_link = true;
                    break;
                }
            }
        }
        if through_link {
            out.warnings.push(format!("{rel} is not protected: it is (or goes through) a symlink"));
            continue;
        }
        let Some(Some(path)) = chain.last().map(|p| p.to_str().map(String::from)) else {
            continue;
        };
        for parent in &chain[..chain.len() - 1] {
            if let Some(p) = parent.to_str()
                && !out.mounts.iter().any(|m| m.path == p)
            {
                out.mounts.push(ProtectMount { path: p.to_string(), read_only: false });
            }
        }
        match out.mounts.iter_mut().find(|m| m.path == path) {
            Some(m) => m.read_only = true,
            None => out.mounts.push(ProtectMount { path: path.clone(), read_only: true }),
        }
        out.protected.push(path);
    }
    out.mounts.sort_by_key(|m| m.path.matches('/').count());
    out
}

/// Reads a small file of a git directory as untrusted (no symlink followed, nothing
/// that could block, bounded): a session with protection off may have left anything.
fn read_small(dir: &Path, name: &str, max: u64) -> Option<Vec<u8>> {
    UntrustedDir::open(dir).and_then(|d| d.read(name, max)).ok()
}

/// The `gitdir: <path>` of a gitfile, resolved against `base`.
fn gitfile_target(base: &Path, text: &[u8]) -> Option<PathBuf> {
    let text = std::str::from_utf8(text).ok()?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    (!target.is_empty()).then(|| base.join(target))
}

/// Paths of the working dir, besides `.git`, that the host's git would enter or trust,
/// relative to it: for every gitlink (submodule) in the repository's index — the index
/// is what `git status` goes by, not the session-writable `.gitmodules` — its `.git`, or
/// the gitlink's directory itself while it is unpopulated (created empty when missing,
/// as `git clone` does, so nothing can appear in it); and the `.git` gitfile of every
/// linked worktree inside the working dir, with the gitlinks of its own index.
pub fn repository_paths(working_dir: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let dot_git = working_dir.join(".git");
    let gitdir = match std::fs::symlink_metadata(&dot_git) {
        Ok(m) if m.is_dir() => dot_git,
        Ok(m) if m.is_file() => {
            match read_small(working_dir, ".git", MAX_POINTER).and_then(|t| gitfile_target(working_dir, &t)) {
                Some(d) => d,
                None => return out,
            }
        }
        _ => return out,
    };
    let common = match read_small(&gitdir, "commondir", MAX_POINTER) {
        Some(t) => gitdir.join(String::from_utf8_lossy(&t).trim()),
        None => gitdir.clone(),
    };
    let hash_len = read_small(&common, "config", MAX_CONFIG)
        .map(|c| git_index::hash_len(&String::from_utf8_lossy(&c)))
        .unwrap_or(20);
    let mut indexes = vec![(gitdir.clone(), working_dir.to_path_buf())];
    if let Ok(names) = UntrustedDir::open(&common.join("worktrees")).and_then(|d| d.names()) {
        for name in names {
            let wt_dir = common.join("worktrees").join(&name);
            let Some(wt_git) = read_small(&wt_dir, "gitdir", MAX_POINTER)
                .map(|t| PathBuf::from(String::from_utf8_lossy(&t).trim().to_string()))
            else {
                continue;
            };
            let Ok(rel) = wt_git.strip_prefix(working_dir) else { continue };
            let (Some(rel_str), Some(wt_root)) = (rel.to_str(), wt_git.parent()) else { continue };
            if crate::validate::protected_path(rel_str).is_ok() {
                out.push(rel_str.to_string());
                indexes.push((wt_dir, wt_root.to_path_buf()));
            }
        }
    }
    for (dir, base) in indexes {
        let Some(data) = read_small(&dir, "index", MAX_INDEX) else { continue };
        let links = match git_index::gitlinks(&data, hash_len) {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!(
                    "the submodules of {} are not protected: its index could not be read ({e})",
                    dir.display()
                ));
                continue;
            }
        };
        for link in links.into_iter().take(MAX_GITLINKS) {
            let full = base.join(&link);
            let rel = full.strip_prefix(working_dir).ok().and_then(|r| r.to_str()).map(String::from);
            let Some(rel) = rel.filter(|r| crate::validate::protected_path(r).is_ok()) else {
                warnings.push(format!(
                    "submodule {link:?} is not protected: it is not a plain path inside the working dir"
                ));
                continue;
            };
            match std::fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {
                    if std::fs::symlink_metadata(full.join(".git")).is_ok() {
                        out.push(format!("{rel}/.git"));
                    } else {
                        out.push(rel);
                    }
                }
                Ok(_) => warnings.push(format!("submodule {rel} is not protected: it is not a directory")),
                Err(_) => match create_dir_in(working_dir, &rel) {
                    Ok(()) => out.push(rel),
                    Err(e) => warnings
                        .push(format!("submodule {rel} is not protected: creating its empty directory failed ({e})")),
                },
            }
        }
    }
    out
}

/// Creates `rel` (and missing parents) under `working_dir` without going through a
/// symlink, owned like the directory it is created in.
fn create_dir_in(working_dir: &Path, rel: &str) -> std::io::Result<()> {
    let mut cur = working_dir.to_path_buf();
    for comp in rel.split('/') {
        let parent = cur.clone();
        cur.push(comp);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => return Err(std::io::Error::other(format!("{} is not a directory", cur.display()))),
            Err(_) => {
                std::fs::create_dir(&cur)?;
                let owner = std::fs::metadata(&parent)?;
                std::os::unix::fs::chown(&cur, Some(owner.uid()), Some(owner.gid()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<String> {
        crate::policy::DEFAULT_PROTECTED_PATHS.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn protects_existing_paths_and_pins_their_parents() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(wd.join(".git/hooks")).unwrap();
        std::fs::write(wd.join(".git/config"), "[core]").unwrap();
        let p = plan(&wd, &[".git/hooks".to_string(), ".git/config".to_string()]);
        let w = wd.to_str().unwrap();
        assert_eq!(
            p.mounts,
            vec![
                ProtectMount { path: format!("{w}/.git"), read_only: false },
                ProtectMount { path: format!("{w}/.git/hooks"), read_only: true },
                ProtectMount { path: format!("{w}/.git/config"), read_only: true },
            ]
        );
        assert_eq!(p.protected, vec![format!("{w}/.git/hooks"), format!("{w}/.git/config")]);
        assert!(p.warnings.is_empty());
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .expect("git is needed for this test (scripts/setup installs it)");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Every gitlink of the index (whatever `.gitmodules` says) and every linked worktree
    /// inside the working dir is protected; unpopulated submodule dirs are protected
    /// whole, missing ones created empty first.
    #[test]
    fn every_gitlink_and_inner_worktree_of_the_repository_is_protected() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        git(&wd, &["init", "-q"]);
        std::fs::write(wd.join("f"), "x").unwrap();
        git(&wd, &["add", "f"]);
        git(&wd, &["commit", "-qm", "one"]);
        let oid = "1234567890123456789012345678901234567890";
        for link in ["lib/a", "vendor/b", "lib/uninit", "gone/deep"] {
            git(&wd, &["update-index", "--add", "--cacheinfo", &format!("160000,{oid},{link}")]);
        }
        std::fs::create_dir_all(wd.join("lib/a")).unwrap();
        std::fs::write(wd.join("lib/a/.git"), "gitdir: ../../.git/modules/a\n").unwrap();
        std::fs::create_dir_all(wd.join("vendor/b/.git")).unwrap();
        std::fs::create_dir_all(wd.join("lib/uninit")).unwrap();
        std::fs::write(wd.join(".gitmodules"), "").unwrap();
        git(&wd, &["worktree", "add", "-q", "wt-inside"]);
        let p = plan(&wd, &paths());
        let w = wd.to_str().unwrap();
        let mut got = p.protected.clone();
        got.sort();
        let mut want: Vec<String> =
            [".git", "lib/a/.git", "vendor/b/.git", "lib/uninit", "gone/deep", "wt-inside/.git"]
                .iter()
                .map(|r| format!("{w}/{r}"))
                .collect();
        want.sort();
        assert_eq!(got, want, "warnings: {:?}", p.warnings);
        assert!(wd.join("gone/deep").is_dir(), "the missing submodule dir was created empty");
        for pinned in ["lib", "vendor", "vendor/b", "gone"] {
            assert!(p.mounts.contains(&ProtectMount { path: format!("{w}/{pinned}"), read_only: false }), "{pinned}");
        }
        assert!(p.mounts.contains(&ProtectMount { path: format!("{w}/lib/uninit"), read_only: true }));
    }

    #[test]
    fn a_broken_index_is_a_warning() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(wd.join(".git")).unwrap();
        std::fs::write(wd.join(".git/index"), "DIRC garbage").unwrap();
        let p = plan(&wd, &paths());
        assert_eq!(p.protected, vec![format!("{}/.git", wd.display())]);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("index could not be read"));
    }

    #[test]
    fn a_planted_index_does_not_block_the_start() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(wd.join(".git")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            wd.join(".git/index"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let p = plan(&wd, &paths());
        assert_eq!(p.protected, vec![format!("{}/.git", wd.display())]);
        std::fs::remove_file(wd.join(".git/index")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", wd.join(".git/index")).unwrap();
        assert_eq!(plan(&wd, &paths()).protected.len(), 1);
    }

    #[test]
    fn a_working_dir_inside_a_repository_is_warned_about() {
        let t = tempfile::tempdir().unwrap();
        let repo = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("sub/dir")).unwrap();
        let p = plan(&repo.join("sub/dir"), &paths());
        assert!(p.mounts.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains(&repo.display().to_string()), "{:?}", p.warnings);
    }

    #[test]
    fn absent_paths_are_skipped_and_symlinks_refused() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        assert_eq!(plan(&wd, &paths()), ProtectionPlan::default());
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), wd.join(".git")).unwrap();
        std::fs::create_dir_all(elsewhere.path().join("hooks")).unwrap();
        let p = plan(&wd, &paths());
        assert!(p.mounts.is_empty());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    }

    #[test]
    fn a_protected_parent_stays_read_only() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(wd.join("a/b")).unwrap();
        let p = plan(&wd, &["a/b".to_string(), "a".to_string()]);
        assert_eq!(p.mounts.len(), 2);
        assert!(p.mounts.iter().all(|m| m.read_only), "{:?}", p.mounts);
    }
}
