//! Conformance with the reference implementation of `devcontainer.json`: the official
//! Dev Containers CLI (`@devcontainers/cli`, pinned in `scripts/setup`, installed into
//! `.tools/`; `SANDBOX_DEVCONTAINER_CLI` names another copy). For every configuration
//! below, `devcontainer read-configuration` and [`Devcontainer::parse`] read the same
//! file with the same host environment, and must agree on every property sessions
//! support: the values after substitution, the forms of ports and commands, and where
//! `${containerWorkspaceFolder}` points (compared in the reference's convention,
//! [`ContainerWorkspace::Reference`]; sessions use the working dir's own path). The
//! properties we do not read must be exactly the ones we list as other properties.
//!
//! `read-configuration` asks the engine for an existing container of the folder (`docker
//! ps`), so it runs with `--docker-path` set to podman; nothing else needs an engine.
//! `--mount-workspace-git-root false` keeps its default workspace folder independent of
//! any git repository around the temporary dirs.
//!
//! Where we differ on purpose: the reference recovers from syntax errors (it skips what
//! it cannot parse and goes on); we refuse the file with the line and column. The last
//! test pins both behaviours for a set of malformed files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox_core::{ContainerWorkspace, Devcontainer, Variables};
use serde_json::{Value, json};

/// The reference CLI: `SANDBOX_DEVCONTAINER_CLI`, else the copy `scripts/setup` installs.
fn reference_cli() -> PathBuf {
    let path = std::env::var_os("SANDBOX_DEVCONTAINER_CLI").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/node_modules/.bin/devcontainer"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the reference Dev Containers CLI is not at {} (scripts/setup installs it; SANDBOX_DEVCONTAINER_CLI names another)",
        path.display()
    );
    path
}

/// The host environment both readers see: the few variables podman and node need, and
/// the ones the configurations read.
fn host_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for k in ["PATH", "HOME", "XDG_RUNTIME_DIR", "USER"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.to_string(), v);
        }
    }
    env.insert("DC_NAME".into(), "conformance".into());
    env.insert("DC_PORT".into(), "4321".into());
    env.insert("DC_EMPTY".into(), String::new());
    env.insert("DC_SPACES".into(), " two  words ".into());
    env.insert("DC_UNICODE".into(), "héllo wörld ✓".into());
    env.insert("DC_COLON".into(), "a:b:c".into());
    env.insert("DC_BRACES".into(), "${localEnv:DC_NAME}".into());
    env
}

/// Where the file goes.
#[derive(Clone, Copy)]
enum Place {
    /// `.devcontainer/devcontainer.json`.
    Folder,
    /// `.devcontainer.json`.
    Top,
    /// Both: the folder's must win (the top one says `"image": "top-loses"`).
    Both,
}

struct Case {
    name: &'static str,
    place: Place,
    text: &'static str,
}

const fn case(name: &'static str, text: &'static str) -> Case {
    Case { name, place: Place::Folder, text }
}

/// The configurations compared.
fn cases() -> Vec<Case> {
    vec![
        case("image only", r#"{"image": "localhost/sandbox-busybox:latest"}"#),
        case(
            "line comments",
            "// a header comment\n{\n  // before a key\n  \"image\": \"a\" // after a value\n}\n// trailer",
        ),
        case(
            "block comments and trailing commas",
            "/* head */ {\"image\": /* in */ \"a\", \"runArgs\": [\"-e\", \"X=1\", /* c */ ], \"containerEnv\": {\"A\": \"1\",},\n/* multi\n line */ }",
        ),
        case(
            "comment markers inside strings",
            r#"{"image": "http://example.invalid/x", "containerEnv": {"C": "// not a comment", "D": "/* nor this */", "E": "*/"}}"#,
        ),
        case("byte order mark", "\u{feff}{\"image\": \"bom\"}"),
        case(
            "string escapes",
            r#"{"containerEnv": {"Q": "a\"b", "S": "back\\slash", "N": "line\nbreak", "U": "\u00e9\u4e2d", "P": "\ud83d\ude00", "F": "a\/b", "T": "\t"}}"#,
        ),
        case("unicode keys and values", r#"{"containerEnv": {"ÉTÉ": "été", "名前": "値"}}"#),
        case(
            "localEnv set",
            r#"{"containerEnv": {"A": "${localEnv:DC_NAME}", "B": "x-${localEnv:DC_NAME}-y", "C": "${localEnv:DC_UNICODE}"}}"#,
        ),
        case(
            "localEnv unset and empty",
            r#"{"containerEnv": {"A": "${localEnv:DC_NOT_SET}", "B": "${localEnv:DC_EMPTY}", "C": "[${localEnv:DC_NOT_SET}]"}}"#,
        ),
        case(
            "localEnv defaults",
            r#"{"containerEnv": {"A": "${localEnv:DC_NOT_SET:fallback}", "B": "${localEnv:DC_NAME:unused}", "C": "${localEnv:DC_NOT_SET:a:b}", "D": "${localEnv:DC_NOT_SET:}", "E": "${localEnv:DC_EMPTY:unused}"}}"#,
        ),
        case("env alias", r#"{"containerEnv": {"A": "${env:DC_NAME}", "B": "${env:DC_NOT_SET:d}"}}"#),
        case(
            "values that look like references",
            r#"{"containerEnv": {"A": "${localEnv:DC_BRACES}", "B": "$${localEnv:DC_NAME}}", "C": "${localEnv:DC_COLON}", "D": "${localEnv:DC_SPACES}"}}"#,
        ),
        case(
            "local workspace folder",
            r#"{"containerEnv": {"A": "${localWorkspaceFolder}", "B": "${localWorkspaceFolderBasename}", "C": "${localWorkspaceFolder:ignored}"}}"#,
        ),
        case(
            "container workspace folder, default",
            r#"{"containerEnv": {"A": "${containerWorkspaceFolder}", "B": "${containerWorkspaceFolderBasename}"}}"#,
        ),
        case(
            "container workspace folder from workspaceFolder",
            r#"{"workspaceFolder": "/src/${localWorkspaceFolderBasename}", "containerEnv": {"A": "${containerWorkspaceFolder}", "B": "${containerWorkspaceFolderBasename}"}}"#,
        ),
        case(
            "workspaceMount",
            r#"{"workspaceMount": "source=${localWorkspaceFolder},target=/work,type=bind", "workspaceFolder": "/work"}"#,
        ),
        case(
            "references left as written",
            r#"{"containerEnv": {"A": "${containerEnv:PATH}", "B": "${devcontainerId}", "C": "${madeUp}", "D": "${}", "E": "${localEnv:DC_NAME", "F": "${a\n}${localEnv:DC_NAME}", "G": "${a${localEnv:DC_NAME}"}}"#,
        ),
        case("keys are not substituted", r#"{"containerEnv": {"${localEnv:DC_NAME}": "v"}}"#),
        case(
            "remoteEnv",
            r#"{"remoteEnv": {"PATH": "${containerEnv:PATH}:/opt/bin", "GONE": null, "N": "${localEnv:DC_NAME}"}}"#,
        ),
        case("forwardPorts numbers", r#"{"forwardPorts": [3000, 5173, 65535, 1]}"#),
        case(
            "forwardPorts strings",
            r#"{"forwardPorts": ["db:5432", "localhost:8080", "127.0.0.1:9000", "${localEnv:DC_PORT}", "localhost:${localEnv:DC_PORT}"]}"#,
        ),
        case("forwardPorts number spellings", r#"{"forwardPorts": [3000.0, 3e3, 1.5e3, 0, -1, 70000]}"#),
        case("appPort number", r#"{"appPort": 8000}"#),
        case("appPort string", r#"{"appPort": "8000:8001"}"#),
        case("appPort array", r#"{"appPort": [8000, "127.0.0.1:9000:9000", "${localEnv:DC_PORT}"]}"#),
        case(
            "postCreateCommand string",
            r#"{"postCreateCommand": "echo hello > ${containerWorkspaceFolder}/made && ls"}"#,
        ),
        case(
            "postCreateCommand array",
            r#"{"postCreateCommand": ["sh", "-c", "echo ${localEnv:DC_NAME}", "arg with spaces"]}"#,
        ),
        case(
            "postCreateCommand object",
            r#"{"postCreateCommand": {"install": "npm ci", "build": ["make", "-j2"], "echo": "echo ${localWorkspaceFolderBasename}"}}"#,
        ),
        case(
            "every lifecycle command",
            r#"{"postStartCommand": ["echo", "start"], "onCreateCommand": "echo create", "updateContentCommand": {"a": "echo a"}, "postCreateCommand": "echo post", "postAttachCommand": "echo attach", "initializeCommand": "echo init"}"#,
        ),
        case("empty commands", r#"{"postCreateCommand": "", "postStartCommand": [], "onCreateCommand": {}}"#),
        case(
            "runArgs",
            r#"{"runArgs": ["--privileged", "--cap-add=SYS_ADMIN", "-v", "/:/host", "--env=A=${localEnv:DC_NAME}"]}"#,
        ),
        case(
            "build",
            r#"{"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"V": "${localEnv:DC_NAME}", "W": "2"}, "target": "dev", "options": ["--network=host"], "cacheFrom": "ghcr.io/x/y"}}"#,
        ),
        case("build with a cacheFrom list", r#"{"build": {"dockerfile": "Containerfile", "cacheFrom": ["a", "b"]}}"#),
        case("legacy dockerFile", r#"{"dockerFile": "Dockerfile", "context": "${localWorkspaceFolder}"}"#),
        case(
            "features",
            r#"{"features": {"ghcr.io/devcontainers/features/go:1": {"version": "1.22"}, "./local-feature": {}}}"#,
        ),
        case("users", r#"{"remoteUser": "vscode", "containerUser": "${localEnv:DC_NAME}"}"#),
        Case {
            name: "top-level file",
            place: Place::Top,
            text: r#"{"image": "top", "containerEnv": {"W": "${localWorkspaceFolderBasename}"}}"#,
        },
        Case { name: "folder file wins", place: Place::Both, text: r#"{"image": "folder-wins"}"# },
        case(
            "repeated keys",
            "{\"image\": \"first\", \"containerEnv\": {\"A\": \"1\", \"A\": \"2\"},\n \"image\": \"last\"}",
        ),
        case("empty object", "{}"),
        case(
            "unknown and tool properties",
            r#"{"image": "a", "name": "x", "customizations": {"vscode": {"extensions": ["a.b"]}}, "madeUpProperty": {"deep": [1, 2]}, "privileged": true, "mounts": ["source=/,target=/host,type=bind"], "capAdd": ["SYS_ADMIN"], "securityOpt": ["seccomp=unconfined"], "hostRequirements": {"cpus": 64}, "shutdownAction": "none", "overrideCommand": false}"#,
        ),
        case(
            "a bit of everything",
            "// project dev container\n{\n  \"name\": \"everything\",\n  \"image\": \"localhost/sandbox-busybox:latest\",\n  \"containerEnv\": {\"PROJECT\": \"${localWorkspaceFolderBasename}\", \"WHERE\": \"${containerWorkspaceFolder}\", \"WHO\": \"${localEnv:DC_NAME:nobody}\",},\n  \"forwardPorts\": [3000, \"localhost:3001\",],\n  \"appPort\": [\"3002:3002\"],\n  /* commands */\n  \"postCreateCommand\": [\"sh\", \"-c\", \"touch created\"],\n  \"postStartCommand\": {\"a\": \"echo a\", \"b\": [\"echo\", \"b\"]},\n  \"remoteUser\": \"root\",\n}\n",
        ),
    ]
}

/// The properties [`Devcontainer::to_json`] covers.
const SUPPORTED: &[&str] = &[
    "image",
    "build",
    "dockerFile",
    "context",
    "containerEnv",
    "remoteEnv",
    "forwardPorts",
    "appPort",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "workspaceFolder",
    "workspaceMount",
    "remoteUser",
    "containerUser",
    "runArgs",
    "features",
];

/// A working dir holding `case`'s file.
fn write_case(case: &Case) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("dc-conformance").tempdir().expect("tempdir");
    let folder = || {
        std::fs::create_dir(dir.path().join(".devcontainer")).unwrap();
        std::fs::write(dir.path().join(".devcontainer/devcontainer.json"), case.text).unwrap();
    };
    match case.place {
        Place::Folder => folder(),
        Place::Top => std::fs::write(dir.path().join(".devcontainer.json"), case.text).unwrap(),
        Place::Both => {
            folder();
            std::fs::write(dir.path().join(".devcontainer.json"), r#"{"image": "top-loses"}"#).unwrap();
        }
    }
    dir
}

/// What the reference CLI prints for the working dir `dir` (exit code, stdout, stderr).
fn read_configuration(cli: &Path, dir: &Path, env: &BTreeMap<String, String>) -> (i32, String, String) {
    let podman = std::env::var("SANDBOX_PODMAN").unwrap_or_else(|_| "podman".into());
    let out = Command::new(cli)
        .args(["read-configuration", "--workspace-folder"])
        .arg(dir)
        .args(["--docker-path", &podman, "--mount-workspace-git-root", "false", "--log-level", "info"])
        .env_clear()
        .envs(env)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", cli.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Our reading of `dir`, in the reference's convention for the container folder.
fn ours(dir: &Path, env: &BTreeMap<String, String>) -> sandbox_core::Result<Option<Devcontainer>> {
    let lookup = |k: &str| env.get(k).cloned();
    let vars = Variables {
        local_workspace_folder: dir,
        container_workspace: ContainerWorkspace::Reference,
        local_env: &lookup,
    };
    Devcontainer::load(dir, &vars)
}

/// The reference's configuration, restricted to [`SUPPORTED`] and put in our view's
/// shape: a single `appPort` or `build.cacheFrom` as a list of one, `features` by id
/// only.
fn reference_view(config: &Value) -> (Value, Vec<String>) {
    let mut view = serde_json::Map::new();
    let mut others = Vec::new();
    for (k, v) in config.as_object().expect("configuration is an object") {
        if k == "configFilePath" {
            continue;
        }
        if !SUPPORTED.contains(&k.as_str()) {
            others.push(k.clone());
            continue;
        }
        let v = match (k.as_str(), v) {
            ("appPort", Value::Array(_)) => v.clone(),
            ("appPort", single) => json!([single]),
            ("features", Value::Object(f)) => Value::Object(f.keys().map(|id| (id.clone(), json!({}))).collect()),
            ("build", Value::Object(b)) => {
                let mut b = b.clone();
                if let Some(single @ Value::String(_)) = b.get("cacheFrom").cloned() {
                    b.insert("cacheFrom".into(), json!([single]));
                }
                Value::Object(b)
            }
            _ => v.clone(),
        };
        // Our view leaves out lists and maps that are empty (they mean nothing).
        const DROPPED_WHEN_EMPTY: &[&str] =
            &["containerEnv", "remoteEnv", "forwardPorts", "appPort", "runArgs", "features"];
        let empty = DROPPED_WHEN_EMPTY.contains(&k.as_str())
            && match &v {
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
        if !empty {
            view.insert(k.clone(), v);
        }
    }
    others.sort();
    (Value::Object(view), others)
}

#[test]
fn our_reading_matches_the_reference_cli() {
    let cli = reference_cli();
    let env = host_env();
    let cases = cases();
    assert!(cases.len() >= 30, "at least 30 configurations ({})", cases.len());
    let dirs: Vec<tempfile::TempDir> = cases.iter().map(write_case).collect();
    // The CLI takes about half a second per file (node starting up): four at a time.
    let mut results = Vec::new();
    for chunk in dirs.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|d| {
                let (cli, dir, env) = (cli.clone(), d.path().to_path_buf(), env.clone());
                std::thread::spawn(move || read_configuration(&cli, &dir, &env))
            })
            .collect();
        results.extend(handles.into_iter().map(|h| h.join().expect("reference thread")));
    }
    let mut failures = Vec::new();
    let mut compared_props = 0;
    for ((case, dir), (code, stdout, stderr)) in cases.iter().zip(&dirs).zip(results) {
        let name = case.name;
        if code != 0 {
            failures.push(format!("{name}: the reference CLI failed ({code}): {stderr}"));
            continue;
        }
        let reference: Value = match serde_json::from_str(&stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: the reference printed no JSON ({e}): {stdout}"));
                continue;
            }
        };
        let dc = match ours(dir.path(), &env) {
            Ok(Some(dc)) => dc,
            Ok(None) => {
                failures.push(format!("{name}: we found no file"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: we refused it: {e}"));
                continue;
            }
        };
        let (want, mut want_others) = reference_view(&reference["configuration"]);
        let got = dc.to_json();
        if got != want {
            failures.push(format!("{name}:\n  reference: {want}\n  ours:      {got}"));
        }
        compared_props += want.as_object().map_or(0, |o| o.len());
        let mut got_others = dc.other_properties.clone();
        got_others.sort();
        // Our list also names unknown members of `build`; the reference has no such list.
        got_others.retain(|p| !p.starts_with("build."));
        want_others.sort();
        if got_others != want_others {
            failures.push(format!("{name}: other properties: reference {want_others:?}, ours {got_others:?}"));
        }
        let folder = reference["workspace"]["workspaceFolder"].as_str().unwrap_or_default();
        if dc.container_workspace_folder != folder {
            failures.push(format!(
                "{name}: container workspace folder: reference {folder:?}, ours {:?}",
                dc.container_workspace_folder
            ));
        }
    }
    println!("{} configurations, {compared_props} properties compared with the reference CLI", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} configurations differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A reference nobody can resolve fails both readers.
#[test]
fn an_unresolvable_reference_fails_both() {
    let cli = reference_cli();
    let env = host_env();
    let dir = write_case(&case("localEnv without a name", r#"{"containerEnv": {"A": "${localEnv}"}}"#));
    let (code, _, stderr) = read_configuration(&cli, dir.path(), &env);
    assert_ne!(code, 0, "the reference refuses it: {stderr}");
    let e = ours(dir.path(), &env).unwrap_err();
    assert_eq!(e.kind(), sandbox_core::ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("names no environment variable"), "{e}");
}

/// The deliberate difference: files with syntax errors. The reference recovers (exit
/// 0, with whatever it could read); we refuse them with the line and column, so a
/// project never runs with a configuration nobody wrote.
#[test]
fn syntax_errors_the_reference_recovers_from_are_refused_with_their_place() {
    let cli = reference_cli();
    let env = host_env();
    let malformed: &[(&str, &str)] = &[
        ("{\n  \"image\": \"a\"\n  \"runArgs\": [\"--privileged\"]\n}", "line 3, column 3"),
        ("{\"image\": \"a\",, \"x\": 1}", "line 1, column 15"),
        ("{\"forwardPorts\": [1,,2]}", "line 1, column 21"),
        ("{\"image\": \"a\"", "line 1, column 14"),
        ("{\"image\": \"a\"} trailing", "line 1, column 16"),
        ("{\"image\": \"a\" /* never closed", "line 1, column 15"),
        ("{\"image\": \"a\tb\"}", "line 1, column 13"),
        ("{image: \"a\"}", "line 1, column 2"),
    ];
    for (text, place) in malformed {
        let dir = write_case(&Case { name: "malformed", place: Place::Folder, text });
        let (code, stdout, stderr) = read_configuration(&cli, dir.path(), &env);
        assert_eq!(code, 0, "the reference recovers from {text:?}: {stdout}{stderr}");
        let e = ours(dir.path(), &env).unwrap_err();
        assert_eq!(e.kind(), sandbox_core::ErrorKind::Config, "{text:?}: {e}");
        assert!(e.to_string().contains(place), "{text:?}: {e}");
    }
}
