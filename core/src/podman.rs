//! [`Engine`] over the podman CLI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sandbox_proto::layout;
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::engine::{BoxFuture, ContainerRecord, ContainerState, CreateFailure, Engine, ImageConfig};
use crate::error::{Error, Result};
use crate::host_info::{HostInfo, HostReadings};
use crate::network_isolation::{self, Neighbourhood, Rules};
use crate::run_args::{RunPlan, build_run_args};

/// The podman CLI as a container engine. Probes the host once and caches the result.
pub struct PodmanEngine {
    program: PathBuf,
    host: OnceCell<HostInfo>,
}

/// What one podman invocation produced.
struct Output {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Output {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl PodmanEngine {
    /// An engine running `program` (a name looked up in `PATH`, or a path).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        PodmanEngine { program: program.into(), host: OnceCell::new() }
    }

    async fn podman(&self, args: &[String]) -> Result<Output> {
        self.podman_in(args, "/").await
    }

    /// Runs podman in `cwd`. Never in the caller's directory, which may be a session's
    /// working dir (writable by the container): `podman run` starts conmon, which writes
    /// files (an `oom` marker) into its working directory; they belong in the session's
    /// host-private control dir. Other commands run in `/`.
    async fn podman_in(&self, args: &[String], cwd: &str) -> Result<Output> {
        self.run_in(&self.program, args, cwd, None).await
    }

    /// Runs `program` with `args` in `cwd`, feeding `input` to its stdin.
    async fn run_in(
        &self,
        program: &std::path::Path,
        args: &[String],
        cwd: &str,
        input: Option<&str>,
    ) -> Result<Output> {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd).args(args).kill_on_drop(true);
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let spawned = cmd.spawn();
        let out = async {
            let mut child = spawned?;
            if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
                use tokio::io::AsyncWriteExt;
                stdin.write_all(text.as_bytes()).await?;
            }
            child.wait_with_output().await
        }
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied if program == self.program => {
                Error::EngineMissing { program: self.program.display().to_string() }
            }
            _ => Error::io(format!("running {}", program.display()), e),
        })?;
        Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    async fn podman_ok(&self, action: &str, args: &[String]) -> Result<Output> {
        let out = self.podman(args).await?;
        if out.ok() {
            Ok(out)
        } else {
            Err(Error::Engine { action: action.to_string(), code: out.code, stderr: out.stderr })
        }
    }

    async fn probe(&self) -> Result<HostInfo> {
        let out = self.podman_ok("probing podman (podman info)", &strings(&["info", "--format", "json"])).await?;
        HostInfo::from_podman_info(&self.program.display().to_string(), &out.stdout, &HostReadings::read())
    }
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

impl Engine for PodmanEngine {
    fn host(&self) -> BoxFuture<'_, Result<HostInfo>> {
        Box::pin(async move { self.host.get_or_try_init(|| self.probe()).await.cloned() })
    }

    fn create(&self, plan: &RunPlan) -> BoxFuture<'_, std::result::Result<(), CreateFailure>> {
        let plan = plan.clone();
        Box::pin(async move {
            let host = self.host().await.map_err(CreateFailure::Failed)?;
            let args = build_run_args(&plan, &host);
            tracing::debug!(?args, "podman run");
            let out = self.podman_in(&args, &plan.control_dir).await.map_err(CreateFailure::Failed)?;
            if out.ok() { Ok(()) } else { Err(CreateFailure::Refused { code: out.code, stderr: out.stderr }) }
        })
    }

    fn list<'a>(&'a self, label: &'a str, value: &'a str) -> BoxFuture<'a, Result<Vec<ContainerRecord>>> {
        Box::pin(async move {
            let filter = format!("label={label}={value}");
            let args = strings(&["ps", "--all", "--no-trunc", "--filter", &filter, "--format", "json"]);
            let out = self.podman_ok("listing containers (podman ps)", &args).await?;
            parse_ps(&out.stdout)
        })
    }

    fn state<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ContainerState>>> {
        Box::pin(async move {
            let args = strings(&["inspect", "--type", "container", "--format", "json", name]);
            let out = self.podman(&args).await?;
            if !out.ok() {
                if is_no_such_container(&out.stderr) {
                    return Ok(None);
                }
                return Err(Error::Engine {
                    action: format!("inspecting container {name}"),
                    code: out.code,
                    stderr: out.stderr,
                });
            }
            parse_inspect_state(&out.stdout)
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let args = strings(&["rm", "--force", "--time", "0", name]);
            let out = self.podman(&args).await?;
            if out.ok() {
                Ok(true)
            } else if is_no_such_container(&out.stderr) {
                Ok(false)
            } else {
                Err(Error::Engine { action: format!("removing container {name}"), code: out.code, stderr: out.stderr })
            }
        })
    }

    fn remove_now(&self, _name: &str, control_dir: &str) {
        // Selected by the label naming the session's control dir, unique to it: only a
        // container made for this start (or a stopped one of an earlier session with
        // this id, which the start would replace anyway) carries it.
        let label = format!("label={}={control_dir}", crate::labels::CONTROL);
        let _ = std::process::Command::new(&self.program)
            .current_dir("/")
            .args(["rm", "--force", "--time", "0", "--filter", &label])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let out = self.podman(&strings(&["image", "exists", image])).await?;
            match out.code {
                Some(0) => Ok(true),
                Some(1) => Ok(false),
                code => Err(Error::Engine { action: format!("checking for image {image}"), code, stderr: out.stderr }),
            }
        })
    }

    fn image_config<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageConfig>> {
        Box::pin(async move {
            let args = strings(&["image", "inspect", "--format", "json", image]);
            let out = self.podman_ok(&format!("inspecting image {image}"), &args).await?;
            parse_image_config(&out.stdout)
        })
    }

    fn container_config<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ImageConfig>> {
        Box::pin(async move {
            let args = strings(&["container", "inspect", "--format", "json", name]);
            let out = self.podman_ok(&format!("inspecting container {name}"), &args).await?;
            parse_image_config(&out.stdout)
        })
    }

    fn commit<'a>(&'a self, name: &'a str, tag: &'a str, changes: &'a [String]) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let mut args = strings(&["commit", "--quiet", "--pause=false"]);
            for c in changes {
                args.extend(["--change".to_string(), c.clone()]);
            }
            args.extend([name.to_string(), tag.to_string()]);
            let out = self.podman_ok(&format!("committing container {name} (podman commit)"), &args).await?;
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Engine {
                    action: format!("committing container {name}: no image id in its output"),
                    code: out.code,
                    stderr: String::from_utf8_lossy(&out.stdout).into_owned(),
                });
            }
            Ok(id)
        })
    }

    fn list_images<'a>(&'a self, label: &'a str, value: &'a str) -> BoxFuture<'a, Result<Vec<ImageConfig>>> {
        Box::pin(async move {
            let filter = format!("label={label}={value}");
            let args = strings(&["images", "--no-trunc", "--filter", &filter, "--format", "json"]);
            let out = self.podman_ok("listing images (podman images)", &args).await?;
            parse_images(&out.stdout)
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let out = self.podman(&strings(&["image", "rm", image])).await?;
            if out.ok() {
                return Ok(true);
            }
            let lower = out.stderr.to_lowercase();
            if lower.contains("image not known") || lower.contains("no such image") {
                return Ok(false);
            }
            if lower.contains("in use") || lower.contains("being used") {
                return Err(Error::invalid(
                    format!("removal of image {image}"),
                    format!("containers still use it: {}", out.stderr.trim()),
                ));
            }
            Err(Error::Engine { action: format!("removing image {image}"), code: out.code, stderr: out.stderr })
        })
    }

    fn neighbourhood(&self) -> BoxFuture<'_, Result<Neighbourhood>> {
        Box::pin(async move {
            let mut n = Neighbourhood::default();
            let ip = host_program("ip")?;
            let out = self.run_in(&ip, &strings(&["-j", "-d", "addr", "show"]), "/", None).await?;
            if !out.ok() {
                return Err(Error::Engine {
                    action: "listing the host's addresses (ip -j addr) for network isolation".into(),
                    code: out.code,
                    stderr: out.stderr,
                });
            }
            network_isolation::add_ip_addr_json(&mut n, &out.stdout)?;
            let out = self
                .podman_ok("listing networks (podman network ls)", &strings(&["network", "ls", "--format", "json"]))
                .await?;
            network_isolation::add_network_ls_json(&mut n, &out.stdout)?;
            network_isolation::add_resolv_conf(
                &mut n,
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            );
            Ok(n)
        })
    }

    fn isolate_network<'a>(&'a self, plan: &'a RunPlan, rules: &'a Rules) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let name = &plan.name;
            let host = self.host().await?;
            let failed = |stderr: String| Error::Engine {
                action: format!(
                    "isolating the network of {name} (set isolate_network = false to run without isolation)"
                ),
                code: None,
                stderr,
            };
            // The private control dir is ours alone (0700, never mounted), so what
            // podman wrote there and what we write there can be trusted.
            let private = Path::new(&plan.control_dir);
            let pid = match std::fs::read_to_string(private.join(layout::PID_FILE))
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                Some(pid) => pid,
                // An engine that did not write the pid file: ask it.
                None => match self.state(name).await? {
                    Some(ContainerState { pid: Some(pid), .. }) => pid,
                    _ => return Err(failed("the container is not running".into())),
                },
            };
            let (v4, v6) = (private.join(layout::RULES_V4), private.join(layout::RULES_V6));
            for (path, text) in [(&v4, &rules.v4), (&v6, &rules.v6)] {
                std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            }
            // Both rule sets in one entry into the session's network namespace (rootless,
            // each entry is a `podman unshare`: the namespace belongs to podman's user
            // namespace, and only inside it does the user hold NET_ADMIN over it).
            let tail = vec![
                format!("--net=/proc/{pid}/ns/net"),
                host_program("sh")?.display().to_string(),
                "-c".into(),
                r#""$1" --noflush "$3" && "$2" --noflush "$4""#.into(),
                "sh".into(),
                host_program("iptables-restore")?.display().to_string(),
                host_program("ip6tables-restore")?.display().to_string(),
                v4.display().to_string(),
                v6.display().to_string(),
            ];
            let nsenter = host_program("nsenter")?;
            let (program, args): (PathBuf, Vec<String>) = if host.rootless {
                let mut a = strings(&["unshare", &nsenter.display().to_string()]);
                a.extend(tail);
                (self.program.clone(), a)
            } else {
                (nsenter, tail)
            };
            let out = self.run_in(&program, &args, "/", None).await;
            let _ = std::fs::remove_file(&v4);
            let _ = std::fs::remove_file(&v6);
            let out = out?;
            if !out.ok() {
                return Err(failed(format!("iptables-restore in its network namespace: {}", out.stderr)));
            }
            Ok(())
        })
    }

    fn build_image<'a>(
        &'a self,
        build: &'a crate::image_build::ImageBuild,
        limit: std::time::Duration,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let host = self.host().await?;
            let args = crate::image_build::build_args(build, &host);
            tracing::debug!(?args, "podman build");
            let action = format!("building {} from {} (podman build)", build.tag, build.dockerfile_path);
            // Dropping the run on timeout kills podman (kill_on_drop).
            let out = tokio::time::timeout(limit, self.run_in(&self.program, &args, "/", Some(&build.dockerfile)))
                .await
                .map_err(|_| Error::Timeout { action: action.clone(), after: limit })??;
            if out.ok() {
                return Ok(());
            }
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&out.stderr);
            let tail: String = {
                let chars: Vec<char> = text.trim().chars().collect();
                chars[chars.len().saturating_sub(4000)..].iter().collect()
            };
            Err(Error::Engine { action, code: out.code, stderr: tail })
        })
    }

    fn exec_piped(&self, name: &str, argv: &[&str]) -> std::io::Result<tokio::process::Child> {
        let mut cmd = Command::new(&self.program);
        cmd.current_dir("/").args(["exec", "--interactive", "--", name]).args(argv).kill_on_drop(true);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn()
    }

    fn logs_tail<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let out = self.podman(&strings(&["logs", "--tail", "20", name])).await?;
            let mut text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.stderr.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&out.stderr);
            }
            Ok(text)
        })
    }
}

/// Finds a host tool in `PATH` or the sbin directories (which a user's `PATH` often
/// lacks); a missing tool is an error naming the package to install.
fn host_program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let package = match name {
        "ip" => "iproute2",
        "nsenter" => "util-linux",
        _ => "iptables",
    };
    Err(Error::Engine {
        action: format!("finding {name} (needed to isolate the session's network)"),
        code: None,
        stderr: format!(
            "{name} is not installed: install {package} (e.g. apt-get install {package}), or set isolate_network = false"
        ),
    })
}

/// podman says a container does not exist.
pub fn is_no_such_container(stderr: &str) -> bool {
    let lc = stderr.to_lowercase();
    lc.contains("no such container") || lc.contains("no container with name or id")
}

/// A JSON object of labels (podman's `Labels`) as a map; empty when there is none.
fn labels_of(labels: Option<&serde_json::Value>) -> HashMap<String, String> {
    labels
        .and_then(|l| l.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Parses `podman ps --format json`.
pub fn parse_ps(json: &[u8]) -> Result<Vec<ContainerRecord>> {
    let bad = |d: String| Error::Protocol { detail: format!("unexpected `podman ps` output: {d}") };
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let items = match &v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Null => return Ok(Vec::new()),
        _ => return Err(bad("not a list".into())),
    };
    items
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_string();
            let name = match c.get("Names") {
                Some(serde_json::Value::Array(n)) => n.first().and_then(|x| x.as_str()).unwrap_or_default().to_string(),
                Some(serde_json::Value::String(n)) => n.clone(),
                _ => String::new(),
            };
            let labels = labels_of(c.get("Labels"));
            let created = match c.get("Created") {
                Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(serde_json::Value::String(t)) => t.parse().unwrap_or(0),
                _ => 0,
            };
            if name.is_empty() {
                return Err(bad("a container without a name".into()));
            }
            Ok(ContainerRecord { id: s("Id"), name, image: s("Image"), state: s("State"), created, labels })
        })
        .collect()
}

/// Parses the environment and labels out of `podman image inspect` or `podman container
/// inspect` (`--format json`): `Config.Env`, and `Config.Labels` or the image's `Labels`.
pub fn parse_image_config(json: &[u8]) -> Result<ImageConfig> {
    let bad = |d: String| Error::Protocol { detail: format!("unexpected `podman inspect` output: {d}") };
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let first = v.as_array().and_then(|a| a.first()).ok_or_else(|| bad("not a list of one".into()))?;
    let config = first.get("Config");
    let env = config
        .and_then(|c| c.get("Env"))
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let labels =
        labels_of(config.and_then(|c| c.get("Labels")).filter(|l| l.is_object()).or_else(|| first.get("Labels")));
    let image = first.get("Image").and_then(|i| i.as_str()).filter(|i| !i.is_empty()).map(String::from);
    let upper_dir = first
        .pointer("/GraphDriver/Data/UpperDir")
        .and_then(|u| u.as_str())
        .filter(|u| u.starts_with('/'))
        .map(std::path::PathBuf::from);
    Ok(ImageConfig { env, labels, image, upper_dir })
}

/// Parses `podman images --format json`: each image's id (as `image`) and labels.
pub fn parse_images(json: &[u8]) -> Result<Vec<ImageConfig>> {
    let bad = |d: String| Error::Protocol { detail: format!("unexpected `podman images` output: {d}") };
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let Some(items) = v.as_array() else { return Ok(Vec::new()) };
    Ok(items
        .iter()
        .map(|i| ImageConfig {
            env: Vec::new(),
            labels: labels_of(i.get("Labels")),
            image: i.get("Id").and_then(|x| x.as_str()).map(String::from),
            upper_dir: None,
        })
        .collect())
}

/// Parses the state out of `podman inspect --format json`.
pub fn parse_inspect_state(json: &[u8]) -> Result<Option<ContainerState>> {
    let bad = |d: String| Error::Protocol { detail: format!("unexpected `podman inspect` output: {d}") };
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let Some(first) = v.as_array().and_then(|a| a.first()) else {
        return Ok(None);
    };
    let st = first.get("State").ok_or_else(|| bad("no State".into()))?;
    let status = st.get("Status").and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let running = st.get("Running").and_then(|x| x.as_bool()).unwrap_or(status == "running");
    let exit_code = st.get("ExitCode").and_then(|x| x.as_i64()).map(|c| c as i32).filter(|_| !running);
    Ok(Some(ContainerState {
        running,
        exit_code,
        oom_killed: st.get("OOMKilled").and_then(|x| x.as_bool()).unwrap_or(false),
        error: st.get("Error").and_then(|x| x.as_str()).unwrap_or_default().to_string(),
        pid: st.get("Pid").and_then(|x| x.as_u64()).filter(|p| *p > 0 && running).map(|p| p as u32),
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_json_parses() {
        let json = br#"[{"Id":"abc","Names":["sandbox-s1"],"Image":"localhost/i:1","State":"running",
            "Created":1795820368,"Labels":{"sandbox.session":"s1","sandbox.managed":"true"}}]"#;
        let r = parse_ps(json).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name, "sandbox-s1");
        assert_eq!(r[0].created, 1795820368);
        assert_eq!(r[0].labels["sandbox.session"], "s1");
        assert!(parse_ps(b"[]").unwrap().is_empty());
        assert!(parse_ps(b"\n").unwrap().is_empty());
        assert!(parse_ps(b"null").unwrap().is_empty());
        assert_eq!(parse_ps(b"{").unwrap_err().kind(), crate::ErrorKind::Protocol);
        assert_eq!(parse_ps(br#"[{"Id":"x"}]"#).unwrap_err().kind(), crate::ErrorKind::Protocol);
    }

    #[test]
    fn inspect_state_parses() {
        let json = br#"[{"State":{"Status":"exited","Running":false,"ExitCode":137,"OOMKilled":true,"Error":""}}]"#;
        let s = parse_inspect_state(json).unwrap().unwrap();
        assert!(!s.running);
        assert!(s.oom_killed);
        assert_eq!(s.exit_code, Some(137));
        let json = br#"[{"State":{"Status":"running","Running":true,"ExitCode":0}}]"#;
        assert_eq!(parse_inspect_state(json).unwrap().unwrap().exit_code, None);
        assert_eq!(parse_inspect_state(b"[]").unwrap(), None);
        assert!(parse_inspect_state(b"[{}]").is_err());
    }

    #[test]
    fn missing_container_messages() {
        assert!(is_no_such_container("Error: no container with name or ID \"x\" found: no such container"));
        assert!(!is_no_such_container("Error: permission denied"));
    }
}
