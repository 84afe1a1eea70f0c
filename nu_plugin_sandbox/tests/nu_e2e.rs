//! End-to-end tests: the real nu 0.115.1 binary runs the built plugin
//! (`nu -n --plugins <plugin> -c '...'`) against real podman. Each test has its own
//! sandbox scope, container-name prefix and control-dir base (see `support::isolation`),
//! and removes whatever it made even when it fails.

mod support;

use std::process::Command;

use serde_json::{Value as Json, json};
use support::isolation::{Isolation, podman};
use support::nu_runner::{bad, failure, json, json_with, nu_command, nu_path, plugin_path, run};

#[test]
fn start_exec_list_stop_pipeline_with_typed_columns() {
    let iso = Isolation::new("pipeline");
    let r = json(
        &iso,
        r#"
        let s = sandbox start --id p1 --quiet
        let e = sandbox exec p1 sh -c 'echo out; echo err >&2; exit 7'
        let piped = "abc" | sandbox exec $s cat
        let ext = ^printf 'a\nb\nc\n' | sandbox exec p1 wc -l
        let bin = 0x[00 ff 10] | sandbox exec p1 od -An -tx1
        let l = sandbox list
        let stopped = sandbox stop p1
        {
          start: ($s | reject duration)
          start_types: { duration: ($s.duration | describe), memory: ($s.limits.memory | describe) }
          exec: ($e | reject duration)
          exec_duration: ($e.duration | describe)
          piped: $piped.stdout
          ext: ($ext.stdout | str trim)
          bin: ($bin.stdout | str trim)
          list: ($l | reject created uptime)
          list_types: ($l | each {|r| { created: ($r.created | describe), uptime: ($r.uptime | describe) } })
          stopped: $stopped
          after: (sandbox list)
        } | to json -r
        "#,
    );
    let work = iso.work_path().display().to_string();
    let start = &r["start"];
    assert_eq!(start["id"], "p1");
    assert_eq!(start["working_dir"], work, "default dir is nushell's current dir");
    assert_eq!(start["container"], format!("{}p1", iso.prefix));
    assert_eq!(start["image"], "localhost/sandbox-busybox:latest");
    assert_eq!(start["image_reason"], "default");
    assert_eq!(start["network"], "bridge");
    assert!(start["limits"]["enforced"].is_boolean());
    assert!(start["provisioning"]["status"].is_string());
    assert_eq!(r["start_types"], json!({"duration": "duration", "memory": "filesize"}));
    assert_eq!(
        r["exec"],
        json!({"stdout": "out\n", "stderr": "err\n", "exit_code": 7, "signal": null, "timed_out": false,
               "oom_killed": false, "stdout_truncated": false, "stderr_truncated": false})
    );
    assert_eq!(r["exec_duration"], "duration");
    assert_eq!(r["piped"], "abc");
    assert_eq!(r["ext"], "3");
    assert_eq!(r["bin"], "00 ff 10");
    assert_eq!(
        r["list"],
        json!([{"id": "p1", "working_dir": work, "image": "localhost/sandbox-busybox:latest", "state": "running",
                "ports": [], "tasks": 0, "terminals": 0, "container": format!("{}p1", iso.prefix), "snapshot": null}])
    );
    assert_eq!(r["list_types"], json!([{"created": "datetime", "uptime": "duration"}]));
    assert_eq!(r["stopped"], json!([{"id": "p1", "container": format!("{}p1", iso.prefix)}]));
    assert_eq!(r["after"], json!([]));
    assert!(iso.leftovers().is_empty());
    assert!(iso.control_dirs_left().is_empty(), "stop left {:?}", iso.control_dirs_left());
}

#[test]
fn readme_session_runs_as_documented() {
    let iso = Isolation::new("readme");
    // Registering needs a plugin registry file, which `-n` turns off: use empty config
    // files instead, which is just as hermetic.
    let registry = iso.config_home.path().join("plugins.msgpackz");
    let (config, env_config) = (iso.config_home.path().join("config.nu"), iso.config_home.path().join("env.nu"));
    std::fs::write(&config, "").expect("config.nu");
    std::fs::write(&env_config, "").expect("env.nu");
    let nu = |script: &str| {
        Command::new(nu_path())
            .arg("--config")
            .arg(&config)
            .arg("--env-config")
            .arg(&env_config)
            .arg("--plugin-config")
            .arg(&registry)
            .arg("-c")
            .arg(script)
            .current_dir(iso.work_dir.path())
            .envs(iso.env(true))
            .output()
            .expect("nu")
    };
    let add = nu(&format!("plugin add '{}'", plugin_path().display()));
    assert!(add.status.success(), "plugin add: {}", String::from_utf8_lossy(&add.stderr));
    let session = include_str!("../../tests/nu/readme-session.nu");
    let out = nu(&format!("{session}\n$report | to json -r"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "readme session failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let r: Json = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("json");
    assert_eq!(r["hello"], "hello from the sandbox\n");
    assert_eq!(r["count"], "11");
    assert_eq!(r["listed"], json!(["demo"]));
    assert_eq!(r["build"], json!({"state": "exited", "exit_code": 0}));
    assert_eq!(r["build_log"], "built\n");
    assert_eq!(r["files"], json!([{"name": "build.log", "type": "file", "size": 6}]));
    assert_eq!(r["stopped"], json!(["demo"]));
    assert!(iso.leftovers().is_empty());
}

#[test]
fn sessions_survive_plugin_stop_and_other_nu_processes() {
    let iso = Isolation::new("survival");
    let r = json(
        &iso,
        r#"
        sandbox start --id sv --quiet | ignore
        sandbox exec sv sh -c 'echo kept > /tmp/state' | ignore
        let task = sandbox task spawn sv sh -c 'echo task-kept; echo task-err >&2; sleep 300'
        let term = sandbox term open sv
        sandbox term send sv $term "echo term-$((40 + 2))\n"
        sandbox term read sv $term --until 'term-42' | ignore
        let pid1 = (plugin list | where name == sandbox | get 0.pid)
        plugin stop sandbox
        let status_after_stop = (plugin list | where name == sandbox | get 0.status)
        let ids = (sandbox list | get id)
        let pid2 = (plugin list | where name == sandbox | get 0.pid)
        let e = (sandbox exec sv cat /tmp/state)
        {
          pid1: $pid1, status_after_stop: $status_after_stop, pid2: $pid2, ids: $ids, out: $e.stdout
          task: $task.id, term: $term.id
          tasks: (sandbox task list sv | select id state)
          task_log: (sandbox task logs sv $task --stream stdout)
          terms: (sandbox term list sv | select id state)
          term_seen: ((sandbox term read sv $term).output =~ 'term-42')
          counts: (sandbox list | select tasks terminals)
        } | to json -r
        "#,
    );
    let (task, term) =
        (r["task"].as_str().unwrap_or_default().to_string(), r["term"].as_str().unwrap_or_default().to_string());
    assert_eq!(r["tasks"], json!([{"id": task, "state": "running"}]), "the task outlived the plugin");
    assert_eq!(r["task_log"], "task-kept\n", "with its output");
    assert_eq!(r["terms"], json!([{"id": term, "state": "running"}]), "the terminal outlived the plugin");
    assert_eq!(r["term_seen"], true, "with its scrollback");
    assert_eq!(r["counts"], json!([{"tasks": 1, "terminals": 1}]));
    assert!(r["pid1"].is_number() && r["pid2"].is_number(), "{r}");
    assert_ne!(r["pid1"], r["pid2"], "the plugin was restarted");
    assert_ne!(r["status_after_stop"], "running", "{r}");
    assert_eq!(r["ids"], json!(["sv"]));
    assert_eq!(r["out"], "kept\n", "state lives in the session, not the plugin");

    // The plugin's idle GC stopping it loses nothing either.
    let r = json(
        &iso,
        r#"
        $env.config.plugin_gc = { default: { enabled: true, stop_after: 0sec }, plugins: {} }
        let before = (sandbox exec sv cat /tmp/state | get stdout)
        mut waited = 0
        while (plugin list | where name == sandbox | get 0.status) == running and $waited < 100 {
          sleep 100ms
          $waited += 1
        }
        let status = (plugin list | where name == sandbox | get 0.status)
        { before: $before, status: $status, after: (sandbox exec sv cat /tmp/state | get stdout) } | to json -r
        "#,
    );
    assert_ne!(r["status"], "running", "the GC stopped the plugin: {r}");
    assert_eq!(r["before"], "kept\n");
    assert_eq!(r["after"], "kept\n");

    // A second nushell process finds the same session, task and terminal, with their output.
    let r = json(
        &iso,
        &format!(
            r#"
            let out = sandbox exec sv cat /tmp/state | get stdout
            let task = sandbox task list sv | where id == {task} | get 0.state
            let logs = sandbox task logs sv {task} --stream stderr
            let screen = sandbox term read sv {term} --until 'term-42' | get output
            sandbox term send sv {term} "echo again-$((1 + 1))\n"
            let again = sandbox term read sv {term} --until 'again-2' | get output
            sandbox task kill sv {task}
            let ended = sandbox task wait sv {task} | select state signal
            {{ out: $out, task: $task, logs: $logs, screen: ($screen =~ 'term-42'), again: ($again =~ 'again-2'),
               ended: $ended, stopped: (sandbox stop sv | get id) }} | to json -r
            "#
        ),
    );
    assert_eq!(
        r,
        json!({"out": "kept\n", "task": "running", "logs": "task-err\n", "screen": true, "again": true,
               "ended": {"state": "killed", "signal": 15}, "stopped": ["sv"]})
    );
    assert!(iso.leftovers().is_empty());
}

#[test]
fn ctrl_c_cancels_a_running_exec_and_kills_it_in_the_sandbox() {
    let iso = Isolation::new("ctrlc");
    json(&iso, "sandbox start --id cc --quiet | get id | to json");
    let marker = iso.work_dir.path().join("started");
    // SIGINT after 6 s (the exec has long started by then: nu and the plugin start in a
    // fraction of a second); SIGKILL 60 s later only if nu did not return on its own.
    let out = Command::new("timeout")
        .args(["-s", "INT", "-k", "60", "6"])
        .arg(nu_path())
        .args(["-n", "--plugins"])
        .arg(plugin_path())
        .arg("-c")
        .arg("sandbox exec cc sh -c 'touch started; sleep 300; echo finished'")
        .current_dir(iso.work_dir.path())
        .envs(iso.env(true))
        .output()
        .expect("timeout nu");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(marker.exists(), "the command never started, so Ctrl-C was not tested: {stderr}");
    assert_eq!(out.status.code(), Some(124), "nu did not return after SIGINT (137 = had to be killed): {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("finished"));
    assert!(stderr.contains("interrupted"), "stderr: {stderr}");
    // The command was killed in the sandbox, not left running.
    let r = json(&iso, "sandbox exec cc ps | get stdout | lines | where $it =~ 'sleep 300' | length | to json");
    assert_eq!(r, json!(0), "sleep 300 still runs in the session");
    json(&iso, "sandbox stop cc | to json");
}

#[test]
fn ctrl_c_during_start_removes_the_half_made_session() {
    let iso = Isolation::new("ctrlc-start");
    let marker = iso.work_dir.path().join("post-create-started");
    let out = Command::new("timeout")
        .args(["-s", "INT", "-k", "60", "6"])
        .arg(nu_path())
        .args(["-n", "--plugins"])
        .arg(plugin_path())
        .arg("-c")
        .arg("sandbox start --id cs --post-create ['touch post-create-started; sleep 300'] --allow-post-create")
        .current_dir(iso.work_dir.path())
        .envs(iso.env(true))
        .output()
        .expect("timeout nu");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(marker.exists(), "the start never reached its post-create command, so Ctrl-C was not tested: {stderr}");
    assert_eq!(out.status.code(), Some(124), "nu did not return after SIGINT (137 = had to be killed): {stderr}");
    assert!(stderr.contains("sandbox start was interrupted"), "stderr: {stderr}");
    assert!(iso.leftovers().is_empty(), "the interrupted start left {:?}", iso.leftovers());
    assert!(iso.control_dirs_left().is_empty(), "the interrupted start left {:?}", iso.control_dirs_left());
    let r = json(&iso, "sandbox list | length | to json");
    assert_eq!(r, json!(0));
}

#[test]
fn output_that_is_not_utf8_comes_back_as_binary() {
    let iso = Isolation::new("binary");
    let r = json(
        &iso,
        r#"
        sandbox start --id bin --quiet | ignore
        let a = sandbox exec bin printf '\377\376abc'
        let b = sandbox exec bin sh -c "printf '\\377' >&2; printf ok"
        let c = sandbox exec bin --raw echo hi
        let d = 0x[ff 00 fe] | sandbox exec bin cat
        sandbox stop bin | ignore
        { a_type: ($a.stdout | describe), a: $a.stdout, b_err_type: ($b.stderr | describe), b_err: $b.stderr,
          b_out: $b.stdout, c_type: ($c.stdout | describe), c: $c.stdout, d: $d.stdout } | to json -r
        "#,
    );
    assert_eq!(r["a_type"], "binary");
    assert_eq!(r["a"], json!([255, 254, 97, 98, 99]));
    assert_eq!(r["b_err_type"], "binary");
    assert_eq!(r["b_err"], json!([255]));
    assert_eq!(r["b_out"], "ok", "stdout stays text when only stderr is binary");
    assert_eq!(r["c_type"], "binary");
    assert_eq!(r["c"], json!([104, 105, 10]));
    assert_eq!(r["d"], json!([255, 0, 254]), "binary stdin round-trips");
}

#[test]
fn exec_options_and_command_lines() {
    let iso = Isolation::new("execopts");
    let r = json(
        &iso,
        r#"
        let s = sandbox start --id eo --quiet
        let n = 5
        let t = sandbox exec eo --timeout 200ms sh -c 'sleep 30 & sleep 30'
        {
          timeout: ($t | select timed_out exit_code)
          timeout_signal: ($t.signal != null)
          cwd: (sandbox exec eo --cwd /tmp pwd | get stdout)
          env: (sandbox exec eo --env { GREETING: hi, N: 3 } sh -c 'echo $GREETING $N' | get stdout)
          missing: (sandbox exec eo no-such-program | get exit_code)
          flags_pass_through: (sandbox exec eo ls -a /tmp | get exit_code)
          words_as_written: (sandbox exec eo echo 1.50 0x10 2sec | get stdout)
          variable: (sandbox exec eo echo $n | get stdout)
          after_dashdash: (sandbox exec eo -- sh -c 'echo "$@"' x --timeout --env | get stdout)
          record_session: (sandbox exec $s echo via-record | get stdout)
          truncated: (sandbox exec eo --max-output 10B sh -c 'yes | head -c 100' | select stdout stdout_truncated)
          nonzero_is_data: (sandbox exec eo false | get exit_code)
          each_input: (1..3 | each { sandbox exec eo cat | get stdout })
        } | to json -r
        "#,
    );
    assert_eq!(r["timeout"], json!({"timed_out": true, "exit_code": null}));
    assert_eq!(r["timeout_signal"], true);
    assert_eq!(r["cwd"], "/tmp\n");
    assert_eq!(r["env"], "hi 3\n");
    assert_eq!(r["missing"], 127);
    assert_eq!(r["flags_pass_through"], 0);
    assert_eq!(r["words_as_written"], "1.50 0x10 2sec\n");
    assert_eq!(r["variable"], "5\n");
    assert_eq!(r["after_dashdash"], "--timeout --env\n");
    assert_eq!(r["record_session"], "via-record\n");
    assert_eq!(r["truncated"], json!({"stdout": "y\ny\ny\ny\ny\n", "stdout_truncated": true}));
    assert_eq!(r["nonzero_is_data"], 1);
    assert_eq!(r["each_input"], json!(["1", "2", "3"]), "simple values are stdin as text, like for externals");
}

#[test]
fn start_resolves_directories_against_nushells_current_dir() {
    let iso = Isolation::new("dirs");
    let r = json(
        &iso,
        r#"
        mkdir a b
        cd a
        let here = sandbox start --id d1 --quiet | get working_dir
        let bare = sandbox start ../b --id d2 --quiet | get working_dir
        let quoted = sandbox start '../b' --id d3 --quiet | get working_dir
        sandbox stop --all | ignore
        { here: $here, bare: $bare, quoted: $quoted } | to json -r
        "#,
    );
    let work = iso.work_path();
    assert_eq!(r["here"], work.join("a").display().to_string());
    assert_eq!(r["bare"], work.join("b").display().to_string());
    assert_eq!(r["quoted"], work.join("b").display().to_string());
    assert!(iso.leftovers().is_empty());
}

#[test]
fn configuration_comes_from_plugin_config_and_flags_override_it() {
    let mut iso = Isolation::new("config");
    let scope = iso.extra_scope("cfg");
    let script = format!(
        r#"
        $env.config.plugins.sandbox = {{ scope: "{scope}", trusted_images: ["localhost/not-here:1"], limits: {{ memory: 256MiB, pids: 100 }} }}
        let info = sandbox info
        let a = sandbox start --id c1 --quiet
        let b = sandbox start --id c2 --quiet --pids 64 --memory 300MiB
        let ids = sandbox list | get id
        let elsewhere = with-env {{ SANDBOX_SCOPE: "{scope}-other" }} {{ sandbox list | length }}
        let stopped = sandbox stop --all | get id
        {{ scope: $info.scope, trusted: $info.trusted_images, image_ok: $info.default_image_available,
           a: $a.limits, b: $b.limits, ids: $ids, elsewhere: $elsewhere, stopped: $stopped }} | to json -r
        "#
    );
    let r = json_with(&iso, false, &script);
    assert_eq!(r["scope"], scope.as_str());
    assert_eq!(r["trusted"], json!(["localhost/not-here:1"]));
    assert_eq!(r["image_ok"], true);
    assert_eq!(r["a"]["memory"], 256 * 1024 * 1024);
    assert_eq!(r["a"]["pids"], 100);
    assert_eq!(r["b"]["memory"], 300 * 1024 * 1024, "flags override the plugin config");
    assert_eq!(r["b"]["pids"], 64);
    assert_eq!(r["ids"], json!(["c1", "c2"]));
    assert_eq!(r["elsewhere"], 0, "with-env changes the scope for one call");
    assert_eq!(r["stopped"], json!(["c1", "c2"]));
    assert!(iso.leftovers().is_empty());
}

#[test]
fn start_reports_progress_post_create_and_image_decisions() {
    let iso = Isolation::new("report");
    let out = run(
        &iso,
        r#"
        let pc = sandbox start --id pc --post-create ['sleep 3' 'echo made > made.txt' 'exit 3'] --allow-post-create
        let skipped = sandbox start --id sk --post-create ['echo no > no.txt'] --quiet
        let ut = sandbox start --id ut --image docker.io/library/alpine:3.20 --quiet
        sandbox stop --all | ignore
        { pc: ($pc.post_create | select command ran exit_code), pc_warnings: $pc.warnings,
          sk: ($skipped.post_create | select ran), sk_warning: ($skipped.warnings | any {|w| $w =~ 'skipped' }),
          ut: ($ut | select image image_requested image_reason), ut_warning: ($ut.warnings | any {|w| $w =~ 'not trusted' }) } | to json -r
        "#,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Json = serde_json::from_str(stdout.trim()).expect("json");
    // Phase lines: the start takes seconds (post-create `sleep 3`), so phases are printed.
    assert!(
        stderr.contains("sandbox start pc: running post-create command 1 of 3: sleep 3…"),
        "no phase line: {stderr}"
    );
    assert!(stderr.contains("sandbox start pc: running post-create command 3 of 3: exit 3…"), "{stderr}");
    assert!(!stderr.contains("still working"), "elapsed-time lines are gone: {stderr}");
    assert!(stderr.contains("sandbox start pc: ready after"), "no final line: {stderr}");
    assert!(stderr.contains("sandbox start pc: warning: post-create command"), "warning printed: {stderr}");
    assert!(!stderr.contains("sandbox start sk"), "--quiet prints nothing: {stderr}");
    assert_eq!(
        r["pc"],
        json!([{"command": "sleep 3", "ran": true, "exit_code": 0}, {"command": "echo made > made.txt", "ran": true, "exit_code": 0},
               {"command": "exit 3", "ran": true, "exit_code": 3}])
    );
    let warnings = r["pc_warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w.as_str().is_some_and(|w| w.contains("post-create command \"exit 3\" failed"))),
        "the failed post-create command is a warning: {warnings:?}"
    );
    assert!(iso.work_dir.path().join("made.txt").exists(), "post-create ran in the working dir");
    assert_eq!(r["sk"], json!([{"ran": false}]));
    assert_eq!(r["sk_warning"], true);
    assert!(!iso.work_dir.path().join("no.txt").exists());
    assert_eq!(
        r["ut"],
        json!({"image": "localhost/sandbox-busybox:latest", "image_requested": "docker.io/library/alpine:3.20", "image_reason": "untrusted_replaced"})
    );
    assert_eq!(r["ut_warning"], true);
    assert!(iso.leftovers().is_empty());
}

#[test]
fn reap_removes_dead_sessions_and_stop_takes_piped_sessions() {
    let iso = Isolation::new("reap");
    let r = json(
        &iso,
        r#"
        let r1 = sandbox start --id r1 --quiet
        sandbox start --id r2 --quiet | ignore
        sandbox start --id r3 --quiet | ignore
        sandbox start --id r4 --quiet | ignore
        ^podman stop --time 0 $r1.container | ignore
        let state = sandbox list | where id == r1 | get 0.state
        let lost = try { sandbox exec r1 true; "no error" } catch {|e| $e.msg }
        let reaped = sandbox reap
        let kept = sandbox reap --keep [r2 r3]
        let piped = sandbox list | sandbox stop | get id
        { state: $state, lost: $lost, reaped: ($reaped | select id state), kept: ($kept | get id), piped: $piped,
          left: (sandbox list | length) } | to json -r
        "#,
    );
    assert_eq!(r["state"], "exited");
    assert!(r["lost"].as_str().unwrap_or_default().contains("r1"), "{r}");
    assert_eq!(r["reaped"], json!([{"id": "r1", "state": "exited"}]));
    assert_eq!(r["kept"], json!(["r4"]));
    assert_eq!(r["piped"], json!(["r2", "r3"]));
    assert_eq!(r["left"], 0);
    assert!(iso.leftovers().is_empty());
}

#[test]
fn info_describes_the_host() {
    let iso = Isolation::new("info");
    let r = json(&iso, "sandbox info | to json -r");
    assert_eq!(r["podman_version"].as_str().map(|v| v.starts_with(char::is_numeric)), Some(true), "{r}");
    assert!(r["rootless"].is_boolean());
    assert!(["v1", "v2", "hybrid"].contains(&r["cgroup_mode"].as_str().unwrap_or_default()));
    assert!(r["runtime"].is_string());
    assert!(r["limits_enforceable"].is_boolean());
    assert_eq!(r["default_image"], "localhost/sandbox-busybox:latest");
    assert_eq!(r["default_image_available"], true);
    assert_eq!(r["scope"], iso.scope.as_str());
    assert_eq!(r["rootless"], rustix_free_uid() != 0);
}

fn rustix_free_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("uid")
}

/// The options rule: a flag left out is the default; `0` is zero where zero means
/// something (`--max-output 0B` captures nothing, a wait of `0sec` checks once) and a
/// labelled error where it does not (`--timeout 0sec` on exec, `--spool-cap 0B`).
#[test]
fn zero_flags_mean_zero_or_are_refused() {
    let iso = Isolation::new("zero");
    let r = json(
        &iso,
        r#"
        sandbox start --id z --quiet | ignore
        let sleeping = sandbox task spawn z sleep 300
        let quiet = sandbox term open z sh -c 'printf quiet; sleep 300'
        sandbox term read z $quiet --until quiet | ignore
        {
          nothing: (sandbox exec z --max-output 0B sh -c 'printf 12345' | select stdout stdout_truncated)
          default: (sandbox exec z sh -c 'printf 12345' | select stdout stdout_truncated)
          read_now: (sandbox term read z $quiet --offset 5 --wait 0sec | select output finished)
          sleeping: $sleeping.id
          quiet: $quiet.id
        } | to json -r
        "#,
    );
    assert_eq!(r["nothing"], json!({"stdout": "", "stdout_truncated": true}), "0B captures nothing");
    assert_eq!(r["default"], json!({"stdout": "12345", "stdout_truncated": false}), "no flag: the default cap");
    assert_eq!(r["read_now"], json!({"output": "", "finished": false}), "--wait 0sec returns at once");
    let sleeping = r["sleeping"].as_str().expect("task id").to_string();
    let quiet = r["quiet"].as_str().expect("terminal id").to_string();
    bad(&iso, &format!("sandbox task wait z {sleeping} --timeout 0sec"), "still running", "0sec", "sandbox task kill");
    bad(&iso, &format!("sandbox term wait z {quiet} --timeout 0sec"), "still running", "0sec", "sandbox term kill");
    bad(&iso, &format!("sandbox task wait z {sleeping} --timeout -1sec"), "must not be negative", "-1sec", "0sec");
    bad(&iso, "sandbox exec z --timeout 0sec true", "greater than zero", "0sec", "leave the flag out");
    bad(&iso, "sandbox task spawn z --spool-cap 0B true", "positive size", "0B", "--spool-cap");
    bad(&iso, "sandbox term open z --scrollback 0B", "positive size", "0B", "--scrollback");
    json(&iso, "sandbox stop z | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn bad_input_gives_labelled_errors_with_help() {
    let iso = Isolation::new("badinput");
    json(&iso, "sandbox start --id ok --quiet | get id | to json");
    bad(
        &iso,
        "sandbox exec no-such-session true",
        "no sandbox session \"no-such-session\"",
        "no-such-session",
        "sandbox list",
    );
    bad(&iso, "sandbox exec ok --timeout -1sec true", "greater than zero", "-1sec", "10sec");
    bad(&iso, "sandbox exec ok --env { A: [1] } true", "must be a string", "[1]", "to json");
    bad(&iso, "sandbox exec ok --cwd /nonexistent pwd", "does not exist", "/nonexistent", "inside the session");
    bad(&iso, "sandbox start ./no-such-dir --quiet", "does not exist", "./no-such-dir", "existing project directory");
    bad(&iso, "sandbox start --ports [70000] --quiet", "out of range", "70000", "65535");
    bad(&iso, "sandbox start --network host --quiet", "host", "host", "bridge");
    bad(&iso, "sandbox start --id ok --quiet", "already exists", "ok", "another --id");
    bad(&iso, "sandbox stop ok nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    bad(&iso, "$env.config.plugins.sandbox = { bogus: 1 }; sandbox list", "bogus", "{ bogus: 1 }", "trusted_images");
    // `stop ok nope` checked every id first: ok still runs.
    let r = json(&iso, "sandbox list | get id | to json -r");
    assert_eq!(r, json!(["ok"]));
    // nushell's own argument checking still applies.
    let stderr = failure(&iso, "sandbox exec");
    assert!(stderr.contains("session"), "{stderr}");
    let stderr = failure(&iso, "sandbox exec ok --timeout notaduration true");
    assert!(stderr.to_lowercase().contains("duration"), "{stderr}");
    bad(&iso, "[1 2] | sandbox exec ok cat", "not a list<int>", "[1 2]", "to json");
    bad(&iso, "ls | sandbox exec ok cat", "not a list stream", "ls", "to json");
    json(&iso, "sandbox stop ok | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn plugin_prints_nothing_on_stdout_of_its_own() {
    let iso = Isolation::new("stdout");
    let out = nu_command(
        &iso,
        true,
        "sandbox start --id q | ignore; sandbox exec q echo hi | ignore; sandbox stop q | ignore",
    )
    .output()
    .expect("nu");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "unexpected stdout: {:?}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_example_parses_and_every_command_has_help() {
    let iso = Isolation::new("examples");
    let r = json(
        &iso,
        r#"
        let cmds = scope commands | where name =~ '^sandbox'
        let bad = $cmds | each {|c| $c.examples | each {|e| { command: $c.name, example: $e.example, ok: ($e.example | nu-check) } } }
          | flatten | where not ok
        { commands: ($cmds | get name | sort), examples: ($cmds | get examples | flatten | length), bad: $bad,
          undescribed: ($cmds | where description == '' | get name) } | to json -r
        "#,
    );
    assert_eq!(
        r["commands"],
        json!([
            "sandbox",
            "sandbox attach",
            "sandbox copy remove",
            "sandbox diff",
            "sandbox events",
            "sandbox exec",
            "sandbox file",
            "sandbox file ls",
            "sandbox file read",
            "sandbox file write",
            "sandbox fork",
            "sandbox info",
            "sandbox list",
            "sandbox merge",
            "sandbox net",
            "sandbox net allow",
            "sandbox net deny",
            "sandbox net log",
            "sandbox net policy",
            "sandbox net restart",
            "sandbox pause",
            "sandbox reap",
            "sandbox resume",
            "sandbox run",
            "sandbox snapshot",
            "sandbox snapshot list",
            "sandbox snapshot remove",
            "sandbox start",
            "sandbox stats",
            "sandbox stop",
            "sandbox task",
            "sandbox task kill",
            "sandbox task list",
            "sandbox task logs",
            "sandbox task spawn",
            "sandbox task wait",
            "sandbox term",
            "sandbox term kill",
            "sandbox term list",
            "sandbox term open",
            "sandbox term read",
            "sandbox term resize",
            "sandbox term send",
            "sandbox term wait",
            "sandbox wait-port",
            "sandbox watch"
        ])
    );
    assert!(r["examples"].as_u64().unwrap_or(0) >= 60, "{r}");
    assert_eq!(r["bad"], json!([]), "examples that do not parse");
    assert_eq!(r["undescribed"], json!([]));
}

#[test]
fn start_exec_task_terminal_file_list_stop_pipeline() {
    let iso = Isolation::new("tasks-pipeline");
    let r = json(
        &iso,
        r#"
        let s = sandbox start --id tp --quiet
        let e = sandbox exec tp sh -c 'echo exec-out'
        let t = sandbox task spawn tp sh -c 'echo task-out; echo task-err >&2; exit 3'
        let waited = sandbox task wait tp $t --timeout 60sec
        let long = sandbox task spawn tp --cwd /tmp --env { WHO: env-seen } sh -c 'pwd; echo $WHO; sleep 300'
        let term = sandbox term open tp --rows 30 --cols 90
        sandbox term send tp $term "stty size; echo term-$((6 * 7))\n"
        let read1 = sandbox term read tp $term --until 'term-42'
        let resized = sandbox term resize tp $term 40 120
        sandbox term send tp $term "stty size\n"
        let read2 = sandbox term read tp $term --offset $read1.next_offset --until '40 120'
        "héllo\n" | sandbox file write tp notes.txt
        0x[00 ff] | sandbox file write tp data.bin --mode 0o600
        ^printf 'streamed\n' | sandbox file write tp sub.txt
        "x" | sandbox file write tp .hidden
        let listed = sandbox list
        let long_logs = sandbox task logs tp $long --stream stdout
        sandbox task kill tp $long
        let killed = sandbox task wait tp $long
        sandbox term kill tp $term
        let closed = sandbox term wait tp $term
        let result = {
          exec: $e.stdout
          spawned: ($t | select command pid spool_cap | update pid { describe } | update spool_cap { describe })
          waited: ($waited | select state exit_code signal)
          waited_types: { started: ($waited.started | describe), ended: ($waited.ended | describe), duration: ($waited.duration | describe) }
          merged: (sandbox task logs tp $t | lines | sort)
          stdout: (sandbox task logs tp $t --stream stdout)
          stderr: (sandbox task logs tp $t --stream stderr)
          tail: (sandbox task logs tp $t --stream stdout --tail 4B)
          offset: (sandbox task logs tp $t --stream stdout --offset 5)
          long_logs: $long_logs
          killed: ($killed | select state signal exit_code)
          term: ($term | select command state rows cols scrollback | update scrollback { describe })
          read1: { has_size: ($read1.output =~ '30 90'), has_42: ($read1.output =~ 'term-42'), offset: $read1.offset, finished: $read1.finished }
          resized: ($resized | select rows cols)
          read2: { has_size: ($read2.output =~ '40 120'), from: ($read2.offset == $read1.next_offset) }
          closed: ($closed | select state signal)
          files: (sandbox file ls tp | select name type size | update size { into int })
          files_all: (sandbox file ls tp --all | get name)
          file_types: (sandbox file ls tp | first | select size modified | values | each { describe })
          long_listing: (sandbox file ls tp --long | where name == data.bin | select name mode target)
          notes: (sandbox file read tp notes.txt)
          data: (sandbox file read tp data.bin)
          one_file: (sandbox file ls tp sub.txt | get name)
          in_dir: (sandbox file ls tp / | where name == /tmp | get type)
          listed: ($listed | select id tasks terminals)
          tasks: (sandbox task list tp | select state exit_code signal)
          terms: (sandbox term list tp | select state signal)
        }
        sandbox stop tp | ignore
        $result | to json -r
        "#,
    );
    assert_eq!(r["exec"], "exec-out\n");
    assert_eq!(
        r["spawned"],
        json!({"command": "sh -c echo task-out; echo task-err >&2; exit 3", "pid": "int", "spool_cap": "filesize"})
    );
    assert_eq!(r["waited"], json!({"state": "exited", "exit_code": 3, "signal": null}));
    assert_eq!(r["waited_types"], json!({"started": "datetime", "ended": "datetime", "duration": "duration"}));
    assert_eq!(r["merged"], json!(["task-err", "task-out"]));
    assert_eq!(r["stdout"], "task-out\n");
    assert_eq!(r["stderr"], "task-err\n");
    assert_eq!(r["tail"], "out\n");
    assert_eq!(r["offset"], "out\n");
    assert_eq!(r["long_logs"], "/tmp\nenv-seen\n", "--cwd and --env reach the task");
    assert_eq!(r["killed"], json!({"state": "killed", "signal": 15, "exit_code": null}));
    assert_eq!(
        r["term"],
        json!({"command": "/bin/sh", "state": "running", "rows": 30, "cols": 90, "scrollback": "filesize"})
    );
    assert_eq!(r["read1"], json!({"has_size": true, "has_42": true, "offset": 0, "finished": false}));
    assert_eq!(r["resized"], json!({"rows": 40, "cols": 120}));
    assert_eq!(r["read2"], json!({"has_size": true, "from": true}));
    assert_eq!(r["closed"], json!({"state": "killed", "signal": 1}));
    assert_eq!(
        r["files"],
        json!([{"name": "data.bin", "type": "file", "size": 2}, {"name": "notes.txt", "type": "file", "size": 7},
               {"name": "sub.txt", "type": "file", "size": 9}]),
        "hidden files are left out, as by ls"
    );
    assert_eq!(r["files_all"], json!([".hidden", "data.bin", "notes.txt", "sub.txt"]));
    assert_eq!(r["file_types"], json!(["filesize", "datetime"]));
    assert_eq!(r["long_listing"], json!([{"name": "data.bin", "mode": "rw-------", "target": null}]));
    assert_eq!(r["notes"], "héllo\n");
    assert_eq!(r["data"], json!([0, 255]));
    assert_eq!(r["one_file"], json!(["sub.txt"]));
    assert_eq!(r["in_dir"], json!(["dir"]));
    assert_eq!(r["listed"], json!([{"id": "tp", "tasks": 2, "terminals": 1}]));
    assert_eq!(
        r["tasks"],
        json!([{"state": "exited", "exit_code": 3, "signal": null}, {"state": "killed", "exit_code": null, "signal": 15}])
    );
    assert_eq!(r["terms"], json!([{"state": "killed", "signal": 1}]));
    // The files are in the working dir, on the host too (same path).
    let work = iso.work_path();
    assert_eq!(std::fs::read_to_string(work.join("notes.txt")).expect("notes.txt"), "héllo\n");
    assert_eq!(std::fs::read_to_string(work.join("sub.txt")).expect("sub.txt"), "streamed\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(work.join("data.bin")).expect("data.bin").permissions().mode();
    assert_eq!(mode & 0o7777, 0o600);
    assert!(iso.leftovers().is_empty());
    assert!(iso.control_dirs_left().is_empty(), "stop left {:?}", iso.control_dirs_left());
}

#[test]
fn list_counts_tasks_and_terminals_and_shows_nothing_for_unreachable_sessions() {
    let iso = Isolation::new("counts");
    let r = json(
        &iso,
        r#"
        sandbox start --id c1 --quiet | ignore
        let c2 = sandbox start --id c2 --quiet
        let c3 = sandbox start --id c3 --quiet
        let c4 = sandbox start --id c4 --quiet
        sandbox task spawn c1 sleep 300 | ignore
        sandbox task spawn c1 true | ignore
        sandbox term open c1 | ignore
        sandbox term open c3 | ignore
        sandbox task spawn c2 sleep 300 | ignore
        sandbox term open c2 | ignore
        ^podman stop --time 0 $c2.container | ignore
        ^podman stop --time 0 $c4.container | ignore
        { control: (^podman inspect $c3.container --format '{{index .Config.Labels "sandbox.control"}}' | str trim) } | to json -r
        "#,
    );
    // c3's agent cannot be reached any more (its socket is gone from the control dir),
    // while its container keeps running.
    let control = std::path::PathBuf::from(r["control"].as_str().expect("control dir"));
    std::fs::remove_file(control.join("shared/agent.sock")).expect("remove c3's agent socket");
    let r = json(&iso, "sandbox list | select id state tasks terminals | to json -r");
    assert_eq!(
        r,
        json!([
            {"id": "c1", "state": "running", "tasks": 2, "terminals": 1},
            // Stopped containers: counted from what their agents spooled (nothing for c4).
            {"id": "c2", "state": "exited", "tasks": 1, "terminals": 1},
            {"id": "c3", "state": "running", "tasks": null, "terminals": null},
            {"id": "c4", "state": "exited", "tasks": 0, "terminals": 0}
        ])
    );
    let r = json(&iso, "sandbox stop --all | get id | to json -r");
    assert_eq!(r, json!(["c1", "c2", "c3", "c4"]));
    assert!(iso.leftovers().is_empty());
    assert!(iso.control_dirs_left().is_empty(), "stop left {:?}", iso.control_dirs_left());
}

/// What `seq 1 n` prints.
fn seq(n: u32) -> Vec<u8> {
    (1..=n).flat_map(|i| format!("{i}\n").into_bytes()).collect()
}

#[test]
fn a_lost_session_stays_readable_from_a_new_nu_process() {
    let iso = Isolation::new("lost");
    // One nu process: a task that prints known bytes (not all UTF-8) and ends, read to its
    // end so all of it is in the spool; a terminal that prints a line and stays open.
    let r = json(
        &iso,
        r#"
        let s = sandbox start --id lost --quiet
        let t = sandbox task spawn lost sh -c 'seq 1 3000; printf "\377\376\000end\n"; echo err-line >&2; exit 3'
        sandbox task wait lost $t --timeout 60sec | ignore
        let drained = [merged stdout stderr] | each {|st| sandbox task logs lost $t --stream $st --follow --raw | into binary | bytes length }
        let term = sandbox term open lost sh -c 'echo term-$((40 + 2)); exec sleep 300'
        sandbox term read lost $term --until 'term-42' | ignore
        { container: $s.container, task: $t.id, term: $term.id, drained: $drained,
          control: (^podman inspect $s.container --format '{{index .Config.Labels "sandbox.control"}}' | str trim) } | to json -r
        "#,
    );
    let mut stdout = seq(3000);
    stdout.extend_from_slice(b"\xff\xfe\x00end\n");
    let stderr = b"err-line\n";
    let total = stdout.len() + stderr.len();
    assert_eq!(r["drained"], json!([total, stdout.len(), stderr.len()]), "{r}");
    let text = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{k} in {r}")).to_string();
    let (container, control, task, term) = (text("container"), text("control"), text("task"), text("term"));
    assert!(std::path::Path::new(&control).is_dir(), "{control}");

    // The container dies under everything: killed from outside.
    for args in [["kill", container.as_str()], ["wait", container.as_str()]] {
        let out = Command::new(podman()).args(args).output().expect("podman");
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    // A new nu process (a new plugin process too) reads it all, and stops the session.
    let r = json(
        &iso,
        &format!(
            r#"
            let stdout = sandbox task logs lost {task} --stream stdout --raw
            {{
              listed: (sandbox list | select id state tasks terminals)
              tasks: (sandbox task list lost | select id state exit_code)
              stdout: $stdout
              stdout_type: ($stdout | describe)
              stderr: (sandbox task logs lost {task} --stream stderr)
              merged: (sandbox task logs lost {task} --raw | bytes length)
              tail: (sandbox task logs lost {task} --stream stdout --tail 8B --raw)
              followed: ((sandbox task logs lost {task} --stream stdout --follow --raw | into binary) == $stdout)
              terms: (sandbox term list lost | select id)
              screen: (sandbox term read lost {term} | update output {{ $in =~ 'term-42' }} | select output offset finished)
              until: ((sandbox term read lost {term} --until 'term-42').output =~ 'term-42')
              exec: (try {{ sandbox exec lost true; null }} catch {{|e| {{ msg: $e.msg, label: $e.details.labels.0.text }} }})
              stopped: (sandbox stop lost | get id)
              after: (sandbox list | length)
            }} | to json -r
            "#
        ),
    );
    assert_eq!(r["listed"], json!([{"id": "lost", "state": "exited", "tasks": 1, "terminals": 1}]));
    assert_eq!(r["tasks"], json!([{"id": task, "state": "exited", "exit_code": 3}]));
    assert_eq!(r["stdout_type"], "binary");
    assert!(r["stdout"] == json!(stdout), "stdout is not byte-exact: {}", r["stdout"]);
    assert_eq!(r["stderr"], "err-line\n");
    assert_eq!(r["merged"], total);
    assert_eq!(r["tail"], json!(stdout[stdout.len() - 8..]));
    assert_eq!(r["followed"], true, "--follow ends and gives the same bytes");
    assert_eq!(r["terms"], json!([{"id": term}]));
    assert_eq!(r["screen"], json!({"output": true, "offset": 0, "finished": true}));
    assert_eq!(r["until"], true);
    let msg = r["exec"]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("\"lost\" is lost"), "exec on the lost session: {}", r["exec"]);
    assert_eq!(r["exec"]["label"], "this session's container is gone or not running", "{}", r["exec"]);
    assert_eq!(r["stopped"], json!(["lost"]));
    assert_eq!(r["after"], 0);
    assert!(iso.leftovers().is_empty());
    assert!(!std::path::Path::new(&control).exists(), "stop left the control dir {control}");
    assert!(iso.control_dirs_left().is_empty(), "stop left {:?}", iso.control_dirs_left());
}

#[test]
fn bad_task_terminal_and_file_input_gives_labelled_errors_with_help() {
    let iso = Isolation::new("badhandles");
    let r = json(
        &iso,
        r#"
        sandbox start --id bh --quiet | ignore
        let done = sandbox task spawn bh sh -c 'echo x'
        sandbox task wait bh $done | ignore
        let sleeping = sandbox task spawn bh sleep 300
        let ended = sandbox term open bh sh -c 'exit 0'
        sandbox term wait bh $ended | ignore
        let quiet = sandbox term open bh sh -c 'printf quiet; sleep 300'
        sandbox term read bh $quiet --until quiet | ignore
        { done: $done.id, sleeping: $sleeping.id, ended: $ended.id, quiet: $quiet.id } | to json -r
        "#,
    );
    let id = |k: &str| r[k].as_str().expect("id").to_string();
    let (done, sleeping, ended, quiet) = (id("done"), id("sleeping"), id("ended"), id("quiet"));
    let unknown_task = "task-0000000000000000";
    let unknown_term = "term-0000000000000000";
    bad(&iso, &format!("sandbox task logs bh {unknown_task}"), "no task", unknown_task, "sandbox task list bh");
    bad(&iso, &format!("sandbox task wait bh {unknown_task}"), "no task", unknown_task, "sandbox task list bh");
    bad(&iso, &format!("sandbox task kill bh {unknown_task}"), "no task", unknown_task, "sandbox task list bh");
    bad(&iso, &format!("sandbox term read bh {unknown_term}"), "no terminal", unknown_term, "sandbox term list bh");
    bad(&iso, &format!("sandbox term send bh {unknown_term} x"), "no terminal", unknown_term, "sandbox term list bh");
    bad(
        &iso,
        &format!("sandbox term resize bh {unknown_term} 10 10"),
        "no terminal",
        unknown_term,
        "sandbox term list",
    );
    bad(&iso, &format!("sandbox task kill bh {done}"), "exited", &done, "sandbox task list bh");
    bad(&iso, &format!("sandbox term send bh {ended} x"), "exited", &ended, "sandbox term list bh");
    bad(&iso, &format!("sandbox term resize bh {ended} 10 10"), "exited", &ended, "sandbox term list bh");
    // Offsets past the end say where the output ends (2 bytes: "x\n").
    bad(
        &iso,
        &format!("sandbox task logs bh {done} --offset 1000"),
        "past the end of the output (2 bytes so far",
        "1000",
        "offsets",
    );
    bad(
        &iso,
        &format!("sandbox term read bh {quiet} --offset 100000"),
        "past the end of the output (5 bytes so far",
        "100000",
        "offsets",
    );
    // At the end is fine: nothing.
    let r = json(&iso, &format!("sandbox task logs bh {done} --offset 2 | to json"));
    assert_eq!(r, "");
    bad(
        &iso,
        &format!("sandbox task wait bh {sleeping} --timeout 300ms"),
        "still running",
        "300ms",
        "sandbox task kill bh",
    );
    bad(
        &iso,
        &format!("sandbox term read bh {quiet} --offset 5 --wait 300ms"),
        "no new output",
        "300ms",
        "wait longer",
    );
    bad(
        &iso,
        &format!("sandbox term read bh {quiet} --until never-printed --wait 300ms"),
        "did not appear",
        "never-printed",
        "quiet",
    );
    bad(
        &iso,
        &format!("sandbox term wait bh {quiet} --timeout 300ms"),
        "still running",
        "300ms",
        "sandbox term kill bh",
    );
    bad(&iso, &format!("sandbox task kill bh {sleeping} --signal SIGNOPE"), "unknown signal", "SIGNOPE", "TERM");
    bad(&iso, &format!("sandbox task logs bh {done} --tail 100MiB"), "read size", "100MiB", "see");
    bad(&iso, "sandbox task spawn bh --spool-cap 1KiB true", "spool cap", "1KiB", "accepted");
    bad(&iso, "sandbox term open bh --scrollback 1KiB", "scrollback", "1KiB", "accepted");
    bad(&iso, "sandbox task spawn bh no-such-program", "no-such-program", "no-such-program", "PATH");
    bad(&iso, "sandbox term open bh no-such-program", "no-such-program", "no-such-program", "PATH");
    bad(&iso, "sandbox task spawn bh --cwd /no/such true", "/no/such", "/no/such", "inside the session");
    bad(&iso, "sandbox term open bh --cwd /no/such", "/no/such", "/no/such", "inside the session");
    bad(&iso, "sandbox file read bh /no/such/file", "not found", "/no/such/file", "resolved inside");
    bad(&iso, "sandbox file read bh missing.txt", "not found", "missing.txt", "working directory");
    bad(&iso, "sandbox file ls bh /no/such/dir", "not found", "/no/such/dir", "resolved inside");
    bad(&iso, "'x' | sandbox file write bh /no/such/dir/f.txt", "not found", "/no/such/dir/f.txt", "resolved inside");
    bad(&iso, "sandbox file read bh /tmp", "directory", "/tmp", "");
    bad(&iso, "sandbox task list nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    bad(&iso, "sandbox term open nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    bad(&iso, "sandbox file ls nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    json(&iso, "sandbox stop bh | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn start_devcontainer_returns_what_the_file_gave_and_refused() {
    let iso = Isolation::new("devc");
    std::fs::create_dir_all(iso.work_path().join("proj/.devcontainer")).unwrap();
    std::fs::write(
        iso.work_path().join("proj/.devcontainer/devcontainer.json"),
        r#"{"containerEnv": {"FROM_FILE": "${localWorkspaceFolderBasename}"}, "runArgs": ["--cap-add=SYS_ADMIN"], "madeUp": 1}"#,
    )
    .unwrap();
    let r = json(
        &iso,
        r#"
        let s = sandbox start proj --id dc1 --devcontainer --quiet
        let e = sandbox exec dc1 sh -c 'echo $FROM_FILE'
        sandbox stop dc1 | ignore
        { refused: ($s.devcontainer.refused | select property value), unknown: $s.devcontainer.unknown,
          file: $s.devcontainer.file, env: ($e.stdout | str trim) } | to json -r
        "#,
    );
    assert_eq!(
        r,
        json!({"refused": [{"property": "runArgs", "value": "--cap-add=SYS_ADMIN"}], "unknown": ["madeUp"],
               "file": ".devcontainer/devcontainer.json", "env": "proj"})
    );
    std::fs::create_dir(iso.work_path().join("empty")).unwrap();
    bad(
        &iso,
        "sandbox start empty --id dc2 --devcontainer",
        "devcontainer.json",
        "--devcontainer",
        "add .devcontainer",
    );
    assert!(iso.leftovers().is_empty());
}

/// An HTTP server on the host's loopback answering each request with `answer(request)`
/// as the body; its port and every request it got.
fn server(
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("port").port();
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
fn egress_sessions_reach_what_is_allowed_log_it_and_change_live() {
    let iso = Isolation::new("egress");
    let port = http_server("hello through the proxy");
    // (busybox wget crashes on a refused proxied request when given -T.)
    let r = json(
        &iso,
        &format!(
            r#"
            let s = sandbox start --id eg --quiet --allow-host [allowed.test 127.0.0.1:{port}] --pin-host {{allowed.test: 127.0.0.1, later.test: [127.0.0.1]}}
            def fetch [host: string] {{ sandbox exec eg sh -c $"wget -q -O- http://($host):{port}/ 2>&1; echo" | get stdout }}
            let allowed = fetch allowed.test
            let refused = fetch later.test
            mut log = []
            for _ in 1..100 {{
              $log = (sandbox net log eg)
              if ($log | any {{|d| $d.host == allowed.test }}) {{ break }}
              sleep 100ms
            }}
            let wider = sandbox net allow eg later.test Later.test.
            let now_allowed = fetch later.test
            let narrower = sandbox net deny eg later.test
            let refused_again = fetch later.test
            {{
              egress: $s.egress
              network: $s.network
              allowed: $allowed, refused: $refused, now_allowed: $now_allowed, refused_again: $refused_again
              log: ($log | sort-by host | select host port address via allowed)
              log_types: ($log | first | select time bytes_out bytes_in | items {{|k, v| {{ $k: ($v | describe) }} }} | into record)
              allowed_bytes: ($log | where host == allowed.test | get 0.bytes_in | $in > 20B)
              refusal: ($log | where host == later.test | get 0.reason)
              process: ($log | where host == allowed.test | get 0.process)
              wider: $wider.allow
              narrower: ($narrower | reject enforcer_running)
              policy: (sandbox net policy eg | get allow)
              restart: ((sandbox net restart eg).enforcer_pid == $s.egress.enforcer_pid)
            }} | to json -r
            "#
        ),
    );
    let local = format!("127.0.0.1:{port}");
    assert_eq!(r["network"], "egress", "--allow-host implies the egress network");
    assert_eq!(r["egress"]["rules"], json!(["allowed.test", local]));
    assert_eq!(r["egress"]["pinned"], json!(["allowed.test", "later.test"]));
    assert_eq!(r["egress"]["proxy"], "http://127.0.0.1:3128");
    assert!(r["allowed"].as_str().unwrap_or_default().contains("hello through the proxy"), "{r}");
    assert!(r["refused"].as_str().unwrap_or_default().contains("403"), "{r}");
    // Sorted by host: the refusal is logged when decided, the allowed request when it closed.
    assert_eq!(
        r["log"],
        json!([{"host": "allowed.test", "port": port, "address": "127.0.0.1", "via": "http", "allowed": true},
               {"host": "later.test", "port": port, "address": null, "via": "http", "allowed": false}])
    );
    assert_eq!(r["log_types"], json!({"time": "datetime", "bytes_out": "filesize", "bytes_in": "filesize"}));
    assert_eq!(r["allowed_bytes"], true);
    assert!(r["refusal"].as_str().unwrap_or_default().contains("not in the allow list"), "{r}");
    // The process that opened it, as the session's agent saw it: "pid wget".
    let process = r["process"].as_str().unwrap_or_default();
    assert!(process.ends_with(" wget") && process.starts_with(|c: char| c.is_ascii_digit()), "{r}");
    assert_eq!(r["wider"], json!(["allowed.test", local, "later.test"]), "normalized, added once");
    assert!(r["now_allowed"].as_str().unwrap_or_default().contains("hello"), "allowed from the next connection: {r}");
    assert_eq!(
        r["narrower"],
        json!({"session": "eg", "allow": ["allowed.test", local],
               "hosts": {"allowed.test": ["127.0.0.1"], "later.test": ["127.0.0.1"]},
               "credentials": [], "upstream_ca": []})
    );
    assert!(r["refused_again"].as_str().unwrap_or_default().contains("403"), "{r}");
    assert_eq!(r["policy"], json!(["allowed.test", local]));
    assert_eq!(r["restart"], true, "a running enforcer is kept");

    // Bad rules and pins are labelled where they were written, with the core's reason.
    bad(&iso, "sandbox start --quiet --allow-host [ok.test '*']", "may only start a rule", "'*'", "*.domain");
    bad(&iso, "sandbox start --quiet --allow-host a.test:0", "out of range", "a.test:0", ":port");
    bad(&iso, "sandbox start --quiet --pin-host { a.test: nope }", "IP address", "nope", "--pin-host");
    bad(&iso, "sandbox start --quiet --pin-host [a.test]", "name=address", "a.test", "--pin-host");
    bad(
        &iso,
        "sandbox start --quiet --pin-host { A.test: 127.0.0.1 }",
        "write it as",
        "{ A.test: 127.0.0.1 }",
        "lowercase",
    );
    bad(
        &iso,
        "sandbox start --quiet --network none --allow-host a.test",
        "needs network egress",
        "none",
        "--allow-host",
    );
    bad(&iso, "sandbox net allow eg '**.x.test'", "may only start a rule", "'**.x.test'", "*.domain");
    bad(
        &iso,
        "sandbox net deny eg allowed.test '*.allowed.test'",
        "not in the allow list",
        "'*.allowed.test'",
        "nothing was changed",
    );
    bad(&iso, "sandbox net allow eg", "no rule given", "sandbox net allow", "*.domain");
    // Nothing changed by the refused deny.
    assert_eq!(json(&iso, "sandbox net policy eg | get allow | to json -r"), json!(["allowed.test", local]));
    json(&iso, "sandbox start --id plain --network none --quiet | get id | to json");
    for verb in ["log", "policy", "restart", "allow"] {
        let script = format!("sandbox net {verb} plain a.test");
        let script = if verb == "allow" { script } else { script.trim_end_matches(" a.test").to_string() };
        bad(&iso, &script, "not on the egress network", "plain", "--allow-host");
    }
    json(&iso, "sandbox stop eg plain | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn egress_credentials_are_added_outside_the_session() {
    let iso = Isolation::new("egress-cred");
    let (port, seen) = server(|req| [b"you sent:\n".as_slice(), req].concat());
    let secrets = tempfile::tempdir().unwrap();
    let key = format!("k3y-{}-{port}", std::process::id());
    let key_file = secrets.path().join("key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let file = key_file.display();
    let r = json(
        &iso,
        &format!(
            r#"
            let s = sandbox start --id ec --quiet --allow-host [api.test 127.0.0.1:{port}] --pin-host {{api.test: 127.0.0.1}} --credential {{host: api.test, header: X-Api-Key, file: '{file}'}}
            let out = sandbox exec ec sh -c 'wget -q -O- http://api.test:{port}/echo 2>&1' | get stdout
            mut log = []
            for _ in 1..100 {{
              $log = (sandbox net log ec)
              if ($log | any {{|d| $d.host == api.test }}) {{ break }}
              sleep 100ms
            }}
            let kept = sandbox net allow ec other.test
            {{
              out: $out
              injected: ($log | where host == api.test | get 0.injected)
              policy: (sandbox net policy ec | select credentials upstream_ca)
              kept: $kept.credentials
            }} | to json -r
            "#
        ),
    );
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(got.contains(&format!("X-Api-Key: {key}")), "the server gets the credential: {got}");
    let out = r["out"].as_str().unwrap_or_default();
    assert!(out.contains("you sent:") && !out.contains(&key) && out.contains("X-Api-Key: *"), "scrubbed: {r}");
    assert_eq!(r["injected"], "X-Api-Key");
    let cred = json!([{"host": "api.test", "header": "X-Api-Key", "from": format!("file:{file}")}]);
    assert_eq!(r["policy"], json!({"credentials": cred, "upstream_ca": []}));
    assert_eq!(r["kept"], cred, "live rule changes keep the credentials");

    // Bad credentials are labelled on the flag (or the field), with the core's reason.
    bad(
        &iso,
        "sandbox start --quiet --allow-host a.test --credential {host: a.test, header: X, nope: 1}",
        "no field",
        "1",
        "--credential",
    );
    bad(
        &iso,
        "sandbox start --quiet --allow-host a.test --credential {host: a.test, env: T}",
        "needs a header",
        "{host: a.test, env: T}",
        "--credential",
    );
    bad(
        &iso,
        "sandbox start --quiet --allow-host a.test --credential {host: b.test, header: X, env: T}",
        "not allowed",
        "{host: b.test, header: X, env: T}",
        "",
    );
    bad(
        &iso,
        "sandbox start --quiet --allow-host a.test --credential {host: a.test, header: Host, env: T}",
        "frames or routes",
        "{host: a.test, header: Host, env: T}",
        "",
    );
    bad(&iso, "sandbox start --quiet --allow-host a.test --upstream-ca ca.pem", "absolute path", "ca.pem", "");
    json(&iso, "sandbox stop ec | to json");
    assert!(iso.leftovers().is_empty());
}
