//! Workspace protection: agent-sensitive paths of the working dir (`.git` by default,
//! and then the `.git` of every submodule listed in `.gitmodules`) are mounted read-only
//! inside the container.
//!
//! A read-only mount alone is not enough: a command could rename the parent
//! (`mv .git .git-old`), recreate `.git/hooks` and plant a hook that the host's git
//! later runs. So every directory between the working dir and a protected path is also
//! bind-mounted onto itself (read-write): a mount point cannot be renamed or removed,
//! which pins the whole path in place.

use std::path::Path;

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

/// Most submodules read from `.gitmodules`.
const MAX_SUBMODULES: usize = 1000;

/// Plans the mounts for `paths` (relative, validated) under `working_dir` (canonical).
/// Paths that do not exist are skipped; paths reached through a symlink are refused with
/// a warning (the link could point anywhere). When `.git` is listed, so is the `.git`
/// of every submodule in `.gitmodules` (a writable one would let the session choose
/// what the host's `git status` runs when it looks into the submodule).
pub fn plan(working_dir: &Path, paths: &[String]) -> ProtectionPlan {
    let mut out = ProtectionPlan::default();
    let mut paths = paths.to_vec();
    if paths.iter().any(|p| p == ".git") {
        let text = std::fs::read_to_string(working_dir.join(".gitmodules")).unwrap_or_default();
        for sub in submodule_paths(&text) {
            let git = format!("{sub}/.git");
            if crate::validate::protected_path(&git).is_ok() && !paths.contains(&git) {
                paths.push(git);
            } else if crate::validate::protected_path(&git).is_err() {
                out.warnings.push(format!(
                    "submodule path {sub:?} in .gitmodules is not protected: it is not a plain relative path"
                ));
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

/// The `path = ...` values of a `.gitmodules` file.
fn submodule_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() != "path" {
            continue;
        }
        let v = value.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        let v = v.trim_end_matches('/');
        if !v.is_empty() && !out.iter().any(|p| p == v) {
            out.push(v.to_string());
        }
        if out.len() >= MAX_SUBMODULES {
            break;
        }
    }
    out
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

    #[test]
    fn the_whole_repository_and_every_submodule_git_dir_are_protected() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(wd.join(".git/modules/a")).unwrap();
        std::fs::create_dir_all(wd.join("lib/a")).unwrap();
        std::fs::write(wd.join("lib/a/.git"), "gitdir: ../../.git/modules/a\n").unwrap();
        std::fs::create_dir_all(wd.join("vendor/b/.git")).unwrap();
        std::fs::write(
            wd.join(".gitmodules"),
            "[submodule \"a\"]\n\tpath = lib/a\n\turl = x\n[submodule \"b\"]\n\tpath = \"vendor/b\"\n[submodule \"c\"]\n\tpath = ../out\n[submodule \"d\"]\n\tpath = gone\n",
        )
        .unwrap();
        let p = plan(&wd, &paths());
        let w = wd.to_str().unwrap();
        assert_eq!(p.protected, vec![format!("{w}/.git"), format!("{w}/lib/a/.git"), format!("{w}/vendor/b/.git")]);
        for pinned in ["lib", "lib/a", "vendor", "vendor/b"] {
            assert!(p.mounts.contains(&ProtectMount { path: format!("{w}/{pinned}"), read_only: false }), "{pinned}");
        }
        assert_eq!(p.warnings.len(), 1, "the submodule path outside the working dir is named: {:?}", p.warnings);
        assert!(p.warnings[0].contains("../out"));
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
