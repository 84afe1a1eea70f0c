//! Probe family `git`: every place git takes an instruction from (gitrepository-layout(5),
//! git-config(1), gitattributes(5), gitmodules(5), git-worktree(1)) is planted from
//! inside a session, and then the host runs the git commands a user runs (`git status`,
//! `git diff`, `git -C <submodule> status`, `git -C <linked worktree> status`).
//!
//! The working dir holds a real repository made by the host's git: one commit, an
//! absorbed submodule (`lib/a`, its `.git` a gitfile), a non-absorbed one (`nested`, its
//! `.git` a directory), a submodule that is not checked out (`lib/uninit`), a gitlink
//! that `.gitmodules` does not list (`vendored`), and a linked worktree inside the
//! working dir (`wt-inside`). Every planted payload is `core.fsmonitor = touch <canary>`
//! (or a hook or driver that touches it), the canary being a host path the session cannot
//! see. A probe is refused only when the write failed inside, the canary is absent after
//! the host's git commands, and the attacked path is byte-identical on the host.
//!
//! Each probe is also run in a session with protection off, where its write must go
//! through and, when a plain `git status`/`git diff` reads what it wrote, the canary
//! must appear: a probe whose payload is dead proves nothing, and fails the test.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sandbox_core::{ExecOptions, ExecOutput, Session};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, run, sha256};

const T: Duration = Duration::from_secs(480);
const EXEC: Duration = Duration::from_secs(30);

/// What a probe's write does when protection is off.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Live {
    /// The host's `git status`/`git diff` then run the payload.
    Fires,
    /// The write goes through; the payload needs a command that changes the repository
    /// (commit, checkout, fetch, rebase...) or an interactive terminal, which the probe
    /// does not run on the host.
    Writes,
}

/// One planted indirection.
struct Attack {
    name: &'static str,
    /// Where git documents it.
    doc: &'static str,
    /// What the attack plants, in words.
    tried: &'static str,
    /// Preparation in the writable working tree; must succeed in every session.
    setup: &'static str,
    /// The write that plants the indirection.
    attack: &'static str,
    /// The path (relative to the working dir) that must stay byte-identical.
    target: &'static str,
    live: Live,
}

const fn a(
    name: &'static str,
    doc: &'static str,
    tried: &'static str,
    setup: &'static str,
    attack: &'static str,
    target: &'static str,
    live: Live,
) -> Attack {
    Attack { name, doc, tried, setup, attack, target, live }
}

use Live::{Fires, Writes};

/// Scripts run with `W` (the working dir), `C` (the canary), `EV` (an fsmonitor config
/// section touching it) and `mkgit DIR` (a minimal git dir with that config).
const ATTACKS: &[Attack] = &[
    a(
        "hooks",
        "githooks(5); gitrepository-layout(5) hooks/",
        "plant .git/hooks/post-checkout",
        "",
        r#"printf '#!/bin/sh\ntouch %s\n' "$C" > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout"#,
        ".git/hooks",
        Writes,
    ),
    a(
        "hooks_symlink",
        "githooks(5)",
        "symlink .git/hooks/pre-commit to a script in the working tree",
        r#"printf '#!/bin/sh\ntouch %s\n' "$C" > evil-hook && chmod +x evil-hook"#,
        r#"ln -s "$W/evil-hook" .git/hooks/pre-commit"#,
        ".git/hooks",
        Writes,
    ),
    a(
        "hooks_dir_removed",
        "githooks(5)",
        "rm -rf .git/hooks, then recreate it",
        "",
        "rm -rf .git/hooks && mkdir .git/hooks",
        ".git/hooks",
        Writes,
    ),
    a(
        "core.hooksPath",
        "git-config(1) core.hooksPath",
        "core.hooksPath -> hooks dir in the working tree",
        r#"mkdir -p evil-hooks && printf '#!/bin/sh\ntouch %s\n' "$C" > evil-hooks/post-checkout && chmod +x evil-hooks/post-checkout"#,
        r#"printf '[core]\n\thooksPath = %s/evil-hooks\n' "$W" >> .git/config"#,
        ".git/config",
        Writes,
    ),
    a(
        "core.fsmonitor",
        "git-config(1) core.fsmonitor",
        "core.fsmonitor in .git/config",
        "",
        r#"printf "$EV" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "core.pager",
        "git-config(1) core.pager",
        "core.pager in .git/config",
        "",
        r#"printf '[core]\n\tpager = touch %s\n' "$C" >> .git/config"#,
        ".git/config",
        Writes,
    ),
    a(
        "core.editor",
        "git-config(1) core.editor",
        "core.editor in .git/config",
        "",
        r#"printf '[core]\n\teditor = touch %s\n' "$C" >> .git/config"#,
        ".git/config",
        Writes,
    ),
    a(
        "core.sshCommand",
        "git-config(1) core.sshCommand",
        "core.sshCommand in .git/config",
        "",
        r#"printf '[core]\n\tsshCommand = touch %s\n' "$C" >> .git/config"#,
        ".git/config",
        Writes,
    ),
    a(
        "include.path",
        "git-config(1) INCLUDES",
        "include.path -> a config file in the working tree",
        r#"printf "$EV" > evil.cfg"#,
        r#"printf '[include]\n\tpath = %s/evil.cfg\n' "$W" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "includeIf",
        "git-config(1) Conditional includes",
        "includeIf \"gitdir:/\" -> a config file in the working tree",
        r#"printf "$EV" > evil.cfg"#,
        r#"printf '[includeIf "gitdir:/"]\n\tpath = %s/evil.cfg\n' "$W" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "diff.textconv",
        "gitattributes(5) diff; git-config(1) diff.<driver>.textconv",
        "a diff driver's textconv (selected by .gitattributes)",
        r#"echo change >> README && echo '* diff=evil' > .gitattributes"#,
        r#"printf '[diff "evil"]\n\ttextconv = touch %s; cat\n' "$C" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "diff.external",
        "git-config(1) diff.external",
        "diff.external in .git/config",
        "echo change >> README",
        r#"printf '[diff]\n\texternal = touch %s\n' "$C" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "filter.clean",
        "gitattributes(5) filter; git-config(1) filter.<driver>.clean",
        "a clean filter (selected by .gitattributes)",
        r#"echo change >> README && echo '* filter=evil' > .gitattributes"#,
        r#"printf '[filter "evil"]\n\tclean = touch %s; cat\n' "$C" >> .git/config"#,
        ".git/config",
        Fires,
    ),
    a(
        "info/attributes",
        "gitattributes(5) $GIT_DIR/info/attributes",
        "select a clean filter in .git/info/attributes (and define it)",
        "echo change >> README",
        r#"echo '* filter=evil' > .git/info/attributes && printf '[filter "evil"]\n\tclean = touch %s; cat\n' "$C" >> .git/config"#,
        ".git/info",
        Fires,
    ),
    a(
        "commondir",
        "gitrepository-layout(5) commondir",
        "echo <dir with an evil config> > .git/commondir",
        "mkgit evil",
        r#"echo "$W/evil" > .git/commondir"#,
        ".git/commondir",
        Fires,
    ),
    a(
        "config.worktree",
        "git-config(1) extensions.worktreeConfig; gitrepository-layout(5) config.worktree",
        "write .git/config.worktree and turn on extensions.worktreeConfig",
        "",
        r#"printf "$EV" > .git/config.worktree && printf '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tworktreeConfig = true\n' >> .git/config"#,
        ".git",
        Fires,
    ),
    a(
        "worktrees/<name>/commondir",
        "gitrepository-layout(5) worktrees/<id>/commondir",
        "point the linked worktree's commondir at an evil dir",
        "mkgit evil",
        r#"echo "$W/evil" > .git/worktrees/wt-inside/commondir"#,
        ".git/worktrees",
        Fires,
    ),
    a(
        "worktrees/<name>/gitdir",
        "gitrepository-layout(5) worktrees/<id>/gitdir",
        "register a new linked worktree .git/worktrees/evil",
        "mkgit evil",
        r#"mkdir -p .git/worktrees/evil && echo "$W/evil" > .git/worktrees/evil/gitdir && echo ../.. > .git/worktrees/evil/commondir"#,
        ".git/worktrees",
        Writes,
    ),
    a(
        "modules/<name>/config",
        "gitrepository-layout(5) modules/; gitsubmodules(7)",
        "core.fsmonitor in the absorbed submodule's .git/modules/lib/a/config",
        "",
        r#"printf "$EV" >> .git/modules/lib/a/config"#,
        ".git/modules",
        Fires,
    ),
    a(
        "modules/<name>/hooks",
        "gitrepository-layout(5) modules/; githooks(5)",
        "plant .git/modules/lib/a/hooks/post-checkout",
        "",
        r#"printf '#!/bin/sh\ntouch %s\n' "$C" > .git/modules/lib/a/hooks/post-checkout && chmod +x .git/modules/lib/a/hooks/post-checkout"#,
        ".git/modules",
        Writes,
    ),
    a(
        "submodule_gitfile",
        "gitrepository-layout(5) .git as a gitfile; gitsubmodules(7)",
        "rewrite lib/a/.git to \"gitdir: <evil dir>\"",
        "mkgit evil",
        r#"echo "gitdir: $W/evil" > lib/a/.git"#,
        "lib/a/.git",
        Fires,
    ),
    a(
        "submodule_gitfile_replaced",
        "gitsubmodules(7)",
        "rm lib/a/.git, then make it an evil git dir",
        "",
        "rm -f lib/a/.git && mkgit lib/a/.git",
        "lib/a/.git",
        Fires,
    ),
    a(
        "submodule_dir_renamed",
        "gitsubmodules(7)",
        "mv lib/a away, then a new lib/a with an evil .git",
        "",
        "mv lib/a lib/a-old && mkdir lib/a && mkgit lib/a/.git",
        "lib/a",
        Fires,
    ),
    a(
        "submodule_parent_renamed",
        "gitsubmodules(7)",
        "mv lib away, then a new lib/a with an evil .git",
        "",
        "mv lib lib-old && mkdir -p lib/a && mkgit lib/a/.git",
        "lib",
        Fires,
    ),
    a(
        "nested_submodule_config",
        "gitsubmodules(7) (a submodule whose .git is a directory)",
        "core.fsmonitor in nested/.git/config",
        "",
        r#"printf "$EV" >> nested/.git/config"#,
        "nested/.git",
        Fires,
    ),
    a(
        "index_gitlink",
        "gitrepository-layout(5) index; git-update-index(1) gitlinks (mode 160000)",
        "cat an index with a gitlink to evilrepo/ (evil config) > .git/index",
        r#"printf "$EV" >> evilrepo/.git/config"#,
        "cat evil-index > .git/index",
        ".git/index",
        Fires,
    ),
    a(
        "git_dir_renamed",
        "gitrepository-layout(5)",
        "mv .git .git-old, then a new evil .git",
        "",
        "mv .git .git-old && mkgit .git",
        ".git",
        Fires,
    ),
    a(
        "git_dir_removed",
        "gitrepository-layout(5)",
        "rm -rf .git, then a new evil .git",
        "",
        "rm -rf .git && mkgit .git",
        ".git",
        Fires,
    ),
    a(
        "git_dir_to_gitfile",
        "gitrepository-layout(5) .git as a gitfile",
        "replace .git by \"gitdir: <evil dir>\"",
        "mkgit evil",
        r#"rm -rf .git && echo "gitdir: $W/evil" > .git"#,
        ".git",
        Fires,
    ),
    a(
        "config_hardlink",
        "git-config(1) FILES",
        "hard-link .git/config into the working tree and append to the link",
        "",
        r#"ln .git/config cfg-link && printf "$EV" >> cfg-link"#,
        ".git/config",
        Fires,
    ),
    a(
        "config_symlink",
        "git-config(1) FILES",
        "replace .git/config by a symlink to an evil config",
        "mkgit evil",
        r#"rm -f .git/config && ln -s "$W/evil/config" .git/config"#,
        ".git/config",
        Fires,
    ),
    a("config_removed", "git-config(1) FILES", "rm -f .git/config", "", "rm -f .git/config", ".git/config", Writes),
    a(
        "HEAD",
        "gitrepository-layout(5) HEAD",
        "point .git/HEAD at another branch",
        "",
        "echo 'ref: refs/heads/evil' > .git/HEAD",
        ".git/HEAD",
        Writes,
    ),
    a(
        "packed-refs",
        "gitrepository-layout(5) packed-refs",
        "append a ref to .git/packed-refs",
        "",
        "echo '0123456789012345678901234567890123456789 refs/heads/evil' >> .git/packed-refs",
        ".git",
        Writes,
    ),
    a(
        "refs",
        "gitrepository-layout(5) refs/",
        "move refs/heads/main",
        "",
        "echo 0123456789012345678901234567890123456789 > .git/refs/heads/main",
        ".git/refs",
        Writes,
    ),
    a(
        "rebase_todo_exec",
        "git-rebase(1) exec; gitrepository-layout(5)",
        "a rebase-merge/git-rebase-todo with an exec line",
        "",
        r#"mkdir -p .git/rebase-merge && printf 'exec touch %s\n' "$C" > .git/rebase-merge/git-rebase-todo"#,
        ".git",
        Writes,
    ),
    a(
        "objects/info/alternates",
        "gitrepository-layout(5) objects/info/alternates",
        "add an object store the session controls",
        "mkgit evil",
        r#"echo "$W/evil/objects" >> .git/objects/info/alternates"#,
        ".git/objects",
        Writes,
    ),
    a(
        "info/exclude",
        "gitignore(5) $GIT_DIR/info/exclude",
        "hide files from git status with .git/info/exclude",
        "",
        "echo '*' >> .git/info/exclude",
        ".git/info",
        Writes,
    ),
    a(
        "uninit_submodule",
        "gitsubmodules(7) (a submodule that is not checked out)",
        "make an evil .git in the empty lib/uninit (a gitlink in the index)",
        "",
        "mkgit lib/uninit/.git",
        "lib/uninit",
        Fires,
    ),
    a(
        "gitlink_not_in_gitmodules",
        "git-update-index(1) gitlinks; gitmodules(5)",
        "core.fsmonitor in vendored/.git/config (a gitlink .gitmodules does not list)",
        "",
        r#"printf "$EV" >> vendored/.git/config"#,
        "vendored/.git",
        Fires,
    ),
    a(
        "linked_worktree_gitfile",
        "git-worktree(1); gitrepository-layout(5) .git as a gitfile",
        "rewrite wt-inside/.git (a linked worktree in the working dir) to \"gitdir: <evil dir>\"",
        "mkgit evil",
        r#"echo "gitdir: $W/evil" > wt-inside/.git"#,
        "wt-inside/.git",
        Fires,
    ),
];

/// Rows besides one per attack: start report, untracked nested repo, `.git` in a tracked
/// dir, attributes alone, read-only git inside, writable working tree, `.gitmodules`
/// edited for the next session, protection off.
const EXTRA_ROWS: usize = 8;

/// Error texts of a write the protection stopped: read-only mount, pinned mount point,
/// link across mounts.
const REFUSALS: &[&str] = &["read-only file system", "resource busy", "cross-device"];

/// The host's git with a clean environment: no user or system config plays a part.
struct HostGit {
    home: tempfile::TempDir,
    ceiling: PathBuf,
}

impl HostGit {
    fn new(wd: &Path) -> HostGit {
        HostGit { home: tempfile::tempdir().unwrap(), ceiling: wd.parent().unwrap().to_path_buf() }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .current_dir(dir)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // Status leaves the index alone (git diff does not, see Host::check).
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_CEILING_DIRECTORIES", &self.ceiling)
            .env("LC_ALL", "C");
        c
    }

    /// A preparation step, which must succeed.
    fn ok(&self, dir: &Path, args: &[&str]) -> Output {
        let o = self
            .command(dir)
            .args(["-c", "user.name=probe", "-c", "user.email=probe@example.invalid"])
            .args(["-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
            .args(args)
            .output()
            .expect("git on the host");
        assert!(o.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&o.stderr));
        o
    }

    /// A repository in `dir` with one commit.
    fn repo(&self, dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        self.ok(dir, &["init", "-q"]);
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        self.ok(dir, &["add", "-A"]);
        self.ok(dir, &["commit", "-q", "-m", "init"]);
    }

    /// The commands a user runs on the host, in order; the first after which a canary
    /// exists.
    fn fired(&self, wd: &Path, canaries: &Path) -> Option<String> {
        for (dir, args) in HOST_COMMANDS {
            let _ = self.command(&wd.join(dir)).args(*args).output().expect("git on the host");
            if std::fs::read_dir(canaries).unwrap().next().is_some() {
                return Some(format!("git -C {dir} {}", args.join(" ")));
            }
        }
        None
    }
}

const HOST_COMMANDS: &[(&str, &[&str])] = &[
    (".", &["status"]),
    (".", &["diff"]),
    ("lib/a", &["status"]),
    ("nested", &["status"]),
    ("wt-inside", &["status"]),
];

/// Builds the repository the probes attack, in `wd`; `outside` is a host dir outside the
/// working dir (the submodules' origin, the evil index's scratch).
fn build_repository(git: &HostGit, wd: &Path, outside: &Path) {
    let origin = outside.join("origin");
    git.repo(&origin, &[("README", "sub\n")]);
    let origin = origin.to_str().unwrap();
    git.repo(wd, &[("README", "top\n"), ("src/main.rs", "fn main() {}\n")]);
    git.ok(wd, &["submodule", "add", "-q", origin, "lib/a"]);
    // An existing repository at the path is added as is: its .git stays a directory.
    git.repo(&wd.join("nested"), &[("README", "nested\n")]);
    git.ok(wd, &["submodule", "add", "-q", origin, "nested"]);
    git.ok(wd, &["submodule", "add", "-q", origin, "lib/uninit"]);
    // A gitlink without a .gitmodules entry (an embedded repository added with git add).
    git.repo(&wd.join("vendored"), &[("README", "vendored\n")]);
    git.ok(wd, &["-c", "advice.addEmbeddedRepo=false", "add", "vendored"]);
    git.ok(wd, &["commit", "-q", "-m", "submodules"]);
    git.ok(wd, &["submodule", "deinit", "-q", "-f", "lib/uninit"]);
    git.ok(wd, &["worktree", "add", "-q", "wt-inside"]);
    // An untracked repository, and an index (made outside) that adds it as a gitlink:
    // the session writes those bytes into .git/index.
    git.repo(&wd.join("evilrepo"), &[("f", "e\n")]);
    let head = git.ok(&wd.join("evilrepo"), &["rev-parse", "HEAD"]);
    let head = String::from_utf8(head.stdout).unwrap();
    let index = outside.join("evil-index");
    std::fs::copy(wd.join(".git/index"), &index).unwrap();
    let mut c = git.command(wd);
    c.env("GIT_INDEX_FILE", &index).args(["update-index", "--add", "--cacheinfo"]);
    let o = c.arg(format!("160000,{},evilrepo", head.trim())).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::copy(&index, wd.join("evil-index")).unwrap();
    let o = git.command(wd).args(["ls-files", "-s", "vendored", "lib/uninit"]).output().unwrap();
    let listed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(listed.matches("160000").count(), 2, "gitlinks: {listed}");
    assert!(wd.join("nested/.git").is_dir() && wd.join("lib/a/.git").is_file() && wd.join("wt-inside/.git").is_file());
    assert!(!wd.join("lib/uninit/.git").exists() && wd.join("lib/uninit").is_dir());
}

/// Type, mode and content of every path under `rels` of `root`.
fn snapshot(root: &Path, rels: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        let p = root.join(rel);
        let Ok(m) = std::fs::symlink_metadata(&p) else { return };
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            out.insert(rel.to_string(), format!("link {}", std::fs::read_link(&p).unwrap().display()));
        } else if m.is_dir() {
            out.insert(rel.to_string(), format!("dir {mode:o}"));
            let mut names: Vec<String> =
                std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for n in names {
                walk(root, &format!("{rel}/{n}"), out);
            }
        } else {
            out.insert(rel.to_string(), format!("file {mode:o} {}", sha256(&std::fs::read(&p).unwrap())));
        }
    }
    let mut out = BTreeMap::new();
    for rel in rels {
        walk(root, rel, &mut out);
    }
    out
}

/// Paths that differ between two snapshots (at most a few, for the table).
fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).map(|k| k.to_string()).collect()
}

#[derive(PartialEq)]
enum Kind {
    Dir,
    File,
    Link,
}

fn kind(m: &std::fs::Metadata) -> Kind {
    if m.file_type().is_symlink() {
        Kind::Link
    } else if m.is_dir() {
        Kind::Dir
    } else {
        Kind::File
    }
}

fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).unwrap(),
        Ok(_) => std::fs::remove_file(p).unwrap(),
        Err(_) => {}
    }
}

/// Makes `dst/rel` match `src/rel` on the host (types, contents, modes), leaving alone
/// the relative paths in `keep` (the protected ones, which the host must not touch
/// while a session has them mounted).
fn sync_tree(src: &Path, dst: &Path, rel: &Path, keep: &[PathBuf]) {
    for e in std::fs::read_dir(dst.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        if keep.contains(&r) {
            continue;
        }
        let theirs = std::fs::symlink_metadata(src.join(&r)).ok().map(|m| kind(&m));
        if theirs != Some(kind(&e.path().symlink_metadata().unwrap())) {
            remove(&e.path());
        }
    }
    for e in std::fs::read_dir(src.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        if keep.contains(&r) {
            continue;
        }
        let (s, d) = (src.join(&r), dst.join(&r));
        let m = s.symlink_metadata().unwrap();
        match kind(&m) {
            Kind::Dir => {
                if d.symlink_metadata().is_err() {
                    std::fs::create_dir(&d).unwrap();
                }
                std::fs::set_permissions(&d, m.permissions()).unwrap();
                sync_tree(src, dst, &r, keep);
            }
            Kind::File => {
                if std::fs::read(&d).ok() != Some(std::fs::read(&s).unwrap()) {
                    std::fs::copy(&s, &d).unwrap();
                }
                std::fs::set_permissions(&d, m.permissions()).unwrap();
            }
            Kind::Link => {
                let target = std::fs::read_link(&s).unwrap();
                if std::fs::read_link(&d).ok() != Some(target.clone()) {
                    remove(&d);
                    std::os::unix::fs::symlink(target, &d).unwrap();
                }
            }
        }
    }
}

/// The shell prelude of every attack: `W`, `C`, `EV`, `mkgit`.
fn prelude(canary: &Path) -> String {
    format!(
        "W=$PWD\nC={}\nEV=\"[core]\\n\\tfsmonitor = touch $C\\n\"\n\
         mkgit() {{ mkdir -p \"$1/objects\" \"$1/refs\" && echo 'ref: refs/heads/main' > \"$1/HEAD\" && printf \"$EV\" > \"$1/config\"; }}\n",
        canary.display()
    )
}

async fn sh(s: &Session, script: &str) -> ExecOutput {
    s.exec(&["sh", "-c", script], ExecOptions::new().timeout(EXEC)).await.unwrap()
}

/// Setup, then the attack; exit 99 when the setup failed.
async fn attack(s: &Session, canary: &Path, x: &Attack) -> ExecOutput {
    let name: String = x.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let script = format!("{}{} || exit 99\n{}", prelude(&canary.join(name)), or_true(x.setup), x.attack);
    let o = sh(s, &script).await;
    assert_ne!(o.exit_code, Some(99), "{}: the setup failed: {}", x.name, o.stderr_lossy());
    o
}

fn or_true(setup: &str) -> &str {
    if setup.is_empty() { "true" } else { setup }
}

fn first_line(o: &ExecOutput) -> String {
    o.stderr_lossy().lines().next().unwrap_or("").trim().to_string()
}

/// What one attack did with protection on.
struct Protected {
    out: ExecOutput,
    fired: Option<String>,
    changed: Vec<String>,
}

/// The host side of the probes: its git, the working dir, a pristine copy of it, and
/// the dir the payloads touch.
struct Host {
    git: HostGit,
    wd: PathBuf,
    pristine: tempfile::TempDir,
    canaries: tempfile::TempDir,
}

impl Host {
    /// Restores the working dir to the pristine copy, except `keep`; clears canaries.
    fn restore(&self, keep: &[PathBuf]) {
        sync_tree(self.pristine.path(), &self.wd, Path::new(""), keep);
        for e in std::fs::read_dir(self.canaries.path()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }

    /// Runs an attack inside, then the host's git: whether a canary appeared, and the
    /// changes under `watched`.
    async fn check(&self, s: &Session, x: &Attack, watched: &[&str]) -> Protected {
        let before = snapshot(&self.wd, watched);
        let out = attack(s, self.canaries.path(), x).await;
        // Compared before the host's git runs: `git diff` refreshes the index's stat
        // data on its own (it ignores GIT_OPTIONAL_LOCKS), which is no doing of the
        // session.
        let changed = changes(&before, &snapshot(&self.wd, watched));
        let fired = self.git.fired(&self.wd, self.canaries.path());
        Protected { out, fired, changed }
    }
}

fn refused_text(o: &ExecOutput) -> bool {
    let e = o.stderr_lossy().to_lowercase();
    !o.success() && REFUSALS.iter().any(|r| e.contains(r))
}

#[test]
fn git_probe_family() {
    let t = TestScope::new("gitprobe");
    let wd = std::fs::canonicalize(t.dir.path()).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let git = HostGit::new(&wd);
    build_repository(&git, &wd, outside.path());
    let pristine = tempfile::tempdir().unwrap();
    sync_tree(&wd, pristine.path(), Path::new(""), &[]);
    let host = Host { git, wd: wd.clone(), pristine, canaries: tempfile::tempdir().unwrap() };
    // The host's commands on the untouched repository run nothing.
    assert_eq!(host.git.fired(&wd, host.canaries.path()), None, "a canary before any attack");
    let w = wd.display().to_string();
    let mut rows = ProbeTable::new("git");
    let mut problems: Vec<String> = Vec::new();

    run(T, async {
        // ---- Protection on (the default policy).
        let s = t.sandbox.start(t.spec("gitprobe")).await.unwrap();
        let protected = s.start_report().unwrap().protected_paths.clone();
        let want = [format!("{w}/.git"), format!("{w}/lib/a/.git"), format!("{w}/nested/.git")];
        let listed = want.iter().all(|p| protected.contains(p));
        rows.row(
            "start_report",
            "start_report().protected_paths lists .git and each submodule's .git",
            if listed { Outcome::Contained } else { Outcome::Escaped },
            format!("listed: {}", protected.join(", ")),
        );
        let keep: Vec<PathBuf> =
            protected.iter().filter_map(|p| Path::new(p).strip_prefix(&wd).ok().map(Path::to_path_buf)).collect();
        let rel_protected: Vec<String> = keep.iter().map(|p| p.display().to_string()).collect();

        let mut on: Vec<Protected> = Vec::new();
        for x in ATTACKS {
            let mut watched: Vec<&str> = rel_protected.iter().map(String::as_str).collect();
            watched.push(x.target);
            let r = host.check(&s, x, &watched).await;
            host.restore(&keep);
            on.push(r);
        }

        // Contained by design: repositories the session makes itself.
        for (name, dir, what) in [
            ("untracked_nested_repo", "scratch", "an untracked repository scratch/ with an evil config"),
            ("git_dir_in_tracked_dir", "src", "src/.git (a tracked directory) with an evil config"),
        ] {
            let script = format!("{}mkdir -p {dir} && mkgit {dir}/.git", prelude(&host.canaries.path().join(name)));
            let o = sh(&s, &script).await;
            assert!(o.success(), "{name}: {}", o.stderr_lossy());
            let fired = host.git.fired(&wd, host.canaries.path());
            rows.row(
                name,
                format!("{what}; the host runs git status/diff at the top and in the submodules"),
                if fired.is_none() { Outcome::Contained } else { Outcome::Escaped },
                match &fired {
                    None => "git status does not enter untracked repositories; git run inside that directory would (documented limit)".to_string(),
                    Some(c) => format!("`{c}` ran the payload"),
                },
            );
            host.restore(&keep);
        }
        let o = sh(
            &s,
            &format!(
                "{}echo change >> README && printf '* filter=evil diff=evil\\n' > .gitattributes",
                prelude(&host.canaries.path().join("attrs"))
            ),
        )
        .await;
        assert!(o.success(), "{}", o.stderr_lossy());
        let fired = host.git.fired(&wd, host.canaries.path());
        rows.row(
            "gitattributes_alone",
            "a .gitattributes in the working tree selecting filter and diff drivers",
            if fired.is_none() { Outcome::Contained } else { Outcome::Escaped },
            "attributes only name drivers; their commands come from config (read-only .git here, the host's own config otherwise)",
        );
        host.restore(&keep);

        let o = sh(&s, "cat .git/HEAD .git/config lib/a/.git nested/.git/HEAD .git/modules/lib/a/HEAD >/dev/null && ls .git/objects >/dev/null").await;
        rows.row(
            "read_only_git",
            "read .git, the submodules' git dirs and the objects from inside",
            if o.success() { Outcome::Contained } else { Outcome::Escaped },
            if o.success() {
                "reading works: git status/diff/log inside would work (commits would not)".to_string()
            } else {
                format!("reading failed: {}", first_line(&o))
            },
        );
        if !o.success() {
            problems.push(format!("read_only_git: {}", o.stderr_lossy()));
        }

        let o = sh(&s, "echo 'fn main() { }' > src/main.rs && echo more >> lib/a/README && echo x > nested/new").await;
        let written = o.success()
            && std::fs::read_to_string(wd.join("src/main.rs")).unwrap() == "fn main() { }\n"
            && wd.join("nested/new").exists();
        rows.row(
            "working_tree_writable",
            "edit tracked files, in the submodules too",
            Outcome::Contained,
            "the working tree (submodules included) stays writable; only the git dirs are read-only",
        );
        if !written {
            problems.push(format!("working_tree_writable: {}", o.stderr_lossy()));
        }
        host.restore(&keep);

        // The protection plan reads .gitmodules from the working tree, which the session
        // can edit for the next session.
        let o = sh(&s, ": > .gitmodules").await;
        assert!(o.success(), "{}", o.stderr_lossy());
        s.stop().await.unwrap();
        let s = t.sandbox.start(t.spec("gitprobe-next")).await.unwrap();
        let next_protected = s.start_report().unwrap().protected_paths.clone();
        let x = a(
            "gitmodules_next_session",
            "gitmodules(5)",
            "",
            "mkgit evil",
            r#"echo "gitdir: $W/evil" > lib/a/.git"#,
            "lib/a/.git",
            Fires,
        );
        let r = host.check(&s, &x, &[".git", "lib/a/.git"]).await;
        let ok = refused_text(&r.out) && r.fired.is_none() && r.changed.is_empty();
        rows.refused_if(
            "gitmodules_next_session",
            "empty .gitmodules in one session; in the next, rewrite lib/a/.git to \"gitdir: <evil dir>\" [gitmodules(5)]",
            ok,
            verdict(&r, &format!("next session protected: {}", next_protected.join(", "))),
        );
        s.stop().await.unwrap();
        host.restore(&[]);

        // ---- Protection off: every write goes through, and the payloads are live.
        let s = t.sandbox.start(t.spec("gitprobe-off").protect_workspace(false)).await.unwrap();
        let off_listed = s.start_report().unwrap().protected_paths.clone();
        let mut live: Vec<String> = Vec::new();
        for x in ATTACKS {
            let o = attack(&s, host.canaries.path(), x).await;
            let fired = host.git.fired(&wd, host.canaries.path());
            let text = match (o.success(), &fired) {
                (true, Some(c)) => format!("protection off: written, and `{c}` ran the payload"),
                (true, None) => "protection off: written".to_string(),
                (false, _) => format!("protection off: FAILED too ({})", first_line(&o)),
            };
            if !o.success() || (x.live == Fires && fired.is_none()) {
                problems.push(format!("{}: the attack does not work even with protection off: {text}", x.name));
            }
            if x.name == "hooks" {
                rows.row(
                    "protection_off",
                    "protect_workspace(false), then plant .git/hooks/post-checkout",
                    if o.success() && off_listed.is_empty() { Outcome::Contained } else { Outcome::Escaped },
                    format!(
                        "protection off: the write goes through, as configured (exit {:?}, protected paths {:?})",
                        o.exit_code, off_listed
                    ),
                );
                if !o.success() {
                    problems.push(format!("protection_off: the hooks write failed: {}", o.stderr_lossy()));
                }
            }
            live.push(text);
            host.restore(&[]);
        }
        s.stop().await.unwrap();

        for ((x, r), live) in ATTACKS.iter().zip(&on).zip(&live) {
            let ok = refused_text(&r.out) && r.fired.is_none() && r.changed.is_empty();
            if !r.out.success() && !refused_text(&r.out) {
                problems.push(format!(
                    "{}: failed for another reason than the protection: {}",
                    x.name,
                    r.out.stderr_lossy()
                ));
            }
            rows.refused_if(x.name, format!("{} [{}]", x.tried, x.doc), ok, format!("{}; {live}", verdict(r, "")));
        }
    });

    for p in &problems {
        eprintln!("PROBLEM: {p}");
    }
    let count = rows.len();
    rows.finish(ATTACKS.len() + EXTRA_ROWS);
    assert_eq!(count, ATTACKS.len() + EXTRA_ROWS);
    assert!(problems.is_empty(), "probes that prove nothing:\n{}", problems.join("\n"));
}

/// The detail of a probe with protection on.
fn verdict(r: &Protected, extra: &str) -> String {
    let mut parts = Vec::new();
    if r.out.success() {
        parts.push("the write SUCCEEDED".to_string());
    } else {
        parts.push(first_line(&r.out));
    }
    match &r.fired {
        Some(c) => parts.push(format!("`{c}` on the host RAN the payload")),
        None => parts.push("the host's git ran nothing".to_string()),
    }
    if r.changed.is_empty() {
        parts.push("unchanged on the host".to_string());
    } else {
        let mut c = r.changed.clone();
        c.truncate(3);
        parts.push(format!("CHANGED on the host: {}", c.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(extra.to_string());
    }
    parts.join("; ")
}
