//! Snapshots and sessions started from them, against real podman (rootful and
//! rootless): every file of a child equals the snapshot at birth (modes, symlinks, hard
//! links, empty dirs, awkward names, a file its owner cannot read), the container's
//! filesystem changes come along, children and parent never see each other's writes,
//! the session's own settings are not inherited, the session is frozen for the capture,
//! and bad input gets typed errors with nothing left behind.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use sandbox_core::tree_diff::diff;
use sandbox_core::{ErrorKind, ExecOptions, ImageReason, Session, SessionSpec, TaskSpec};
use sandbox_e2e::{TestScope, run, unique_id};

const T: Duration = Duration::from_secs(300);

async fn sh(s: &Session, script: &str) -> String {
    let out = s.exec(&["sh", "-c", script], ExecOptions::new()).await.unwrap();
    assert_eq!(out.exit_code, Some(0), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A working dir with every kind of entry a copy can get wrong.
fn awkward(root: &Path) {
    std::fs::create_dir_all(root.join("src/deep")).unwrap();
    std::fs::write(root.join("src/main.rs"), b"fn main() {}\n").unwrap();
    std::fs::write(root.join("a file with spaces"), b"spaces").unwrap();
    std::fs::write(root.join("line\nbreak"), b"newline").unwrap();
    std::fs::write(root.join(OsStr::from_bytes(b"bytes-\xff\xfe")), b"not utf-8").unwrap();
    std::os::unix::fs::symlink("src/main.rs", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("outside-link")).unwrap();
    std::fs::create_dir(root.join("empty")).unwrap();
    std::fs::write(root.join("run.sh"), b"#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::hard_link(root.join("src/main.rs"), root.join("hard")).unwrap();
    std::fs::write(root.join("big.bin"), (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>()).unwrap();
}

#[test]
fn children_start_from_a_snapshot_byte_for_byte_and_stay_apart() {
    let t = TestScope::new("snap");
    awkward(t.dir.path());
    let kids = tempfile::tempdir().unwrap();
    run(T, async {
        let parent = t.sandbox.start(t.spec("snap-parent").env("PARENT_SECRET", "s3cret")).await.unwrap();
        // A file only the container's filesystem has, and one its owner cannot read.
        sh(&parent, "echo base > /etc/sbx-state && echo hidden > locked && chmod 000 locked").await;
        let busy = parent.spawn_task(TaskSpec::shell("echo up; while :; do :; done")).await.unwrap();
        busy.read_until(sandbox_core::TaskStream::Stdout, 0, b"up", 1024, Some(Duration::from_secs(30))).await.unwrap();

        let r = t.sandbox.snapshot(&parent, "base").await.unwrap();
        assert_eq!(r.info.name, "base");
        assert_eq!(r.info.session, parent.id());
        assert_eq!(r.freeze, "signals");
        assert!(r.processes >= 1, "the busy loop was frozen: {r:?}");
        assert!(r.frozen_us > 0 && r.frozen_us <= r.took_us, "{r:?}");
        assert!(r.info.files >= 8 && r.info.bytes >= 3_000_000, "{r:?}");
        assert!(r.info.unset_env.contains(&"PARENT_SECRET".to_string()), "{:?}", r.info.unset_env);
        // The image carries no session label, only the snapshot's own.
        let labels = std::process::Command::new("podman")
            .args(["image", "inspect", "--format", "{{json .Labels}}", &r.info.image])
            .output()
            .unwrap();
        let labels: std::collections::HashMap<String, String> = serde_json::from_slice(&labels.stdout).unwrap();
        for k in sandbox_core::labels::ALL {
            assert_eq!(labels.get(k).map(String::as_str), Some(""), "{k}: {labels:?}");
        }
        assert_eq!(labels["sandbox.snapshot"], "base");
        assert_eq!(labels["sandbox.snapshot.store"], t.snapshots.path().display().to_string());
        // The session runs on after the snapshot.
        assert!(busy.info().await.unwrap().state.is_running());
        assert_eq!(sh(&parent, "echo alive").await, "alive\n");
        // At capture the tree equals the working dir (the session then goes on changing).
        assert_eq!(diff(&r.info.tree, t.dir.path()).unwrap(), vec![], "the snapshot's tree is the working dir");
        sh(&parent, "echo parent-after > /etc/sbx-state && echo later > parent-only").await;

        // Two children, each with a new copy at a path that did not exist.
        let mut children = Vec::new();
        for tag in ["a", "b"] {
            let dir = kids.path().join(tag);
            let spec = SessionSpec { snapshot: Some("base".into()), ..SessionSpec::new(unique_id(tag), &dir) }
                .env("CHILD", tag);
            let child = t.sandbox.start(spec).await.unwrap();
            let report = child.start_report().unwrap();
            assert_eq!(report.image.reason, ImageReason::Snapshot);
            assert_eq!(report.image.used, r.info.image);
            let from = report.snapshot.as_ref().expect("the report names the snapshot");
            // No reflinks here (the snapshot says so): an overlay on the snapshot's tree,
            // except rootless, where the user's fuse-overlayfs could not read `locked`.
            assert_eq!(r.info.copy, sandbox_core::CopyMethod::Copy, "{r:?}");
            let method = if sandbox_e2e::rootless() {
                sandbox_core::CopyMethod::Copy
            } else {
                sandbox_core::CopyMethod::Overlay
            };
            assert_eq!((from.name.as_str(), from.copy), ("base", method));
            assert_eq!(diff(&r.info.tree, &dir).unwrap(), vec![], "child {tag} equals the snapshot at birth");
            children.push((child, dir));
        }
        let (a, a_dir) = &children[0];
        let (b, b_dir) = &children[1];
        // Hard links stay links; modes, owners and the unreadable file come along.
        let m = |p: &Path| std::fs::symlink_metadata(p).unwrap();
        assert_eq!(m(&a_dir.join("hard")).ino(), m(&a_dir.join("src/main.rs")).ino());
        assert_eq!(m(&a_dir.join("run.sh")).mode() & 0o7777, 0o750);
        assert_eq!(m(&a_dir.join("locked")).mode() & 0o7777, 0);
        assert_eq!(m(&a_dir.join("run.sh")).uid(), m(&t.dir.path().join("run.sh")).uid());
        assert_eq!(std::fs::read_link(a_dir.join("outside-link")).unwrap(), Path::new("/etc/passwd"));
        assert!(!a_dir.join("parent-only").exists());
        // The container's changes as they were at the snapshot, and the child's own env.
        assert_eq!(sh(a, "cat /etc/sbx-state; cat locked; ./run.sh").await, "base\nhidden\nran\n");
        assert_eq!(
            sh(a, "echo ${PARENT_SECRET:-unset} $CHILD $HOSTNAME").await.split(' ').take(2).collect::<Vec<_>>(),
            ["unset", "a"]
        );
        // A child's writes show nowhere else; a dir the snapshot has can be renamed
        // (rename(2), as on a plain copy: the kernel overlay redirects it).
        sh(a, "echo mine > only-a && echo a > /etc/sbx-state && rm src/main.rs").await;
        std::fs::rename(a_dir.join("src/deep"), a_dir.join("deep-moved")).unwrap();
        assert!(a_dir.join("deep-moved").is_dir() && !a_dir.join("src/deep").exists());
        assert!(r.info.tree.join("src/deep").is_dir() && b_dir.join("src/deep").is_dir());
        assert!(!b_dir.join("only-a").exists() && !t.dir.path().join("only-a").exists());
        assert!(!r.info.tree.join("only-a").exists() && r.info.tree.join("src/main.rs").exists());
        assert_eq!(sh(b, "cat /etc/sbx-state").await, "base\n");
        assert_eq!(sh(&parent, "cat /etc/sbx-state").await, "parent-after\n");
        assert_eq!(diff(&r.info.tree, b_dir).unwrap(), vec![], "b is untouched by a");

        // Listed; not removable while children read from it; removable after.
        let listed = t.sandbox.snapshots().await.unwrap();
        assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["base"]);
        let e = t.sandbox.remove_snapshot("base").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(t.sandbox.snapshot_info("base").await.is_ok(), "a refused removal removes nothing");
        // A copy in use by a session is not removable either.
        let e = t.sandbox.remove_copy(a_dir).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(a.id()), "{e}");
        for (c, _) in &children {
            c.stop().await.unwrap();
        }
        parent.stop().await.unwrap();
        // A stopped child's copy stays (its changes are its output); an overlay still
        // keeps the snapshot, which it reads from.
        assert_eq!(std::fs::read(a_dir.join("only-a")).unwrap(), b"mine\n");
        if !sandbox_e2e::rootless() {
            let e = t.sandbox.remove_snapshot("base").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            assert!(e.to_string().contains(&a_dir.display().to_string()), "the refusal names the copies: {e}");
        }
        for (_, dir) in &children {
            t.sandbox.remove_copy(dir).await.unwrap();
            assert!(!dir.exists(), "{} is removed with its copy", dir.display());
        }
        let e = t.sandbox.remove_copy(a_dir).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = t.sandbox.remove_copy(Path::new("relative")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        t.sandbox.remove_snapshot("base").await.unwrap();
        assert_eq!(t.sandbox.snapshot_info("base").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert!(t.sandbox.snapshots().await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(t.snapshots.path()).unwrap().count(), 0, "nothing of it is left");
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn bad_snapshot_input_gets_typed_errors_and_leaves_nothing() {
    let t = TestScope::new("snapbad");
    let kids = tempfile::tempdir().unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("snapbad")).await.unwrap();
        for bad in ["", "../x", "a/b", "-x"] {
            let e = t.sandbox.snapshot(&s, bad).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
        t.sandbox.snapshot(&s, "one").await.unwrap();
        let e = t.sandbox.snapshot(&s, "one").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("exists"), "{e}");

        let from = |name: &str, dir: &Path| SessionSpec {
            snapshot: Some(name.into()),
            ..SessionSpec::new(unique_id("kid"), dir)
        };
        // Unknown snapshot; a target that exists; an image with a snapshot.
        let e = t.sandbox.start(from("nope", &kids.path().join("k1"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(!kids.path().join("k1").exists());
        let e = t.sandbox.start(from("one", &t.snapshots.path().join("in-the-store"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("snapshot dir"), "{e}");
        let e = t.sandbox.start(from("one", kids.path())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("exists"), "{e}");
        let e = t.sandbox.start(from("one", &kids.path().join("k2")).image("localhost/other")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(!kids.path().join("k2").exists());
        // Where the copy would go: a dir that does not exist; a dir in a running
        // session's working dir, directly or through a symlink (that session could swap
        // a dir on the way for a symlink while the copy is made and mounted there).
        let e = t.sandbox.start(from("one", &kids.path().join("missing/k"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::os::unix::fs::symlink(t.dir.path(), kids.path().join("to-session")).unwrap();
        for inside in [t.dir.path().join("kid-inside"), kids.path().join("to-session/kid-inside")] {
            let e = t.sandbox.start(from("one", &inside)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            assert!(e.to_string().contains("running session"), "{e}");
            assert!(!t.dir.path().join("kid-inside").exists(), "nothing made in the session's dir");
        }
        let e = t.sandbox.remove_copy(t.dir.path()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        // A start that fails after the copy removes the copy.
        let e = t.sandbox.start(from("one", &kids.path().join("k3")).env("BAD\0KEY", "x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(!kids.path().join("k3").exists(), "the copy of a failed start is removed");

        // A stopped session cannot be snapshotted; no partial dir is left.
        s.stop().await.unwrap();
        let e = t.sandbox.snapshot(&s, "two").await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::SessionNotFound | ErrorKind::NotRunning | ErrorKind::SessionLost), "{e}");
        assert!(t.sandbox.snapshot_info("two").await.is_err());
        let names: Vec<String> = std::fs::read_dir(t.snapshots.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["one"], "no half snapshot");
        assert!(t.sandbox.reap_snapshots().await.unwrap().is_empty());
        t.sandbox.remove_snapshot("one").await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_fork_makes_children_whose_changes_diff_and_merge_back() {
    use sandbox_core::ForkSpec;
    use sandbox_core::tree_diff::ChangeKind::{Added, Deleted, Modified};
    let t = TestScope::new("fork");
    awkward(t.dir.path());
    let kids = tempfile::tempdir().unwrap();
    run(T, async {
        let parent = t.sandbox.start(t.spec("fork-parent")).await.unwrap();
        let fork = t.sandbox.fork(&parent, ForkSpec::new(3, kids.path())).await.unwrap();
        assert_eq!(fork.children.len(), 3);
        let ids: Vec<&str> = fork.children.iter().map(|c| c.id()).collect();
        assert_eq!(ids, (1..=3).map(|n| format!("{}-{n}", parent.id())).collect::<Vec<_>>());
        for c in &fork.children {
            assert_eq!(c.working_dir(), kids.path().join(c.id()).canonicalize().unwrap());
            let copy = c.start_report().and_then(|r| r.snapshot.as_ref()).map(|s| s.copy);
            assert_eq!(copy, Some(sandbox_core::CopyMethod::Overlay), "{}: no reflinks here, so an overlay", c.id());
            assert_eq!(t.sandbox.diff(c, None).await.unwrap(), vec![], "{} equals the snapshot at birth", c.id());
        }
        let name = fork.snapshot.info.name.clone();
        let listed = t.sandbox.list().await.unwrap();
        let child_info = listed.iter().find(|i| i.id == fork.children[0].id()).unwrap();
        assert_eq!(child_info.snapshot.as_deref(), Some(name.as_str()), "list says where a child came from");

        let (one, two) = (&fork.children[0], &fork.children[1]);
        sh(one, "echo changed > src/main.rs && echo new > 'new file' && rm 'a file with spaces' && mkdir newdir && chmod 700 run.sh").await;
        let changes: Vec<(String, sandbox_core::tree_diff::ChangeKind)> = t
            .sandbox
            .diff(one, None)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.path.to_string_lossy().into_owned(), c.kind))
            .collect();
        let want = [
            ("a file with spaces", Deleted),
            ("hard", Modified),
            ("new file", Added),
            ("newdir", Added),
            ("run.sh", Modified),
            ("src/main.rs", Modified),
        ];
        assert_eq!(changes, want.map(|(p, k)| (p.to_string(), k)), "hard is the same file as src/main.rs");
        assert_eq!(t.sandbox.diff(two, None).await.unwrap(), vec![], "a sibling's changes are not two's");

        // Merged into the parent (paused meanwhile): deleted stays deleted.
        let m = t.sandbox.merge_into_session(one, None, &parent, false).await.unwrap();
        assert_eq!(m.changes, 6);
        let p = t.dir.path();
        assert_eq!(std::fs::read(p.join("src/main.rs")).unwrap(), b"changed\n");
        assert!(!p.join("a file with spaces").exists() && p.join("newdir").is_dir());
        assert_eq!(std::fs::metadata(p.join("run.sh")).unwrap().mode() & 0o777, 0o700);
        assert_eq!(sh(&parent, "cat 'new file'").await, "new\n", "the parent runs on and sees the merge");

        // A path both changed: refused with nothing merged, unless forced.
        sh(two, "echo from-two > 'line\nbreak' && echo two > two-only").await;
        sh(&parent, "echo from-parent > 'line\nbreak'").await;
        let e = t.sandbox.merge_into_session(two, None, &parent, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("line\nbreak"), "{e}");
        assert!(!p.join("two-only").exists(), "a refused merge changes nothing");
        t.sandbox.merge_into_session(two, None, &parent, true).await.unwrap();
        assert_eq!(std::fs::read(p.join("line\nbreak")).unwrap(), b"from-two\n");
        // A running session's working dir is not a plain directory to merge into.
        let e = t.sandbox.merge(two, None, p, true).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("running session"), "{e}");
        // Into a plain directory: a copy of the original state takes it cleanly.
        let elsewhere = tempfile::tempdir().unwrap();
        let copy = elsewhere.path().join("original");
        let cp = std::process::Command::new("cp").arg("-a").arg(&fork.snapshot.info.tree).arg(&copy).status();
        assert!(cp.unwrap().success());
        let r = t.sandbox.merge(two, Some(&name), &copy, false).await.unwrap();
        assert_eq!((r.changes, r.applied), (2, 2), "{r:?}");
        assert_eq!(std::fs::read(copy.join("line\nbreak")).unwrap(), b"from-two\n");

        // Bad input: no change, nothing made.
        for count in [0, 10_000] {
            let e = t.sandbox.fork(&parent, ForkSpec::new(count, kids.path())).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{count}: {e}");
        }
        let e = t.sandbox.fork(&parent, ForkSpec::new(1, kids.path().join("missing"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let mut spec = ForkSpec::new(1, kids.path());
        spec.template.working_dir = "/elsewhere".into();
        assert_eq!(t.sandbox.fork(&parent, spec).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let e = t.sandbox.diff(&parent, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "the parent did not start from a snapshot: {e}");
        assert_eq!(t.sandbox.diff(&parent, Some("nope")).await.unwrap_err().kind(), ErrorKind::NotFound);

        // All or nothing: the second child's id is taken, so the first is undone too.
        let mut spec = ForkSpec::new(2, kids.path());
        spec.template.id = "taken".into();
        spec.snapshot = Some("undone".into());
        let squatter = t.sandbox.start(SessionSpec::new("taken-2", t.dir.path())).await.unwrap();
        let e = t.sandbox.fork(&parent, spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionExists, "{e}");
        assert!(!kids.path().join("taken-1").exists() && !kids.path().join("taken-2").exists());
        assert_eq!(t.sandbox.snapshot_info("undone").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert!(t.sandbox.list().await.unwrap().iter().all(|i| i.id != "taken-1"));
        squatter.stop().await.unwrap();

        for c in &fork.children {
            c.stop().await.unwrap();
        }
        parent.stop().await.unwrap();
        for c in &fork.children {
            t.sandbox.remove_copy(c.working_dir()).await.unwrap();
        }
        t.sandbox.remove_snapshot(&name).await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

/// An xfs with reflinks: as root the test makes one on a loop device; the rootless run
/// gets one from scripts/test (`SANDBOX_E2E_XFS`).
struct Xfs {
    path: std::path::PathBuf,
    image: Option<std::path::PathBuf>,
}

impl Xfs {
    fn new() -> Xfs {
        if let Some(p) = std::env::var_os("SANDBOX_E2E_XFS") {
            return Xfs { path: p.into(), image: None };
        }
        assert!(
            !sandbox_e2e::rootless(),
            "run as root, or set SANDBOX_E2E_XFS to an xfs with reflinks this user can write (scripts/test does)"
        );
        let image = std::env::temp_dir().join(unique_id("sandbox-xfs-img"));
        let path = std::env::temp_dir().join(unique_id("sandbox-xfs"));
        std::fs::create_dir(&path).unwrap();
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(std::process::Command::new("truncate").args(["-s", "512M"]).arg(&image));
        run(std::process::Command::new("mkfs.xfs").args(["-q", "-m", "reflink=1"]).arg(&image));
        run(std::process::Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&path));
        Xfs { path, image: Some(image) }
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        if let Some(image) = &self.image {
            let _ = std::process::Command::new("umount").arg(&self.path).output();
            let _ = std::fs::remove_dir(&self.path);
            let _ = std::fs::remove_file(image);
        }
    }
}

/// Whether every extent of `file` is shared with another file (a reflink's data).
fn shares_its_data(file: &Path) -> bool {
    let out = std::process::Command::new("filefrag").arg("-v").arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let extents: Vec<&str> =
        text.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    !extents.is_empty() && extents.iter().all(|l| l.contains("shared"))
}

#[test]
fn on_a_filesystem_with_reflinks_copies_share_their_data() {
    let t = TestScope::new("reflink");
    let xfs = Xfs::new();
    let base = xfs.path.join(unique_id("reflink"));
    let (work, store, kids) = (base.join("work"), base.join("snapshots"), base.join("kids"));
    for d in [&work, &kids] {
        std::fs::create_dir_all(d).unwrap();
    }
    awkward(&work);
    run(T, async {
        let mut config = sandbox_e2e::test_config(&t.scope);
        config.snapshot_dir = Some(store.clone());
        let sb = sandbox_core::Sandbox::new(config);
        let parent = sb.start(SessionSpec::new(unique_id("reflink-parent"), &work)).await.unwrap();
        let r = sb.snapshot(&parent, "cow").await.unwrap();
        assert_eq!(r.info.copy, sandbox_core::CopyMethod::Reflink, "{r:?}");
        assert!(shares_its_data(&r.info.tree.join("big.bin")), "the snapshot's copy shares the working dir's blocks");
        let child = sb
            .start(SessionSpec { snapshot: Some("cow".into()), ..SessionSpec::new(unique_id("kid"), kids.join("k")) })
            .await
            .unwrap();
        assert_eq!(child.start_report().unwrap().snapshot.as_ref().unwrap().copy, sandbox_core::CopyMethod::Reflink);
        assert_eq!(diff(&r.info.tree, child.working_dir()).unwrap(), vec![], "byte for byte");
        // Copy on write: the child's write changes its file only.
        sh(&child, "printf x | dd of=big.bin bs=1 seek=10 conv=notrunc 2>/dev/null").await;
        let snap = std::fs::read(r.info.tree.join("big.bin")).unwrap();
        let mine = std::fs::read(child.working_dir().join("big.bin")).unwrap();
        assert_eq!((snap[10], mine[10]), (70, b'x'), "byte 10 of big.bin is 10 * 7 % 251");
        assert_eq!(std::fs::read(work.join("big.bin")).unwrap(), snap, "the parent's file is untouched");
        child.stop().await.unwrap();
        parent.stop().await.unwrap();
        sb.remove_snapshot("cow").await.unwrap();
        let images = std::process::Command::new("podman")
            .args(["images", "-q", "--filter", &format!("label=sandbox.snapshot.store={}", store.display())])
            .output()
            .unwrap();
        assert!(images.stdout.is_empty(), "no image is left");
    });
    if sandbox_e2e::rootless() {
        let _ = std::process::Command::new("podman").args(["unshare", "rm", "-rf"]).arg(&base).output();
    }
    let _ = std::fs::remove_dir_all(&base);
    assert!(t.leftovers().is_empty());
}

/// A snapshot whose caller goes away mid-way (its future dropped while the session is
/// frozen) leaves the session running, no partial dir, and no image once reaped.
#[test]
fn an_interrupted_snapshot_resumes_the_session_and_leaves_nothing() {
    use sandbox_core::{EventAction, EventFilter, EventKind};
    let t = TestScope::new("snapcut");
    // Enough data that the copy is still going when the pause event arrives.
    let data: Vec<u8> = (0..200u32 << 20).map(|i| (i % 253) as u8 | 1).collect();
    std::fs::write(t.dir.path().join("data.bin"), data).unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("snapcut")).await.unwrap();
        let mut life = s.events(Some(1), EventFilter { kinds: vec![EventKind::Lifecycle], path_prefix: None });
        let snap = t.sandbox.snapshot(&s, "cut");
        tokio::select! {
            r = snap => panic!("the snapshot finished before it could be interrupted: {r:?}"),
            e = life.wait_for(|e| e.action == EventAction::Paused, Some(Duration::from_secs(60))) => { e.unwrap(); }
        }
        // Dropped: the session is resumed in the background.
        life.wait_for(|e| e.action == EventAction::Resumed, Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(sh(&s, "echo running").await, "running\n");
        let store = t.snapshots.path();
        let mut left = usize::MAX;
        for _ in 0..100 {
            left = std::fs::read_dir(store).unwrap().count();
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "no partial dir is left");
        // A commit that finished after all is an orphan image the reap removes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        t.sandbox.reap_snapshots().await.unwrap();
        let images = std::process::Command::new("podman")
            .args(["images", "-q", "--filter", &format!("label=sandbox.snapshot.store={}", store.display())])
            .output()
            .unwrap();
        assert!(images.stdout.is_empty(), "no image is left: {}", String::from_utf8_lossy(&images.stdout));
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn reap_mounts_overlay_copies_again_and_forgets_deleted_ones() {
    let t = TestScope::new("snapreap");
    std::fs::write(t.dir.path().join("f"), b"base\n").unwrap();
    let kids = tempfile::tempdir().unwrap();
    run(T, async {
        let parent = t.sandbox.start(t.spec("snapreap")).await.unwrap();
        t.sandbox.snapshot(&parent, "r").await.unwrap();
        parent.stop().await.unwrap();
        let (a, b) = (kids.path().join("a"), kids.path().join("b"));
        for dir in [&a, &b] {
            let spec = SessionSpec { snapshot: Some("r".into()), ..SessionSpec::new(unique_id("reapkid"), dir) };
            let child = t.sandbox.start(spec).await.unwrap();
            let copy = child.start_report().and_then(|r| r.snapshot.as_ref()).map(|s| s.copy);
            assert_eq!(copy, Some(sandbox_core::CopyMethod::Overlay));
            sh(&child, "echo mine > f").await;
            child.stop().await.unwrap();
        }
        // As after a reboot: the overlays are gone and their dirs empty; b the user
        // deleted too.
        for dir in [&a, &b] {
            let out = if sandbox_e2e::rootless() {
                std::process::Command::new("fusermount3").arg("-u").arg(dir).output()
            } else {
                std::process::Command::new("umount").arg(dir).output()
            }
            .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(!a.join("f").exists(), "unmounted");
        std::fs::remove_dir(&b).unwrap();
        let reaped = t.sandbox.reap_snapshots().await.unwrap();
        assert!(reaped.contains(&a.canonicalize().unwrap()), "a is mounted again: {reaped:?}");
        assert_eq!(std::fs::read(a.join("f")).unwrap(), b"mine\n", "with the child's changes");
        assert_eq!(t.sandbox.remove_copy(&b).await.unwrap_err().kind(), ErrorKind::NotFound, "b is forgotten");
        assert!(t.sandbox.reap_snapshots().await.unwrap().is_empty(), "a second reap finds nothing");
        t.sandbox.remove_copy(&a).await.unwrap();
        assert!(!a.exists());

        // No working dir given: a managed copy in the copy dir, named after the session;
        // the session reaches only its own copy; the copy dir goes with the last copy.
        let id = unique_id("managed");
        let uid = rustix::process::geteuid().as_raw();
        let copies = sandbox_core::snapshot::copy_dir(t.sandbox.config(), uid);
        let had_copies = copies.exists();
        let m = t.sandbox.start(SessionSpec::from_snapshot(&id, "r")).await.unwrap();
        assert_eq!(m.working_dir(), copies.canonicalize().unwrap().join(&id));
        let store = t.snapshots.path().canonicalize().unwrap();
        assert_eq!(sh(&m, "cat f; pwd").await, format!("base\n{}\n", m.working_dir().display()));
        let o = m.exec(&["ls", &store.display().to_string()], ExecOptions::new()).await.unwrap();
        assert_ne!(o.exit_code, Some(0), "the snapshot dir is not in the container");
        assert_eq!(t.sandbox.snapshots().await.unwrap().len(), 1, "the managed copies are no snapshot");
        let dir = m.working_dir().to_path_buf();
        m.stop().await.unwrap();
        t.sandbox.remove_copy(&dir).await.unwrap();
        assert!(!dir.exists());
        assert!(had_copies || !copies.exists(), "{} is removed when empty", copies.display());
        let e = t.sandbox.start(SessionSpec::from_snapshot("../up", "r")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "a managed copy is named after a valid id: {e}");
        t.sandbox.remove_snapshot("r").await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_snapshot_takes_again_while_frozen_only_what_changed_during_its_first_copy() {
    let t = TestScope::new("snapbusy");
    awkward(t.dir.path());
    let kids = tempfile::tempdir().unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("snapbusy")).await.unwrap();
        // Nothing written for a while (a change counts as made during the copy from a
        // second before it began): the freeze only checks.
        sh(&s, "echo installed > /etc/tool").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let idle = t.sandbox.snapshot(&s, "idle").await.unwrap();
        // Both with an upper layer to check (overlay storage) and without one (vfs, which
        // rootless podman may have chosen: then its root filesystem is checked).
        assert_eq!(idle.retaken, Vec::<String>::new(), "{idle:?}");
        assert_eq!(diff(&idle.info.tree, t.dir.path()).unwrap(), vec![]);

        // A task writing the same counter to the container and then the working dir
        // without pause: both are taken again frozen, and agree.
        let busy = TaskSpec::shell("i=0; while :; do i=$((i+1)); echo $i > /etc/tick; echo $i > tick; done");
        s.spawn_task(busy).await.unwrap();
        while !t.dir.path().join("tick").exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = t.sandbox.snapshot(&s, "busy").await.unwrap();
        assert_eq!(r.retaken, ["working_dir", "container"], "{r:?}");
        // A counter file is empty when the freeze came between its truncation and write.
        let w = String::from_utf8(std::fs::read(r.info.tree.join("tick")).unwrap()).unwrap().trim().parse::<u64>().ok();
        let dir = kids.path().join("child");
        let spec = SessionSpec { snapshot: Some("busy".into()), ..SessionSpec::new(unique_id("busykid"), &dir) };
        let child = t.sandbox.start(spec).await.unwrap();
        let c = sh(&child, "cat /etc/tick").await.trim().parse::<u64>().ok();
        let agree = match (c, w) {
            (Some(c), Some(w)) => c == w || c == w + 1,
            (Some(_), None) | (None, Some(_)) => true,
            (None, None) => false,
        };
        assert!(agree, "the container's counter {c:?} and the working dir's {w:?} are of one moment");
        assert_eq!(sh(&child, "cat /etc/tool").await, "installed\n");
        child.stop().await.unwrap();
        s.stop().await.unwrap();
        t.sandbox.remove_copy(&dir).await.unwrap();
        for name in ["idle", "busy"] {
            t.sandbox.remove_snapshot(name).await.unwrap();
        }
    });
    assert!(t.leftovers().is_empty());
}
