//! In-process tests with nushell's `PluginTest`: the examples that have results are run,
//! in order, against one real session in a scope of their own; and every kind of bad
//! argument gives a `LabeledError` labelled on that argument, before anything touches
//! podman. (That every example parses, including those using nushell's other commands,
//! is checked with the real nu binary in `nu_e2e.rs`.)

mod support;

use nu_plugin_sandbox::SandboxPlugin;
use nu_plugin_sandbox::commands::{Exec, Info, List, Reap, SandboxCommand, Start, Stop};
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
    t.test_command_examples(&List).expect("list examples");
    t.test_command_examples(&Info).expect("info examples");
    t.test_command_examples(&Reap).expect("reap examples");
    t.test_command_examples(&Stop).expect("stop examples");
    t.test_command_examples(&SandboxCommand).expect("sandbox examples");
    assert!(iso.leftovers().is_empty(), "the stop example left {:?}", iso.leftovers());
}

#[test]
fn bare_sandbox_prints_help_listing_the_subcommands() {
    let iso = Isolation::new("help");
    let mut t = plugin_test(&iso);
    let help = t.eval("sandbox").expect("help").into_value(Span::test_data()).expect("value");
    let help = help.as_str().expect("help is a string").to_string();
    for sub in ["sandbox start", "sandbox exec", "sandbox list", "sandbox stop", "sandbox reap", "sandbox info"] {
        assert!(help.contains(sub), "help does not mention {sub}: {help}");
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
    assert_error(&mut t, "sandbox exec demo --max-output 0b true", "--max-output", "0b");
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
