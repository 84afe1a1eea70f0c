//! What a session takes from a [`Devcontainer`], decided against the caller's policy.
//! The file is the project's and so untrusted: it may ask for what a session can do
//! anyway (an image, subject to the image rule; environment; ports on 127.0.0.1;
//! commands, run only when post-create commands are allowed; lower limits, no network),
//! and nothing more. Everything else is refused or not used, and said so in the
//! [`DevcontainerReport`].

use std::path::Path;

use crate::config::Config;
use crate::devcontainer::{Devcontainer, LifecycleCommand, PortValue};
use crate::devcontainer_report::DevcontainerReport;
use crate::devcontainer_run_args::{self, RunArg};
use crate::host_info::HostInfo;
use crate::image_build::{self, BuildInputs, ImageBuild};
use crate::policy::{Limits, MIN_MEMORY_BYTES, MIN_PIDS, Network, Policy, parse_memory};

/// Properties for people and editors, not for the container: recorded, no warning.
const METADATA: &[&str] = &["name", "$schema", "customizations"];

/// Why the format's other properties are refused (they would widen the session).
fn refused_property(name: &str) -> Option<&'static str> {
    Some(match name {
        "privileged" => "it would give the container every capability and the host's devices",
        "capAdd" => "it would add capabilities to the session's fixed, minimal set",
        "securityOpt" => "it would change seccomp, AppArmor, SELinux or no-new-privileges",
        "mounts" => "sessions mount only the working dir (at its own path), nothing a project chooses",
        "initializeCommand" => "it runs on the host, outside any sandbox: never run",
        _ => return None,
    })
}

/// Why the format's other properties are not used.
fn unused_property(name: &str) -> Option<&'static str> {
    Some(match name {
        "postAttachCommand" => "it runs when a tool attaches; sessions have no attach step",
        "dockerComposeFile" | "service" | "runServices" => {
            "Docker Compose is not supported: a session is one container"
        }
        "hostRequirements" => "sessions take their limits from the caller's policy",
        "portsAttributes" | "otherPortsAttributes" => {
            "port attributes are for editors; ports are published on 127.0.0.1"
        }
        "waitFor" => "sessions run every command before the start returns",
        "shutdownAction" => "sessions stop when stopped (or idle, if configured)",
        "overrideCommand" => "the session's main process is always its agent",
        "init" => "sessions always run with --init",
        "userEnvProbe" => "commands get the container's environment as it is",
        "updateRemoteUserUID" => "container root is already the working dir's owner",
        "overrideFeatureInstallOrder" => "features are not supported",
        "secrets" => "secrets are not passed to sessions",
        _ => return None,
    })
}

/// What the caller set itself (it wins over the file).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallerSet {
    pub image: bool,
    pub network: bool,
    pub limits: bool,
}

/// The inputs of the decision.
pub(crate) struct PlanInputs<'a> {
    pub config: &'a Config,
    pub policy: &'a Policy,
    pub host: &'a HostInfo,
    /// The working dir (canonical).
    pub working_dir: &'a Path,
    pub caller: CallerSet,
    /// The host environment (only the variables `devcontainer_local_env` lists are
    /// read from it).
    pub host_env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// What the session gets from the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct DevcontainerPlan {
    /// The image asked for (the image rule still applies).
    pub image: Option<String>,
    /// An image to build first (allowed and checked).
    pub build: Option<ImageBuild>,
    /// Environment, in order (later entries win).
    pub env: Vec<(String, String)>,
    /// Ports to publish on 127.0.0.1.
    pub ports: Vec<u16>,
    /// Commands for `sh -c`, in the order to run them (as post-create commands).
    pub commands: Vec<String>,
    /// A narrower network.
    pub network: Option<Network>,
    /// Narrower limits.
    pub limits: Option<Limits>,
    pub report: DevcontainerReport,
}

/// How a port was given.
#[derive(Clone, Copy, PartialEq)]
enum PortForm {
    /// `forwardPorts`: a number or `host:port`, the port of a host seen from the container.
    Forward,
    /// `appPort` or `runArgs -p`: docker's publish syntax, `[ip:][hostPort:]containerPort`.
    Publish,
}

/// Quotes `arg` for `sh` when it needs it.
fn sh_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A local address in a port's host part (the container itself).
fn local_host(host: &str) -> bool {
    matches!(host, "" | "localhost" | "127.0.0.1")
}

impl DevcontainerPlan {
    fn add_port(&mut self, property: &str, raw: &str, port: u16, host: &HostInfo) {
        if port == 0 {
            self.report.not_used(property, raw, "0 is not a port");
        } else if host.rootless && port < host.unprivileged_port_start {
            self.report.not_used(
                property,
                raw,
                format!("rootless podman cannot publish ports below {}", host.unprivileged_port_start),
            );
        } else {
            if !self.ports.contains(&port) {
                self.ports.push(port);
            }
            self.report.applied(property, raw, format!("port {port} published on 127.0.0.1"));
        }
    }

    fn port(&mut self, property: &str, value: &PortValue, form: PortForm, host: &HostInfo) {
        let raw = match value {
            PortValue::Number(n) => crate::jsonc::number_to_serde(*n).to_string(),
            PortValue::Text(t) => t.clone(),
        };
        let number = |s: &str| s.parse::<u16>().ok();
        match (value, form) {
            (PortValue::Number(n), _) => {
                if n.fract() == 0.0 && (1.0..=65535.0).contains(n) {
                    self.add_port(property, &raw, *n as u16, host);
                } else {
                    self.report.not_used(property, &raw, "not a port number (1 to 65535)");
                }
            }
            (PortValue::Text(t), PortForm::Forward) => {
                let (h, p) = t.rsplit_once(':').unwrap_or(("", t));
                match number(p) {
                    None => self.report.not_used(property, &raw, "not a port or host:port"),
                    Some(_) if !local_host(h) => self.report.not_used(
                        property,
                        &raw,
                        format!(
                            "it forwards a port of another host ({h}): a session is one container and publishes only its own ports"
                        ),
                    ),
                    Some(p) => self.add_port(property, &raw, p, host),
                }
            }
            (PortValue::Text(t), PortForm::Publish) => {
                let (spec, proto) = t.split_once('/').unwrap_or((t, "tcp"));
                if proto != "tcp" {
                    self.report.not_used(property, &raw, format!("only TCP ports are published, not {proto}"));
                    return;
                }
                if spec.contains('-') || spec.contains('[') {
                    self.report.not_used(property, &raw, "port ranges and IPv6 addresses are not supported");
                    return;
                }
                let parts: Vec<&str> = spec.split(':').collect();
                let (ip, host_port, container_port) = match parts[..] {
                    [c] => ("", Some(c), c),
                    [h, c] => ("", Some(h), c),
                    [ip, h, c] => (ip, Some(h), c),
                    _ => ("", None, ""),
                };
                let (Some(hp), Some(cp)) = (host_port.and_then(number), number(container_port)) else {
                    self.report.not_used(
                        property,
                        &raw,
                        "not a port, hostPort:containerPort or ip:hostPort:containerPort",
                    );
                    return;
                };
                if hp != cp {
                    self.report.not_used(
                        property,
                        &raw,
                        format!(
                            "host port {hp} and container port {cp} differ: sessions publish a port on the same number"
                        ),
                    );
                    return;
                }
                if !local_host(ip) {
                    self.report.refused(
                        property,
                        &raw,
                        format!("publishing on {ip}: ports are published on 127.0.0.1 only (port {cp} is, there)"),
                    );
                }
                self.add_port(property, &raw, cp, host);
            }
        }
    }

    /// A lifecycle command as `sh -c` scripts, with their names.
    fn command(&mut self, property: &str, c: &LifecycleCommand) {
        match c {
            LifecycleCommand::Shell(s) if s.trim().is_empty() => self.report.not_used(property, s, "empty"),
            LifecycleCommand::Shell(s) if s.contains('\0') => self.report.not_used(property, s, "contains a NUL byte"),
            LifecycleCommand::Shell(s) => {
                self.commands.push(s.clone());
                self.report.applied(property, s, "a post-create command (run when allow_post_create is set)");
            }
            LifecycleCommand::Exec(argv) => {
                let script = argv.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
                if argv.is_empty() || argv.iter().any(|a| a.contains('\0')) {
                    self.report.not_used(property, &script, "empty, or contains a NUL byte");
                } else {
                    self.commands.push(script.clone());
                    self.report.applied(
                        property,
                        &script,
                        "a post-create command, its arguments quoted for sh (run when allow_post_create is set)",
                    );
                }
            }
            LifecycleCommand::Parallel(named) => {
                if named.is_empty() {
                    self.report.not_used(property, "{}", "empty");
                }
                let before = self.report.applied.len();
                for (name, c) in named {
                    self.command(&format!("{property}.{name}"), c);
                }
                for item in &mut self.report.applied[before..] {
                    item.reason.push_str(
                        "; the reference runs these in parallel, sessions one after the other in the order written",
                    );
                }
            }
        }
    }
}

/// Replaces `${containerEnv:NAME}` (and `${containerEnv:NAME:default}`) with the value
/// the session's environment gives NAME; `Err(NAME)` when it gives none (only the image
/// would know).
fn container_env_refs(value: &str, env: &[(String, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${containerEnv:") {
        let after = &rest[at + "${containerEnv:".len()..];
        let Some(close) = after.find('}') else { break };
        let mut parts = after[..close].splitn(2, ':');
        let name = parts.next().unwrap_or_default();
        let default = parts.next();
        out.push_str(&rest[..at]);
        match (env.iter().rev().find(|(k, _)| k == name), default) {
            (Some((_, v)), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(name.to_string()),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Decides what the session takes from `dc`.
pub(crate) fn plan(dc: &Devcontainer, x: &PlanInputs<'_>) -> DevcontainerPlan {
    let mut p = DevcontainerPlan::default();
    p.report.file = dc.file.clone();
    p.report.repeated_keys = dc.repeated_keys.clone();
    let allowed_env = |name: &str| x.config.devcontainer_local_env.iter().any(|a| a == name);
    for name in &dc.local_env_reads {
        if !allowed_env(name) {
            p.report.refused(
                format!("${{localEnv:{name}}}"),
                name,
                "the host's variables are not given to projects unless devcontainer_local_env lists them: read as unset",
            );
        }
    }

    // The image, or a build of one.
    if let Some(b) = &dc.build {
        let value = b.dockerfile.clone().unwrap_or_default();
        let property = if b.legacy { "dockerFile" } else { "build" };
        if x.caller.image {
            p.report.not_used(property, &value, "the caller's image is used");
        } else if !x.policy.allow_build {
            p.report.refused(
                property,
                &value,
                "building runs the project's Dockerfile with podman build on this host: allowed only with allow_build",
            );
        } else if let Some(dockerfile) = &b.dockerfile {
            let base_allowed = |image: &str| x.config.is_trusted(image) || x.policy.allow_untrusted_image;
            let folder = dc.folder();
            let inputs = BuildInputs {
                working_dir: x.working_dir,
                folder: &folder,
                dockerfile,
                context: b.context.as_deref(),
                args: &b.args,
                target: b.target.as_deref(),
                base_allowed: &base_allowed,
                limits: x.host.limits_enforceable.then_some(x.policy.limits),
            };
            match image_build::plan(&inputs) {
                Ok(build) => {
                    p.report.applied(
                        property,
                        &build.dockerfile_path,
                        format!(
                            "built as {} with podman build: no network, the session's capabilities and limits, trusted base images only",
                            build.tag
                        ),
                    );
                    p.build = Some(build);
                }
                Err(why) => p.report.refused(property, &value, why),
            }
        } else {
            p.report.not_used(property, "", "it names no Dockerfile");
        }
        for o in &b.options {
            p.report.refused("build.options", o, "extra podman build options are never passed on");
        }
        for c in &b.cache_from {
            p.report.not_used("build.cacheFrom", c, "sessions never pull images");
        }
    }
    if let Some(image) = &dc.image {
        if x.caller.image {
            p.report.not_used("image", image, "the caller's image is used");
        } else if p.build.is_some() {
            p.report.not_used("image", image, "the image built from the Dockerfile is used");
        } else {
            p.image = Some(image.clone());
            p.report.applied("image", image, "requested (the start report's image says whether it was trusted)");
        }
    }

    // Environment: containerEnv, then runArgs, then remoteEnv.
    if !dc.container_env.is_empty() {
        p.env.extend(dc.container_env.iter().cloned());
        let names: Vec<&str> = dc.container_env.iter().map(|(k, _)| k.as_str()).collect();
        p.report.applied("containerEnv", &names.join(", "), "set for every command");
    }
    let mut limits = x.policy.limits;
    let mut narrowed = false;
    for arg in devcontainer_run_args::parse(&dc.run_args) {
        let text = arg.text.as_str();
        match arg.arg {
            RunArg::Env(kv) => match kv.split_once('=') {
                Some((k, v)) => {
                    p.env.push((k.to_string(), v.to_string()));
                    p.report.applied("runArgs", &format!("--env {k}=..."), "set for every command");
                }
                None => match (allowed_env(&kv), (x.host_env)(&kv)) {
                    (true, Some(v)) => {
                        p.env.push((kv.clone(), v));
                        p.report.applied("runArgs", text, "the host's value (devcontainer_local_env lists it)");
                    }
                    _ => p.report.refused(
                        "runArgs",
                        text,
                        "it passes the host's variable, which devcontainer_local_env does not list (or is unset)",
                    ),
                },
            },
            RunArg::Memory(v) => match parse_memory(&v) {
                Ok(_) if x.caller.limits => p.report.not_used("runArgs", text, "the caller's limits are used"),
                Ok(b) if b < MIN_MEMORY_BYTES => p.report.not_used("runArgs", text, "below the 6 MiB minimum"),
                Ok(b) if b <= limits.memory_bytes => {
                    limits.memory_bytes = b;
                    narrowed = true;
                    p.report.applied("runArgs", text, "a lower memory limit");
                }
                Ok(_) => p.report.refused(
                    "runArgs",
                    text,
                    format!("it would raise the memory limit above the policy's {} bytes", limits.memory_bytes),
                ),
                Err(_) => p.report.not_used("runArgs", text, "not a memory size"),
            },
            RunArg::Cpus(v) => match v.trim().parse::<f64>() {
                Ok(_) if x.caller.limits => p.report.not_used("runArgs", text, "the caller's limits are used"),
                Ok(c) if c.is_finite() && c > 0.0 && c <= limits.cpus => {
                    limits.cpus = c;
                    narrowed = true;
                    p.report.applied("runArgs", text, "a lower CPU limit");
                }
                Ok(c) if c.is_finite() && c > limits.cpus => p.report.refused(
                    "runArgs",
                    text,
                    format!("it would raise the CPU limit above the policy's {}", limits.cpus),
                ),
                _ => p.report.not_used("runArgs", text, "not a number of cores"),
            },
            RunArg::PidsLimit(v) => match v.trim().parse::<i64>() {
                Ok(_) if x.caller.limits => p.report.not_used("runArgs", text, "the caller's limits are used"),
                Ok(n) if n >= i64::from(MIN_PIDS) && n <= i64::from(limits.pids) => {
                    limits.pids = n as u32;
                    narrowed = true;
                    p.report.applied("runArgs", text, "a lower process limit");
                }
                Ok(n) if n > 0 && n < i64::from(MIN_PIDS) => {
                    p.report.not_used("runArgs", text, format!("below the minimum of {MIN_PIDS}"))
                }
                Ok(_) => p.report.refused(
                    "runArgs",
                    text,
                    format!("it would raise (or lift) the process limit above the policy's {}", limits.pids),
                ),
                Err(_) => p.report.not_used("runArgs", text, "not a number"),
            },
            RunArg::Network(n) => match n.as_str() {
                "none" if x.caller.network => p.report.not_used("runArgs", text, "the caller's network is used"),
                "none" => {
                    p.network = Some(Network::None);
                    p.report.applied("runArgs", text, "no network");
                }
                "bridge" if x.policy.network == Network::Bridge => {
                    p.report.not_used("runArgs", text, "sessions use the bridge network already")
                }
                _ => p.report.refused(
                    "runArgs",
                    text,
                    format!("the network is the caller's ({}); a project may only turn it off", x.policy.network),
                ),
            },
            RunArg::Publish(spec) => p.port("runArgs", &PortValue::Text(spec), PortForm::Publish, x.host),
            RunArg::NoOp(why) => p.report.not_used("runArgs", text, why),
            RunArg::Refused(why) => p.report.refused("runArgs", text, why),
        }
    }
    if narrowed {
        p.limits = Some(limits);
    }
    for (k, v) in &dc.remote_env {
        match v {
            None => {
                p.env.retain(|(have, _)| have != k);
                p.report.applied(format!("remoteEnv.{k}"), "null", "unset");
            }
            Some(v) => match container_env_refs(v, &p.env) {
                Ok(value) => {
                    p.env.push((k.clone(), value));
                    p.report.applied(format!("remoteEnv.{k}"), "", "set for every command");
                }
                Err(name) => p.report.not_used(
                    format!("remoteEnv.{k}"),
                    v,
                    format!(
                        "it uses ${{containerEnv:{name}}}, which only the image knows before the session runs: not set"
                    ),
                ),
            },
        }
    }

    // Ports.
    for (i, v) in dc.forward_ports.iter().enumerate() {
        p.port(&format!("forwardPorts[{i}]"), v, PortForm::Forward, x.host);
    }
    for (i, v) in dc.app_port.iter().enumerate() {
        p.port(&format!("appPort[{i}]"), v, PortForm::Publish, x.host);
    }

    // Commands, in the reference's order.
    for (name, c) in &dc.commands {
        p.command(name, c);
    }

    // Where and as whom.
    let wd = x.working_dir.to_string_lossy();
    if let Some(f) = &dc.workspace_folder {
        if f.trim_end_matches('/') == wd.trim_end_matches('/') {
            p.report.applied("workspaceFolder", f, "the working dir is mounted there");
        } else {
            p.report.not_used(
                "workspaceFolder",
                f,
                format!(
                    "sessions mount the working dir at its own path, {wd}, and run commands there (${{containerWorkspaceFolder}} is {wd})"
                ),
            );
        }
    }
    if let Some(m) = &dc.workspace_mount {
        p.report.refused("workspaceMount", m, format!("sessions mount only the working dir, at its own path ({wd})"));
    }
    for (property, user) in [("remoteUser", &dc.remote_user), ("containerUser", &dc.container_user)] {
        if let Some(u) = user {
            if u == "root" || u == "0" {
                p.report.applied(property, u, "commands run as root, the session's one user");
            } else {
                p.report.not_used(
                    property,
                    u,
                    format!(
                        "a session has one user, container root, who is the working dir's owner on the host: commands run as root, not as {u}"
                    ),
                );
            }
        }
    }
    for f in &dc.features {
        p.report.not_used(
            "features",
            f,
            "features are not supported (they install software through the reference's own build): the image is used as it is",
        );
    }
    for other in &dc.other_properties {
        if METADATA.contains(&other.as_str()) {
            continue;
        } else if let Some(why) = refused_property(other) {
            p.report.refused(other.as_str(), "", why);
        } else if let Some(why) = unused_property(other) {
            p.report.not_used(other.as_str(), "", why);
        } else {
            p.report.unknown.push(other.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devcontainer_variables::{ContainerWorkspace, Variables};

    fn host(rootless: bool) -> HostInfo {
        HostInfo { rootless, ..crate::fake_engine::host() }
    }

    fn host_env(k: &str) -> Option<String> {
        match k {
            "USER_NAME" => Some("me".into()),
            "SECRET_TOKEN" => Some("s3cret".into()),
            _ => None,
        }
    }

    /// Plans `text` in `wd` with `config` (the policy is the config's).
    fn plan_in(wd: &Path, text: &str, config: &Config, caller: CallerSet, rootless: bool) -> DevcontainerPlan {
        let allowed = |k: &str| config.devcontainer_local_env.iter().any(|a| a == k).then(|| host_env(k)).flatten();
        let vars = Variables {
            local_workspace_folder: wd,
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &allowed,
        };
        let dc = Devcontainer::parse(".devcontainer/devcontainer.json", text, &vars).unwrap();
        let h = host(rootless);
        plan(
            &dc,
            &PlanInputs { config, policy: &config.policy, host: &h, working_dir: wd, caller, host_env: &host_env },
        )
    }

    fn plan_of(text: &str) -> DevcontainerPlan {
        plan_in(Path::new("/src/proj"), text, &Config::default(), CallerSet::default(), false)
    }

    fn properties(items: &[crate::DevcontainerItem]) -> Vec<String> {
        items.iter().map(|i| format!("{} {}", i.property, i.value)).collect()
    }

    #[test]
    fn environment_ports_and_commands_are_applied() {
        let p = plan_of(
            r#"{"image": "localhost/x:1",
                "containerEnv": {"A": "1", "P": "/opt/bin", "GONE": "x"},
                "runArgs": ["-e", "B=2", "--init"],
                "remoteEnv": {"PATH": "${containerEnv:P}:/usr/bin", "GONE": null, "C": "3"},
                "forwardPorts": [3000, "localhost:3001", "127.0.0.1:3002", "3000"],
                "appPort": [4000, "4001:4001", "127.0.0.1:4002:4002/tcp"],
                "onCreateCommand": "echo one",
                "postCreateCommand": ["sh", "-c", "echo it's"],
                "postStartCommand": {"a": "echo a", "b": ["echo", "b c"]}}"#,
        );
        assert_eq!(p.image.as_deref(), Some("localhost/x:1"));
        assert_eq!(
            p.env,
            [("A", "1"), ("P", "/opt/bin"), ("B", "2"), ("PATH", "/opt/bin:/usr/bin"), ("C", "3")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(p.ports, [3000, 3001, 3002, 4000, 4001, 4002]);
        assert_eq!(p.commands, ["echo one", "sh -c 'echo it'\\''s'", "echo a", "echo 'b c'"]);
        assert!(p.report.refused.is_empty(), "{:?}", p.report.refused);
        assert_eq!(properties(&p.report.not_used), ["runArgs --init"]);
        let parallel = p.report.applied.iter().find(|i| i.property == "postStartCommand.b").unwrap();
        assert!(parallel.reason.contains("one after the other"), "{parallel:?}");
    }

    #[test]
    fn ports_sessions_cannot_publish_are_reported() {
        let p = plan_in(
            Path::new("/p"),
            r#"{"forwardPorts": ["db:5432", 0, 70000, 3000.5, "x", 80],
                "appPort": ["8000:8001", "0.0.0.0:8002:8002", "9000-9001", "5353/udp", ":9002"]}"#,
            &Config::default(),
            CallerSet::default(),
            true,
        );
        assert_eq!(p.ports, [8002], "only the one on another address, narrowed to 127.0.0.1");
        let reasons: Vec<String> = p.report.not_used.iter().map(|i| format!("{}: {}", i.value, i.reason)).collect();
        for (value, words) in [
            ("db:5432", "another host (db)"),
            ("0", "not a port"),
            ("70000", "not a port"),
            ("3000.5", "not a port"),
            ("x", "not a port"),
            ("80", "below 1024"),
            ("8000:8001", "differ"),
            ("9000-9001", "ranges"),
            ("5353/udp", "only TCP"),
            (":9002", "not a port"),
        ] {
            assert!(
                reasons.iter().any(|r| r.starts_with(&format!("{value}: ")) && r.contains(words)),
                "{value}: {reasons:#?}"
            );
        }
        assert_eq!(properties(&p.report.refused), ["appPort[1] 0.0.0.0:8002:8002"]);
    }

    /// What a hostile file asks for that would widen the session, and is refused.
    #[test]
    fn what_would_widen_the_session_is_refused() {
        let p = plan_of(
            r#"{"runArgs": ["--privileged", "--cap-add=SYS_ADMIN", "-v", "/:/host", "--network=host", "--memory=64g",
                            "--cpus", "64", "--pids-limit=-1", "--env", "SECRET_TOKEN", "--security-opt", "seccomp=unconfined"],
                "containerEnv": {"T": "${localEnv:SECRET_TOKEN}"},
                "privileged": true, "capAdd": ["SYS_ADMIN"], "securityOpt": ["label=disable"],
                "mounts": ["source=/,target=/host,type=bind"], "initializeCommand": "touch /tmp/pwned",
                "workspaceMount": "source=/,target=/host,type=bind",
                "build": {"dockerfile": "Dockerfile"}}"#,
        );
        assert_eq!(p.env, [("T".to_string(), String::new())], "the secret reads as unset");
        assert!(p.ports.is_empty() && p.limits.is_none() && p.network.is_none() && p.build.is_none());
        let refused = properties(&p.report.refused);
        for want in [
            "${localEnv:SECRET_TOKEN} SECRET_TOKEN",
            "build Dockerfile",
            "runArgs --privileged",
            "runArgs --cap-add=SYS_ADMIN",
            "runArgs -v /:/host",
            "runArgs --network=host",
            "runArgs --memory=64g",
            "runArgs --cpus 64",
            "runArgs --pids-limit=-1",
            "runArgs --env SECRET_TOKEN",
            "runArgs --security-opt seccomp=unconfined",
            "privileged ",
            "capAdd ",
            "securityOpt ",
            "mounts ",
            "initializeCommand ",
            "workspaceMount source=/,target=/host,type=bind",
        ] {
            assert!(refused.iter().any(|r| r == want), "{want:?} not refused: {refused:#?}");
        }
        assert_eq!(refused.len(), 17, "{refused:#?}");
    }

    #[test]
    fn limits_and_network_may_only_narrow() {
        let p = plan_of(r#"{"runArgs": ["--memory=512m", "--cpus=1", "--pids-limit", "100", "--network", "none"]}"#);
        assert_eq!(p.limits, Some(Limits { memory_bytes: 512 << 20, cpus: 1.0, pids: 100 }));
        assert_eq!(p.network, Some(Network::None));
        let mut none = Config::default();
        none.policy.network = Network::None;
        let p = plan_in(Path::new("/p"), r#"{"runArgs": ["--network=bridge"]}"#, &none, CallerSet::default(), false);
        assert_eq!(properties(&p.report.refused), ["runArgs --network=bridge"], "no network cannot become some");
        let caller = CallerSet { image: true, network: true, limits: true };
        let p = plan_in(
            Path::new("/p"),
            r#"{"image": "i", "runArgs": ["--memory=512m", "--network=none"]}"#,
            &Config::default(),
            caller,
            false,
        );
        assert!(p.image.is_none() && p.limits.is_none() && p.network.is_none(), "the caller's settings win");
        assert_eq!(p.report.not_used.len(), 3, "{:?}", p.report.not_used);
    }

    #[test]
    fn listed_host_variables_are_read() {
        let config = Config { devcontainer_local_env: vec!["USER_NAME".into()], ..Config::default() };
        let p = plan_in(
            Path::new("/p"),
            r#"{"containerEnv": {"U": "${localEnv:USER_NAME}", "T": "${localEnv:SECRET_TOKEN:none}"}, "runArgs": ["-e", "USER_NAME"]}"#,
            &config,
            CallerSet::default(),
            false,
        );
        assert_eq!(
            p.env,
            [("U", "me"), ("T", "none"), ("USER_NAME", "me")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(properties(&p.report.refused), ["${localEnv:SECRET_TOKEN} SECRET_TOKEN"]);
    }

    #[test]
    fn what_sessions_have_no_equivalent_for_is_reported() {
        let p = plan_of(
            r#"{"name": "n", "customizations": {}, "features": {"ghcr.io/devcontainers/features/go:1": {}},
                "workspaceFolder": "/workspaces/proj", "remoteUser": "vscode", "containerUser": "root",
                "postAttachCommand": "x", "dockerComposeFile": "c.yml", "remoteEnv": {"P": "${containerEnv:PATH}:/x"},
                "madeUp": 1, "postCreateCommand": ""}"#,
        );
        let not_used = properties(&p.report.not_used);
        for want in [
            "features ghcr.io/devcontainers/features/go:1",
            "workspaceFolder /workspaces/proj",
            "remoteUser vscode",
            "postAttachCommand ",
            "dockerComposeFile ",
            "remoteEnv.P ${containerEnv:PATH}:/x",
            "postCreateCommand ",
        ] {
            assert!(not_used.iter().any(|r| r == want), "{want:?}: {not_used:#?}");
        }
        assert_eq!(not_used.len(), 7, "name and customizations are metadata: {not_used:#?}");
        assert_eq!(p.report.unknown, ["madeUp"]);
        assert_eq!(properties(&p.report.applied), ["containerUser root"]);
        assert!(p.commands.is_empty());
        let p = plan_of(r#"{"workspaceFolder": "/src/proj/"}"#);
        assert_eq!(properties(&p.report.applied), ["workspaceFolder /src/proj/"], "the same path fits");
    }

    #[test]
    fn an_allowed_build_is_checked_and_planned() {
        let t = tempfile::tempdir().unwrap();
        let wd = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir(wd.join(".devcontainer")).unwrap();
        std::fs::write(wd.join(".devcontainer/Dockerfile"), "FROM localhost/sandbox-busybox:latest\nRUN true\n")
            .unwrap();
        std::fs::write(wd.join(".devcontainer/Untrusted"), "FROM docker.io/library/alpine:3.20\n").unwrap();
        let mut config = Config::default();
        config.policy.allow_build = true;
        let text = r#"{"image": "ignored", "build": {"dockerfile": "Dockerfile", "args": {"A": "1"}, "options": ["--privileged"]}}"#;
        let p = plan_in(&wd, text, &config, CallerSet::default(), false);
        let b = p.build.as_ref().expect("planned");
        assert_eq!(
            (b.args.clone(), b.context.as_str()),
            (vec![("A".into(), "1".into())], wd.join(".devcontainer").to_str().unwrap())
        );
        assert!(p.image.is_none(), "the built image replaces image");
        assert_eq!(properties(&p.report.refused), ["build.options --privileged"]);
        let p = plan_in(&wd, r#"{"build": {"dockerfile": "Untrusted"}}"#, &config, CallerSet::default(), false);
        assert!(p.build.is_none());
        assert!(p.report.refused[0].reason.contains("not trusted"), "{:?}", p.report.refused);
        let p = plan_in(&wd, r#"{"build": {"dockerfile": "../../etc/passwd"}}"#, &config, CallerSet::default(), false);
        assert!(p.build.is_none() && p.report.refused[0].reason.contains("inside the working dir"), "{:?}", p.report);
    }
}
