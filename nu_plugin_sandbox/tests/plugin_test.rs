//! In-process tests with nushell's `PluginTest`: the examples that have results are run,
//! in order, against one real session in a scope of their own; and every kind of bad
//! argument gives a `LabeledError` labelled on that argument, before anything touches
//! podman. (That every example parses, including those using nushell's other commands,
//! is checked with the real nu binary in `nu_e2e.rs`.)

mod support;

use nu_plugin_sandbox::SandboxPlugin;
use nu_plugin_sandbox::commands::{
    Attach, CopyRemove, Diff, Events, Exec, FileCommand, FileLs, FileRead, FileWrite, Fork, HeldGroup, HeldKill,
    HeldList, HeldWait, Info, List, Merge, NetAllow, NetCommand, NetDeny, NetLog, NetPolicy, NetRestart, PauseCommand,
    Reap, Run, SandboxCommand, Snapshot, SnapshotList, SnapshotRemove, Start, Stats, Stop, TaskLogs, TaskSpawn, Tasks,
    TermOpen, TermRead, TermResize, TermSend, Terminals, WaitPort, Watch,
};
use nu_plugin_test_support::PluginTest;
use nu_protocol::{LabeledError, ShellError, Span, Value};
use support::isolation::Isolation;

fn plugin_test(iso: &Isolation) -> PluginTest {
    let mut t = PluginTest::new("sandbox", SandboxPlugin::new().expect("runtime").into()).expect("plugin test");
    for (k, v) in iso.env(true) {
        t.engine_state_mut().add_env_var(k, Value::test_string(v));
    }
    t
}

#[test]
fn examples_with_results_run_against_a_real_session() {
    let iso = Isolation::new("examples");
    let mut t = plugin_test(&iso);
    // Order matters: start makes `demo`, the middle ones use it, stop removes it.
    t.test_command_examples(&Start).expect("start examples");
    t.test_command_examples(&Exec).expect("exec examples");
    t.test_command_examples(&Run).expect("run examples");
    t.test_command_examples(&TaskSpawn).expect("task spawn examples");
    t.test_command_examples(&TaskLogs).expect("task logs examples");
    t.test_command_examples(&HeldWait(Tasks)).expect("task wait examples");
    t.test_command_examples(&HeldKill(Tasks)).expect("task kill examples");
    t.test_command_examples(&HeldList(Tasks)).expect("task list examples");
    t.test_command_examples(&TermOpen).expect("term open examples");
    t.test_command_examples(&TermSend).expect("term send examples");
    t.test_command_examples(&TermRead).expect("term read examples");
    t.test_command_examples(&TermResize).expect("term resize examples");
    t.test_command_examples(&HeldKill(Terminals)).expect("term kill examples");
    t.test_command_examples(&HeldWait(Terminals)).expect("term wait examples");
    t.test_command_examples(&HeldList(Terminals)).expect("term list examples");
    t.test_command_examples(&FileWrite).expect("file write examples");
    t.test_command_examples(&FileRead).expect("file read examples");
    t.test_command_examples(&FileLs).expect("file ls examples");
    t.test_command_examples(&Events).expect("events examples");
    t.test_command_examples(&Watch).expect("watch examples");
    t.test_command_examples(&Stats).expect("stats examples");
    t.test_command_examples(&WaitPort).expect("wait-port examples");
    t.test_command_examples(&PauseCommand { resume: false }).expect("pause examples");
    t.test_command_examples(&PauseCommand { resume: true }).expect("resume examples");
    t.test_command_examples(&Snapshot).expect("snapshot examples");
    t.test_command_examples(&SnapshotList).expect("snapshot list examples");
    t.test_command_examples(&SnapshotRemove).expect("snapshot remove examples");
    t.test_command_examples(&CopyRemove).expect("copy remove examples");
    t.test_command_examples(&Fork).expect("fork examples");
    t.test_command_examples(&Diff).expect("diff examples");
    t.test_command_examples(&Merge).expect("merge examples");
    t.test_command_examples(&Attach).expect("attach examples");
    t.test_command_examples(&List).expect("list examples");
    t.test_command_examples(&Info).expect("info examples");
    t.test_command_examples(&Reap).expect("reap examples");
    t.test_command_examples(&Stop).expect("stop examples");
    t.test_command_examples(&SandboxCommand).expect("sandbox examples");
    t.test_command_examples(&HeldGroup(Tasks)).expect("sandbox task examples");
    t.test_command_examples(&HeldGroup(Terminals)).expect("sandbox term examples");
    t.test_command_examples(&FileCommand).expect("sandbox file examples");
    for (name, result) in [
        ("sandbox net", t.test_command_examples(&NetCommand)),
        ("net log", t.test_command_examples(&NetLog)),
        ("net policy", t.test_command_examples(&NetPolicy)),
        ("net allow", t.test_command_examples(&NetAllow)),
        ("net deny", t.test_command_examples(&NetDeny)),
        ("net restart", t.test_command_examples(&NetRestart)),
    ] {
        result.unwrap_or_else(|e| panic!("{name} examples: {e}"));
    }
    assert!(iso.leftovers().is_empty(), "the stop example left {:?}", iso.leftovers());
}

#[test]
fn bare_sandbox_prints_help_listing_the_subcommands() {
    let iso = Isolation::new("help");
    let mut t = plugin_test(&iso);
    let mut help_of = |command: &str| {
        let help = t.eval(command).expect("help").into_value(Span::test_data()).expect("value");
        help.as_str().expect("help is a string").to_string()
    };
    let help = help_of("sandbox");
    for sub in [
        "sandbox start",
        "sandbox exec",
        "sandbox run",
        "sandbox list",
        "sandbox stop",
        "sandbox reap",
        "sandbox info",
        "sandbox task",
        "sandbox term",
        "sandbox file",
        "sandbox attach",
        "sandbox net",
        "sandbox events",
        "sandbox watch",
        "sandbox stats",
        "sandbox wait-port",
        "sandbox pause",
        "sandbox resume",
        "sandbox snapshot",
        "sandbox fork",
        "sandbox diff",
        "sandbox merge",
        "sandbox copy remove",
    ] {
        assert!(help.contains(sub), "help does not mention {sub}: {help}");
    }
    for (group, subs) in [
        ("sandbox task", &["spawn", "list", "logs", "wait", "kill"][..]),
        ("sandbox term", &["open", "list", "send", "read", "resize", "kill", "wait"][..]),
        ("sandbox file", &["read", "write", "ls"][..]),
        ("sandbox net", &["log", "policy", "allow", "deny", "restart"][..]),
    ] {
        let help = help_of(group);
        for sub in subs {
            assert!(help.contains(&format!("{group} {sub}")), "{group} help does not mention {sub}: {help}");
        }
    }
}

/// The error of `source`, with the text its first label points at.
fn error_of(t: &mut PluginTest, source: &str) -> (LabeledError, String) {
    let err = match t.eval(source) {
        Ok(data) => match data.into_value(Span::test_data()) {
            Ok(v) => panic!("{source}: expected an error, got {v:?}"),
            Err(e) => e,
        },
        Err(e) => e,
    };
    let labeled = match err {
        ShellError::LabeledError(e) => *e,
        other => panic!("{source}: expected a LabeledError, got {other:?}"),
    };
    let label = labeled.labels.first().unwrap_or_else(|| panic!("{source}: error without a label: {labeled:?}"));
    let text = String::from_utf8_lossy(t.engine_state().get_span_contents(label.span)).into_owned();
    (labeled, text)
}

fn assert_error(t: &mut PluginTest, source: &str, msg: &str, labelled_text: &str) {
    let (e, text) = error_of(t, source);
    assert!(e.msg.contains(msg), "{source}: message {:?} does not contain {msg:?}", e.msg);
    assert_eq!(text, labelled_text, "{source}: label on the wrong text ({e:?})");
    assert!(e.help.as_deref().is_some_and(|h| !h.is_empty()) || !e.labels[0].text.is_empty(), "{source}: no help");
}

#[test]
fn exec_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("exec-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox exec 'bad id!' true", "session id", "'bad id!'");
    assert_error(&mut t, "sandbox exec demo --timeout 0sec true", "greater than zero", "0sec");
    assert_error(&mut t, "sandbox exec demo --timeout -1sec true", "greater than zero", "-1sec");
    assert_error(
        &mut t,
        "sandbox exec demo --env { A: [1 2] } true",
        "environment variable A must be a string",
        "[1 2]",
    );
    assert_error(
        &mut t,
        "sandbox exec demo --env { 'A=B': x } true",
        "invalid environment variable name",
        "{ 'A=B': x }",
    );
    assert_error(&mut t, "sandbox exec demo --cwd '' true", "--cwd is empty", "''");
    // An output cap of 0b captures nothing (the e2e tests run it); only a negative one is refused.
    assert_error(&mut t, "sandbox exec demo --max-output -1b true", "--max-output must not be negative", "-1b");
    assert_error(&mut t, "sandbox exec demo ''", "the command is empty", "''");
    assert_error(&mut t, "sandbox exec { name: x } true", "no string `id` column", "{ name: x }");
    assert_error(&mut t, "[1 2] | sandbox exec demo cat", "takes text or binary as input, not a list<int>", "[1 2]");
    assert_error(&mut t, "{ a: 1 } | sandbox exec demo cat", "not a record", "{ a: 1 }");
    let (e, _) = error_of(&mut t, "[1 2] | sandbox exec demo cat");
    assert!(e.help.unwrap_or_default().contains("to json"), "help suggests a conversion");
}

#[test]
fn start_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("start-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox start '/nonexistent/sandbox-dir'", "does not exist", "'/nonexistent/sandbox-dir'");
    assert_error(&mut t, "sandbox start /etc", "system directory", "/etc");
    assert_error(&mut t, "sandbox start --id '-bad'", "session id", "'-bad'");
    assert_error(&mut t, "sandbox start --network host", "host", "host");
    assert_error(&mut t, "sandbox start --ports [80 70000]", "out of range", "70000");
    assert_error(&mut t, "sandbox start --ports [8080 8080]", "listed twice", "8080");
    assert_error(&mut t, "sandbox start --ports [0]", "out of range", "0");
    assert_error(&mut t, "sandbox start --memory 1KiB", "memory limit", "1KiB");
    assert_error(&mut t, "sandbox start --pids 2", "pids limit", "2");
    assert_error(&mut t, "sandbox start --cpus 0", "cpu limit", "0");
    assert_error(&mut t, "sandbox start --image ''", "image", "''");
    assert_error(&mut t, "sandbox start --env { A: {} }", "must be a string", "{}");
    assert_error(&mut t, "sandbox start --allow-host [pypi.org '*.com']", "too broad", "'*.com'");
    assert_error(&mut t, "sandbox start --allow-host '10.0.0.1/8'", "bits set past the prefix", "'10.0.0.1/8'");
    assert_error(&mut t, "sandbox start --allow-host [1]", "not an IP address", "1");
    assert_error(&mut t, "sandbox start --pin-host { db.test: [10.0.0.5 x] }", "IP address", "x");
    assert_error(&mut t, "sandbox start --pin-host 'db.test:10.0.0.5'", "name=address", "'db.test:10.0.0.5'");
    assert_error(&mut t, "sandbox net allow demo pypi.org 'bücher.test'", "IDNA", "'bücher.test'");
    assert_error(&mut t, "sandbox net deny demo ''", "empty rule", "''");
}

#[test]
fn stop_and_reap_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("stop-errors");
    let mut t = plugin_test(&iso);
    let (e, _) = error_of(&mut t, "sandbox stop");
    assert!(e.msg.contains("no session to stop"), "{e:?}");
    assert_error(&mut t, "sandbox stop 'a b'", "session id", "'a b'");
    assert_error(&mut t, "sandbox stop --all demo", "not both", "--all");
    assert_error(&mut t, "[[name]; [x]] | sandbox stop", "no string `id` column", "[[name]; [x]]");
    assert_error(&mut t, "sandbox reap --keep ['a/b']", "session id", "['a/b']");
}

#[test]
fn configuration_errors_point_at_the_plugin_configuration() {
    let iso = Isolation::new("config-errors");
    let mut t = plugin_test(&iso);
    let mut config = t.engine_state().get_config().as_ref().clone();
    config.plugins.insert(
        "sandbox".into(),
        Value::test_record(nu_protocol::record! { "limits" => Value::test_record(nu_protocol::record! { "bogus" => Value::test_int(1) }) }),
    );
    t.engine_state_mut().set_config(config.clone());
    let (e, _) = error_of(&mut t, "sandbox list");
    assert!(e.msg.contains("bogus") && e.msg.contains("$env.config.plugins.sandbox"), "{e:?}");
    assert!(e.help.unwrap_or_default().contains("limits"), "help lists the keys");

    config.plugins.insert("sandbox".into(), Value::test_string("not a record"));
    t.engine_state_mut().set_config(config.clone());
    let (e, _) = error_of(&mut t, "sandbox list");
    assert!(e.msg.contains("must be a record"), "{e:?}");

    config.plugins.remove("sandbox");
    t.engine_state_mut().set_config(config);
    t.engine_state_mut().add_env_var("SANDBOX_MEMORY".into(), Value::test_string("lots"));
    let (e, _) = error_of(&mut t, "sandbox list");
    assert!(e.msg.contains("SANDBOX_MEMORY"), "{e:?}");
}

#[test]
fn task_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("task-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox task logs demo 'bad id!'", "not a task id", "'bad id!'");
    assert_error(&mut t, "sandbox task logs demo { name: x }", "no string `id` column", "{ name: x }");
    assert_error(&mut t, "sandbox task logs demo 12", "a task is given by its id", "12");
    assert_error(&mut t, "sandbox task logs demo task-1 --stream both", "unknown stream", "both");
    assert_error(&mut t, "sandbox task logs demo task-1 --tail 0b", "--tail must be a positive size", "0b");
    assert_error(&mut t, "sandbox task logs demo task-1 --tail 1kb --offset 3", "not both", "3");
    assert_error(&mut t, "sandbox task logs demo task-1 --offset -1", "must not be negative", "-1");
    assert_error(&mut t, "sandbox task kill demo task-1 --signal FOO", "unknown signal", "FOO");
    assert_error(&mut t, "sandbox task kill demo task-1 --signal 99", "out of range", "99");
    assert_error(&mut t, "sandbox task kill demo task-1 --signal 0", "out of range", "0");
    // A wait of 0sec checks once (the e2e tests run it); only a negative one is refused.
    assert_error(&mut t, "sandbox task wait demo task-1 --timeout -1sec", "must not be negative", "-1sec");
    assert_error(&mut t, "sandbox task spawn demo --spool-cap 0b true", "positive size", "0b");
    assert_error(&mut t, "sandbox task spawn demo --cwd '' true", "--cwd is empty", "''");
    assert_error(&mut t, "sandbox task spawn demo ''", "the command is empty", "''");
    assert_error(&mut t, "sandbox task spawn 'no session!' true", "session id", "'no session!'");
}

#[test]
fn terminal_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("term-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox term send demo 'term 1' x", "not a terminal id", "'term 1'");
    assert_error(&mut t, "sandbox term resize demo term-1 0 80", "out of range", "0");
    assert_error(&mut t, "sandbox term resize demo term-1 24 1001", "out of range", "1001");
    assert_error(&mut t, "sandbox term resize demo term-1 -5 80", "out of range", "-5");
    assert_error(&mut t, "sandbox term open demo --rows 0", "out of range", "0");
    assert_error(&mut t, "sandbox term open demo --cols 5000", "out of range", "5000");
    assert_error(&mut t, "sandbox term open demo --scrollback 0b", "positive size", "0b");
    assert_error(&mut t, "sandbox term read demo term-1 --until ''", "--until is empty", "''");
    // A wait of 0sec returns at once (the e2e tests run it); only a negative one is refused.
    assert_error(&mut t, "sandbox term read demo term-1 --wait -1sec", "must not be negative", "-1sec");
    assert_error(&mut t, "sandbox term read demo term-1 --max 0b", "positive size", "0b");
    assert_error(&mut t, "sandbox term read demo term-1 --offset -3", "must not be negative", "-3");
    assert_error(&mut t, "sandbox term send demo term-1", "nothing to send", "sandbox term send");
    assert_error(&mut t, "'x' | sandbox term send demo term-1 'y'", "not both", "'y'");
    assert_error(&mut t, "sandbox term kill demo term-1 --signal nope", "unknown signal", "nope");
    assert_error(&mut t, "sandbox term wait demo term-1 --timeout -1sec", "must not be negative", "-1sec");
}

#[test]
fn run_and_file_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("run-file-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox run demo ''", "the command is empty", "''");
    assert_error(&mut t, "{ a: 1 } | sandbox run demo cat", "not a record", "{ a: 1 }");
    assert_error(&mut t, "sandbox run demo --timeout 0sec true", "greater than zero", "0sec");
    assert_error(&mut t, "sandbox run demo --cwd '' true", "--cwd is empty", "''");
    assert_error(&mut t, "sandbox run demo --env { A: [1] } true", "must be a string", "[1]");
    assert_error(&mut t, "sandbox run 'x y' true", "session id", "'x y'");
    assert_error(&mut t, "sandbox file write demo x.txt", "nothing to write", "sandbox file write");
    assert_error(&mut t, "[1 2] | sandbox file write demo x.txt", "not a list<int>", "[1 2]");
    assert_error(&mut t, "'a' | sandbox file write demo x.txt --mode 0o10000", "out of range", "0o10000");
    assert_error(&mut t, "'a' | sandbox file write demo x.txt --mode -1", "out of range", "-1");
    assert_error(&mut t, "'a' | sandbox file write demo ''", "the path is empty", "''");
    assert_error(&mut t, "sandbox file read demo ''", "the path is empty", "''");
    assert_error(&mut t, "sandbox file ls demo ''", "the path is empty", "''");
    assert_error(&mut t, "sandbox copy remove ''", "the path is empty", "''");
}

#[test]
fn event_argument_errors_point_at_the_argument() {
    let iso = Isolation::new("event-errors");
    let mut t = plugin_test(&iso);
    assert_error(&mut t, "sandbox events demo --kind [file nope]", "unknown event kind", "nope");
    assert_error(&mut t, "sandbox events demo --kind files", "unknown event kind", "files");
    assert_error(&mut t, "sandbox events demo --kind [file 3]", "unknown event kind", "3");
    assert_error(&mut t, "sandbox events demo --kind []", "--kind is empty", "[]");
    assert_error(&mut t, "sandbox events demo --from 0", "at least 1", "0");
    assert_error(&mut t, "sandbox events demo --from -1", "at least 1", "-1");
    assert_error(&mut t, "sandbox events demo --path src/lib", "absolute path", "src/lib");
    assert_error(&mut t, "sandbox events demo --path ''", "the path is empty", "''");
    assert_error(&mut t, "sandbox events demo --wait -1sec", "must not be negative", "-1sec");
    assert_error(&mut t, "sandbox events demo --follow --wait 2sec", "not both", "2sec");
    assert_error(&mut t, "sandbox events 'no such!'", "session id", "'no such!'");
    assert_error(&mut t, "sandbox watch demo ''", "the path is empty", "''");
    assert_error(&mut t, "sandbox watch { name: x }", "no string `id` column", "{ name: x }");
    assert_error(&mut t, "sandbox stats demo --follow --interval 0sec", "greater than zero", "0sec");
    assert_error(&mut t, "sandbox stats demo --follow --interval -2sec", "greater than zero", "-2sec");
    assert_error(&mut t, "sandbox stats demo --interval 1sec", "--interval is for --follow", "1sec");
    assert_error(&mut t, "sandbox wait-port demo 0", "out of range", "0");
    assert_error(&mut t, "sandbox wait-port demo 65536", "out of range", "65536");
    assert_error(&mut t, "sandbox wait-port demo 80 --timeout -1sec", "must not be negative", "-1sec");
}
