//! The `sandbox` binary, run as a user's shell runs it, against real podman: output and
//! exit codes pass through, JSON for scripts, a stable exit code per failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;

use sandbox_e2e::{TestScope, unique_id};
use serde_json::Value;
use support::CopyDir;

/// The binary under test: `SANDBOX_CLI` names a copy (the rootless run executes copies).
fn cli_path() -> PathBuf {
    std::env::var_os("SANDBOX_CLI").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sandbox")), PathBuf::from)
}

/// Runs `sandbox args...` in scope `t` with `stdin`.
fn sandbox(t: &TestScope, args: &[&str], stdin: &[u8]) -> Output {
    sandbox_in(t, None, args, stdin)
}

/// Runs `sandbox args...` in scope `t` with `stdin`, in dir `cwd` (default: this one's).
fn sandbox_in(t: &TestScope, cwd: Option<&Path>, args: &[&str], stdin: &[u8]) -> Output {
    sandbox_with(t, cwd, None, args, stdin)
}

/// [`sandbox_in`], with managed copies in `copies` (`SANDBOX_COPY_DIR`) when given.
fn sandbox_with(t: &TestScope, cwd: Option<&Path>, copies: Option<&CopyDir>, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(cli_path());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    if let Some(c) = copies {
        cmd.env("SANDBOX_COPY_DIR", c.path());
    }
    let mut child = cmd
        .args(args)
        .env("SANDBOX_SCOPE", &t.scope)
        .env("SANDBOX_PROVISION", "false")
        // The test's own snapshot dir: its snapshots' images go with the scope.
        .env("SANDBOX_SNAPSHOT_DIR", t.snapshots.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sandbox");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("sandbox output")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `sandbox args...` that must succeed; its stdout.
fn ok(t: &TestScope, args: &[&str]) -> String {
    let o = sandbox(t, args, b"");
    assert_eq!(code(&o), 0, "sandbox {args:?}: {}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

#[test]
fn a_session_from_the_shell_passes_output_and_exit_codes_through() {
    let t = TestScope::new("cli");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let id = unique_id("cli");
    assert_eq!(ok(&t, &["start", &dir, "--id", &id, "-q"]).trim(), id);
    let listed = json(&ok(&t, &["list", "--json"]));
    assert!(listed.as_array().unwrap().iter().any(|s| s["id"] == id.as_str()), "{listed}");
    assert!(ok(&t, &["list"]).starts_with("ID "), "a table with a header");

    // exec: bytes and exit code straight through.
    let o = sandbox(&t, &["exec", &id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], b"");
    assert_eq!((code(&o), text(&o.stdout), text(&o.stderr)), (3, "out\n".into(), "err\n".into()));
    let o = sandbox(&t, &["exec", &id, "--timeout", "300ms", "--", "sleep", "30"], b"");
    assert_eq!(code(&o), 124, "a timeout is 124, like timeout(1)");
    let o = sandbox(&t, &["exec", &id, "--", "sh", "-c", "kill -TERM $$"], b"");
    assert_eq!(code(&o), 128 + 15, "killed by SIGTERM is 143");
    let o = sandbox(&t, &["exec", "-i", &id, "--", "cat"], b"fed through stdin");
    assert_eq!(text(&o.stdout), "fed through stdin");
    let o = sandbox(&t, &["exec", "--json", &id, "--", "sh", "-c", "printf '\\377\\000'; exit 2"], b"");
    let v = json(&text(&o.stdout));
    assert_eq!((code(&o), v["exit_code"].clone(), v["stdout_base64"].clone()), (2, 2.into(), "/wA=".into()), "{v}");
    let o = sandbox(&t, &["exec", &id, "--cwd", "/nonexistent", "--", "true"], b"");
    assert_eq!(code(&o), 81, "a missing cwd is not found: {}", text(&o.stderr));

    // run: streamed, stdin fed, JSON lines.
    let o = sandbox(&t, &["run", &id, "--", "sh", "-c", "echo a; sleep 0.2; echo b"], b"");
    assert_eq!((code(&o), text(&o.stdout)), (0, "a\nb\n".into()));
    let o = sandbox(&t, &["run", &id, "--", "sh", "-c", "cat; exit 6"], b"piped in");
    assert_eq!((code(&o), text(&o.stdout)), (6, "piped in".into()));
    let o = sandbox(&t, &["run", "--jsonl", &id, "--", "sh", "-c", "echo x; exit 4"], b"");
    let lines: Vec<Value> = text(&o.stdout).lines().map(json).collect();
    assert_eq!(code(&o), 4);
    assert_eq!(lines[0], serde_json::json!({"stream": "stdout", "data": "x\n"}));
    assert_eq!(lines.last().unwrap()["exit"]["exit_code"], 4, "{lines:?}");

    // Tasks: the id on stdout, logs followed to the end, wait exits with the task's code.
    let task = ok(&t, &["task", "spawn", &id, "--", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done; exit 5"]);
    let task = task.trim();
    assert!(task.starts_with("task-"), "{task}");
    assert_eq!(ok(&t, &["task", "logs", &id, task, "-f"]), "1\n2\n3\n");
    let o = sandbox(&t, &["task", "wait", &id, task], b"");
    assert_eq!(code(&o), 5);
    let tasks = json(&ok(&t, &["task", "list", &id, "--json"]));
    assert_eq!(tasks[0]["exit_code"], 5, "{tasks}");
    let o = sandbox(&t, &["task", "kill", &id, task], b"");
    assert_eq!(code(&o), 86, "killing a finished task: not running: {}", text(&o.stderr));
    let o = sandbox(&t, &["task", "wait", &id, "task-0000000000000000"], b"");
    assert_eq!(code(&o), 81, "an unknown task: {}", text(&o.stderr));
    let long = ok(&t, &["task", "spawn", &id, "--", "sleep", "30"]);
    let o = sandbox(&t, &["task", "wait", &id, long.trim(), "--timeout", "200ms"], b"");
    assert_eq!(code(&o), 85, "a wait that times out: {}", text(&o.stderr));
    ok(&t, &["task", "kill", &id, long.trim(), "-s", "KILL"]);
    assert_eq!(code(&sandbox(&t, &["task", "wait", &id, long.trim()], b"")), 128 + 9);

    // Terminals: read until text, type, wait.
    let term = ok(&t, &["term", "open", &id, "--", "sh", "-c", "printf ready; read x; echo got-$x; exit 3"]);
    let term = term.trim();
    assert!(ok(&t, &["term", "read", &id, term, "--until", "ready"]).contains("ready"));
    ok(&t, &["term", "send", &id, term, "yes\n"]);
    assert!(ok(&t, &["term", "read", &id, term, "--until", "got-yes"]).contains("got-yes"));
    assert_eq!(code(&sandbox(&t, &["term", "wait", &id, term], b"")), 3);
    let o = sandbox(&t, &["term", "read", &id, term, "--until", "never", "--wait", "100ms"], b"");
    assert_eq!(code(&o), 85, "text that never comes: {}", text(&o.stderr));

    // Files: stdin in, bytes out.
    let content: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let o = sandbox(&t, &["file", "write", &id, "data.bin"], &content);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = sandbox(&t, &["file", "read", &id, "data.bin"], b"");
    assert!(o.stdout == content, "{} bytes came back", o.stdout.len());
    let files = json(&ok(&t, &["file", "ls", &id, "--json"]));
    assert!(files.as_array().unwrap().iter().any(|f| f["name"] == "data.bin" && f["size"] == 300_000), "{files}");
    let o = sandbox(&t, &["file", "write", &id, "x", "--mode", "4755"], b"x");
    assert_eq!(code(&o), 80, "a setuid mode is refused: {}", text(&o.stderr));

    ok(&t, &["stop", &id]);
    let o = sandbox(&t, &["exec", &id, "--", "true"], b"");
    assert_eq!(code(&o), 82, "a stopped session is not found");
    assert!(text(&o.stderr).contains("hint:"), "{}", text(&o.stderr));
    assert!(t.leftovers().is_empty());
}

#[test]
fn pause_and_resume_print_a_row_and_exec_fails_with_not_running_meanwhile() {
    let t = TestScope::new("clipause");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let id = unique_id("clipause");
    ok(&t, &["start", &dir, "--id", &id, "-q"]);
    let p = json(&ok(&t, &["pause", &id, "--json"]));
    assert_eq!(
        (p[0]["id"].as_str(), p[0]["paused"].as_bool(), p[0]["changed"].as_bool()),
        (Some(id.as_str()), Some(true), Some(true)),
        "{p}"
    );
    let o = sandbox(&t, &["exec", &id, "--", "true"], b"");
    assert_eq!(code(&o), 86, "not running: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("paused") && text(&o.stderr).contains("sandbox resume"), "{}", text(&o.stderr));
    assert!(ok(&t, &["resume", &id]).contains(&id), "a table row");
    assert_eq!(ok(&t, &["exec", &id, "--", "echo", "back"]), "back\n");
    let o = sandbox(&t, &["pause", &id, "no-such-session"], b"");
    assert_eq!(code(&o), 82, "the unknown session's error, after the known one paused: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&id), "{}", text(&o.stdout));
    ok(&t, &["stop", &id]);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

/// The `(path, kind)` pairs of `sandbox diff ID --json`.
fn changes(t: &TestScope, id: &str) -> Vec<(String, String)> {
    let v = json(&ok(t, &["diff", id, "--json"]));
    let rows = v.as_array().unwrap_or_else(|| panic!("an array: {v}"));
    rows.iter().map(|c| (c["path"].as_str().unwrap().to_string(), c["kind"].as_str().unwrap().to_string())).collect()
}

/// The copy methods a child of a snapshot may get here: no reflinks on this machine, so
/// an overlay on the snapshot; rootless, a plain copy where the user's fuse-overlayfs
/// cannot serve the snapshot's tree.
fn child_copy_methods() -> &'static [&'static str] {
    if sandbox_e2e::rootless() { &["overlay", "copy"] } else { &["overlay"] }
}

/// The names `sandbox snapshot list --json` lists.
fn snapshot_names(t: &TestScope) -> Vec<String> {
    let v = json(&ok(t, &["snapshot", "list", "--json"]));
    v.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn snapshot_start_fork_diff_and_merge_from_the_shell() {
    // The scope's Drop removes its containers, the images of its snapshot dir
    // (SANDBOX_SNAPSHOT_DIR, set by `sandbox()`) and unmounts the overlay copies of its
    // snapshots, even when an assertion fails; `kids` is made first so that it goes
    // after (a mounted copy in it could not be removed).
    let kids = tempfile::tempdir().unwrap();
    let t = TestScope::new("clisnap");
    std::fs::create_dir(t.dir.path().join("src")).unwrap();
    std::fs::write(t.dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(t.dir.path().join("keep.txt"), "keep\n").unwrap();
    let dir = t.dir.path().to_str().unwrap();
    let id = unique_id("clisnap");
    ok(&t, &["start", dir, "--id", &id, "-q"]);

    // snapshot: a row for people, the report for scripts; a name taken is bad input.
    let table = ok(&t, &["snapshot", &id, "base"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.len() == 2 && lines[0].starts_with("NAME ") && lines[0].contains("FROZEN_MS"), "{table}");
    assert!(lines[1].starts_with("base ") && lines[1].contains(&id), "{table}");
    let r = json(&ok(&t, &["snapshot", &id, "base2", "--json"]));
    assert_eq!((r["name"].as_str(), r["session"].as_str(), r["files"].as_u64()), (Some("base2"), Some(&*id), Some(2)));
    assert_eq!(r["freeze"], "signals", "{r}");
    assert!(r["took_us"].as_u64().is_some_and(|us| us > 0) && r["copy"].is_string(), "{r}");
    let o = sandbox(&t, &["snapshot", &id, "base"], b"");
    assert_eq!(code(&o), 80, "a name taken: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("exists"), "{}", text(&o.stderr));
    let o = sandbox(&t, &["snapshot", &id, "../x"], b"");
    assert_eq!(code(&o), 80, "a bad name: {}", text(&o.stderr));
    assert_eq!(snapshot_names(&t), ["base", "base2"]);
    let listed = ok(&t, &["snapshot", "list"]);
    assert!(listed.starts_with("NAME ") && listed.lines().count() == 3, "{listed}");

    // start --snapshot: a new copy at a dir that must not exist yet.
    let child_dir = kids.path().join("child");
    let child = unique_id("clichild");
    let cd = child_dir.to_str().unwrap();
    let s = json(&ok(&t, &["start", cd, "--id", &child, "--snapshot", "base", "--json"]));
    assert_eq!(
        (s["snapshot"]["name"].as_str(), s["image"]["reason"].as_str()),
        (Some("base"), Some("snapshot")),
        "{s}"
    );
    assert_eq!(std::fs::read_to_string(child_dir.join("keep.txt")).unwrap(), "keep\n");
    let child_copy = s["snapshot"]["copy"].as_str().unwrap_or_default().to_string();
    assert!(child_copy_methods().contains(&child_copy.as_str()), "how the child's dir was made: {s}");
    let sessions = json(&ok(&t, &["list", "--json"]));
    let row = sessions.as_array().unwrap().iter().find(|x| x["id"] == child.as_str()).expect("the child is listed");
    assert_eq!(row["snapshot"], "base", "list says where it came from: {row}");
    let o = sandbox(&t, &["start", kids.path().join("k1").to_str().unwrap(), "--snapshot", "nope"], b"");
    assert_eq!(code(&o), 81, "an unknown snapshot is not found: {}", text(&o.stderr));
    assert!(!kids.path().join("k1").exists(), "nothing is made");
    let o = sandbox(&t, &["start", dir, "--id", &unique_id("k2"), "--snapshot", "base"], b"");
    assert_eq!(code(&o), 80, "a target that exists: {}", text(&o.stderr));

    // fork: a row per child, ids <prefix>-<n>, dirs <into>/<id>.
    let forks = kids.path().join("forks");
    std::fs::create_dir(&forks).unwrap();
    let prefix = unique_id("kid");
    let into = forks.to_str().unwrap();
    let rows = json(&ok(&t, &["fork", &id, "2", "--into", into, "--id", &prefix, "--snapshot", "forked", "--json"]));
    let got: Vec<(&str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["working_dir"].as_str().unwrap(), c["snapshot"].as_str().unwrap()))
        .collect();
    let (one, two) = (format!("{prefix}-1"), format!("{prefix}-2"));
    let canon = forks.canonicalize().unwrap();
    let (one_dir, two_dir) = (canon.join(&one), canon.join(&two));
    assert_eq!(
        got,
        [(one.as_str(), one_dir.to_str().unwrap(), "forked"), (two.as_str(), two_dir.to_str().unwrap(), "forked")]
    );
    let fork_copies: Vec<&str> = rows.as_array().unwrap().iter().map(|c| c["copy"].as_str().unwrap_or("")).collect();
    assert!(fork_copies.iter().all(|c| child_copy_methods().contains(c)), "how the children's dirs were made: {rows}");
    // Bad input: nothing made, no snapshot taken.
    for (args, why) in [
        (vec!["fork", &id, "0", "--into", into], "count 0"),
        (vec!["fork", &id, "65", "--into", into], "count 65"),
        (vec!["fork", &id, "1", "--into", into, "--id", &prefix], "a child dir that exists"),
        (vec!["fork", &id, "1", "--into", "/nonexistent/forks"], "an into that does not exist"),
        (vec!["fork", &id, "1", "--into", into, "--network", "moon"], "a child's unknown network"),
        (vec!["fork", &id, "1", "--into", into, "--memory", "1KiB"], "a child's memory limit below the least"),
    ] {
        let o = sandbox(&t, &args, b"");
        assert_eq!(code(&o), 80, "{why}: {}", text(&o.stderr));
    }
    assert_eq!(snapshot_names(&t), ["base", "base2", "forked"], "a refused fork takes no snapshot");
    assert_eq!(code(&sandbox(&t, &["fork", "no-such-session", "1", "--into", into], b"")), 82);

    // diff: a row per change, sorted by path; a name with a newline is quoted in the table.
    let script = "echo changed > src/main.rs && echo new > 'new file' && rm keep.txt && echo nl > \"$1\"";
    ok(&t, &["exec", &one, "--", "sh", "-c", script, "sh", "line\nbreak"]);
    let want = [("keep.txt", "deleted"), ("line\nbreak", "added"), ("new file", "added"), ("src/main.rs", "modified")];
    assert_eq!(changes(&t, &one), want.map(|(p, k)| (p.to_string(), k.to_string())));
    let table = ok(&t, &["diff", &one]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "a header and a row per change: {table}");
    assert!(lines[0].starts_with("KIND ") && lines[0].ends_with("PATH"), "{table}");
    assert!(lines[2].starts_with("added ") && lines[2].ends_with("\"line\\nbreak\""), "{table}");
    assert!(lines[4].starts_with("modified ") && lines[4].ends_with(" src/main.rs"), "{table}");
    assert_eq!(changes(&t, &two), [], "a sibling's changes are not two's");
    assert_eq!(ok(&t, &["diff", &two]).lines().count(), 1, "a header only");
    let o = sandbox(&t, &["diff", &id], b"");
    assert_eq!(code(&o), 80, "the parent did not start from a snapshot: {}", text(&o.stderr));
    assert_eq!(code(&sandbox(&t, &["diff", &one, "--snapshot", "nope"], b"")), 81);
    assert_eq!(changes(&t, &child), [], "a start from a snapshot diffs against it");

    // merge into the parent: applied, the parent sees it.
    let m = json(&ok(&t, &["merge", &one, "--into-session", &id, "--json"]));
    assert_eq!((m["changes"].as_u64(), m["applied"].as_u64(), m["into"].as_str()), (Some(4), Some(4), Some(&*id)));
    assert_eq!(std::fs::read_to_string(t.dir.path().join("src/main.rs")).unwrap(), "changed\n");
    assert!(!t.dir.path().join("keep.txt").exists());
    // A path both changed: exit 80 naming it, nothing merged; --force lets the child win.
    ok(&t, &["exec", &two, "--", "sh", "-c", "echo from-two > src/main.rs && echo two > two-only"]);
    let o = sandbox(&t, &["merge", &two, "--into-session", &id], b"");
    assert_eq!(code(&o), 80, "a conflict: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("src/main.rs"), "the conflict names the path: {}", text(&o.stderr));
    assert!(!t.dir.path().join("two-only").exists(), "a refused merge changes nothing");
    let m = ok(&t, &["merge", &two, "--into-session", &id, "--force"]);
    assert!(m.contains("applied") && m.contains("changes"), "a record for people: {m}");
    assert_eq!(std::fs::read_to_string(t.dir.path().join("src/main.rs")).unwrap(), "from-two\n");
    // Into a plain directory (the stopped child's copy of the same state).
    ok(&t, &["stop", &child]);
    let m = json(&ok(&t, &["merge", &two, "--into", cd, "--json"]));
    assert_eq!((m["changes"].as_u64(), m["applied"].as_u64()), (Some(2), Some(2)), "{m}");
    assert_eq!(std::fs::read_to_string(child_dir.join("two-only")).unwrap(), "two\n");
    let o = sandbox(&t, &["merge", &two, "--into", "/nonexistent/target"], b"");
    assert_eq!(code(&o), 80, "a target that does not exist: {}", text(&o.stderr));
    let o = sandbox(&t, &["merge", &two, "--into", dir], b"");
    assert_eq!(code(&o), 80, "a running session's working dir: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("merge into the session"), "{}", text(&o.stderr));
    assert_eq!(code(&sandbox(&t, &["merge", &two], b"")), 2, "a target is required");
    assert_eq!(code(&sandbox(&t, &["merge", &two, "--into", cd, "--into-session", &id], b"")), 2, "one target");

    // snapshot remove (or rm): refused while children use it, then removed; unknown names are not found.
    let o = sandbox(&t, &["snapshot", "remove", "forked"], b"");
    assert_eq!(code(&o), 80, "children's containers use it: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("sandbox copy remove"), "the hint says what to do: {}", text(&o.stderr));
    assert_eq!(snapshot_names(&t), ["base", "base2", "forked"], "a refused removal removes nothing");
    // copy remove: refused while a session has the copy as its working dir.
    let one_path = one_dir.to_str().unwrap();
    let o = sandbox(&t, &["copy", "remove", one_path], b"");
    assert_eq!(code(&o), 80, "a running child's copy: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&one) && text(&o.stderr).contains("stop it first"), "{}", text(&o.stderr));
    assert!(one_dir.join("new file").exists(), "a refused removal removes nothing");
    ok(&t, &["stop", &one, &two, &id]);
    // A stopped child's copy stays (its changes are its output); an overlay copy keeps
    // the snapshot it reads from.
    assert_eq!(std::fs::read_to_string(one_dir.join("new file")).unwrap(), "new\n");
    if fork_copies.contains(&"overlay") {
        let o = sandbox(&t, &["snapshot", "remove", "forked"], b"");
        assert_eq!(code(&o), 80, "overlay copies read from it: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(one_path), "the refusal names the copies: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("sandbox copy remove"), "the hint says what to do: {}", text(&o.stderr));
        assert_eq!(snapshot_names(&t), ["base", "base2", "forked"], "a refused removal removes nothing");
    }
    // A relative path is the current dir's; every path named is tried, the first error
    // (an unknown path: not found) is the command's.
    let o = sandbox_in(&t, Some(&canon), &["copy", "remove", &one], b"");
    assert_eq!(code(&o), 0, "a relative path: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!("removed copy {one_path}")), "{}", text(&o.stderr));
    assert!(!one_dir.exists(), "the copy is gone");
    let nowhere = kids.path().join("no-copy-here");
    let o = sandbox(&t, &["copy", "rm", cd, nowhere.to_str().unwrap(), two_dir.to_str().unwrap()], b"");
    assert_eq!(code(&o), 81, "the unknown one's error, after the others went: {}", text(&o.stderr));
    assert!(!child_dir.exists() && !two_dir.exists(), "the others are gone");
    let o = sandbox(&t, &["copy", "remove", one_path], b"");
    assert_eq!(code(&o), 81, "a copy removed already is not found: {}", text(&o.stderr));
    let o = sandbox(&t, &["snapshot", "rm", "base", "nope", "base2", "forked"], b"");
    assert_eq!(code(&o), 81, "the unknown one's error, after the others went: {}", text(&o.stderr));
    assert!(snapshot_names(&t).is_empty());
    assert_eq!(std::fs::read_dir(t.snapshots.path()).unwrap().count(), 0, "nothing of them is left");
    assert_eq!(ok(&t, &["snapshot", "reap", "--json"]).trim(), "[]");
    assert!(t.leftovers().is_empty());
}

/// `sandbox args...` with managed copies in `copies`, which must succeed: stdout, stderr.
fn ok_in(t: &TestScope, copies: &CopyDir, args: &[&str]) -> (String, String) {
    let o = sandbox_with(t, None, Some(copies), args, b"");
    assert_eq!(code(&o), 0, "sandbox {args:?}: {}{}", text(&o.stdout), text(&o.stderr));
    (text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_start_from_a_snapshot_without_a_dir_works_in_a_managed_copy() {
    // Made first, so that it goes after the scope, whose Drop removes the containers and
    // unmounts the overlay copies of its snapshots (managed ones too) even when an
    // assertion fails; then it removes what is left in the copy dir.
    let copies = CopyDir::new();
    let t = TestScope::new("climanaged");
    std::fs::write(t.dir.path().join("keep.txt"), "keep\n").unwrap();
    let dir = t.dir.path().to_str().unwrap();
    let id = unique_id("climanaged");
    ok(&t, &["start", dir, "--id", &id, "-q"]);

    // retaken: a list for scripts, a short column for people ("-" when nothing was).
    let r = json(&ok(&t, &["snapshot", &id, "base", "--json"]));
    let retaken: Vec<&str> =
        r["retaken"].as_array().unwrap_or_else(|| panic!("a list: {r}")).iter().map(|x| x.as_str().unwrap()).collect();
    assert!(retaken.iter().all(|x| ["working_dir", "container"].contains(x)), "{r}");
    let table = ok(&t, &["snapshot", &id, "base2"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.len() == 2 && lines[0].ends_with(" RETAKEN"), "{table}");
    let cell = lines[1].rsplit(' ').next().unwrap_or_default();
    assert!(
        cell == "-" || cell.split(',').all(|x| ["working_dir", "container"].contains(&x)),
        "the retaken cell: {table}"
    );
    ok(&t, &["snapshot", "rm", "base2"]);
    ok(&t, &["stop", &id]);

    // No DIR: a managed copy at <copy dir>/<id>; --json's working_dir and `list` say where.
    assert!(!copies.exists(), "no copy dir before the first managed copy");
    let child = unique_id("climanaged-c");
    let (out, err) = ok_in(&t, &copies, &["start", "--snapshot", "base", "--id", &child, "--json"]);
    let s = json(&out);
    let child_dir = copies.canonical().join(&child);
    assert_eq!(s["working_dir"].as_str(), Some(child_dir.to_str().unwrap()), "{s}");
    assert_eq!((s["snapshot"]["name"].as_str(), s["image"]["reason"].as_str()), (Some("base"), Some("snapshot")));
    assert!(err.contains("managed copy") && err.contains(child_dir.to_str().unwrap()), "a note names it: {err}");
    assert_eq!(std::fs::read_to_string(child_dir.join("keep.txt")).unwrap(), "keep\n", "the snapshot's file");
    assert_eq!(ok(&t, &["exec", &child, "--", "cat", "keep.txt"]), "keep\n", "the session works in it");
    // The id by default: the snapshot's name and a suffix; for people, the id alone.
    let (out, _) = ok_in(&t, &copies, &["start", "--snapshot", "base", "-q"]);
    let other = out.trim().to_string();
    assert!(other.starts_with("base-") && out.lines().count() == 1, "the id alone: {out:?}");
    let other_dir = copies.canonical().join(&other);
    let listed = json(&ok(&t, &["list", "--json"]));
    let dirs: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["snapshot"] == "base")
        .map(|x| (x["id"].as_str().unwrap(), x["working_dir"].as_str().unwrap()))
        .collect();
    let mut want = vec![(child.as_str(), child_dir.to_str().unwrap()), (other.as_str(), other_dir.to_str().unwrap())];
    want.sort();
    let mut got = dirs;
    got.sort();
    assert_eq!(got, want, "list shows the managed copies");

    // After the stop, copy remove removes each, and the copy dir with the last one.
    let o = sandbox_with(&t, None, Some(&copies), &["copy", "remove", child_dir.to_str().unwrap()], b"");
    assert_eq!(code(&o), 80, "refused while its session exists: {}", text(&o.stderr));
    assert!(child_dir.join("keep.txt").exists(), "a refused removal removes nothing");
    ok(&t, &["stop", &child, &other]);
    ok_in(&t, &copies, &["copy", "remove", child_dir.to_str().unwrap()]);
    assert!(!child_dir.exists() && copies.exists(), "the copy is gone, the copy dir holds the other");
    ok_in(&t, &copies, &["copy", "rm", other_dir.to_str().unwrap()]);
    assert!(!other_dir.exists() && !copies.exists(), "the copy dir went with its last copy");
    ok(&t, &["snapshot", "rm", "base"]);
    assert_eq!(std::fs::read_dir(t.snapshots.path()).unwrap().count(), 0, "nothing of the snapshot is left");
    assert!(t.leftovers().is_empty());
}

#[test]
fn bad_input_has_a_stable_exit_code_and_starts_nothing() {
    let t = TestScope::new("clibad");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let o = sandbox(&t, &["start", &dir, "--id", "bad id!"], b"");
    assert_eq!(code(&o), 80, "{}", text(&o.stderr));
    let o = sandbox(&t, &["start", "/run", "--id", &unique_id("clibad")], b"");
    assert_eq!(code(&o), 80, "a system dir as working dir: {}", text(&o.stderr));
    let o = sandbox(&t, &["exec", "no-such-session", "--", "true"], b"");
    assert_eq!(code(&o), 82, "{}", text(&o.stderr));
    for args in [
        &["exec"][..],
        &["start", "--memory", "lots"],
        &["task", "kill", "s", "t", "-s", "NOPE"],
        &["list", "--json", "--jsonl"],
        &["exec", "s", "--timeout", "5 parsecs", "--", "true"],
    ] {
        let o = sandbox(&t, args, b"");
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o.stderr));
    }
    let o = sandbox(&t, &["reap", "--json"], b"");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(json(&text(&o.stdout)), serde_json::json!([]));
    assert!(t.leftovers().is_empty());
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let t = TestScope::new("cligen");
    for shell in ["bash", "zsh", "fish"] {
        let s = ok(&t, &["completions", shell]);
        assert!(s.contains("sandbox") && s.contains("spawn"), "{shell}: {s}");
    }
    let man = ok(&t, &["man"]);
    assert!(man.starts_with(".ie") || man.starts_with(".TH"), "{}", &man[..man.len().min(200)]);
    assert!(man.contains("Exit codes"), "the man page lists the exit codes");
}

#[test]
fn the_readme_example_runs() {
    let t = TestScope::new("clireadme");
    let bin_dir = cli_path().parent().expect("the binary's dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let id = unique_id("readme");
    let o = Command::new("bash")
        .args(["-c", include_str!("readme-session.sh"), "readme-session.sh", t.dir.path().to_str().unwrap(), &id])
        .env("PATH", path)
        .env("SANDBOX_SCOPE", &t.scope)
        .env("SANDBOX_PROVISION", "false")
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    let out = text(&o.stdout);
    assert!(o.status.success(), "the example failed:\n{out}\n{}", text(&o.stderr));
    for want in [
        "hello from the sandbox\n",
        "timed out: 124\n",
        "2\n1\n2\n3\n",
        "building\nbuilt\ntask exited 0\n",
        "the terminal is 24x80\n",
        "some notes\n1\n",
    ] {
        assert!(out.contains(want), "{want:?} is not in the example's output:\n{out}");
    }
    assert!(t.leftovers().is_empty());
}

/// Upper bound for each wait on the PTY (only stops a hung test).
const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `sandbox args...` on a PTY of `rows` x `cols` this test owns.
fn on_pty(t: &TestScope, args: &[&str], rows: u16, cols: u16) -> sandbox_e2e::pty::Pty {
    sandbox_e2e::pty::Pty::spawn(&cli_path(), args, rows, cols, |cmd| {
        cmd.env("SANDBOX_SCOPE", &t.scope).env("SANDBOX_PROVISION", "false").env("TERM", "xterm-256color");
    })
}

#[test]
fn term_attach_connects_this_terminal_both_ways_and_detaches() {
    let t = TestScope::new("cliattach");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let id = unique_id("cliattach");
    ok(&t, &["start", &dir, "--id", &id, "-q"]);
    // Without a terminal: a clear error, nothing opened.
    let o = sandbox(&t, &["term", "attach", &id], b"");
    assert_eq!(code(&o), 80, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("interactive terminal"), "{}", text(&o.stderr));
    assert_eq!(json(&ok(&t, &["term", "list", &id, "--json"])), serde_json::json!([]));

    // A new shell sized like this terminal; keys in, output out; its exit code is ours.
    let mut pty = on_pty(&t, &["term", "attach", &id], 30, 100);
    pty.expect("(Ctrl-] detaches)", LIMIT);
    pty.expect("# ", LIMIT);
    pty.send(b"stty size\r");
    pty.expect("30 100", LIMIT);
    pty.send(b"echo typed-$((6 * 7))\r");
    pty.expect("typed-42", LIMIT);
    pty.resize(40, 120);
    pty.send_until(b"stty size\r", "40 120");
    pty.send(b"exit 7\r");
    assert_eq!(pty.wait(LIMIT).code(), Some(7), "{}", pty.transcript());

    // Ctrl-] detaches and leaves the terminal running; a second attach returns to it.
    let mut pty = on_pty(&t, &["term", "attach", &id], 24, 80);
    pty.expect("# ", LIMIT);
    pty.send(b"echo before-detach\r");
    pty.expect("before-detach", LIMIT);
    pty.send(&[0x1d]);
    pty.expect("detached", LIMIT);
    assert_eq!(pty.wait(LIMIT).code(), Some(0), "{}", pty.transcript());
    let terms = json(&ok(&t, &["term", "list", &id, "--json"]));
    let running: Vec<&Value> = terms.as_array().unwrap().iter().filter(|r| r["state"] == "running").collect();
    assert_eq!(running.len(), 1, "{terms}");
    let term = running[0]["id"].as_str().unwrap().to_string();
    let mut pty = on_pty(&t, &["term", "attach", &id, &term], 24, 80);
    pty.expect("(Ctrl-] detaches)", LIMIT);
    pty.send(b"echo back-$((2 + 3))\r");
    pty.expect("back-5", LIMIT);
    pty.send(b"exit\r");
    assert_eq!(pty.wait(LIMIT).code(), Some(0), "{}", pty.transcript());
    ok(&t, &["stop", &id]);
    assert!(t.leftovers().is_empty());
}

#[test]
fn reap_removes_the_sessions_that_cannot_serve_and_keeps_the_rest() {
    let t = TestScope::new("clireap");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let (alive, dead) = (unique_id("alive"), unique_id("dead"));
    ok(&t, &["start", &dir, "--id", &alive, "-q"]);
    ok(&t, &["start", &dir, "--id", &dead, "-q"]);
    let container = json(&ok(&t, &["list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == dead.as_str())
        .map(|s| s["container"].as_str().unwrap().to_string())
        .expect("the dead session is listed");
    let killed = Command::new(&t.sandbox.config().podman).args(["kill", &container]).output().unwrap();
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    let reaped = json(&ok(&t, &["reap", "--json"]));
    let ids: Vec<&str> = reaped.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [dead.as_str()], "{reaped}");
    let left = json(&ok(&t, &["list", "--json"]));
    let ids: Vec<&str> = left.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [alive.as_str()], "{left}");
    // --keep removes every other session of the scope, running or not.
    let reaped = json(&ok(&t, &["reap", "--keep", "nothing-by-this-name", "--json"]));
    assert_eq!(reaped.as_array().unwrap().len(), 1, "{reaped}");
    assert!(t.leftovers().is_empty());
}

#[test]
fn start_devcontainer_applies_the_projects_file_and_reports_what_it_refused() {
    let t = TestScope::new("clidevc");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let port = sandbox_e2e::free_port();
    std::fs::create_dir(t.dir.path().join(".devcontainer")).unwrap();
    std::fs::write(
        t.dir.path().join(".devcontainer/devcontainer.json"),
        format!(
            r#"{{
              // from the project
              "containerEnv": {{"GREETING": "hello from ${{localWorkspaceFolderBasename}}"}},
              "forwardPorts": [{port}],
              "postCreateCommand": "echo ran > post-create-ran",
              "runArgs": ["--privileged"],
            }}"#
        ),
    )
    .unwrap();
    let id = unique_id("clidevc");
    let o = sandbox(&t, &["start", &dir, "--id", &id, "--devcontainer", "--allow-post-create", "--json"], b"");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let report = json(&text(&o.stdout));
    assert_eq!(report["ports_published"], serde_json::json!([port]), "{report}");
    assert_eq!(report["devcontainer"]["refused"][0]["value"], "--privileged", "{report}");
    assert!(text(&o.stderr).contains("\"--privileged\" refused"), "warnings on stderr: {}", text(&o.stderr));
    let name = t.dir.path().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(ok(&t, &["exec", &id, "--", "sh", "-c", "echo $GREETING"]), format!("hello from {name}\n"));
    assert_eq!(std::fs::read_to_string(t.dir.path().join("post-create-ran")).unwrap(), "ran\n");
    ok(&t, &["stop", &id]);

    // A malformed file: the configuration error's code, the line and column.
    std::fs::write(t.dir.path().join(".devcontainer/devcontainer.json"), "{\n  \"image\": 1,,\n}").unwrap();
    let o = sandbox(&t, &["start", &dir, "--id", &unique_id("bad"), "--devcontainer"], b"");
    assert_eq!(code(&o), 94, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("line 2, column 14"), "{}", text(&o.stderr));
    // None at all, when asked for: not found.
    std::fs::remove_dir_all(t.dir.path().join(".devcontainer")).unwrap();
    let o = sandbox(&t, &["start", &dir, "--id", &unique_id("none"), "--devcontainer"], b"");
    assert_eq!(code(&o), 81, "{}", text(&o.stderr));
    assert!(t.leftovers().is_empty());
}

/// An HTTP server on the host's loopback answering each request with `answer(request)`
/// as the body; its port and every request it got.
fn server(
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            keep.lock().unwrap().extend_from_slice(&head);
            let body = answer(&head);
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(&[reply.as_bytes(), &body].concat());
        }
    });
    (port, seen)
}

/// An HTTP server on the host's loopback answering every request with `body`; its port.
fn http_server(body: &'static str) -> u16 {
    server(move |_| body.as_bytes().to_vec()).0
}

#[test]
fn egress_sessions_reach_what_is_allowed_and_the_rules_change_live() {
    let t = TestScope::new("cliegress");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let port = http_server("hello through the proxy");
    let local = format!("127.0.0.1:{port}");
    let id = unique_id("cliegress");
    let report = json(&ok(
        &t,
        &[
            "start",
            &dir,
            "--id",
            &id,
            "--json",
            "--allow-host",
            "allowed.test",
            "--allow-host",
            &local,
            "--pin-host",
            "allowed.test=127.0.0.1",
            "--pin-host",
            "later.test=127.0.0.1",
        ],
    ));
    assert_eq!(report["network"], "egress", "--allow-host implies the egress network: {report}");
    assert_eq!(report["egress"]["rules"], serde_json::json!(["allowed.test", local]));
    assert_eq!(report["egress"]["pinned"], serde_json::json!(["allowed.test", "later.test"]));
    assert_eq!(report["egress"]["proxy"], "http://127.0.0.1:3128");
    // (busybox wget crashes on a refused proxied request when given -T.)
    let get =
        |host: &str| ok(&t, &["exec", &id, "--", "sh", "-c", &format!("wget -q -O- http://{host}:{port}/ 2>&1; echo")]);
    assert!(get("allowed.test").contains("hello through the proxy"));
    assert!(get("later.test").contains("403"), "not allowed yet");

    // The log: the refusal at once, the allowed request when it closed.
    let mut log = Value::Null;
    for _ in 0..100 {
        log = json(&ok(&t, &["net", "log", &id, "--json"]));
        if log.as_array().unwrap().iter().any(|d| d["host"] == "allowed.test") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let rows = log.as_array().unwrap();
    let allowed = rows.iter().find(|d| d["host"] == "allowed.test").expect("the allowed request is logged");
    assert_eq!(
        (&allowed["allowed"], &allowed["via"], &allowed["address"]),
        (&true.into(), &"http".into(), &"127.0.0.1".into())
    );
    assert!(
        allowed["bytes_in"].as_u64().unwrap() > 20 && allowed["time"].as_str().unwrap().ends_with('Z'),
        "{allowed}"
    );
    // The process that opened it, as the session's agent saw it: "pid wget".
    let process = allowed["process"].as_str().unwrap_or_default();
    assert!(process.ends_with(" wget") && process.starts_with(|c: char| c.is_ascii_digit()), "{allowed}");
    let denied = rows.iter().find(|d| d["host"] == "later.test").expect("the refusal is logged");
    assert!(
        denied["allowed"] == false && denied["reason"].as_str().unwrap().contains("not in the allow list"),
        "{denied}"
    );
    let table = ok(&t, &["net", "log", &id]);
    assert!(table.starts_with("TIME ") && table.contains("PROCESS"), "a table for people: {table}");
    let lines = ok(&t, &["net", "log", &id, "--jsonl"]);
    assert!(lines.lines().count() >= 2 && lines.lines().all(|l| json(l).is_object()), "{lines}");

    // Allow and deny, live.
    let policy = json(&ok(&t, &["net", "allow", &id, "later.test", "Later.test.", "--json"]));
    assert_eq!(policy["allow"], serde_json::json!(["allowed.test", local, "later.test"]), "normalized, added once");
    assert_eq!(policy["enforcer_running"], true);
    assert!(get("later.test").contains("hello through the proxy"), "allowed from the next connection on");
    let policy = json(&ok(&t, &["net", "deny", &id, "later.test", "--json"]));
    assert_eq!(policy["allow"], serde_json::json!(["allowed.test", local]));
    assert!(get("later.test").contains("403"), "and refused again");
    assert_eq!(
        json(&ok(&t, &["net", "policy", &id, "--json"]))["hosts"]["later.test"],
        serde_json::json!(["127.0.0.1"])
    );
    let o = sandbox(&t, &["net", "deny", &id, "*.allowed.test"], b"");
    assert_eq!(code(&o), 80, "a rule that is not there is not silently ignored: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("not in the allow list"), "{}", text(&o.stderr));
    let o = sandbox(&t, &["net", "allow", &id, "*"], b"");
    assert_eq!(code(&o), 2, "a bad rule is a bad command line: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("may only start a rule"), "the core's reason: {}", text(&o.stderr));
    let pid = json(&ok(&t, &["net", "restart", &id, "--json"]))["enforcer_pid"].as_u64().unwrap();
    assert_eq!(ok(&t, &["net", "restart", &id]).trim(), pid.to_string(), "a running enforcer is kept");
    ok(&t, &["stop", &id]);

    // Egress flags with another network, bad pins, and sessions not on egress.
    let o =
        sandbox(&t, &["start", &dir, "--id", &unique_id("x"), "--network", "bridge", "--allow-host", "a.test"], b"");
    assert_eq!(code(&o), 80, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("needs network egress"), "{}", text(&o.stderr));
    let o = sandbox(&t, &["start", &dir, "--id", &unique_id("x"), "--pin-host", "Upper.test=127.0.0.1"], b"");
    assert_eq!(code(&o), 80, "{}", text(&o.stderr));
    for bad in [&["--allow-host", "**.x.test"][..], &["--allow-host", "a.test:0"], &["--pin-host", "a.test"]] {
        let o = sandbox(&t, &[&["start", &dir][..], bad].concat(), b"");
        assert_eq!(code(&o), 2, "{bad:?}: {}", text(&o.stderr));
    }
    let plain = unique_id("cliplain");
    ok(&t, &["start", &dir, "--id", &plain, "--network", "none", "-q"]);
    for verb in ["log", "policy", "restart"] {
        let o = sandbox(&t, &["net", verb, &plain], b"");
        assert_eq!(code(&o), 80, "net {verb}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("not on the egress network"), "{}", text(&o.stderr));
    }
    let o = sandbox(&t, &["net", "allow", &plain, "a.test"], b"");
    assert_eq!(code(&o), 80, "{}", text(&o.stderr));
    ok(&t, &["stop", &plain]);
    assert!(t.leftovers().is_empty());
}

#[test]
fn egress_credentials_are_added_outside_the_session() {
    let t = TestScope::new("clicred");
    let dir = t.dir.path().to_str().unwrap().to_string();
    let (port, seen) = server(|req| [b"you sent:\n".as_slice(), req].concat());
    let secrets = tempfile::tempdir().unwrap();
    let key = format!("k3y-{}-{port}", std::process::id());
    let key_file = secrets.path().join("key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let local = format!("127.0.0.1:{port}");
    let cred = format!("api.test:X-Api-Key:file:{}", key_file.display());
    let id = unique_id("clicred");
    let start = ["start", &dir, "--id", &id, "-q", "--allow-host", "api.test", "--allow-host", &local];
    ok(&t, &[&start[..], &["--pin-host", "api.test=127.0.0.1", "--credential", &cred]].concat());
    let out = ok(&t, &["exec", &id, "--", "sh", "-c", &format!("wget -q -O- http://api.test:{port}/echo 2>&1")]);
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(got.contains(&format!("X-Api-Key: {key}")), "the server gets the credential: {got}");
    assert!(out.contains("you sent:") && !out.contains(&key) && out.contains("X-Api-Key: *"), "scrubbed: {out}");
    let mut log = Value::Null;
    for _ in 0..100 {
        log = json(&ok(&t, &["net", "log", &id, "--json"]));
        if log.as_array().unwrap().iter().any(|d| d["host"] == "api.test") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let d = log.as_array().unwrap().iter().find(|d| d["host"] == "api.test").expect("logged").clone();
    assert_eq!((&d["allowed"], &d["injected"]), (&true.into(), &"X-Api-Key".into()), "{d}");
    assert!(ok(&t, &["net", "log", &id]).contains("INJECTED"), "a column of the table");
    let want = serde_json::json!([{"host": "api.test", "header": "X-Api-Key", "from_file": key_file}]);
    assert_eq!(json(&ok(&t, &["net", "policy", &id, "--json"]))["credentials"], want);
    let policy = json(&ok(&t, &["net", "allow", &id, "other.test", "--json"]));
    assert_eq!(policy["credentials"], want, "live rule changes keep the credentials");
    let o = sandbox(&t, &["net", "deny", &id, "api.test"], b"");
    assert_eq!(code(&o), 80, "dropping a credential's host: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("credential"), "{}", text(&o.stderr));
    ok(&t, &["stop", &id]);

    // Bad credentials: a bad shape is a bad command line, what core refuses bad input.
    let o = sandbox(&t, &["start", &dir, "--allow-host", "api.test", "--credential", "api.test:X"], b"");
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    for (flags, says) in [
        (["--credential", "other.test:X:env:T"], "not allowed"),
        (["--credential", "api.test:Host:env:T"], "frames or routes"),
        (["--credential", "api.test:X:file:key"], "absolute"),
        (["--upstream-ca", "ca.pem"], "egress upstream CA"),
    ] {
        let o = sandbox(
            &t,
            &[&["start", &dir, "--id", &unique_id("x"), "--allow-host", "api.test"][..], &flags].concat(),
            b"",
        );
        assert_eq!(code(&o), 80, "{flags:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(says), "{flags:?}: {}", text(&o.stderr));
    }
    assert!(t.leftovers().is_empty());
}
