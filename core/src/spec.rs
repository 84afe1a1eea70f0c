//! What a caller asks for when starting a session. Unset fields fall back to the
//! [`Config`](crate::Config); set fields win over it.

use std::path::{Path, PathBuf};

use sandbox_proto::egress::EgressPolicy;

use crate::config::Config;
use crate::policy::{Limits, Network, Policy};

/// Parameters of [`Sandbox::start`](crate::Sandbox::start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSpec {
    /// Session id (see [`validate::session_id`](crate::validate::session_id)).
    pub id: String,
    /// Host directory mounted at the same path and used as the working dir.
    pub working_dir: PathBuf,
    /// Image to use; the configured default when `None`.
    pub image: Option<String>,
    /// Ports published on 127.0.0.1 (host port = container port).
    pub ports: Vec<u16>,
    /// Commands (for `sh -c`) run after start, only when the policy allows.
    pub post_create: Vec<String>,
    /// Environment of the container and every command in it.
    pub env: Vec<(String, String)>,
    /// Limits; the configured ones when `None`.
    pub limits: Option<Limits>,
    /// Overrides `policy.allow_post_create`.
    pub allow_post_create: Option<bool>,
    /// Overrides `policy.allow_untrusted_image`.
    pub allow_untrusted_image: Option<bool>,
    /// Overrides `policy.network`.
    pub network: Option<Network>,
    /// Overrides `policy.require_resource_limits`.
    pub require_resource_limits: Option<bool>,
    /// Overrides `policy.protect_workspace`.
    pub protect_workspace: Option<bool>,
    /// Overrides `policy.isolate_network`.
    pub isolate_network: Option<bool>,
    /// Overrides `provision` (dev-essentials install).
    pub provision: Option<bool>,
    /// Overrides `idle_timeout`: stop the session after this long without calls.
    pub idle_timeout: Option<std::time::Duration>,
    /// Use the working dir's `devcontainer.json`: `Some(true)` requires one (the start
    /// fails without it), `Some(false)` ignores it, `None` follows
    /// [`Config::devcontainer`] (which uses it when there is one).
    pub devcontainer: Option<bool>,
    /// Overrides `policy.allow_build` (building a `devcontainer.json`'s Dockerfile).
    pub allow_build: Option<bool>,
    /// Overrides `policy.egress`; without a network mode set, also makes it `egress`.
    pub egress: Option<EgressPolicy>,
    /// Start from this snapshot: the working dir (which must not exist yet; left empty,
    /// a managed one, see [`from_snapshot`](Self::from_snapshot)) becomes a copy of the
    /// snapshot's, and the container runs the snapshot's image (see
    /// [`Sandbox::snapshot`](crate::Sandbox::snapshot)). `image` must be unset.
    pub snapshot: Option<String>,
}

impl SessionSpec {
    /// A spec for session `id` in `working_dir`, everything else from the config.
    pub fn new(id: impl Into<String>, working_dir: impl Into<PathBuf>) -> Self {
        SessionSpec { id: id.into(), working_dir: working_dir.into(), ..Default::default() }
    }
    /// A spec for session `id` started from snapshot `snapshot` in a managed copy of its
    /// working dir: `<copy dir>/<id>` (see [`Config::copy_dir`](crate::Config::copy_dir)),
    /// which
    /// [`Sandbox::remove_copy`](crate::Sandbox::remove_copy) removes once the session is
    /// stopped (the session's `working_dir()` names it).
    pub fn from_snapshot(id: impl Into<String>, snapshot: impl Into<String>) -> Self {
        SessionSpec { id: id.into(), snapshot: Some(snapshot.into()), ..Default::default() }
    }
    /// Requests an image.
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }
    /// Sets the published ports.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }
    /// Sets the post-create commands.
    pub fn post_create(mut self, commands: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.post_create = commands.into_iter().map(Into::into).collect();
        self
    }
    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }
    /// Sets the network mode.
    pub fn network(mut self, network: Network) -> Self {
        self.network = Some(network);
        self
    }
    /// Allows or forbids post-create commands.
    pub fn allow_post_create(mut self, allow: bool) -> Self {
        self.allow_post_create = Some(allow);
        self
    }
    /// Allows or forbids untrusted images.
    pub fn allow_untrusted_image(mut self, allow: bool) -> Self {
        self.allow_untrusted_image = Some(allow);
        self
    }
    /// Requires (or not) enforceable limits.
    pub fn require_resource_limits(mut self, require: bool) -> Self {
        self.require_resource_limits = Some(require);
        self
    }
    /// Turns workspace protection (read-only `.git/hooks`...) on or off.
    pub fn protect_workspace(mut self, protect: bool) -> Self {
        self.protect_workspace = Some(protect);
        self
    }
    /// Overrides `policy.isolate_network` (see [`Policy::isolate_network`]).
    pub fn isolate_network(mut self, isolate: bool) -> Self {
        self.isolate_network = Some(isolate);
        self
    }
    /// Turns dev-essentials provisioning on or off.
    pub fn provision(mut self, provision: bool) -> Self {
        self.provision = Some(provision);
        self
    }

    /// Stops the session after `after` without calls (at least one second).
    pub fn idle_timeout(mut self, after: std::time::Duration) -> Self {
        self.idle_timeout = Some(after);
        self
    }

    /// Uses (or ignores) the working dir's `devcontainer.json`; see
    /// [`SessionSpec::devcontainer`].
    pub fn devcontainer(mut self, use_it: bool) -> Self {
        self.devcontainer = Some(use_it);
        self
    }

    /// Allows or forbids building a `devcontainer.json`'s Dockerfile.
    pub fn allow_build(mut self, allow: bool) -> Self {
        self.allow_build = Some(allow);
        self
    }

    /// Sets the egress policy: the session gets no network but its proxy, which lets
    /// through what `policy` allows (see [`Network::Egress`]).
    pub fn egress(mut self, policy: EgressPolicy) -> Self {
        self.egress = Some(policy);
        self
    }

    /// The effective policy: the config's, overridden by what this spec sets.
    pub fn effective_policy(&self, config: &Config) -> Policy {
        let mut p = config.policy.clone();
        if let Some(v) = self.allow_post_create {
            p.allow_post_create = v;
        }
        if let Some(v) = self.allow_untrusted_image {
            p.allow_untrusted_image = v;
        }
        if let Some(v) = self.network {
            p.network = v;
        }
        if let Some(v) = self.require_resource_limits {
            p.require_resource_limits = v;
        }
        if let Some(l) = self.limits {
            p.limits = l;
        }
        if let Some(v) = self.protect_workspace {
            p.protect_workspace = v;
        }
        if let Some(v) = self.isolate_network {
            p.isolate_network = v;
        }
        if let Some(v) = self.allow_build {
            p.allow_build = v;
        }
        if let Some(e) = &self.egress {
            p.egress = e.clone();
            if self.network.is_none() {
                p.network = Network::Egress;
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_arguments_win_over_config() {
        let mut config = Config::default();
        config.policy.network = Network::None;
        config.policy.allow_post_create = true;
        let spec = SessionSpec::new("s", "/w").network(Network::Bridge);
        let p = spec.effective_policy(&config);
        assert_eq!(p.network, Network::Bridge, "spec wins");
        assert!(p.allow_post_create, "config kept where the spec is silent");
        let l = Limits { pids: 64, ..Limits::default() };
        assert_eq!(SessionSpec::new("s", "/w").limits(l).effective_policy(&config).limits.pids, 64);
    }
}

/// A session id for a working dir: `<dir name>-<6 hex digits>`, readable in listings and
/// unique enough to start several sessions on one directory (what the nu plugin and the
/// CLI use when no id is given). Always a valid session id.
pub fn default_session_id(dir: &Path) -> String {
    use std::hash::{BuildHasher, Hasher};
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect();
    base = base.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(40).collect();
    if base.is_empty() {
        base = "session".into();
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    format!("{base}-{:06x}", h.finish() & 0xff_ffff)
}

#[cfg(test)]
mod default_id_tests {
    use super::*;

    #[test]
    fn default_ids_are_valid_session_ids() {
        for dir in
            ["/home/me/project", "/tmp/.hidden dir", "/", "/x/ünïcødé", "/a/b..c", &format!("/{}", "x".repeat(100))]
        {
            let id = default_session_id(Path::new(dir));
            crate::validate::session_id(&id).unwrap_or_else(|e| panic!("{dir}: {id}: {e}"));
        }
        assert!(default_session_id(Path::new("/home/me/project")).starts_with("project-"));
        assert_ne!(default_session_id(Path::new("/p")), default_session_id(Path::new("/p")), "random suffix");
    }
}
