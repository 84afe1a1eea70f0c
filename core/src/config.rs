//! Configuration: built-in defaults, then a TOML file
//! (`$XDG_CONFIG_HOME/sandbox/config.toml`, or the path in `SANDBOX_CONFIG`), then
//! `SANDBOX_*` environment variables. Explicit arguments in a
//! [`SessionSpec`](crate::SessionSpec) win over all of them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::policy::{Policy, parse_memory};

/// The image used when a session asks for none or for an untrusted one. Built locally by
/// `scripts/setup` from busybox-static (no registry needed).
pub const DEFAULT_IMAGE: &str = "localhost/sandbox-busybox:latest";

/// Prefix of container names; the session id follows it.
pub const DEFAULT_CONTAINER_PREFIX: &str = "sandbox-";

/// Scope of sessions when none is configured.
pub const DEFAULT_SCOPE: &str = "default";

/// Effective configuration of a [`Sandbox`](crate::Sandbox).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Image used when none is requested, or when an untrusted one is refused.
    pub default_image: String,
    /// Images that may be used without `allow_untrusted_image` (the default image is
    /// always trusted).
    pub trusted_images: Vec<String>,
    /// Default policy and limits of new sessions.
    pub policy: Policy,
    /// Install dev essentials (apk or apt) at start, best effort.
    pub provision: bool,
    /// Container names are this prefix plus the session id.
    pub container_prefix: String,
    /// Sessions are labelled with this scope, and `list`, `attach`, `stop` and
    /// `reap_orphans` only see sessions of the same scope. Lets several tools share one
    /// machine without reaping each other's sessions.
    pub scope: String,
    /// The podman program (name looked up in `PATH`, or a path).
    pub podman: PathBuf,
    /// Where session control dirs live; default `$XDG_RUNTIME_DIR/sandbox`, else
    /// `/run/sandbox` for root, else `$TMPDIR/sandbox-<uid>`.
    pub runtime_dir: Option<PathBuf>,
    /// Where the embedded agent binary is written; default `$XDG_CACHE_HOME/sandbox`
    /// (or `~/.cache/sandbox`), `/var/cache/sandbox` for root.
    pub cache_dir: Option<PathBuf>,
    /// Where snapshots are kept; default `$XDG_DATA_HOME/sandbox/snapshots` (or
    /// `~/.local/share/sandbox/snapshots`), `/var/lib/sandbox/snapshots` for root.
    pub snapshot_dir: Option<PathBuf>,
    /// Where managed copies go (sessions started from a snapshot with no working dir
    /// given, see [`SessionSpec::from_snapshot`](crate::SessionSpec::from_snapshot));
    /// default `$XDG_DATA_HOME/sandbox-work` (or `~/.local/share/sandbox-work`),
    /// `/var/lib/sandbox-work` for root: beside, not in, the library's state.
    pub copy_dir: Option<PathBuf>,
    /// How long to wait for the agent to answer after the container started.
    pub ready_timeout: Duration,
    /// Time limit of dev-essentials provisioning.
    pub provision_timeout: Duration,
    /// Time limit of each post-create command.
    pub post_create_timeout: Duration,
    /// Stop sessions after this long without calls; off (`None`) by default.
    pub idle_timeout: Option<Duration>,
    /// Size of the tmpfs mounted on the container's /tmp (default 1 GiB; it counts
    /// against the memory limit). `None` keeps the image's /tmp, on the container's
    /// disk layer, which a command could fill.
    pub tmp_size: Option<u64>,
    /// Read the working dir's `devcontainer.json` at start when there is one (off by
    /// default: the file is the project's, and only the caller may choose to use it).
    pub devcontainer: bool,
    /// The host environment variables a `devcontainer.json` may read with
    /// `${localEnv:VAR}`; any other reads as unset (its default, or empty), so a
    /// project cannot copy the caller's secrets into its session. Empty by default.
    pub devcontainer_local_env: Vec<String>,
    /// What the session's event stream watches (`[events]`).
    pub events: crate::EventsConfig,
    /// What carries the connection to each session's agent: its control dir's socket
    /// (default) or an engine exec of the agent's bridge.
    pub transport: crate::Transport,
}

/// A per-user dir: `configured` if set; else `root` for root; else `$<xdg>/<sub>`, else
/// `~/<home_sub>`, else `<tmp>/<tmp_name>-<uid>`.
pub(crate) fn user_dir(
    configured: Option<&PathBuf>,
    uid: u32,
    root: &str,
    (xdg, sub): (&str, &str),
    home_sub: &str,
    tmp_name: &str,
) -> PathBuf {
    if let Some(d) = configured {
        return d.clone();
    }
    if uid == 0 {
        return PathBuf::from(root);
    }
    if let Some(x) = std::env::var_os(xdg).filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join(sub);
    }
    match std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        Some(h) => PathBuf::from(h).join(home_sub),
        None => std::env::temp_dir().join(format!("{tmp_name}-{uid}")),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_image: DEFAULT_IMAGE.to_string(),
            trusted_images: Vec::new(),
            policy: Policy::default(),
            provision: true,
            container_prefix: DEFAULT_CONTAINER_PREFIX.to_string(),
            scope: DEFAULT_SCOPE.to_string(),
            podman: PathBuf::from("podman"),
            runtime_dir: None,
            cache_dir: None,
            snapshot_dir: None,
            copy_dir: None,
            ready_timeout: Duration::from_secs(20),
            provision_timeout: Duration::from_secs(300),
            post_create_timeout: Duration::from_secs(600),
            idle_timeout: None,
            tmp_size: Some(1 << 30),
            devcontainer: false,
            devcontainer_local_env: Vec::new(),
            events: crate::EventsConfig::default(),
            transport: crate::Transport::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    image: Option<String>,
    trusted_images: Option<Vec<String>>,
    provision: Option<bool>,
    container_prefix: Option<String>,
    scope: Option<String>,
    podman: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    snapshot_dir: Option<PathBuf>,
    copy_dir: Option<PathBuf>,
    ready_timeout_secs: Option<u64>,
    provision_timeout_secs: Option<u64>,
    post_create_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    tmp_size: Option<MemoryValue>,
    devcontainer: Option<bool>,
    devcontainer_local_env: Option<Vec<String>>,
    policy: Option<FilePolicy>,
    limits: Option<FileLimits>,
    network: Option<FileNetwork>,
    events: Option<FileEvents>,
    transport: Option<String>,
}

/// `[events]`: what the event stream watches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEvents {
    watch_working_dir: Option<bool>,
    watch: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    /// 0: no samples.
    sample_interval_ms: Option<u64>,
}

/// `[network]`: the egress policy (see [`Network::Egress`](crate::Network::Egress)).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNetwork {
    allow: Option<Vec<String>>,
    hosts: Option<std::collections::BTreeMap<String, Vec<String>>>,
    credentials: Option<Vec<sandbox_proto::egress::Credential>>,
    upstream_ca_files: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    allow_post_create: Option<bool>,
    allow_untrusted_image: Option<bool>,
    network: Option<String>,
    require_resource_limits: Option<bool>,
    protect_workspace: Option<bool>,
    protected_paths: Option<Vec<String>>,
    isolate_network: Option<bool>,
    allow_build: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    memory: Option<MemoryValue>,
    cpus: Option<Number>,
    pids: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MemoryValue {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Config {
    /// Loads the file (if any) and the environment of this process.
    pub fn load() -> Result<Config> {
        let path = config_path();
        let text = match &path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("SANDBOX_CONFIG").is_none() => {
                    None
                }
                Err(e) => {
                    return Err(Error::Config { origin: p.display().to_string(), detail: format!("cannot read: {e}") });
                }
            },
            None => None,
        };
        let origin = path.map(|p| p.display().to_string()).unwrap_or_default();
        Config::resolve(text.as_deref().map(|t| (origin.as_str(), t)), &|k| std::env::var(k).ok())
    }

    /// Pure resolution: defaults, then `file` (origin, TOML text), then `env`.
    pub fn resolve(file: Option<(&str, &str)>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut c = Config::default();
        let mut network_given = env("SANDBOX_NETWORK").is_some_and(|v| !v.trim().is_empty());
        if let Some((origin, text)) = file {
            let f: FileConfig = toml::from_str(text)
                .map_err(|e| Error::Config { origin: origin.to_string(), detail: e.to_string() })?;
            network_given |= f.policy.as_ref().is_some_and(|p| p.network.is_some());
            c.apply_file(f, origin)?;
        }
        c.apply_env(env)?;
        // Egress rules without a network mode make the mode egress.
        if !network_given && (!c.policy.egress.allow.is_empty() || !c.policy.egress.hosts.is_empty()) {
            c.policy.network = crate::Network::Egress;
        }
        c.validate()?;
        Ok(c)
    }

    fn apply_file(&mut self, f: FileConfig, origin: &str) -> Result<()> {
        let cfg_err = |detail: String| Error::Config { origin: origin.to_string(), detail };
        set(&mut self.default_image, f.image);
        set(&mut self.trusted_images, f.trusted_images);
        set(&mut self.provision, f.provision);
        set(&mut self.container_prefix, f.container_prefix);
        set(&mut self.scope, f.scope);
        set(&mut self.podman, f.podman);
        set(&mut self.devcontainer, f.devcontainer);
        set(&mut self.devcontainer_local_env, f.devcontainer_local_env);
        if let Some(e) = f.events {
            set(&mut self.events.watch_working_dir, e.watch_working_dir);
            set(&mut self.events.watch, e.watch);
            set(&mut self.events.ignore, e.ignore);
            if let Some(ms) = e.sample_interval_ms {
                self.events.sample_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
        }
        self.runtime_dir = f.runtime_dir.or(self.runtime_dir.take());
        self.cache_dir = f.cache_dir.or(self.cache_dir.take());
        self.snapshot_dir = f.snapshot_dir.or(self.snapshot_dir.take());
        self.copy_dir = f.copy_dir.or(self.copy_dir.take());
        set(&mut self.ready_timeout, f.ready_timeout_secs.map(Duration::from_secs));
        set(&mut self.provision_timeout, f.provision_timeout_secs.map(Duration::from_secs));
        set(&mut self.post_create_timeout, f.post_create_timeout_secs.map(Duration::from_secs));
        if let Some(secs) = f.idle_timeout_secs {
            self.idle_timeout = (secs > 0).then(|| Duration::from_secs(secs));
        }
        match f.tmp_size {
            Some(MemoryValue::Bytes(b)) => self.tmp_size = (b > 0).then_some(b),
            Some(MemoryValue::Text(t)) => {
                let b = parse_memory(&t).map_err(|e| cfg_err(format!("tmp_size: {e}")))?;
                self.tmp_size = (b > 0).then_some(b);
            }
            None => {}
        }
        if let Some(t) = f.transport {
            self.transport = t.parse().map_err(|e: Error| cfg_err(format!("transport: {e}")))?;
        }
        if let Some(p) = f.policy {
            set(&mut self.policy.allow_post_create, p.allow_post_create);
            set(&mut self.policy.allow_untrusted_image, p.allow_untrusted_image);
            set(&mut self.policy.require_resource_limits, p.require_resource_limits);
            set(&mut self.policy.protect_workspace, p.protect_workspace);
            set(&mut self.policy.protected_paths, p.protected_paths);
            set(&mut self.policy.isolate_network, p.isolate_network);
            set(&mut self.policy.allow_build, p.allow_build);
            if let Some(n) = p.network {
                self.policy.network = n.parse().map_err(|e: Error| cfg_err(format!("policy.network: {e}")))?;
            }
        }
        if let Some(n) = f.network {
            if let Some(rules) = n.allow {
                self.policy.egress.allow = rules
                    .iter()
                    .map(|r| r.parse())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| cfg_err(format!("network.allow: {e}")))?;
            }
            if let Some(hosts) = n.hosts {
                for (name, addrs) in hosts {
                    let parsed = addrs
                        .iter()
                        .map(|a| a.parse())
                        .collect::<std::result::Result<Vec<std::net::IpAddr>, _>>()
                        .map_err(|_| {
                            cfg_err(format!("network.hosts.{name}: {addrs:?} holds something not an IP address"))
                        })?;
                    self.policy.egress.hosts.insert(name, parsed);
                }
            }
            set(&mut self.policy.egress.credentials, n.credentials);
            set(&mut self.policy.egress.upstream_ca_files, n.upstream_ca_files);
            self.policy.egress.validate().map_err(|e| cfg_err(format!("network: {e}")))?;
        }
        if let Some(l) = f.limits {
            match l.memory {
                Some(MemoryValue::Bytes(b)) => self.policy.limits.memory_bytes = b,
                Some(MemoryValue::Text(t)) => {
                    self.policy.limits.memory_bytes =
                        parse_memory(&t).map_err(|e| cfg_err(format!("limits.memory: {e}")))?;
                }
                None => {}
            }
            match l.cpus {
                Some(Number::Int(i)) => self.policy.limits.cpus = i as f64,
                Some(Number::Float(x)) => self.policy.limits.cpus = x,
                None => {}
            }
            set(&mut self.policy.limits.pids, l.pids);
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let env_err = |k: &str, detail: String| Error::Config { origin: format!("environment variable {k}"), detail };
        let flag = |k: &str| -> Result<Option<bool>> {
            match get(k) {
                None => Ok(None),
                Some(v) => parse_bool(&v).map(Some).ok_or_else(|| env_err(k, format!("{v:?} is not true/false"))),
            }
        };
        if let Some(v) = get("SANDBOX_IMAGE") {
            self.default_image = v.trim().to_string();
        }
        if let Some(v) = get("SANDBOX_TRUSTED_IMAGES") {
            self.trusted_images = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        set(&mut self.provision, flag("SANDBOX_PROVISION")?);
        set(&mut self.policy.allow_post_create, flag("SANDBOX_ALLOW_POST_CREATE")?);
        set(&mut self.policy.allow_untrusted_image, flag("SANDBOX_ALLOW_UNTRUSTED_IMAGE")?);
        set(&mut self.policy.require_resource_limits, flag("SANDBOX_REQUIRE_RESOURCE_LIMITS")?);
        set(&mut self.policy.protect_workspace, flag("SANDBOX_PROTECT_WORKSPACE")?);
        set(&mut self.policy.isolate_network, flag("SANDBOX_ISOLATE_NETWORK")?);
        set(&mut self.policy.allow_build, flag("SANDBOX_ALLOW_BUILD")?);
        set(&mut self.devcontainer, flag("SANDBOX_DEVCONTAINER")?);
        if let Some(v) = get("SANDBOX_DEVCONTAINER_LOCAL_ENV") {
            self.devcontainer_local_env =
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = get("SANDBOX_PROTECTED_PATHS") {
            self.policy.protected_paths =
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = get("SANDBOX_NETWORK") {
            self.policy.network = v.parse().map_err(|e: Error| env_err("SANDBOX_NETWORK", e.to_string()))?;
        }
        if let Some(v) = get("SANDBOX_EGRESS_ALLOW") {
            self.policy.egress.allow = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| env_err("SANDBOX_EGRESS_ALLOW", format!("{e}")))?;
        }
        if let Some(v) = get("SANDBOX_MEMORY") {
            self.policy.limits.memory_bytes = parse_memory(&v).map_err(|e| env_err("SANDBOX_MEMORY", e.to_string()))?;
        }
        if let Some(v) = get("SANDBOX_CPUS") {
            self.policy.limits.cpus =
                v.trim().parse().map_err(|_| env_err("SANDBOX_CPUS", format!("{v:?} is not a number")))?;
        }
        if let Some(v) = get("SANDBOX_PIDS") {
            self.policy.limits.pids =
                v.trim().parse().map_err(|_| env_err("SANDBOX_PIDS", format!("{v:?} is not a whole number")))?;
        }
        if let Some(v) = get("SANDBOX_CONTAINER_PREFIX") {
            self.container_prefix = v.trim().to_string();
        }
        if let Some(v) = get("SANDBOX_IDLE_TIMEOUT") {
            let secs: u64 = v.trim().parse().map_err(|_| {
                env_err("SANDBOX_IDLE_TIMEOUT", format!("{v:?} is not a number of seconds (0 turns it off)"))
            })?;
            self.idle_timeout = (secs > 0).then(|| Duration::from_secs(secs));
        }
        if let Some(v) = get("SANDBOX_TMP_SIZE") {
            let b = parse_memory(&v).map_err(|e| env_err("SANDBOX_TMP_SIZE", e.to_string()))?;
            self.tmp_size = (b > 0).then_some(b);
        }
        if let Some(v) = get("SANDBOX_SCOPE") {
            self.scope = v.trim().to_string();
        }
        if let Some(v) = get("SANDBOX_PODMAN") {
            self.podman = PathBuf::from(v);
        }
        if let Some(v) = get("SANDBOX_RUNTIME_DIR") {
            self.runtime_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SANDBOX_CACHE_DIR") {
            self.cache_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SANDBOX_SNAPSHOT_DIR") {
            self.snapshot_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SANDBOX_COPY_DIR") {
            self.copy_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SANDBOX_TRANSPORT") {
            self.transport = v.parse().map_err(|e: Error| env_err("SANDBOX_TRANSPORT", e.to_string()))?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let cfg_err = |what: &str, e: Error| Error::Config { origin: what.to_string(), detail: e.to_string() };
        crate::validate::image(&self.default_image).map_err(|e| cfg_err("image", e))?;
        for img in &self.trusted_images {
            crate::validate::image(img).map_err(|e| cfg_err("trusted_images", e))?;
        }
        crate::validate::container_prefix(&self.container_prefix).map_err(|e| cfg_err("container_prefix", e))?;
        crate::validate::session_id(&self.scope).map_err(|e| cfg_err("scope", e))?;
        self.policy.limits.validate().map_err(|e| cfg_err("limits", e))?;
        self.check_timeouts().map_err(|e| cfg_err("timeouts", e))?;
        self.events.validate().map_err(|e| cfg_err("events", e))?;
        for p in &self.policy.protected_paths {
            crate::validate::protected_path(p).map_err(|e| cfg_err("protected_paths", e))?;
        }
        for (name, p) in [
            ("runtime_dir", &self.runtime_dir),
            ("cache_dir", &self.cache_dir),
            ("snapshot_dir", &self.snapshot_dir),
            ("copy_dir", &self.copy_dir),
        ] {
            if let Some(p) = p
                && !p.is_absolute()
            {
                return Err(Error::Config {
                    origin: name.into(),
                    detail: format!("{} is not an absolute path", p.display()),
                });
            }
        }
        Ok(())
    }

    /// The ready, provision and post-create timeouts are more than zero (a zero limit
    /// would only fail; there is no "no limit" for them).
    pub(crate) fn check_timeouts(&self) -> Result<()> {
        for (what, t) in [
            ("ready timeout", self.ready_timeout),
            ("provision timeout", self.provision_timeout),
            ("post-create timeout", self.post_create_timeout),
        ] {
            if t.is_zero() {
                return Err(Error::invalid(what, "must be greater than zero"));
            }
        }
        Ok(())
    }

    /// Whether `image` may be used without `allow_untrusted_image`.
    pub fn is_trusted(&self, image: &str) -> bool {
        image == self.default_image || self.trusted_images.iter().any(|t| t == image)
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Where the configuration file is read from.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SANDBOX_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sandbox/config.toml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/sandbox/config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Network;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_transport_comes_from_the_file_or_the_environment_and_is_checked() {
        assert_eq!(Config::resolve(None, &env_of(&[])).unwrap().transport, crate::Transport::Socket);
        let file = Some(("f.toml", "transport = \"exec\""));
        assert_eq!(Config::resolve(file, &env_of(&[])).unwrap().transport, crate::Transport::Exec);
        let env = env_of(&[("SANDBOX_TRANSPORT", "socket")]);
        assert_eq!(Config::resolve(file, &env).unwrap().transport, crate::Transport::Socket, "env wins");
        let e = Config::resolve(Some(("f.toml", "transport = \"ssh\"")), &env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("transport") && e.to_string().contains("socket or exec"), "{e}");
        let e = Config::resolve(None, &env_of(&[("SANDBOX_TRANSPORT", "tcp")])).unwrap_err();
        assert!(e.to_string().contains("SANDBOX_TRANSPORT"), "{e}");
    }

    #[test]
    fn defaults_without_file_or_env() {
        let c = Config::resolve(None, &env_of(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert!(c.is_trusted(DEFAULT_IMAGE));
        assert!(!c.is_trusted("docker.io/library/alpine:3.20"));
    }

    #[test]
    fn egress_rules_come_from_the_network_section_or_the_environment() {
        let file =
            "[network]\nallow = [\"pypi.org\", \"*.pythonhosted.org:443\"]\nhosts = { \"a.test\" = [\"127.0.0.1\"] }";
        let c = Config::resolve(Some(("f.toml", file)), &env_of(&[])).unwrap();
        assert_eq!(c.policy.network, Network::Egress, "rules without a mode make the mode egress");
        let rules: Vec<String> = c.policy.egress.allow.iter().map(|r| r.to_string()).collect();
        assert_eq!(rules, ["pypi.org", "*.pythonhosted.org:443"]);
        assert_eq!(c.policy.egress.pinned("a.test"), Some(&["127.0.0.1".parse().unwrap()][..]));
        let c = Config::resolve(None, &env_of(&[("SANDBOX_EGRESS_ALLOW", "crates.io, static.crates.io:443")])).unwrap();
        assert_eq!((c.policy.network, c.policy.egress.allow.len()), (Network::Egress, 2));
        let c =
            Config::resolve(None, &env_of(&[("SANDBOX_EGRESS_ALLOW", "a.io"), ("SANDBOX_NETWORK", "none")])).unwrap();
        assert_eq!(c.policy.network, Network::None, "an explicit mode stays");
        let file = "[network]\nallow = [\"api.test\"]\ncredentials = [{ host = \"api.test\", header = \"Authorization\", from_env = \"TOKEN\" }]\nupstream_ca_files = [\"/etc/ca.pem\"]";
        let c = Config::resolve(Some(("f.toml", file)), &env_of(&[])).unwrap();
        assert_eq!(c.policy.egress.credentials[0].from_env.as_deref(), Some("TOKEN"));
        assert_eq!(c.policy.egress.upstream_ca_files, [PathBuf::from("/etc/ca.pem")]);
        for (file, env, says) in [
            (
                "[network]\nallow = [\"a.test\"]\ncredentials = [{ host = \"b.test\", header = \"X\", from_env = \"T\" }]",
                vec![],
                "not allowed",
            ),
            ("[network]\nallow = [\"*\"]", vec![], "network.allow"),
            ("[network]\nhosts = { \"a.test\" = [\"nope\"] }", vec![], "not an IP address"),
            ("[network]\nhosts = { \"a.test\" = [] }", vec![], "no address"),
            ("[network]\nblock = []", vec![], "unknown field"),
            ("", vec![("SANDBOX_EGRESS_ALLOW", "ok.io,**.x.io")], "SANDBOX_EGRESS_ALLOW"),
        ] {
            let e = Config::resolve(Some(("f.toml", file)), &env_of(&env)).unwrap_err();
            assert!(e.to_string().contains(says), "{file:?}: {e}");
        }
    }

    #[test]
    fn file_then_env_precedence() {
        let file = r#"
            image = "localhost/file-image:1"
            trusted_images = ["docker.io/library/alpine:3.20"]
            provision = false
            [policy]
            network = "none"
            allow_post_create = true
            [limits]
            memory = "512m"
            cpus = 1
            pids = 100
        "#;
        let c =
            Config::resolve(Some(("f.toml", file)), &env_of(&[("SANDBOX_PIDS", "64"), ("SANDBOX_NETWORK", "bridge")]))
                .unwrap();
        assert_eq!(c.default_image, "localhost/file-image:1");
        assert!(c.is_trusted("docker.io/library/alpine:3.20"));
        assert!(!c.provision);
        assert!(c.policy.allow_post_create);
        assert_eq!(c.policy.network, Network::Bridge, "env wins over the file");
        assert_eq!(c.policy.limits.memory_bytes, 512 << 20);
        assert_eq!(c.policy.limits.cpus, 1.0);
        assert_eq!(c.policy.limits.pids, 64, "env wins over the file");
    }

    #[test]
    fn bad_values_name_their_origin() {
        let e = Config::resolve(Some(("f.toml", "[policy]\nnetwork = \"host\"")), &env_of(&[])).unwrap_err();
        assert!(matches!(&e, Error::Config { origin, .. } if origin == "f.toml"), "{e}");
        let e = Config::resolve(Some(("f.toml", "bogus_key = 1")), &env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("bogus_key"), "{e}");
        let e = Config::resolve(None, &env_of(&[("SANDBOX_ALLOW_POST_CREATE", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("SANDBOX_ALLOW_POST_CREATE"), "{e}");
        let e = Config::resolve(None, &env_of(&[("SANDBOX_MEMORY", "1k")])).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config, "{e}");
        let e = Config::resolve(None, &env_of(&[("SANDBOX_IMAGE", "-bad")])).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config, "{e}");
        let e = Config::resolve(None, &env_of(&[("SANDBOX_RUNTIME_DIR", "relative")])).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config, "{e}");
        for key in ["ready_timeout_secs", "provision_timeout_secs", "post_create_timeout_secs"] {
            let e = Config::resolve(Some(("f.toml", &format!("{key} = 0"))), &env_of(&[])).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config, "{key} = 0 is refused: {e}");
            assert!(e.to_string().contains("greater than zero"), "{e}");
        }
    }

    #[test]
    fn zero_means_off_for_idle_timeout_and_tmp_size() {
        let c = Config::resolve(Some(("f.toml", "idle_timeout_secs = 0\ntmp_size = 0")), &env_of(&[])).unwrap();
        assert_eq!((c.idle_timeout, c.tmp_size), (None, None));
        let c = Config::resolve(None, &env_of(&[("SANDBOX_IDLE_TIMEOUT", "0"), ("SANDBOX_TMP_SIZE", "0")])).unwrap();
        assert_eq!((c.idle_timeout, c.tmp_size), (None, None));
    }

    #[test]
    fn devcontainer_settings_are_off_unless_set() {
        let c = Config::resolve(None, &env_of(&[])).unwrap();
        assert!(!c.devcontainer && !c.policy.allow_build && c.devcontainer_local_env.is_empty());
        let file = "devcontainer = true\ndevcontainer_local_env = [\"USER\"]\n[policy]\nallow_build = true\n";
        let c = Config::resolve(Some(("f.toml", file)), &env_of(&[])).unwrap();
        assert!(c.devcontainer && c.policy.allow_build);
        assert_eq!(c.devcontainer_local_env, ["USER"]);
        let c = Config::resolve(
            Some(("f.toml", file)),
            &env_of(&[
                ("SANDBOX_DEVCONTAINER", "false"),
                ("SANDBOX_ALLOW_BUILD", "no"),
                ("SANDBOX_DEVCONTAINER_LOCAL_ENV", "A, B,"),
            ]),
        )
        .unwrap();
        assert!(!c.devcontainer && !c.policy.allow_build, "the environment wins over the file");
        assert_eq!(c.devcontainer_local_env, ["A", "B"]);
    }

    #[test]
    fn env_flags_and_lists() {
        let c = Config::resolve(
            None,
            &env_of(&[
                ("SANDBOX_ALLOW_UNTRUSTED_IMAGE", "yes"),
                ("SANDBOX_REQUIRE_RESOURCE_LIMITS", "1"),
                ("SANDBOX_TRUSTED_IMAGES", "a:1, b:2 ,"),
                ("SANDBOX_CPUS", "0.5"),
            ]),
        )
        .unwrap();
        assert!(c.policy.allow_untrusted_image);
        assert!(c.policy.require_resource_limits);
        assert_eq!(c.trusted_images, vec!["a:1", "b:2"]);
        assert_eq!(c.policy.limits.cpus, 0.5);
    }
}
