//! `devcontainer.json` (the Dev Containers format), read into a [`Devcontainer`]: the
//! properties a session can use, after variable substitution, in the forms the file
//! wrote them. What a session makes of them (and what it refuses) is decided by the
//! start, against the caller's policy; see `devcontainer_plan.rs`.
//!
//! The file is the project's, so it is untrusted: it is read only from inside the
//! working dir (no symlink out of it, no FIFO, at most [`MAX_DEVCONTAINER_BYTES`]), and
//! a syntax error is an error with its line and column. Reading is the reference
//! implementation's (`devcontainer read-configuration`), which a test compares with the
//! real one, except that the reference recovers from syntax errors (it skips what it
//! cannot parse) and this refuses them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

#[cfg(doc)]
use crate::devcontainer_variables::ContainerWorkspace;
use crate::devcontainer_variables::{Variables, substitute};
use crate::error::{Error, Result};
use crate::jsonc::{self, Jsonc};

/// Where the file is looked for, relative to the working dir, in order (the reference's
/// default lookup).
pub const DEVCONTAINER_FILES: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// Largest `devcontainer.json` read.
pub const MAX_DEVCONTAINER_BYTES: u64 = 1 << 20;

/// A port as `forwardPorts` or `appPort` wrote it: a number, or text such as
/// `"db:5432"` or `"127.0.0.1:8000:8000"` (interpreted by the start).
#[derive(Debug, Clone, PartialEq)]
pub enum PortValue {
    /// A number (any JSON number; the start checks it is a port).
    Number(f64),
    /// A string.
    Text(String),
}

impl PortValue {
    fn to_json(&self) -> Value {
        match self {
            PortValue::Number(n) => jsonc::number_to_serde(*n),
            PortValue::Text(t) => Value::String(t.clone()),
        }
    }
}

/// A lifecycle command (`postCreateCommand` ...) in one of its three forms.
#[derive(Debug, Clone, PartialEq)]
pub enum LifecycleCommand {
    /// A string: run by a shell.
    Shell(String),
    /// An array: a program and its arguments, no shell.
    Exec(Vec<String>),
    /// An object: named commands (each a string or an array) the reference runs in
    /// parallel; sessions run them one after the other, in the order written.
    Parallel(Vec<(String, LifecycleCommand)>),
}

impl LifecycleCommand {
    fn to_json(&self) -> Value {
        match self {
            LifecycleCommand::Shell(s) => Value::String(s.clone()),
            LifecycleCommand::Exec(a) => json!(a),
            LifecycleCommand::Parallel(m) => Value::Object(m.iter().map(|(k, c)| (k.clone(), c.to_json())).collect()),
        }
    }
}

/// The `build` property (or the older top-level `dockerFile` and `context`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DevcontainerBuild {
    /// The Dockerfile, relative to the file's folder.
    pub dockerfile: Option<String>,
    /// The build context, relative to the file's folder (default: that folder).
    pub context: Option<String>,
    /// `build.args`: build arguments.
    pub args: Vec<(String, String)>,
    /// `build.target`: the stage to build.
    pub target: Option<String>,
    /// `build.options`: extra `docker build` arguments (never passed on).
    pub options: Vec<String>,
    /// `build.cacheFrom` (never used: sessions never pull).
    pub cache_from: Vec<String>,
    /// Written as top-level `dockerFile` / `context` rather than `build`.
    pub legacy: bool,
}

/// The lifecycle commands a session can run, in the order the reference runs them.
pub const LIFECYCLE_COMMANDS: [&str; 4] =
    ["onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand"];

/// A `devcontainer.json`, read and substituted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Devcontainer {
    /// The file, relative to the working dir (one of [`DEVCONTAINER_FILES`]).
    pub file: String,
    /// `image`.
    pub image: Option<String>,
    /// `build`, or `dockerFile` / `context`.
    pub build: Option<DevcontainerBuild>,
    /// `containerEnv`, in the order written.
    pub container_env: Vec<(String, String)>,
    /// `remoteEnv`, in the order written; `None` unsets the variable.
    pub remote_env: Vec<(String, Option<String>)>,
    /// `forwardPorts`.
    pub forward_ports: Vec<PortValue>,
    /// `appPort` (a single value is a list of one).
    pub app_port: Vec<PortValue>,
    /// The lifecycle commands present, by property name, in [`LIFECYCLE_COMMANDS`] order.
    pub commands: Vec<(String, LifecycleCommand)>,
    /// `workspaceFolder`.
    pub workspace_folder: Option<String>,
    /// `workspaceMount`.
    pub workspace_mount: Option<String>,
    /// `remoteUser`.
    pub remote_user: Option<String>,
    /// `containerUser`.
    pub container_user: Option<String>,
    /// `runArgs`.
    pub run_args: Vec<String>,
    /// The ids of `features`.
    pub features: Vec<String>,
    /// Every other top-level property, by name, in the order written (the start says
    /// what it does with each: refused, not applicable, or unknown).
    pub other_properties: Vec<String>,
    /// Keys written twice (the last value counts), as `path (again on line N)`.
    pub repeated_keys: Vec<String>,
    /// The host variables `${localEnv:...}` references read, in order.
    pub local_env_reads: Vec<String>,
    /// What `${containerWorkspaceFolder}` meant (see [`ContainerWorkspace`]).
    pub container_workspace_folder: String,
}

/// A form error: the property `what` is not what the format allows.
fn form(what: &str, want: &str, got: &Jsonc) -> String {
    format!("{what} must be {want}, not {}", got.type_name())
}

fn string(what: &str, v: &Jsonc) -> std::result::Result<String, String> {
    match v {
        Jsonc::String(s) => Ok(s.clone()),
        other => Err(form(what, "a string", other)),
    }
}

fn strings(what: &str, v: &Jsonc) -> std::result::Result<Vec<String>, String> {
    match v {
        Jsonc::Array(items) => items.iter().enumerate().map(|(i, x)| string(&format!("{what}[{i}]"), x)).collect(),
        other => Err(form(what, "an array of strings", other)),
    }
}

fn members<'a>(what: &str, v: &'a Jsonc) -> std::result::Result<&'a [(String, Jsonc)], String> {
    match v {
        Jsonc::Object(m) => Ok(m),
        other => Err(form(what, "an object", other)),
    }
}

fn port(what: &str, v: &Jsonc) -> std::result::Result<PortValue, String> {
    match v {
        Jsonc::Number(n) => Ok(PortValue::Number(*n)),
        Jsonc::String(s) => Ok(PortValue::Text(s.clone())),
        other => Err(form(what, "a port number or a string", other)),
    }
}

fn command(what: &str, v: &Jsonc, nested: bool) -> std::result::Result<LifecycleCommand, String> {
    match v {
        Jsonc::String(s) => Ok(LifecycleCommand::Shell(s.clone())),
        Jsonc::Array(_) => Ok(LifecycleCommand::Exec(strings(what, v)?)),
        Jsonc::Object(m) if !nested => Ok(LifecycleCommand::Parallel(
            m.iter()
                .map(|(k, c)| Ok((k.clone(), command(&format!("{what}.{k}"), c, true)?)))
                .collect::<std::result::Result<_, String>>()?,
        )),
        other => Err(form(
            what,
            if nested { "a string or an array of strings" } else { "a string, an array of strings or an object" },
            other,
        )),
    }
}

/// Substitutes every string value of `v` (keys are left as written).
fn substitute_all(
    v: &Jsonc,
    vars: &Variables<'_>,
    folder: &str,
    reads: &mut Vec<String>,
) -> std::result::Result<Jsonc, String> {
    Ok(match v {
        Jsonc::String(s) => Jsonc::String(substitute(s, vars, folder, reads)?),
        Jsonc::Array(a) => Jsonc::Array(
            a.iter().map(|x| substitute_all(x, vars, folder, reads)).collect::<std::result::Result<_, _>>()?,
        ),
        Jsonc::Object(m) => Jsonc::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_all(x, vars, folder, reads)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

impl Devcontainer {
    /// Reads `text` (the contents of `file`, relative to the working dir) with `vars`.
    /// A syntax error, a property of the wrong type or an unresolvable reference is an
    /// [`Error::Config`] naming the file, with the line and column of a syntax error.
    pub fn parse(file: &str, text: &str, vars: &Variables<'_>) -> Result<Devcontainer> {
        let config_error = |detail: String| Error::Config { origin: file.to_string(), detail };
        let parsed = jsonc::parse(text).map_err(|e| config_error(e.to_string()))?;
        let Jsonc::Object(raw) = &parsed.value else {
            return Err(config_error(format!("the file must hold a JSON object, not {}", parsed.value.type_name())));
        };
        let raw_folder = raw.iter().find(|(k, _)| k == "workspaceFolder").and_then(|(_, v)| match v {
            Jsonc::String(s) => Some(s.as_str()),
            _ => None,
        });
        let folder = vars.container_workspace_folder(raw_folder).map_err(config_error)?;
        let mut dc = Devcontainer {
            file: file.to_string(),
            repeated_keys: parsed.repeated_keys.clone(),
            container_workspace_folder: folder.clone(),
            ..Default::default()
        };
        let value = substitute_all(&parsed.value, vars, &folder, &mut dc.local_env_reads).map_err(config_error)?;
        dc.local_env_reads.retain(|n| !n.is_empty());
        dc.local_env_reads.dedup();
        let Jsonc::Object(props) = value else { unreachable!("substitution keeps the object") };
        dc.read_properties(&props).map_err(config_error)?;
        Ok(dc)
    }

    fn read_properties(&mut self, props: &[(String, Jsonc)]) -> std::result::Result<(), String> {
        let mut commands: Vec<(String, LifecycleCommand)> = Vec::new();
        for (key, v) in props {
            let k = key.as_str();
            match k {
                "image" => self.image = Some(string(k, v)?),
                "build" => {
                    let mut b = self.build.take().filter(|b| !b.legacy).unwrap_or_default();
                    for (bk, bv) in members(k, v)? {
                        let what = format!("build.{bk}");
                        match bk.as_str() {
                            "dockerfile" => b.dockerfile = Some(string(&what, bv)?),
                            "context" => b.context = Some(string(&what, bv)?),
                            "target" => b.target = Some(string(&what, bv)?),
                            "args" => {
                                b.args = members(&what, bv)?
                                    .iter()
                                    .map(|(ak, av)| Ok((ak.clone(), string(&format!("{what}.{ak}"), av)?)))
                                    .collect::<std::result::Result<_, String>>()?;
                            }
                            "options" => b.options = strings(&what, bv)?,
                            "cacheFrom" => {
                                b.cache_from = match bv {
                                    Jsonc::String(s) => vec![s.clone()],
                                    other => strings(&what, other)?,
                                }
                            }
                            _ => self.other_properties.push(what),
                        }
                    }
                    self.build = Some(b);
                }
                "dockerFile" | "context" => {
                    let b = self.build.get_or_insert_with(|| DevcontainerBuild { legacy: true, ..Default::default() });
                    if b.legacy {
                        if k == "dockerFile" {
                            b.dockerfile = Some(string(k, v)?);
                        } else {
                            b.context = Some(string(k, v)?);
                        }
                    } else {
                        self.other_properties.push(k.to_string());
                    }
                }
                "containerEnv" => {
                    self.container_env = members(k, v)?
                        .iter()
                        .map(|(ek, ev)| Ok((ek.clone(), string(&format!("{k}.{ek}"), ev)?)))
                        .collect::<std::result::Result<_, String>>()?;
                }
                "remoteEnv" => {
                    self.remote_env = members(k, v)?
                        .iter()
                        .map(|(ek, ev)| match ev {
                            Jsonc::Null => Ok((ek.clone(), None)),
                            other => Ok((ek.clone(), Some(string(&format!("{k}.{ek}"), other)?))),
                        })
                        .collect::<std::result::Result<_, String>>()?;
                }
                "forwardPorts" => match v {
                    Jsonc::Array(items) => {
                        self.forward_ports = items
                            .iter()
                            .enumerate()
                            .map(|(i, p)| port(&format!("{k}[{i}]"), p))
                            .collect::<std::result::Result<_, _>>()?;
                    }
                    other => return Err(form(k, "an array", other)),
                },
                "appPort" => {
                    self.app_port = match v {
                        Jsonc::Array(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, p)| port(&format!("{k}[{i}]"), p))
                            .collect::<std::result::Result<_, _>>()?,
                        single => vec![port(k, single)?],
                    }
                }
                k if LIFECYCLE_COMMANDS.contains(&k) => commands.push((k.to_string(), command(k, v, false)?)),
                "workspaceFolder" => self.workspace_folder = Some(string(k, v)?),
                "workspaceMount" => self.workspace_mount = Some(string(k, v)?),
                "remoteUser" => self.remote_user = Some(string(k, v)?),
                "containerUser" => self.container_user = Some(string(k, v)?),
                "runArgs" => self.run_args = strings(k, v)?,
                "features" => self.features = members(k, v)?.iter().map(|(id, _)| id.clone()).collect(),
                _ => self.other_properties.push(k.to_string()),
            }
        }
        commands.sort_by_key(|(name, _)| LIFECYCLE_COMMANDS.iter().position(|c| c == name));
        self.commands = commands;
        Ok(())
    }

    /// Finds and reads the working dir's file (the first of [`DEVCONTAINER_FILES`]
    /// present): `None` when there is none. The file is read beneath `working_dir`
    /// only: a symlink leading out of it, a FIFO or a file over
    /// [`MAX_DEVCONTAINER_BYTES`] is an error.
    pub fn load(working_dir: &Path, vars: &Variables<'_>) -> Result<Option<Devcontainer>> {
        for file in DEVCONTAINER_FILES {
            match std::fs::symlink_metadata(working_dir.join(file)) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("reading {file}"), e)),
                Ok(_) => {}
            }
            let bytes = crate::untrusted_dir::read_beneath(working_dir, file, MAX_DEVCONTAINER_BYTES)
                .map_err(|e| Error::Config { origin: file.to_string(), detail: format!("cannot be read: {e}") })?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::Config { origin: file.to_string(), detail: format!("is not UTF-8: {e}") })?;
            return Devcontainer::parse(file, &text, vars).map(Some);
        }
        Ok(None)
    }

    /// The folder the file is in, relative to the working dir (`.devcontainer` or `.`):
    /// what the paths of `build` are relative to.
    pub fn folder(&self) -> PathBuf {
        Path::new(&self.file)
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The properties this reads, as the file would write them: comparable with the
    /// `configuration` that the reference's `read-configuration` prints (`appPort` and
    /// `build.cacheFrom` are always lists here, `features` only its ids, as keys of empty
    /// objects, and empty lists and maps are left out).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        if let Some(i) = &self.image {
            put("image", json!(i));
        }
        if let Some(b) = &self.build {
            if b.legacy {
                if let Some(d) = &b.dockerfile {
                    put("dockerFile", json!(d));
                }
                if let Some(c) = &b.context {
                    put("context", json!(c));
                }
            } else {
                let mut o = serde_json::Map::new();
                if let Some(d) = &b.dockerfile {
                    o.insert("dockerfile".into(), json!(d));
                }
                if let Some(c) = &b.context {
                    o.insert("context".into(), json!(c));
                }
                if let Some(t) = &b.target {
                    o.insert("target".into(), json!(t));
                }
                if !b.args.is_empty() {
                    o.insert("args".into(), Value::Object(b.args.iter().map(|(k, v)| (k.clone(), json!(v))).collect()));
                }
                if !b.options.is_empty() {
                    o.insert("options".into(), json!(b.options));
                }
                if !b.cache_from.is_empty() {
                    o.insert("cacheFrom".into(), json!(b.cache_from));
                }
                put("build", Value::Object(o));
            }
        }
        if !self.container_env.is_empty() {
            put("containerEnv", Value::Object(self.container_env.iter().map(|(k, v)| (k.clone(), json!(v))).collect()));
        }
        if !self.remote_env.is_empty() {
            put("remoteEnv", Value::Object(self.remote_env.iter().map(|(k, v)| (k.clone(), json!(v))).collect()));
        }
        if !self.forward_ports.is_empty() {
            put("forwardPorts", Value::Array(self.forward_ports.iter().map(PortValue::to_json).collect()));
        }
        if !self.app_port.is_empty() {
            put("appPort", Value::Array(self.app_port.iter().map(PortValue::to_json).collect()));
        }
        for (name, c) in &self.commands {
            put(name, c.to_json());
        }
        for (k, v) in [
            ("workspaceFolder", &self.workspace_folder),
            ("workspaceMount", &self.workspace_mount),
            ("remoteUser", &self.remote_user),
            ("containerUser", &self.container_user),
        ] {
            if let Some(v) = v {
                put(k, json!(v));
            }
        }
        if !self.run_args.is_empty() {
            put("runArgs", json!(self.run_args));
        }
        if !self.features.is_empty() {
            put("features", Value::Object(self.features.iter().map(|f| (f.clone(), json!({}))).collect()));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devcontainer_variables::ContainerWorkspace;

    fn env(k: &str) -> Option<String> {
        (k == "USER_NAME").then(|| "me".to_string())
    }

    fn read(text: &str) -> Result<Devcontainer> {
        let vars = Variables {
            local_workspace_folder: Path::new("/src/proj"),
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &env,
        };
        Devcontainer::parse(".devcontainer/devcontainer.json", text, &vars)
    }

    #[test]
    fn every_supported_property_is_read() {
        let dc = read(
            r#"// comment
            {
              "image": "localhost/x:${localEnv:USER_NAME}",
              "containerEnv": {"A": "${localWorkspaceFolderBasename}", "B": "${containerWorkspaceFolder}"},
              "remoteEnv": {"R": "${containerEnv:PATH}", "GONE": null},
              "forwardPorts": [3000, "db:5432"],
              "appPort": "8000:8001",
              "postStartCommand": ["echo", "started"],
              "postCreateCommand": {"one": "echo 1", "two": ["echo", "2"]},
              "onCreateCommand": "echo created",
              "workspaceFolder": "/work",
              "workspaceMount": "source=${localWorkspaceFolder},target=/work,type=bind",
              "remoteUser": "vscode",
              "containerUser": "root",
              "runArgs": ["--env", "X=1"],
              "features": {"ghcr.io/devcontainers/features/go:1": {"version": "1.22"}},
              "customizations": {"vscode": {}},
              "madeUp": true,
            }"#,
        )
        .unwrap();
        assert_eq!(dc.image.as_deref(), Some("localhost/x:me"));
        assert_eq!(dc.container_env, vec![("A".into(), "proj".into()), ("B".into(), "/src/proj".into())]);
        assert_eq!(dc.remote_env, vec![("R".into(), Some("${containerEnv:PATH}".into())), ("GONE".into(), None)]);
        assert_eq!(dc.forward_ports, vec![PortValue::Number(3000.0), PortValue::Text("db:5432".into())]);
        assert_eq!(dc.app_port, vec![PortValue::Text("8000:8001".into())]);
        let names: Vec<&str> = dc.commands.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["onCreateCommand", "postCreateCommand", "postStartCommand"], "reference order");
        assert_eq!(
            dc.commands[1].1,
            LifecycleCommand::Parallel(vec![
                ("one".into(), LifecycleCommand::Shell("echo 1".into())),
                ("two".into(), LifecycleCommand::Exec(vec!["echo".into(), "2".into()])),
            ])
        );
        assert_eq!(dc.workspace_mount.as_deref(), Some("source=/src/proj,target=/work,type=bind"));
        assert_eq!(dc.remote_user.as_deref(), Some("vscode"));
        assert_eq!(dc.run_args, ["--env", "X=1"]);
        assert_eq!(dc.features, ["ghcr.io/devcontainers/features/go:1"]);
        assert_eq!(dc.other_properties, ["customizations", "madeUp"]);
        assert_eq!(dc.local_env_reads, ["USER_NAME"]);
        assert_eq!(dc.folder(), Path::new(".devcontainer"));
    }

    #[test]
    fn build_and_its_older_spelling() {
        let dc = read(r#"{"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"V": "1"}, "target": "dev", "options": ["--network=host"], "cacheFrom": "x", "other": 1}}"#).unwrap();
        let b = dc.build.unwrap();
        assert_eq!(
            (b.dockerfile.as_deref(), b.context.as_deref(), b.target.as_deref()),
            (Some("Dockerfile"), Some(".."), Some("dev"))
        );
        assert_eq!(
            (b.args, b.options, b.cache_from, b.legacy),
            (vec![("V".into(), "1".into())], vec!["--network=host".into()], vec!["x".into()], false)
        );
        assert_eq!(dc.other_properties, ["build.other"]);
        let dc = read(r#"{"dockerFile": "Dockerfile", "context": "."}"#).unwrap();
        let b = dc.build.clone().unwrap();
        assert!(b.legacy);
        assert_eq!(dc.to_json(), json!({"dockerFile": "Dockerfile", "context": "."}));
    }

    #[test]
    fn wrong_types_and_bad_references_are_errors_naming_the_property() {
        for (text, words) in [
            (r#"{"image": 1}"#, "image must be a string"),
            (r#"{"containerEnv": {"A": 1}}"#, "containerEnv.A must be a string"),
            (r#"{"containerEnv": []}"#, "containerEnv must be an object"),
            (r#"{"forwardPorts": 3000}"#, "forwardPorts must be an array"),
            (r#"{"forwardPorts": [true]}"#, "forwardPorts[0] must be a port"),
            (r#"{"postCreateCommand": 1}"#, "postCreateCommand must be a string"),
            (r#"{"postCreateCommand": {"a": {"b": "c"}}}"#, "postCreateCommand.a must be a string or an array"),
            (r#"{"postCreateCommand": ["a", 1]}"#, "postCreateCommand[1] must be a string"),
            (r#"{"runArgs": "--privileged"}"#, "runArgs must be an array"),
            (r#"{"containerEnv": {"A": "${localEnv}"}}"#, "names no environment variable"),
            (r#"["an", "array"]"#, "must hold a JSON object"),
            ("{\n  \"image\": \"a\"\n  \"x\": 1\n}", "line 3, column 3"),
        ] {
            let e = read(text).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config, "{text}: {e}");
            assert!(e.to_string().contains(words), "{text}: {e}");
            assert!(e.to_string().contains(".devcontainer/devcontainer.json"), "{e}");
        }
    }

    #[test]
    fn the_json_view_is_what_was_read() {
        let text = r#"{"image": "i", "forwardPorts": [1, "a:2"], "appPort": [3], "remoteEnv": {"X": null},
            "postCreateCommand": {"a": ["x", "y"]}, "features": {"f": {}}, "runArgs": ["-e", "A=1"]}"#;
        assert_eq!(
            read(text).unwrap().to_json(),
            json!({"image": "i", "forwardPorts": [1, "a:2"], "appPort": [3], "remoteEnv": {"X": null},
                   "postCreateCommand": {"a": ["x", "y"]}, "features": {"f": {}}, "runArgs": ["-e", "A=1"]})
        );
    }

    #[test]
    fn the_file_is_found_where_the_reference_looks() {
        let t = tempfile::tempdir().unwrap();
        let vars = Variables {
            local_workspace_folder: t.path(),
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &env,
        };
        assert_eq!(Devcontainer::load(t.path(), &vars).unwrap(), None);
        std::fs::write(t.path().join(".devcontainer.json"), r#"{"image": "top"}"#).unwrap();
        let dc = Devcontainer::load(t.path(), &vars).unwrap().unwrap();
        assert_eq!(
            (dc.file.as_str(), dc.image.as_deref(), dc.folder()),
            (".devcontainer.json", Some("top"), PathBuf::from("."))
        );
        std::fs::create_dir(t.path().join(".devcontainer")).unwrap();
        std::fs::write(t.path().join(".devcontainer/devcontainer.json"), r#"{"image": "folder"}"#).unwrap();
        assert_eq!(
            Devcontainer::load(t.path(), &vars).unwrap().unwrap().image.as_deref(),
            Some("folder"),
            "the folder wins"
        );
    }

    #[test]
    fn a_file_leading_out_of_the_working_dir_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path().join("w");
        std::fs::create_dir(&w).unwrap();
        std::fs::write(t.path().join("outside.json"), r#"{"image": "outside"}"#).unwrap();
        std::os::unix::fs::symlink(t.path().join("outside.json"), w.join(".devcontainer.json")).unwrap();
        let vars = Variables {
            local_workspace_folder: &w,
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &env,
        };
        let e = Devcontainer::load(&w, &vars).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("cannot be read"), "{e}");
    }
}
