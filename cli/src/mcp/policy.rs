//! What `sandbox mcp` lets a model do, fixed by the user who starts the server (flags
//! and a TOML file), never by tool arguments: the directories sessions may mount, the
//! scope of sessions it sees, and the image, network, limits and post-create commands of
//! the sessions it starts. Anything left unset here falls back to the sandbox
//! configuration (`config.toml`, `SANDBOX_*`), which is the user's too.
//!
//! The one choice a model gets over the network: on the egress network, `session_start`
//! may name the hosts a session reaches, each within one of the user's rules (a subset
//! of what the user allows, never more); names stay pinned as the user pinned them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sandbox_core::{
    Config, EgressCredential, EgressPolicy, EgressRule, Error, Limits, Network, SessionSpec, parse_memory,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::McpArgs;

/// The server's policy, resolved and checked at start.
#[derive(Debug, Clone, PartialEq)]
pub struct McpPolicy {
    /// Directories a session's working dir must lie in (canonical: symlinks resolved).
    pub roots: Vec<PathBuf>,
    /// The scope of the sessions the server sees and starts (else the config's).
    pub scope: Option<String>,
    /// Image of new sessions (else the config's default image).
    pub image: Option<String>,
    /// Network of new sessions (else the config's).
    pub network: Option<Network>,
    /// Memory limit of new sessions in bytes (else the config's).
    pub memory: Option<u64>,
    /// CPU limit of new sessions in cores (else the config's).
    pub cpus: Option<f64>,
    /// Process limit of new sessions (else the config's).
    pub pids: Option<u32>,
    /// Fail rather than start a session whose limits cannot be enforced.
    pub require_limits: bool,
    /// Commands run once in every new session (only with `allow_post_create`).
    pub post_create: Vec<String>,
    /// Whether the post-create commands run (else the config's policy decides).
    pub allow_post_create: Option<bool>,
    /// The egress policy of new sessions (else the config's); it makes the network
    /// egress when the network is not set.
    pub egress: Option<EgressPolicy>,
}

/// The `--config` file. Every key is optional; flags win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct McpFile {
    roots: Option<Vec<PathBuf>>,
    scope: Option<String>,
    image: Option<String>,
    network: Option<String>,
    require_limits: Option<bool>,
    allow_post_create: Option<bool>,
    post_create: Option<Vec<String>>,
    limits: Option<FileLimits>,
    allow_hosts: Option<Vec<String>>,
    pin_hosts: Option<BTreeMap<String, Vec<String>>>,
    /// `[[credentials]]`: host, header, from_env or from_file (as the config file's
    /// `[network] credentials`).
    credentials: Option<Vec<EgressCredential>>,
    upstream_ca_files: Option<Vec<PathBuf>>,
}

/// `[limits]`: memory as bytes or text ("1g"), cpus as a whole or fractional number.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    memory: Option<toml::Value>,
    cpus: Option<toml::Value>,
    pids: Option<u32>,
}

fn config_error(origin: &str, detail: impl Into<String>) -> Error {
    Error::Config { origin: origin.to_string(), detail: detail.into() }
}

impl McpPolicy {
    /// The policy of `args`: its `--config` file (if any), then its flags.
    pub fn load(args: &McpArgs) -> Result<McpPolicy, Error> {
        let file = match &args.config {
            Some(path) => {
                let origin = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|e| config_error(&origin, format!("cannot read: {e}")))?;
                Some((origin, text))
            }
            None => None,
        };
        McpPolicy::resolve(file.as_ref().map(|(o, t)| (o.as_str(), t.as_str())), args)
    }

    /// Pure resolution of a file's text (origin, TOML) and the flags.
    pub fn resolve(file: Option<(&str, &str)>, args: &McpArgs) -> Result<McpPolicy, Error> {
        let (origin, f) = match file {
            Some((origin, text)) => {
                (origin, toml::from_str::<McpFile>(text).map_err(|e| config_error(origin, e.to_string()))?)
            }
            None => ("the command line", McpFile::default()),
        };
        let flags = &args.policy.settings;
        let limits = f.limits.unwrap_or_default();
        let memory = match (flags.memory, limits.memory) {
            (Some(m), _) => Some(m),
            (None, Some(toml::Value::Integer(b))) if b >= 0 => Some(b as u64),
            (None, Some(toml::Value::String(t))) => {
                Some(parse_memory(&t).map_err(|e| config_error(origin, format!("limits.memory: {e}")))?)
            }
            (None, Some(other)) => {
                return Err(config_error(origin, format!("limits.memory: {other} is not a size like \"1g\"")));
            }
            (None, None) => None,
        };
        let cpus = match (flags.cpus, limits.cpus) {
            (Some(c), _) => Some(c),
            (None, Some(toml::Value::Integer(i))) => Some(i as f64),
            (None, Some(toml::Value::Float(x))) => Some(x),
            (None, Some(other)) => return Err(config_error(origin, format!("limits.cpus: {other} is not a number"))),
            (None, None) => None,
        };
        let network = match flags.network.clone().or(f.network) {
            Some(n) => Some(n.parse::<Network>().map_err(|e| config_error(origin, format!("network: {e}")))?),
            None => None,
        };
        let image = args.policy.image.clone().or(f.image);
        if let Some(i) = &image {
            sandbox_core::validate::image(i).map_err(|e| config_error(origin, format!("image: {e}")))?;
        }
        let scope = args.scope.clone().or(f.scope);
        if let Some(s) = &scope {
            sandbox_core::validate::session_id(s).map_err(|e| config_error(origin, format!("scope: {e}")))?;
        }
        let mut roots = Vec::new();
        for root in f.roots.unwrap_or_default() {
            if !root.is_absolute() {
                return Err(config_error(origin, format!("roots: {} is not an absolute path", root.display())));
            }
            let root = canonical_root(&root, origin)?;
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        for root in &args.roots {
            let abs = std::path::absolute(root).map_err(|e| Error::io(format!("resolving {}", root.display()), e))?;
            let root = canonical_root(&abs, "--root")?;
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        if roots.is_empty() {
            return Err(config_error(
                origin,
                "no root: give the directories sessions may mount with --root DIR (or `roots` in --config)",
            ));
        }
        let mut post_create = f.post_create.unwrap_or_default();
        post_create.extend(flags.post_create.iter().cloned());
        let mut credentials = f.credentials.unwrap_or_default();
        credentials.extend(flags.credentials.iter().cloned());
        let mut cas = f.upstream_ca_files.unwrap_or_default();
        cas.extend(flags.upstream_cas.iter().cloned());
        let egress =
            file_egress(origin, f.allow_hosts, f.pin_hosts, &flags.allow_hosts, &flags.pin_hosts, &credentials, &cas)?;
        if egress.is_some() && network.is_some_and(|n| n != Network::Egress) {
            return Err(config_error(
                origin,
                "allow_hosts, pin_hosts, credentials and upstream_ca_files need network egress (leave the network \
                 unset, or set it to egress)",
            ));
        }
        let policy = McpPolicy {
            roots,
            scope,
            image,
            network,
            memory,
            cpus,
            pids: flags.pids.or(limits.pids),
            require_limits: flags.require_limits || f.require_limits.unwrap_or(false),
            post_create,
            allow_post_create: if flags.allow_post_create { Some(true) } else { f.allow_post_create },
            egress,
        };
        policy
            .limits(&Limits::default())
            .map(|l| l.validate())
            .transpose()
            .map_err(|e| config_error(origin, e.to_string()))?;
        Ok(policy)
    }

    /// The sandbox configuration the server runs with: `base` in this policy's scope.
    pub fn config(&self, mut base: Config) -> Config {
        if let Some(s) = &self.scope {
            base.scope = s.clone();
        }
        base
    }

    /// The limits of new sessions when any is set here (the unset ones from `base`).
    fn limits(&self, base: &Limits) -> Option<Limits> {
        crate::sessions::limits_over(base, self.memory, self.cpus, self.pids)
    }

    /// The working dir a tool asked for, resolved (symlinks too) and checked to lie in
    /// a root: absolute, or relative to the first root; the first root when not given.
    pub fn working_dir(&self, requested: Option<&str>) -> Result<PathBuf, Error> {
        let asked = match requested {
            None => return Ok(self.roots[0].clone()),
            Some(p) if p.trim().is_empty() => return Err(Error::invalid("working_dir", "is empty")),
            Some(p) => self.roots[0].join(p),
        };
        let dir = std::fs::canonicalize(&asked)
            .map_err(|e| Error::NotFound { what: "working dir".into(), detail: format!("{}: {e}", asked.display()) })?;
        if !dir.is_dir() {
            return Err(Error::invalid("working_dir", format!("{} is not a directory", dir.display())));
        }
        if !self.contains(&dir) {
            return Err(Error::PermissionDenied {
                detail: format!(
                    "working dir {} is outside the directories this server may mount ({}); the user sets them \
                     with `sandbox mcp --root`",
                    dir.display(),
                    self.roots_text()
                ),
            });
        }
        Ok(dir)
    }

    /// A directory a tool asked to have made (a session started from a snapshot gets a
    /// new copy there): absolute, or relative to the first root; its parent must exist
    /// and resolve (symlinks too) into a root, and it must not exist yet.
    pub fn new_dir(&self, requested: &str) -> Result<PathBuf, Error> {
        if requested.trim().is_empty() {
            return Err(Error::invalid("working_dir", "is empty"));
        }
        let asked = self.roots[0].join(requested);
        let name = match asked.components().next_back() {
            Some(std::path::Component::Normal(n)) => n.to_os_string(),
            _ => {
                return Err(Error::invalid(
                    "working_dir",
                    format!("{} does not end in the name of a new directory", asked.display()),
                ));
            }
        };
        if asked.symlink_metadata().is_ok() {
            return Err(Error::invalid(
                "working_dir",
                format!("{} exists: a session started from a snapshot gets a new directory", asked.display()),
            ));
        }
        let parent = asked.parent().unwrap_or(Path::new("/"));
        let parent = std::fs::canonicalize(parent)
            .map_err(|e| Error::NotFound { what: "directory".into(), detail: format!("{}: {e}", parent.display()) })?;
        if !self.contains(&parent) {
            return Err(Error::PermissionDenied {
                detail: format!(
                    "working dir {} is outside the directories this server may mount ({}); the user sets them \
                     with `sandbox mcp --root`",
                    parent.join(&name).display(),
                    self.roots_text()
                ),
            });
        }
        Ok(parent.join(name))
    }

    /// Whether the canonical path `dir` lies in (or is) a root.
    pub fn contains(&self, dir: &Path) -> bool {
        self.roots.iter().any(|r| dir.starts_with(r))
    }

    fn roots_text(&self) -> String {
        self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// The spec of a new session: what the tool may choose (id, dir, environment) and
    /// everything else from this policy.
    pub fn spec(&self, id: String, dir: PathBuf, env: Vec<(String, String)>, config: &Config) -> SessionSpec {
        self.over(SessionSpec::new(id, dir), env, config)
    }

    /// `spec` with the environment `env` and everything else from this policy.
    fn over(&self, mut spec: SessionSpec, env: Vec<(String, String)>, config: &Config) -> SessionSpec {
        spec.env = env;
        spec.image = self.image.clone();
        spec.network = self.network;
        spec.limits = self.limits(&config.policy.limits);
        if self.require_limits {
            spec.require_resource_limits = Some(true);
        }
        spec.post_create = self.post_create.clone();
        spec.allow_post_create = self.allow_post_create;
        spec.egress = self.egress.clone();
        spec
    }

    /// The spec of a new session started from snapshot `snapshot`: in a copy at `dir`,
    /// or with none given a managed copy ([`SessionSpec::from_snapshot`]), with the
    /// snapshot's image, not the policy's, and no post-create commands (they ran in the
    /// session it was taken from, and their results are in it); the rest as [`spec`](Self::spec).
    pub fn snapshot_spec(
        &self,
        id: String,
        snapshot: String,
        dir: Option<PathBuf>,
        env: Vec<(String, String)>,
        config: &Config,
    ) -> SessionSpec {
        let base = match dir {
            Some(dir) => SessionSpec { snapshot: Some(snapshot), ..SessionSpec::new(id, dir) },
            None => SessionSpec::from_snapshot(id, snapshot),
        };
        let mut spec = self.over(base, env, config);
        spec.image = None;
        spec.post_create = Vec::new();
        spec
    }

    /// The egress policy of a session whose tool call asked for the hosts `asked`: each
    /// rule must lie within one of the rules new sessions get (this policy's, else the
    /// configuration's), on the egress network only; everything else of the policy (the
    /// pinned names, the upstream CAs...) stays the user's, and so do the user's egress
    /// credentials, each kept only while the narrowed rules still allow its host (a
    /// model never adds, names or widens one: it can only leave a host out).
    pub fn narrowed_egress(&self, asked: &[String], config: &Config) -> Result<EgressPolicy, Error> {
        let effective = self.spec(String::new(), PathBuf::new(), Vec::new(), config).effective_policy(config);
        if effective.network != Network::Egress {
            return Err(Error::PermissionDenied {
                detail: format!(
                    "allow_hosts narrows the egress network, and this server's sessions are on network {}; \
                     the user chooses the network (`sandbox mcp --network egress --allow-host ...`)",
                    effective.network
                ),
            });
        }
        let mut allow = Vec::with_capacity(asked.len());
        for text in asked {
            let rule: EgressRule = text.parse()?;
            if !effective.egress.allow.iter().any(|wide| crate::network::covers(wide, &rule)) {
                let rules: Vec<String> = effective.egress.allow.iter().map(ToString::to_string).collect();
                return Err(Error::PermissionDenied {
                    detail: format!(
                        "egress rule {rule} is not within the rules the user allows ({}); ask only for hosts \
                         these cover (the same port or any)",
                        if rules.is_empty() { "none".to_string() } else { rules.join(", ") }
                    ),
                });
            }
            if !allow.contains(&rule) {
                allow.push(rule);
            }
        }
        let mut credentials = effective.egress.credentials.clone();
        credentials.retain(|c| crate::network::allows_credential_host(&allow, &c.host));
        Ok(EgressPolicy { allow, credentials, ..effective.egress })
    }

    /// What the server lets a model do, for its instructions and `session_list`.
    pub fn describe(&self, config: &Config) -> Value {
        let spec = self.spec(String::new(), PathBuf::new(), Vec::new(), config);
        let p = spec.effective_policy(config);
        json!({
            "roots": self.roots,
            "scope": config.scope,
            "image": spec.image.as_deref().unwrap_or(&config.default_image),
            "network": p.network.to_string(),
            "limits": {"memory_bytes": p.limits.memory_bytes, "cpus": p.limits.cpus, "pids": p.limits.pids},
            "require_limits": p.require_resource_limits,
            "post_create": if p.allow_post_create { spec.post_create } else { Vec::new() },
            "egress": (p.network == Network::Egress).then(|| json!({
                "allow": p.egress.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "pinned": p.egress.hosts.keys().collect::<Vec<_>>(),
                // Which requests get a header added outside the session (never where its
                // value is, nor the value).
                "credentials": p.egress.credentials.iter()
                    .map(|c| json!({"host": c.host, "header": c.header}))
                    .collect::<Vec<_>>(),
            })),
        })
    }
}

#[cfg(test)]
impl McpPolicy {
    /// A policy with nothing set (and no root: tests add theirs).
    pub fn empty() -> McpPolicy {
        McpPolicy {
            roots: Vec::new(),
            scope: None,
            image: None,
            network: None,
            memory: None,
            cpus: None,
            pids: None,
            require_limits: false,
            post_create: Vec::new(),
            allow_post_create: None,
            egress: None,
        }
    }
}

/// The egress policy of the `--config` file's `allow_hosts` and `pin_hosts` and of the
/// flags (they add up), with the credentials and upstream CAs of both, checked; `None`
/// when nothing is given.
fn file_egress(
    origin: &str,
    allow: Option<Vec<String>>,
    pins: Option<BTreeMap<String, Vec<String>>>,
    flag_rules: &[EgressRule],
    flag_pins: &[(String, IpAddr)],
    credentials: &[EgressCredential],
    upstream_cas: &[PathBuf],
) -> Result<Option<EgressPolicy>, Error> {
    let mut rules = Vec::new();
    for text in allow.unwrap_or_default() {
        rules.push(text.parse::<EgressRule>().map_err(|e| config_error(origin, format!("allow_hosts: {e}")))?);
    }
    rules.extend(flag_rules.iter().cloned());
    let mut all_pins = Vec::new();
    for (name, addrs) in pins.unwrap_or_default() {
        if addrs.is_empty() {
            return Err(config_error(origin, format!("pin_hosts: {name:?} has no address")));
        }
        for a in addrs {
            let addr = a
                .parse::<IpAddr>()
                .map_err(|_| config_error(origin, format!("pin_hosts: {a:?} of {name:?} is not an IP address")))?;
            all_pins.push((name.clone(), addr));
        }
    }
    all_pins.extend(flag_pins.iter().cloned());
    let policy = crate::network::policy_of(&rules, &all_pins, credentials, upstream_cas);
    if let Some(p) = &policy {
        p.validate().map_err(|e| config_error(origin, e.to_string()))?;
    }
    Ok(policy)
}

/// A root as given, resolved: it must exist and be a directory.
fn canonical_root(root: &Path, origin: &str) -> Result<PathBuf, Error> {
    let dir = std::fs::canonicalize(root)
        .map_err(|e| config_error(origin, format!("root {} cannot be resolved: {e}", root.display())))?;
    if !dir.is_dir() {
        return Err(config_error(origin, format!("root {} is not a directory", dir.display())));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(flags: &[&str]) -> McpArgs {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            a: McpArgs,
        }
        Wrap::parse_from(std::iter::once("mcp").chain(flags.iter().copied())).a
    }

    #[test]
    fn flags_win_over_the_file_and_roots_add_up() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let file = format!(
            "roots = [{:?}]\nimage = \"localhost/a:1\"\nnetwork = \"bridge\"\nallow_post_create = true\n\
             post_create = [\"echo hi\"]\n[limits]\nmemory = \"1g\"\ncpus = 1\npids = 100\n",
            a.path()
        );
        let root_b = b.path().to_str().unwrap();
        let p = McpPolicy::resolve(
            Some(("t.toml", &file)),
            &args(&["--root", root_b, "--network", "none", "--pids", "64"]),
        )
        .unwrap();
        let canon = |d: &tempfile::TempDir| std::fs::canonicalize(d.path()).unwrap();
        assert_eq!(p.roots, vec![canon(&a), canon(&b)]);
        assert_eq!(p.network, Some(Network::None), "the flag wins");
        assert_eq!((p.memory, p.cpus, p.pids), (Some(1 << 30), Some(1.0), Some(64)));
        assert_eq!(p.image.as_deref(), Some("localhost/a:1"));
        assert_eq!(p.allow_post_create, Some(true));
        let spec = p.spec("s".into(), canon(&a), Vec::new(), &Config::default());
        assert_eq!(spec.limits.map(|l| l.pids), Some(64));
        assert_eq!(spec.network, Some(Network::None));
        assert_eq!(spec.post_create, vec!["echo hi".to_string()]);
    }

    #[test]
    fn the_readme_policy_file_means_what_it_says() {
        let readme = include_str!("../../../README.md");
        let at = readme.find("# sandbox mcp --config").expect("the README's policy file");
        let text = &readme[at..at + readme[at..].find("```").expect("the end of the block")];
        let root = tempfile::tempdir().unwrap();
        let text = text.replace("/home/me/src", root.path().to_str().unwrap());
        let p = McpPolicy::resolve(Some(("README.md", &text)), &args(&[])).unwrap();
        assert_eq!(p.roots, vec![std::fs::canonicalize(root.path()).unwrap()]);
        assert_eq!((p.scope.as_deref(), p.network), (Some("mcp"), Some(Network::None)));
        assert_eq!((p.allow_post_create, p.post_create.as_slice()), (Some(true), &["make deps".to_string()][..]));
        assert_eq!((p.memory, p.cpus, p.pids), (Some(1 << 30), Some(1.0), Some(256)));
    }

    #[test]
    fn bad_policies_are_refused_at_start() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        for (file, flags, why) in [
            (None, vec![], "no root"),
            (None, vec!["--root", "/nonexistent/x"], "cannot be resolved"),
            (Some("roots = [\"relative\"]"), vec![], "not an absolute path"),
            (Some("bogus = 1"), vec!["--root", root], "unknown field"),
            (Some("[limits]\ncpus = \"two\""), vec!["--root", root], "limits.cpus"),
            (Some("[limits]\nmemory = true"), vec!["--root", root], "limits.memory"),
            (None, vec!["--root", root, "--network", "host"], "network"),
            (None, vec!["--root", root, "--pids", "1"], "pids"),
            (None, vec!["--root", root, "--image", "bad image"], "image"),
            (None, vec!["--root", root, "--scope", "no spaces"], "scope"),
        ] {
            let e = McpPolicy::resolve(file.map(|t| ("t.toml", t)), &args(&flags)).unwrap_err();
            assert_eq!(e.kind(), sandbox_core::ErrorKind::Config, "{flags:?}: {e}");
            assert!(e.to_string().contains(why), "{flags:?}: {e}");
        }
    }

    #[test]
    fn a_model_may_narrow_the_users_egress_rules_never_widen_them() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let file = "allow_hosts = [\"*.example.com:443\"]\npin_hosts = { \"db.test\" = [\"10.0.0.5\"] }\n";
        let p = McpPolicy::resolve(
            Some(("t.toml", file)),
            &args(&["--root", root, "--allow-host", "db.test:5432", "--allow-host", "10.0.0.0/8:5432"]),
        )
        .unwrap();
        let config = Config::default();
        let spec = p.spec("s".into(), d.path().into(), Vec::new(), &config);
        assert_eq!(spec.effective_policy(&config).network, Network::Egress, "rules make the network egress");
        assert_eq!(
            p.describe(&config)["egress"]["allow"],
            json!(["*.example.com:443", "db.test:5432", "10.0.0.0/8:5432"])
        );
        let narrowed =
            |asked: &[&str]| p.narrowed_egress(&asked.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &config);
        let n = narrowed(&["api.example.com:443", "db.test:5432", "10.1.2.3:5432", "api.example.com:443"]).unwrap();
        let rules: Vec<String> = n.allow.iter().map(ToString::to_string).collect();
        assert_eq!(rules, ["api.example.com:443", "db.test:5432", "10.1.2.3:5432"], "repeats dropped");
        assert_eq!(n.hosts, p.egress.as_ref().unwrap().hosts, "the user's pins stay");
        assert!(narrowed(&[]).unwrap().allow.is_empty(), "nothing at all is narrower still");
        for wider in
            ["api.example.com", "example.com:443", "*.com.example.com:80", "db.test", "10.0.0.0/7:5432", "evil.test"]
        {
            let e = narrowed(&[wider]).unwrap_err();
            assert_eq!(e.kind(), sandbox_core::ErrorKind::PermissionDenied, "{wider}: {e}");
        }
        assert_eq!(narrowed(&["*"]).unwrap_err().kind(), sandbox_core::ErrorKind::InvalidInput);
        // Without the egress network there is nothing to narrow.
        let bridge = McpPolicy::resolve(None, &args(&["--root", root, "--network", "bridge"])).unwrap();
        let e = bridge.narrowed_egress(&["example.com".into()], &config).unwrap_err();
        assert_eq!(e.kind(), sandbox_core::ErrorKind::PermissionDenied, "{e}");
        for (file, flags, why) in [
            (Some("allow_hosts = [\"*\"]"), vec!["--root", root], "allow_hosts"),
            (Some("pin_hosts = { \"a.test\" = [] }"), vec!["--root", root], "no address"),
            (Some("pin_hosts = { \"a.test\" = [\"x\"] }"), vec!["--root", root], "not an IP address"),
            (Some("pin_hosts = { \"A.test\" = [\"10.0.0.1\"] }"), vec!["--root", root], "write it as"),
            (None, vec!["--root", root, "--network", "none", "--allow-host", "a.test"], "need network egress"),
        ] {
            let e = McpPolicy::resolve(file.map(|t| ("t.toml", t)), &args(&flags)).unwrap_err();
            assert_eq!(e.kind(), sandbox_core::ErrorKind::Config, "{flags:?}: {e}");
            assert!(e.to_string().contains(why), "{flags:?}: {e}");
        }
    }

    #[test]
    fn the_users_egress_credentials_stay_the_users() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let file = "allow_hosts = [\"api.test\", \"*.example.com\"]\nupstream_ca_files = [\"/etc/ca.pem\"]\n\
                    [[credentials]]\nhost = \"api.test\"\nheader = \"Authorization\"\nfrom_env = \"API_TOKEN\"\n";
        let flags = ["--root", root, "--credential", "git.example.com:X-Key:file:/run/key"];
        let p = McpPolicy::resolve(Some(("t.toml", file)), &args(&flags)).unwrap();
        let config = Config::default();
        let creds = |e: &EgressPolicy| e.credentials.iter().map(|c| c.host.clone()).collect::<Vec<_>>();
        assert_eq!(creds(p.egress.as_ref().unwrap()), ["api.test", "git.example.com"], "file and flags add up");
        assert_eq!(
            p.describe(&config)["egress"]["credentials"],
            json!([{"host": "api.test", "header": "Authorization"}, {"host": "git.example.com", "header": "X-Key"}]),
            "the model sees which requests get a header, never where its value is"
        );
        let narrowed = |asked: &[&str]| {
            p.narrowed_egress(&asked.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &config).unwrap()
        };
        let all = narrowed(&["api.test", "git.example.com:443"]);
        assert_eq!(creds(&all), ["api.test", "git.example.com"]);
        assert_eq!(all.upstream_ca_files, [PathBuf::from("/etc/ca.pem")]);
        assert!(all.validate().is_ok());
        let some = narrowed(&["*.example.com:443"]);
        assert_eq!(creds(&some), ["git.example.com"], "a host left out takes its credential with it");
        assert!(some.validate().is_ok());
        assert!(narrowed(&[]).credentials.is_empty());
        for (file, flags, why) in [
            (None, vec!["--root", root, "--allow-host", "a.test", "--credential", "b.test:X:env:T"], "not allowed"),
            (None, vec!["--root", root, "--allow-host", "a.test", "--credential", "a.test:Host:env:T"], "frames"),
            (None, vec!["--root", root, "--upstream-ca", "ca.pem"], "absolute"),
            (
                Some("[[credentials]]\nhost = \"a.test\"\nheader = \"X\"\nvalue = \"s\""),
                vec!["--root", root],
                "unknown field",
            ),
            (None, vec!["--root", root, "--network", "none", "--upstream-ca", "/ca.pem"], "need network egress"),
        ] {
            let e = McpPolicy::resolve(file.map(|t| ("t.toml", t)), &args(&flags)).unwrap_err();
            assert_eq!(e.kind(), sandbox_core::ErrorKind::Config, "{flags:?}: {e}");
            assert!(e.to_string().contains(why), "{flags:?}: {e}");
        }
    }

    #[test]
    fn working_dirs_must_resolve_inside_a_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("inner")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(root.path().join("inner"), outside.path().join("back-in")).unwrap();
        let p = McpPolicy::resolve(None, &args(&["--root", root.path().to_str().unwrap()])).unwrap();
        let canon_root = std::fs::canonicalize(root.path()).unwrap();
        assert_eq!(p.working_dir(None).unwrap(), canon_root, "the first root by default");
        assert_eq!(p.working_dir(Some("inner")).unwrap(), canon_root.join("inner"), "relative to the first root");
        let inner = root.path().join("inner");
        assert_eq!(p.working_dir(Some(inner.to_str().unwrap())).unwrap(), canon_root.join("inner"));
        let back_in = outside.path().join("back-in");
        assert_eq!(
            p.working_dir(Some(back_in.to_str().unwrap())).unwrap(),
            canon_root.join("inner"),
            "a link into a root"
        );
        for refused in [outside.path().to_str().unwrap(), "escape", "inner/../..", "/"] {
            let e = p.working_dir(Some(refused)).unwrap_err();
            assert_eq!(e.kind(), sandbox_core::ErrorKind::PermissionDenied, "{refused}: {e}");
        }
        assert_eq!(p.working_dir(Some("missing")).unwrap_err().kind(), sandbox_core::ErrorKind::NotFound);
        assert_eq!(p.working_dir(Some("")).unwrap_err().kind(), sandbox_core::ErrorKind::InvalidInput);
    }

    #[test]
    fn new_dirs_must_not_exist_and_resolve_inside_a_root() {
        use sandbox_core::ErrorKind;
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("inner")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        let p = McpPolicy::resolve(None, &args(&["--root", root.path().to_str().unwrap()])).unwrap();
        let canon_root = std::fs::canonicalize(root.path()).unwrap();
        assert_eq!(p.new_dir("child").unwrap(), canon_root.join("child"), "relative to the first root");
        assert_eq!(p.new_dir("inner/child").unwrap(), canon_root.join("inner/child"));
        let absolute = root.path().join("inner/abs");
        assert_eq!(p.new_dir(absolute.to_str().unwrap()).unwrap(), canon_root.join("inner/abs"));
        for (asked, kind) in [
            ("inner", ErrorKind::InvalidInput),
            ("", ErrorKind::InvalidInput),
            ("inner/..", ErrorKind::InvalidInput),
            ("missing/child", ErrorKind::NotFound),
            ("escape/child", ErrorKind::PermissionDenied),
            ("../child", ErrorKind::PermissionDenied),
            (outside.path().join("child").to_str().unwrap(), ErrorKind::PermissionDenied),
        ] {
            assert_eq!(p.new_dir(asked).unwrap_err().kind(), kind, "{asked:?}");
        }
    }

    #[test]
    fn a_start_from_a_snapshot_takes_its_image_and_a_managed_copy_without_a_dir() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().to_str().unwrap();
        let flags = ["--root", root, "--image", "localhost/x:1", "--post-create", "true", "--memory", "1g"];
        let p = McpPolicy::resolve(None, &args(&flags)).unwrap();
        let config = Config::default();
        let env = vec![("A".to_string(), "b".to_string())];
        let managed = p.snapshot_spec("s-1".into(), "base".into(), None, env.clone(), &config);
        assert_eq!(managed.id, "s-1");
        assert_eq!(managed.snapshot.as_deref(), Some("base"));
        assert!(managed.working_dir.as_os_str().is_empty(), "no dir: a managed copy: {managed:?}");
        assert_eq!((managed.image.as_deref(), managed.post_create.len()), (None, 0), "the snapshot's image");
        assert_eq!(managed.limits.map(|l| l.memory_bytes), Some(1 << 30), "the rest is the policy's");
        assert_eq!(managed.env, env);
        let at = p.snapshot_spec("s-2".into(), "base".into(), Some(PathBuf::from("/r/new")), env, &config);
        assert_eq!((at.working_dir.as_path(), at.snapshot.as_deref()), (Path::new("/r/new"), Some("base")));
        assert_eq!((at.image.as_deref(), at.post_create.len()), (None, 0));
        let plain = p.spec("s-3".into(), PathBuf::from("/r"), Vec::new(), &config);
        assert_eq!((plain.image.as_deref(), plain.post_create.len(), plain.snapshot), (Some("localhost/x:1"), 1, None));
    }
}
