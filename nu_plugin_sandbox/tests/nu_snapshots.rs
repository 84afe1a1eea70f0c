//! End-to-end tests of snapshots, forks, diffs and merges with the real nu 0.115.1 and
//! real podman: `sandbox snapshot` (and its `list` and `remove`), `sandbox start
//! --snapshot`, `sandbox fork`, `sandbox diff`, `sandbox merge` into a directory and into
//! a session, `sandbox copy remove` of the children's copies, the `snapshot` column of
//! `sandbox list`, and bad input as labelled errors. Each test has its own snapshot dir
//! (`SANDBOX_SNAPSHOT_DIR`, from its [`Isolation`]), whose images and copies are removed
//! (overlays unmounted) when it ends, passed or not.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::isolation::{Isolation, mounted_at_or_below, rootless};
use support::nu_runner::{bad, json_within};

/// Upper bound for one script (several starts): a hang fails instead of stalling.
const LIMIT: Duration = Duration::from_secs(400);

/// A small project: a file, one in a subdirectory.
fn project(root: &Path) {
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), b"fn main() {}\n").unwrap();
    std::fs::write(root.join("notes.txt"), b"orig\n").unwrap();
}

/// Everything the isolation made is gone: containers, snapshot images and copies.
fn assert_nothing_left(iso: &Isolation) {
    assert!(iso.leftovers().is_empty(), "containers left: {:?}", iso.leftovers());
    assert!(iso.snapshot_images().is_empty(), "snapshot images left: {:?}", iso.snapshot_images());
    assert!(iso.snapshots_left().is_empty(), "snapshot dir not empty: {:?}", iso.snapshots_left());
    for dir in [iso.scratch_path(), iso.work_path(), iso.copy_path()] {
        assert_eq!(mounted_at_or_below(&dir), Vec::<std::path::PathBuf>::new(), "copies still mounted");
    }
    assert!(!iso.copy_path().exists(), "the copy dir goes with its last managed copy");
}

/// Checks how a child's working dir was copied (`child`), given the snapshot's own copy
/// (`snap`: reflink or copy): a reflink copy where the snapshot got one; else an overlay,
/// always rootful (kernel overlayfs); rootless an overlay (fuse-overlayfs) or a plain
/// copy (where the user's fuse-overlayfs cannot serve the tree or the mount would not
/// reach podman's namespace).
fn assert_child_copy(child: &str, snap: &str, what: &str) {
    if snap == "reflink" {
        assert_eq!(child, "reflink", "{what}: the snapshot got reflinks, so do its children");
    } else if rootless() {
        assert!(child == "overlay" || child == "copy", "{what}: rootless, an overlay or a copy: {child}");
    } else {
        assert_eq!(child, "overlay", "{what}: rootful without reflinks, an overlay on the snapshot");
    }
}

#[test]
fn snapshot_start_fork_diff_and_merge_return_typed_records() {
    let iso = Isolation::new("snap-happy");
    project(iso.work_dir.path());
    let scratch = iso.scratch_path();
    // A plain directory as the snapshot has it, to merge into.
    project(&scratch.join("plain"));
    let r = json_within(
        &iso,
        LIMIT,
        &format!(
            r#"
        sandbox start --id par --quiet | ignore
        sandbox exec par sh -c 'echo base > /etc/sbx-state' | ignore
        let snap = sandbox snapshot par base
        let listed = sandbox snapshot list
        cd '{scratch}'
        let kid = sandbox start --snapshot base kid --id kid --quiet
        let kid_state = (sandbox exec kid cat /etc/sbx-state notes.txt).stdout
        mkdir forks
        let fork = sandbox fork par 2 --into forks --id f --snapshot forked
        sandbox exec f-1 sh -c 'echo changed > notes.txt && echo new > added.txt && rm src/main.rs' | ignore
        let d1 = sandbox diff f-1
        let d2 = sandbox diff f-2
        let d_par = sandbox diff par --snapshot base
        let m_dir = sandbox merge f-1 --into plain
        let m_par = sandbox merge f-1 --into-session par
        let par_notes = (sandbox exec par cat notes.txt added.txt).stdout
        sandbox exec f-2 sh -c 'echo two > notes.txt' | ignore
        {{
          snap: ($snap | reject frozen took created image working_dir)
          snap_types: {{ frozen: ($snap.frozen | describe), took: ($snap.took | describe), size: ($snap.size | describe),
                        created: ($snap.created | describe) }}
          snap_image: ($snap.image | is-not-empty)
          snap_dir: $snap.working_dir
          frozen_le_took: ($snap.frozen <= $snap.took)
          listed: ($listed | select name session copy files)
          listed_columns: ($listed | columns)
          listed_types: {{ size: ($listed.0.size | describe), created: ($listed.0.created | describe) }}
          listed_image: ($listed.0.image == $snap.image)
          kid: ($kid | select id working_dir image_reason snapshot)
          kid_image: ($kid.image == $snap.image)
          kid_state: $kid_state
          fork: ($fork | select id working_dir snapshot copy)
          fork_types: ($fork | each {{|c| $c.duration | describe }})
          fork_image: ($fork | all {{|c| $c.image != $snap.image and ($c.image | is-not-empty) }})
          d1: $d1
          d1_types: ($d1 | each {{|c| $c.size | describe }} | uniq)
          d2: $d2
          d_par: $d_par
          m_dir: $m_dir
          plain: {{ notes: (open --raw plain/notes.txt), added: (open --raw plain/added.txt),
                   main: ('plain/src/main.rs' | path exists) }}
          m_par: $m_par
          par_notes: $par_notes
          list: (sandbox list | select id snapshot | sort-by id)
        }} | to json -r
        "#,
            scratch = scratch.display()
        ),
    );
    let work = iso.work_path().display().to_string();
    let s = scratch.display().to_string();
    let copy = r["snap"]["copy"].as_str().unwrap_or_default().to_string();
    assert!(copy == "reflink" || copy == "copy", "{r}");
    assert_eq!(r["snap"]["name"], "base", "{r}");
    assert_eq!(r["snap"]["session"], "par");
    assert_eq!(r["snap"]["files"], 2, "two files in the working dir: {r}");
    assert_eq!(r["snap"]["size"], 18, "their bytes: {r}");
    assert_eq!(r["snap"]["freeze"], "signals");
    assert!(r["snap"]["processes"].is_u64(), "{r}");
    assert_eq!(
        r["snap_types"],
        json!({"frozen": "duration", "took": "duration", "size": "filesize", "created": "datetime"})
    );
    assert_eq!(r["snap_image"], true);
    assert_eq!(r["snap_dir"], work);
    assert_eq!(r["frozen_le_took"], true);

    assert_eq!(r["listed"], json!([{"name": "base", "session": "par", "copy": copy, "files": 2}]));
    assert_eq!(
        r["listed_columns"],
        json!(["name", "session", "image", "copy", "files", "size", "working_dir", "created"])
    );
    assert_eq!(r["listed_types"], json!({"size": "filesize", "created": "datetime"}));
    assert_eq!(r["listed_image"], true);

    // Started from the snapshot, on a relative path resolved against nu's current dir.
    let kid_copy = r["kid"]["snapshot"]["copy"].as_str().unwrap_or_default().to_string();
    assert_child_copy(&kid_copy, &copy, "kid");
    assert_eq!(
        r["kid"],
        json!({"id": "kid", "working_dir": format!("{s}/kid"), "image_reason": "snapshot",
               "snapshot": {"name": "base", "copy": kid_copy}})
    );
    assert_eq!(r["kid_image"], true);
    assert_eq!(r["kid_state"], "base\norig\n", "the container's changes and the working dir came along");

    let fork_copy = r["fork"][0]["copy"].as_str().unwrap_or_default().to_string();
    assert_child_copy(&fork_copy, &copy, "f-1");
    assert_eq!(
        r["fork"],
        json!([
            {"id": "f-1", "working_dir": format!("{s}/forks/f-1"), "snapshot": "forked", "copy": fork_copy},
            {"id": "f-2", "working_dir": format!("{s}/forks/f-2"), "snapshot": "forked", "copy": fork_copy},
        ])
    );
    assert_eq!(r["fork_types"], json!(["duration", "duration"]));
    assert_eq!(r["fork_image"], true, "the fork's own snapshot image: {r}");

    assert_eq!(
        r["d1"],
        json!([
            {"path": "added.txt", "kind": "added", "entry": "file", "size": 4},
            {"path": "notes.txt", "kind": "modified", "entry": "file", "size": 8},
            {"path": "src/main.rs", "kind": "deleted", "entry": "file", "size": 0},
        ])
    );
    assert_eq!(r["d1_types"], json!(["filesize"]));
    assert_eq!(r["d2"], json!([]), "a sibling's changes are not f-2's");
    assert_eq!(r["d_par"], json!([]), "the parent did not change its working dir");

    assert_eq!(r["m_dir"], json!({"from": "f-1", "into": format!("{s}/plain"), "changes": 3, "applied": 3}));
    assert_eq!(r["plain"], json!({"notes": "changed\n", "added": "new\n", "main": false}));
    assert_eq!(r["m_par"], json!({"from": "f-1", "into": work, "changes": 3, "applied": 3}));
    assert_eq!(r["par_notes"], "changed\nnew\n", "the parent runs on and sees the merge");
    assert_eq!(
        r["list"],
        json!([
            {"id": "f-1", "snapshot": "forked"},
            {"id": "f-2", "snapshot": "forked"},
            {"id": "kid", "snapshot": "base"},
            {"id": "par", "snapshot": null},
        ])
    );

    // The snapshots live in this test's snapshot dir (so its cleanup is theirs).
    let mut kept = iso.snapshots_left();
    kept.sort();
    assert_eq!(kept, ["base", "forked"], "SANDBOX_SNAPSHOT_DIR is the isolation's");
    assert_eq!(iso.snapshot_images().len(), 2, "{:?}", iso.snapshot_images());

    // Both changed notes.txt: refused, naming it, with nothing merged.
    bad(&iso, "sandbox merge f-2 --into-session par", "notes.txt", "par", "--force");
    // A snapshot is not removed while a session's container uses its image, nor while
    // an overlay copy reads from it (checked first).
    if kid_copy == "overlay" {
        bad(&iso, "sandbox snapshot remove base", &format!("{s}/kid"), "base", "sandbox copy remove");
    } else {
        bad(&iso, "sandbox snapshot remove base", "containers still use it", "base", "stop them first");
    }
    // A copy a running session works on is not removed, given relative or absolute.
    let kid_dir = format!("'{s}/kid'");
    bad(&iso, &format!("sandbox copy remove {kid_dir}"), "working dir of session kid", &kid_dir, "sandbox stop");
    bad(&iso, &format!("cd '{s}/forks'; sandbox copy remove f-1"), "working dir of session f-1", "f-1", "sandbox stop");

    let r = json_within(
        &iso,
        LIMIT,
        &format!(
            r#"
        let unchanged = (sandbox exec par cat notes.txt).stdout
        let forced = sandbox merge f-2 --into-session par --force
        let notes = (sandbox exec par cat notes.txt).stdout
        let still = sandbox snapshot list | get name
        let kid_state = (sandbox exec kid cat notes.txt).stdout
        sandbox list | sandbox stop | ignore
        cd '{s}'
        # The stopped children's copies stay, with their changes.
        let kept = {{ kid: (open --raw kid/notes.txt), f1: (open --raw forks/f-1/notes.txt),
                     f1_added: (open --raw forks/f-1/added.txt), f2: (open --raw forks/f-2/notes.txt) }}
        let removed = sandbox copy remove kid
        sandbox copy remove forks/f-1
        sandbox copy remove '{s}/forks/f-2'
        {{ unchanged: $unchanged, forced: $forced, notes: $notes, still: $still, kid_state: $kid_state,
          kept: $kept, removed: $removed, sessions: (sandbox list),
          gone: ([kid forks/f-1 forks/f-2] | each {{|p| $p | path exists }}), forks: (ls forks | length) }} | to json -r
        "#
        ),
    );
    assert_eq!(r["unchanged"], "changed\n", "the refused merge wrote nothing");
    assert_eq!(r["forced"], json!({"from": "f-2", "into": work, "changes": 1, "applied": 1}));
    assert_eq!(r["notes"], "two\n", "forced: the source's version wins");
    assert_eq!(r["still"], json!(["base", "forked"]), "the refused removal removed nothing");
    assert_eq!(r["kid_state"], "orig\n", "the refused copy removal left the running kid's copy");
    assert_eq!(
        r["kept"],
        json!({"kid": "orig\n", "f1": "changed\n", "f1_added": "new\n", "f2": "two\n"}),
        "a stopped child's copy stays with its changes: {r}"
    );
    assert_eq!(r["removed"], json!(null), "copy remove returns nothing");
    assert_eq!(r["sessions"], json!([]));
    assert_eq!(r["gone"], json!([false, false, false]), "the copies are removed: {r}");
    assert_eq!(r["forks"], 0, "nothing left in --into: {r}");
    assert_eq!(iso.copies_left(), Vec::<std::path::PathBuf>::new(), "the snapshots' records of the copies went too");
    assert_eq!(mounted_at_or_below(&scratch), Vec::<std::path::PathBuf>::new(), "no overlay left mounted");
    // A second time: no copy there any more (relative and absolute).
    bad(&iso, &format!("sandbox copy remove {kid_dir}"), "not found", &kid_dir, "working dir of a session");
    bad(&iso, &format!("cd '{s}/forks'; sandbox copy remove f-2"), "not found", "f-2", "working dir of a session");

    let r = json_within(
        &iso,
        LIMIT,
        r#"
        let removed = sandbox snapshot remove base
        sandbox snapshot list | each {|s| sandbox snapshot remove $s } | ignore
        { removed: $removed, after: (sandbox snapshot list) } | to json -r
        "#,
    );
    assert_eq!(r["removed"], json!(null), "remove returns nothing");
    assert_eq!(r["after"], json!([]));
    assert_nothing_left(&iso);
}

#[test]
fn fork_children_take_the_settings_of_start() {
    let iso = Isolation::new("snap-tmpl");
    project(iso.work_dir.path());
    let scratch = iso.scratch_path();
    std::fs::create_dir(scratch.join("kids")).unwrap();
    let probe = r#"printf "%s,%s" "$FORK_ROLE" "${PARENT_ONLY-unset}""#;
    let r = json_within(
        &iso,
        LIMIT,
        &format!(
            r#"
        sandbox start --id fp --env {{ PARENT_ONLY: '1' }} --quiet | ignore
        cd '{s}'
        let fork = sandbox fork fp 1 --into kids --id t --snapshot tmpl --env {{ FORK_ROLE: child }} --memory 300MiB
        let child = (sandbox exec t-1 sh -c '{probe}').stdout
        let parent = (sandbox exec fp sh -c '{probe}').stdout
        sandbox list | sandbox stop | ignore
        sandbox copy remove kids/t-1
        sandbox snapshot remove tmpl
        {{ ids: ($fork | get id), child: $child, parent: $parent }} | to json -r
        "#,
            s = scratch.display()
        ),
    );
    assert_eq!(r["ids"], json!(["t-1"]), "{r}");
    assert_eq!(r["child"], "child,unset", "the template's env, not the parent's own: {r}");
    assert_eq!(r["parent"], ",1", "{r}");

    // A bad setting is blamed on its flag, before anything is made.
    let r = json_within(&iso, LIMIT, "sandbox start --id fb --quiet | get id | to json");
    assert_eq!(r, "fb");
    let kids = format!("'{}/kids'", scratch.display());
    bad(&iso, &format!("sandbox fork fb 1 --into {kids} --memory 1KiB"), "memory", "1KiB", "at least 6MiB");
    bad(&iso, &format!("sandbox fork fb 1 --into {kids} --network moon"), "moon", "moon", "egress");
    assert!(iso.snapshots_left().is_empty(), "{:?}", iso.snapshots_left());
    json_within(&iso, LIMIT, "sandbox list | sandbox stop | ignore; null | to json");
    assert_nothing_left(&iso);
}

#[test]
fn bad_snapshot_fork_diff_and_merge_input_gets_labelled_errors() {
    let iso = Isolation::new("snap-bad");
    project(iso.work_dir.path());
    let scratch = iso.scratch_path();
    let s = scratch.display();
    let r =
        json_within(&iso, LIMIT, "sandbox start --id b --quiet | ignore; sandbox snapshot b one | get name | to json");
    assert_eq!(r, "one");

    // Snapshots: an unknown one, a name taken, a name that is not one.
    let x = format!("'{s}/x'");
    bad(&iso, &format!("sandbox start --snapshot nope {x}"), "not found", "nope", "sandbox snapshot list");
    bad(&iso, "sandbox snapshot b one", "exists", "one", "sandbox snapshot list");
    bad(&iso, "sandbox snapshot b '../x'", "snapshot name", "'../x'", "rules of session ids");
    bad(&iso, "sandbox snapshot remove nope", "not found", "nope", "sandbox snapshot list");
    // Copies: a path no copy is at (a plain directory, a missing one, none), relative or
    // absolute; a running session's working dir, or a dir in it.
    std::fs::create_dir(scratch.join("plain")).unwrap();
    let plain = format!("'{s}/plain'");
    bad(&iso, &format!("sandbox copy remove {plain}"), "not found", &plain, "started from a snapshot");
    bad(&iso, &format!("cd '{s}'; sandbox copy remove missing"), "not found", "missing", "started from a snapshot");
    bad(&iso, "sandbox copy remove ''", "the path is empty", "''", "working dir of a session");
    let work_dir = format!("'{}'", iso.work_path().display());
    bad(&iso, &format!("sandbox copy remove {work_dir}"), "working dir of session b", &work_dir, "sandbox stop");
    let in_work = format!("'{}/src'", iso.work_path().display());
    bad(&iso, &format!("sandbox copy remove {in_work}"), "working dir of running session", &in_work, "sandbox stop");
    assert!(scratch.join("plain").is_dir(), "a refused copy removal removes nothing");
    std::fs::remove_dir(scratch.join("plain")).unwrap();
    // Starting from one: the directory must be new, and given; the image is the snapshot's.
    let here = format!("'{s}'");
    bad(&iso, &format!("sandbox start --snapshot one {here}"), "exists", &here, "does not exist yet");
    // No directory: a managed copy, refused the same way, and nothing made in the copy dir.
    bad(&iso, "sandbox start --snapshot nope", "not found", "nope", "sandbox snapshot list");
    bad(
        &iso,
        "sandbox start --snapshot one --image localhost/other",
        "runs the snapshot's image",
        "localhost/other",
        "leave --image out",
    );
    assert!(!iso.copy_path().exists(), "refused managed starts make no copy dir");
    bad(
        &iso,
        &format!("sandbox start --snapshot one '{s}/y' --image localhost/other"),
        "runs the snapshot's image",
        "localhost/other",
        "leave --image out",
    );
    // Forks: a count out of range, no --into, an --into that does not exist.
    let into = format!("--into {here}");
    bad(&iso, &format!("sandbox fork b 0 {into}"), "fork count", "0", "1 to 64");
    bad(&iso, &format!("sandbox fork b 65 {into}"), "fork count", "65", "1 to 64");
    bad(&iso, &format!("sandbox fork b -1 {into}"), "not a number of children", "-1", "1 to 64");
    bad(&iso, "sandbox fork b 1", "needs --into", "sandbox fork", "--into <dir>");
    let missing = format!("'{s}/missing'");
    bad(&iso, &format!("sandbox fork b 1 --into {missing}"), "not an existing directory", &missing, "--into");
    // Diffs: b did not start from a snapshot; an unknown snapshot.
    bad(&iso, "sandbox diff b", "did not start from a snapshot", "b", "--snapshot");
    bad(&iso, "sandbox diff b --snapshot nope", "not found", "nope", "sandbox snapshot list");
    // Merges: no target, two targets, a target session or directory that does not exist.
    bad(&iso, "sandbox merge b --snapshot one", "needs a target", "sandbox merge", "--into");
    bad(
        &iso,
        &format!("sandbox merge b --snapshot one {into} --into-session b"),
        "one of --into and --into-session",
        "b",
        "--into-session",
    );
    bad(&iso, "sandbox merge b --snapshot one --into-session nosuch", "nosuch", "nosuch", "sandbox list");
    bad(&iso, "sandbox merge b --snapshot one --into-session b", "into itself", "b", "another session");
    bad(
        &iso,
        &format!("sandbox merge b --snapshot one --into {missing}"),
        "not an existing directory",
        &missing,
        "existing directory",
    );
    let work = format!("'{}'", iso.work_path().display());
    bad(
        &iso,
        &format!("sandbox merge b --snapshot one --into {work}"),
        "merge into the session instead",
        &work,
        "--into-session",
    );

    // Nothing was made by the refused calls.
    let left: Vec<String> =
        std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, Vec::<String>::new(), "refused starts and forks made nothing");
    let r = json_within(
        &iso,
        LIMIT,
        r#"
        let names = sandbox snapshot list | get name
        let sessions = sandbox list | get id
        sandbox stop b | ignore
        sandbox snapshot remove one
        { names: $names, sessions: $sessions, after: (sandbox snapshot list) } | to json -r
        "#,
    );
    assert_eq!(r["names"], json!(["one"]), "no snapshot made by the refused calls");
    assert_eq!(r["sessions"], json!(["b"]), "no session made by the refused calls");
    assert_eq!(r["after"], json!([]));
    assert_nothing_left(&iso);
}

#[test]
fn a_start_from_a_snapshot_without_a_dir_works_in_a_managed_copy() {
    let iso = Isolation::new("snap-managed");
    project(iso.work_dir.path());
    let r = json_within(
        &iso,
        LIMIT,
        r#"
        sandbox start --id par --quiet | ignore
        let snap = sandbox snapshot par base
        sandbox stop par | ignore
        let kid = sandbox start --snapshot base --id kid --quiet
        let other = sandbox start --snapshot base --quiet
        let seen = (sandbox exec kid cat notes.txt).stdout
        let listed = sandbox list | where snapshot == base | select id working_dir | sort-by id
        let refused = try { sandbox copy remove $kid.working_dir; 'removed' } catch {|e| $e.msg }
        let kept = ($kid.working_dir | path join notes.txt | path exists)
        sandbox stop kid $other.id | ignore
        sandbox copy remove $kid.working_dir
        let after_one = { kid: ($kid.working_dir | path exists), dir: ($env.SANDBOX_COPY_DIR | path exists) }
        sandbox copy remove $other.working_dir
        let after_all = { other: ($other.working_dir | path exists), dir: ($env.SANDBOX_COPY_DIR | path exists) }
        sandbox snapshot remove base
        {
          retaken: $snap.retaken
          retaken_type: ($snap.retaken | describe)
          kid: ($kid | select id working_dir image_reason)
          kid_snapshot: $kid.snapshot.name
          other_id: $other.id
          other_dir: $other.working_dir
          seen: $seen
          listed: $listed
          refused: $refused
          kept: $kept
          after_one: $after_one
          after_all: $after_all
        } | to json -r
        "#,
    );
    let items = r["retaken"].as_array().unwrap_or_else(|| panic!("retaken is a list: {r}"));
    assert!(items.iter().all(|x| x == "working_dir" || x == "container"), "{r}");
    let ty = r["retaken_type"].as_str().unwrap_or_default();
    assert!(ty == "list<string>" || (items.is_empty() && ty == "list<any>"), "a list of strings: {r}");
    let copies = iso.copy_path();
    let kid_dir = copies.join("kid").display().to_string();
    assert_eq!(r["kid"], json!({"id": "kid", "working_dir": kid_dir, "image_reason": "snapshot"}), "{r}");
    assert_eq!(r["kid_snapshot"], "base", "{r}");
    let other = r["other_id"].as_str().unwrap_or_default().to_string();
    assert!(other.starts_with("base-"), "the id by default: the snapshot's name and a suffix: {r}");
    let other_dir = copies.join(&other).display().to_string();
    assert_eq!(r["other_dir"], other_dir, "{r}");
    assert_eq!(r["seen"], "orig\n", "the snapshot's file, in the session: {r}");
    let mut listed = vec![json!({"id": "kid", "working_dir": kid_dir}), json!({"id": other, "working_dir": other_dir})];
    listed.sort_by_key(|v| v["id"].as_str().unwrap_or_default().to_string());
    assert_eq!(r["listed"], json!(listed), "sandbox list shows the managed copies");
    let refused = r["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("working dir of session kid"), "refused while its session exists: {r}");
    assert_eq!(r["kept"], true, "a refused removal removes nothing: {r}");
    assert_eq!(r["after_one"], json!({"kid": false, "dir": true}), "the copy goes, the copy dir holds the other: {r}");
    assert_eq!(r["after_all"], json!({"other": false, "dir": false}), "the copy dir goes with its last copy: {r}");
    assert_eq!(iso.copies_left(), Vec::<std::path::PathBuf>::new());
    assert_nothing_left(&iso);
}

#[test]
fn the_readme_snapshots_example_runs_as_documented() {
    let iso = Isolation::new("snap-readme");
    let project_dir = iso.work_dir.path().join("project");
    std::fs::create_dir(&project_dir).unwrap();
    std::fs::write(project_dir.join("notes.txt"), b"orig\n").unwrap();
    let script = include_str!("../../tests/nu/readme-snapshots.nu").replacen("plugin use sandbox\n", "", 1);
    let r = json_within(
        &iso,
        LIMIT,
        &format!("cd project\n{script}\n$report | merge {{ kid_copies: ($kids | get copy) }} | to json -r"),
    );
    let snap_copy = r["snap"]["copy"].as_str().unwrap_or_default().to_string();
    assert!(snap_copy == "reflink" || snap_copy == "copy", "{r}");
    assert_eq!(r["snap"], json!({"name": "base", "copy": snap_copy}), "{r}");
    assert_eq!(r["kids"], json!(["try-1", "try-2"]), "{r}");
    for kid in r["kid_copies"].as_array().expect("kid_copies") {
        assert_child_copy(kid.as_str().unwrap_or_default(), &snap_copy, "a fork's child");
    }
    assert_eq!(r["changed"], json!([{"path": "notes.txt", "kind": "modified"}]), "{r}");
    assert_eq!(r["merged"], 1, "{r}");
    assert_eq!(r["notes"], "fixed\n", "{r}");
    assert_eq!(r["tool"], "installed\n", "{r}");
    let tries = iso.work_dir.path().join("tries");
    let left: Vec<_> = std::fs::read_dir(&tries).expect("tries").map(|e| e.expect("entry").file_name()).collect();
    assert!(left.is_empty(), "the children's copies are removed: {left:?}");
    std::fs::remove_dir(&tries).expect("tries is empty");
    assert_nothing_left(&iso);
}

#[test]
fn a_tree_with_a_file_its_owner_cannot_read_gets_plain_copies_rootless() {
    use std::os::unix::fs::PermissionsExt;
    let iso = Isolation::new("snap-unreadable");
    project(iso.work_dir.path());
    let secret = iso.work_dir.path().join("secret");
    std::fs::write(&secret, b"s\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let s = iso.scratch_path().display().to_string();
    let r = json_within(
        &iso,
        LIMIT,
        &format!(
            r#"
        sandbox start --id par --quiet | ignore
        let snap = sandbox snapshot par base
        cd '{s}'
        let kid = sandbox start --snapshot base kid --id kid --quiet
        let seen = (sandbox exec kid cat secret).stdout
        sandbox list | sandbox stop | ignore
        let kept = ('kid/notes.txt' | path exists)
        sandbox copy remove kid
        sandbox snapshot remove base
        {{ snap: $snap.copy, kid: $kid.snapshot.copy, seen: $seen, kept: $kept, gone: (not ('kid' | path exists)),
          after: (sandbox snapshot list) }} | to json -r
        "#
        ),
    );
    let snap = r["snap"].as_str().unwrap_or_default();
    let kid = r["kid"].as_str().unwrap_or_default();
    if snap == "reflink" {
        assert_eq!(kid, "reflink", "{r}");
    } else if rootless() {
        assert_eq!(kid, "copy", "rootless, fuse-overlayfs could not serve the unreadable file: {r}");
    } else {
        assert_eq!(kid, "overlay", "rootful, the kernel's overlay serves any file: {r}");
    }
    assert_eq!(r["seen"], "s\n", "the session (root in its container) reads the file: {r}");
    assert_eq!(r["kept"], true, "the copy stays after the stop: {r}");
    assert_eq!(r["gone"], true, "copy remove removes a plain copy too: {r}");
    assert_eq!(r["after"], json!([]));
    assert_eq!(iso.copies_left(), Vec::<std::path::PathBuf>::new());
    assert_nothing_left(&iso);
}
