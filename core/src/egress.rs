//! The host side of a session's egress policy: its enforcer process (the agent binary
//! run on the host as `sandbox-agent enforce`), the policy file it applies and the
//! decision log it writes, all in the session's host-private control dir, where the
//! container cannot reach them.
//!
//! The enforcer belongs to the session, not to the caller: `start` launches it (it
//! detaches into its own process group and outlives the caller), removing the control
//! dir (stop, reap, a failed start) ends it, and it ends by itself once the control dir
//! is gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sandbox_proto::egress::{Decision, EgressPolicy, PROXY_PORT};
use sandbox_proto::layout;

use crate::error::{Error, Result};

/// The proxy address processes in an egress session use.
pub fn proxy_url() -> String {
    format!("http://127.0.0.1:{PROXY_PORT}")
}

/// The environment every process of an egress session gets, so ordinary tools use the
/// proxy unchanged (both spellings: tools differ in which they read).
pub fn proxy_env() -> Vec<(String, String)> {
    let url = proxy_url();
    let no_proxy = "localhost,127.0.0.1,::1".to_string();
    let mut env = Vec::new();
    for (k, v) in [("HTTP_PROXY", &url), ("HTTPS_PROXY", &url), ("ALL_PROXY", &url), ("NO_PROXY", &no_proxy)] {
        env.push((k.to_string(), v.clone()));
        env.push((k.to_ascii_lowercase(), v.clone()));
    }
    env
}

/// Where the session's trust bundle and CA are inside the container.
fn in_container(name: &str) -> String {
    format!("{}/{name}", layout::CONTAINER_DIR)
}

/// The environment that makes common tools trust the session's CA (as well as the
/// image's own CAs), for a policy that injects credentials.
pub fn trust_env() -> Vec<(String, String)> {
    let bundle = in_container(layout::CA_BUNDLE);
    let mut env: Vec<(String, String)> =
        ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT", "CARGO_HTTP_CAINFO"]
            .iter()
            .map(|k| (k.to_string(), bundle.clone()))
            .collect();
    env.push(("NODE_EXTRA_CA_CERTS".into(), in_container(layout::EGRESS_CA_CERT)));
    env
}

/// The shell command that builds the session's trust bundle inside the container: the
/// image's CA bundle (the first of the usual places that exists) and the session CA.
pub fn trust_bundle_script() -> String {
    let (bundle, ca) = (in_container(layout::CA_BUNDLE), in_container(layout::EGRESS_CA_CERT));
    format!(
        "for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem /etc/ssl/ca-bundle.pem; \
         do if [ -f \"$f\" ]; then cat \"$f\"; break; fi; done > {bundle}.tmp && cat {ca} >> {bundle}.tmp && mv {bundle}.tmp {bundle}"
    )
}

/// The values of the policy's credentials, read from this process's environment and
/// files, as the enforcer receives them (JSON on its stdin).
fn secrets(policy: &EgressPolicy) -> Result<Vec<u8>> {
    let mut map = std::collections::BTreeMap::new();
    for c in &policy.credentials {
        let (value, from) = match (&c.from_env, &c.from_file) {
            (Some(var), _) => (std::env::var(var).ok(), format!("environment variable {var}")),
            (None, Some(f)) => (std::fs::read_to_string(f).ok(), format!("file {}", f.display())),
            (None, None) => (None, "nowhere".into()),
        };
        let Some(value) = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
            return Err(Error::invalid(
                "egress credential",
                format!("{} for {}: the {from} is not set, empty or unreadable", c.header, c.host),
            ));
        };
        if value.bytes().any(|b| b.is_ascii_control()) {
            return Err(Error::invalid(
                "egress credential",
                format!("{} for {}: the value from the {from} holds a control character", c.header, c.host),
            ));
        }
        map.insert(c.key(), value);
    }
    serde_json::to_vec(&map).map_err(|e| Error::io("encoding the credentials", e.into()))
}

/// Writes the policy the enforcer applies (replaced whole, so the enforcer never reads
/// half of it; it picks up the change at its next connection).
pub fn write_policy(control: &Path, policy: &EgressPolicy) -> Result<()> {
    policy.validate()?;
    let path = control.join(layout::EGRESS_POLICY);
    let tmp = control.join(format!("{}.tmp", layout::EGRESS_POLICY));
    let text = serde_json::to_vec_pretty(policy).map_err(|e| Error::io("encoding the egress policy", e.into()))?;
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("replacing {}", path.display()), e))
}

/// The policy in force, as the enforcer reads it.
pub fn read_policy(control: &Path) -> Result<Option<EgressPolicy>> {
    let path = control.join(layout::EGRESS_POLICY);
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text).map(Some).map_err(|e| Error::Protocol {
            detail: format!("the egress policy {} does not parse: {e}", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Every decision kept (the rotated file first), oldest first.
pub fn read_log(control: &Path) -> Result<Vec<Decision>> {
    let mut out = Vec::new();
    for name in [layout::EGRESS_LOG_OLD, layout::EGRESS_LOG] {
        let path = control.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        // A line being written as this reads is left for the next read.
        out.extend(text.lines().filter_map(|l| serde_json::from_str::<Decision>(l).ok()));
    }
    Ok(out)
}

/// A running enforcer, as its launch reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// Its process id.
    pub pid: u32,
    /// The ports it listens on (host 127.0.0.1), each carried to the same port inside.
    pub forwarded: Vec<u16>,
}

/// Writes the ports the enforcer forwards from the host's loopback into the session.
pub fn write_forward_ports(control: &Path, ports: &[u16]) -> Result<()> {
    let text: String = ports.iter().map(|p| format!("{p}\n")).collect();
    let path = control.join(layout::FORWARD_PORTS);
    std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Starts the session's enforcer with `policy` (and the forwarded ports written
/// before) and returns once it listens.
pub async fn launch(agent: &Path, control: &Path, policy: &EgressPolicy) -> Result<Launched> {
    let secrets = secrets(policy)?;
    write_policy(control, policy)?;
    let mut child = tokio::process::Command::new(agent)
        .arg("enforce")
        .arg("--dir")
        .arg(control)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::io(format!("starting the egress enforcer {}", agent.display()), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(&secrets).await;
    }
    let out = child.wait_with_output().await.map_err(|e| Error::io("waiting for the egress enforcer to listen", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match parse_ready(&text) {
        Some(launched) if out.status.success() => Ok(launched),
        _ => Err(Error::Engine {
            action: "starting the session's egress enforcer".into(),
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// `ready <pid> <port,port...|->`.
fn parse_ready(line: &str) -> Option<Launched> {
    let mut words = line.trim().strip_prefix("ready ")?.split(' ');
    let pid = words.next()?.parse().ok()?;
    let forwarded = match words.next() {
        None | Some("-") => Vec::new(),
        Some(list) => list.split(',').map(str::parse).collect::<std::result::Result<_, _>>().ok()?,
    };
    Some(Launched { pid, forwarded })
}

/// The enforcer's pid, when its pid file names a live enforcer of this control dir.
pub fn enforcer_pid(control: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(control.join(layout::ENFORCER_PID)).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let dir = control.as_os_str().as_encoded_bytes();
    let ours = args.windows(3).any(|w| w[0] == b"enforce" && w[1] == b"--dir" && w[2] == dir);
    // A zombie has an empty cmdline: not running.
    ours.then_some(pid)
}

/// Whether the session's enforcer runs.
pub fn enforcer_running(control: &Path) -> bool {
    enforcer_pid(control).is_some()
}

/// Stops the session's enforcer, if it runs: SIGTERM, then SIGKILL after a moment.
pub fn stop_enforcer(control: &Path) {
    let Some(pid) = enforcer_pid(control) else { return };
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else { return };
    let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
    for _ in 0..100 {
        if enforcer_pid(control).is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
}

/// Where the enforcer's socket is on the host (for tests and diagnostics).
pub fn socket_path(control: &Path) -> PathBuf {
    control.join(layout::SHARED_DIR).join(layout::EGRESS_SOCKET)
}

impl crate::Session {
    /// The egress policy in force (`None` for a session not on the `egress` network).
    pub fn egress_policy(&self) -> Result<Option<EgressPolicy>> {
        read_policy(self.control_dir())
    }

    /// Replaces the session's egress policy; connections opened from now on are judged
    /// by it (open ones keep going). Fails with an invalid-input error for a bad policy
    /// and `InvalidInput` on `network` for a session that is not on the `egress` network.
    pub fn set_egress(&self, policy: &EgressPolicy) -> Result<()> {
        policy.validate()?;
        let Some(current) = read_policy(self.control_dir())? else {
            return Err(Error::invalid(
                "network",
                format!("session {} is not on the egress network: start it with an egress policy", self.id()),
            ));
        };
        if current.credentials != policy.credentials || current.upstream_ca_files != policy.upstream_ca_files {
            return Err(Error::invalid(
                "egress credential",
                "credentials and upstream CAs are fixed when the session starts (their values never pass through \
                 the session): start a new session to change them",
            ));
        }
        write_policy(self.control_dir(), policy)
    }

    /// The connection decisions of the enforcer, oldest first: refused connections when
    /// refused, allowed ones when they closed (with the bytes each way).
    pub fn network_log(&self) -> Result<Vec<Decision>> {
        read_log(self.control_dir())
    }

    /// Starts the session's egress enforcer again when it is not running (it was
    /// killed, or the host rebooted under a kept session), with the policy in force;
    /// returns its pid (the running one's when it runs).
    pub async fn restart_network(&self) -> Result<u32> {
        if let Some(pid) = enforcer_pid(self.control_dir()) {
            return Ok(pid);
        }
        let Some(policy) = read_policy(self.control_dir())? else {
            return Err(Error::invalid(
                "network",
                format!("session {} is not on the egress network: it has no enforcer", self.id()),
            ));
        };
        Ok(launch(self.agent_binary(), self.control_dir(), &policy).await?.pid)
    }

    /// Whether the session's egress enforcer runs (`false` also for a session without
    /// one). While it does not, every connection through the proxy is refused.
    pub fn egress_enforcer_running(&self) -> bool {
        enforcer_running(self.control_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_the_pid_and_the_forwarded_ports() {
        assert_eq!(parse_ready("ready 42 -\n"), Some(Launched { pid: 42, forwarded: vec![] }));
        assert_eq!(parse_ready("ready 7 3000,5173"), Some(Launched { pid: 7, forwarded: vec![3000, 5173] }));
        assert_eq!(parse_ready("ready 7"), Some(Launched { pid: 7, forwarded: vec![] }));
        for bad in ["", "ready", "ready x -", "ready 7 3000,x", "listening 7 -"] {
            assert_eq!(parse_ready(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_process_gets_both_spellings_of_the_proxy_variables() {
        let env = proxy_env();
        for k in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            assert!(env.contains(&(k.to_string(), "http://127.0.0.1:3128".to_string())), "{k}");
        }
        assert!(env.iter().any(|(k, v)| k == "no_proxy" && v.contains("127.0.0.1")));
    }
}
