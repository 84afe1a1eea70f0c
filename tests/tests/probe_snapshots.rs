//! Probe family `snapshots`: a session whose snapshot children get overlay copies (or
//! plain ones where an overlay cannot serve) attacks the copy machinery from inside: it
//! tries to have a child's copy made or removed through a path it controls, to write
//! through a child into the snapshot or a sibling, to forge overlay metadata (trusted and
//! fuse-overlayfs xattrs, whiteout devices), to reach the snapshot dir, to unmount its
//! own copy, and to make the removal of its copy follow a symlink out. Each row checks
//! the host side afterwards (the snapshot's tree, the sibling, a canary dir), so
//! "refused" means nothing changed there.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use sandbox_core::{CopyMethod, ErrorKind, ExecOptions, ExecOutput, Session, SessionSpec};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, run, unique_id};

const T: Duration = Duration::from_secs(300);

/// `xattr PATH NAME VALUE` sets an extended attribute; `mknod PATH` makes a 0/0 char
/// device (what an overlay reads as a whiteout); `umount PATH` detaches a mount. Prints
/// `ok` or the error.
const PROBE_SOURCE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
int main(int argc, char **argv) {
    int r = -1;
    if (argc == 5 && strcmp(argv[1], "xattr") == 0)
        r = setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0);
    else if (argc == 3 && strcmp(argv[1], "mknod") == 0)
        r = mknod(argv[2], S_IFCHR | 0600, makedev(0, 0));
    else if (argc == 3 && strcmp(argv[1], "umount") == 0)
        r = umount2(argv[2], MNT_DETACH);
    else { fprintf(stderr, "usage\n"); return 2; }
    if (r == 0) { puts("ok"); return 0; }
    printf("%s\n", strerror(errno));
    return 1;
}
"#;

async fn sh(s: &Session, script: &str) -> ExecOutput {
    s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap()
}

fn text(o: &ExecOutput) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)).trim().to_string()
}

fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

#[test]
fn snapshot_children_cannot_reach_past_their_own_copy() {
    let t = TestScope::new("probesnap");
    let kids = tempfile::tempdir().unwrap();
    let canary = tempfile::tempdir().unwrap();
    std::fs::write(canary.path().join("keep"), b"canary").unwrap();
    let wd = t.dir.path();
    std::fs::create_dir(wd.join("src")).unwrap();
    std::fs::write(wd.join("src/main.rs"), b"original\n").unwrap();
    std::fs::hard_link(wd.join("src/main.rs"), wd.join("hard")).unwrap();
    std::fs::write(wd.join("notes"), b"notes\n").unwrap();
    let probe = sandbox_e2e::build_static_probe(wd, "snap_probe", PROBE_SOURCE);
    let probe = probe.display().to_string();
    run(T, async {
        let mut rows = ProbeTable::new("snapshots");
        let parent = t.sandbox.start(t.spec("probesnap")).await.unwrap();
        sh(&parent, &format!("ln -s /etc etc-link && ln -s {} canary-link", canary.path().display())).await;
        let snap = t.sandbox.snapshot(&parent, "base").await.unwrap();
        let tree = snap.info.tree.clone();
        let from =
            |dir: &Path| SessionSpec { snapshot: Some("base".into()), ..SessionSpec::new(unique_id("kid"), dir) };

        // Where a copy is made: never where a running session can redirect it.
        let inside = wd.join("tries");
        std::fs::create_dir(&inside).unwrap();
        let e = t.sandbox.start(from(&inside.join("kid"))).await.map(|_| ()).unwrap_err();
        rows.refused_if(
            "copy_into_session_dir",
            "start a child whose copy goes in the parent's (running) working dir, where it can swap a dir for a symlink to /etc",
            e.kind() == ErrorKind::InvalidInput && !inside.join("kid").exists(),
            e.to_string(),
        );
        std::os::unix::fs::symlink(&inside, kids.path().join("via")).unwrap();
        let e = t.sandbox.start(from(&kids.path().join("via/kid"))).await.map(|_| ()).unwrap_err();
        rows.refused_if(
            "copy_via_symlink",
            "the same through a host symlink to that dir",
            e.kind() == ErrorKind::InvalidInput && !inside.join("kid").exists(),
            e.to_string(),
        );
        let e = t.sandbox.start(from(&t.snapshots.path().join("kid"))).await.map(|_| ()).unwrap_err();
        rows.refused_if(
            "copy_into_store",
            "start a child whose copy goes in the snapshot dir",
            e.kind() == ErrorKind::InvalidInput,
            e.to_string(),
        );

        let (a_dir, b_dir) = (kids.path().join("a"), kids.path().join("b"));
        let a = t.sandbox.start(from(&a_dir)).await.unwrap();
        let b = t.sandbox.start(from(&b_dir)).await.unwrap();
        let method = a.start_report().and_then(|r| r.snapshot.as_ref()).map(|s| s.copy).unwrap();
        assert_eq!(method, CopyMethod::Overlay, "no reflinks here, and every file is the user's: an overlay");

        // Writes through a child stay in its copy.
        let o = sh(&a, "echo changed > src/main.rs && echo via-link >> hard && rm notes && echo new > new").await;
        let untouched = read(&tree.join("src/main.rs")) == Some(b"original\n".to_vec())
            && read(&tree.join("notes")).is_some()
            && !tree.join("new").exists();
        rows.refused_if(
            "write_through_to_snapshot",
            "change, delete and add files in a child, then look in the snapshot's tree",
            o.exit_code == Some(0) && untouched,
            format!("the child's changes went to its own copy {}", text(&o)),
        );
        let b_sees = read(&b_dir.join("src/main.rs")) == Some(b"original\n".to_vec())
            && b_dir.join("notes").exists()
            && text(&sh(&b, "cat hard").await) == "original";
        rows.refused_if("write_to_sibling", "the same, then look in a sibling child (host and container)", b_sees, "");
        let m = |p: &Path| std::fs::symlink_metadata(p).unwrap();
        let linked = m(&a_dir.join("hard")).ino() == m(&a_dir.join("src/main.rs")).ino()
            && read(&a_dir.join("src/main.rs")) == Some(b"changed\nvia-link\n".to_vec());
        rows.row(
            "hard_link_copy_up",
            "write one name of a hard-linked pair in a child: the other name follows, the snapshot's does not",
            if linked && untouched { Outcome::Contained } else { Outcome::Escaped },
            "the pair stays one file in the child's copy only",
        );

        // Overlay metadata forged from inside.
        let probe_in = |dir: &Path| probe.replacen(&wd.display().to_string(), &dir.display().to_string(), 1);
        let pa = probe_in(&a_dir);
        for (name, value, what) in [
            ("trusted.overlay.redirect", "/etc", "point a file at another path of the lower layer"),
            ("trusted.overlay.opaque", "y", "hide the snapshot's files below a dir"),
            ("trusted.overlay.metacopy", "", "claim a file's data lives in the lower layer"),
        ] {
            let target = if name.ends_with("opaque") { "src" } else { "new" };
            let o = sh(&a, &format!("{pa} xattr {target} {name} '{value}'")).await;
            rows.refused_if(
                format!("xattr_{}", name.rsplit('.').next().unwrap()),
                format!("set {name} in a child ({what})"),
                o.exit_code != Some(0),
                text(&o),
            );
        }
        for name in ["user.fuseoverlayfs.opaque", "user.overlay.opaque"] {
            let o = sh(&a, &format!("{pa} xattr src {name} y")).await;
            let sibling_ok = b_dir.join("src/main.rs").exists() && tree.join("src/main.rs").exists();
            let outcome = match (o.exit_code == Some(0), sibling_ok) {
                (false, true) => Outcome::Refused,
                (true, true) => Outcome::Contained,
                _ => Outcome::Escaped,
            };
            rows.row(
                format!("xattr_{}", name.replace('.', "_")),
                format!("set {name} on a dir in a child"),
                outcome,
                format!("{}; the snapshot's tree and the sibling still hold src/main.rs", text(&o)),
            );
        }
        let o = sh(&a, &format!("{pa} mknod src/main.rs.wh; {pa} mknod whiteout")).await;
        let fine = b_dir.join("src/main.rs").exists() && tree.join("src/main.rs").exists();
        rows.row(
            "mknod_whiteout",
            "make 0/0 char devices (what an overlay reads as a whiteout) in a child",
            match (text(&o).contains("ok"), fine) {
                (false, true) => Outcome::Refused,
                (true, true) => Outcome::Contained,
                _ => Outcome::Escaped,
            },
            text(&o),
        );

        // The snapshot dir and the child's own mount.
        let store = t.snapshots.path().display().to_string();
        let o = sh(&a, &format!("ls {store} || ls {}", tree.display())).await;
        rows.refused_if(
            "reach_store",
            "list the snapshot dir and the lower layer from a child",
            o.exit_code != Some(0) && text(&o).contains("No such file"),
            text(&o),
        );
        let o = sh(&a, &format!("{pa} umount {}", a_dir.display())).await;
        let still = a_dir.join("src/main.rs").exists() && text(&sh(&a, "cat new").await) == "new";
        rows.refused_if("unmount_own_copy", "unmount its own working dir", o.exit_code != Some(0) && still, text(&o));

        // Removal: refused while in use; never follows the child's symlinks.
        let e = t.sandbox.remove_copy(&a_dir).await.unwrap_err();
        rows.refused_if(
            "remove_copy_in_use",
            "remove a running child's copy",
            e.kind() == ErrorKind::InvalidInput && a_dir.join("new").exists(),
            e.to_string(),
        );
        let e = t.sandbox.remove_snapshot("base").await.unwrap_err();
        rows.refused_if(
            "remove_lower_layer",
            "remove the snapshot an overlay child reads from",
            e.kind() == ErrorKind::InvalidInput && tree.join("src/main.rs").exists(),
            e.to_string(),
        );
        sh(
            &a,
            &format!("ln -s {} out && mkdir -p d && ln -s {} d/deep", canary.path().display(), canary.path().display()),
        )
        .await;
        a.stop().await.unwrap();
        b.stop().await.unwrap();
        parent.stop().await.unwrap();
        let removed = t.sandbox.remove_copy(&a_dir).await;
        rows.refused_if(
            "remove_follows_symlink",
            "plant symlinks to a host dir (and one to /etc from the parent) in a child, then have its copy removed",
            removed.is_ok() && read(&canary.path().join("keep")).is_some() && Path::new("/etc/passwd").exists(),
            format!("{removed:?}; the canary dir is intact"),
        );
        t.sandbox.remove_copy(&b_dir).await.unwrap();
        t.sandbox.remove_snapshot("base").await.unwrap();
        rows.finish(15);
    });
    assert!(t.leftovers().is_empty());
}
