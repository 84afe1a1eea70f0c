//! What a session is allowed to do. Every default is the safe choice.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use sandbox_proto::egress::EgressPolicy;

use crate::error::{Error, Result};

/// Network mode of a session container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Podman's default bridge: outbound access, ports published on 127.0.0.1 only.
    #[default]
    Bridge,
    /// No network at all (loopback only); nothing is published.
    None,
    /// No interface but loopback; outbound connections go through the session's proxy
    /// (`HTTP_PROXY` and friends are set), which lets through what the egress policy
    /// ([`Policy::egress`]) allows and nothing else. Nothing is published.
    Egress,
}

impl FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bridge" => Ok(Network::Bridge),
            "none" => Ok(Network::None),
            "egress" => Ok(Network::Egress),
            other => Err(Error::invalid("network", format!("{other:?} is not one of: bridge, none, egress"))),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Bridge => "bridge",
            Network::None => "none",
            Network::Egress => "egress",
        })
    }
}

/// Resource limits applied to the container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Memory limit in bytes (default 2 GiB).
    pub memory_bytes: u64,
    /// CPU quota in cores (default 2.0).
    pub cpus: f64,
    /// Maximum number of processes (default 512): stops fork bombs.
    pub pids: u32,
}

/// Smallest memory limit accepted; podman itself refuses less than 6 MiB.
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;
/// Smallest pids limit accepted: the init, the agent and a shell need room.
pub const MIN_PIDS: u32 = 8;

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 2 * 1024 * 1024 * 1024, cpus: 2.0, pids: 512 }
    }
}

impl Limits {
    /// Checks the values are ones podman can apply.
    pub fn validate(&self) -> Result<()> {
        if self.memory_bytes < MIN_MEMORY_BYTES {
            return Err(Error::invalid(
                "memory limit",
                format!("{} bytes is below the 6 MiB minimum", self.memory_bytes),
            ));
        }
        if !self.cpus.is_finite() || self.cpus <= 0.0 || self.cpus > 1024.0 {
            return Err(Error::invalid("cpu limit", format!("{} is not a number of cores in (0, 1024]", self.cpus)));
        }
        if self.pids < MIN_PIDS {
            return Err(Error::invalid("pids limit", format!("{} is below the minimum of {MIN_PIDS}", self.pids)));
        }
        Ok(())
    }
}

/// Parses a memory size: plain bytes or a number with a k/m/g/t suffix (binary units,
/// optional trailing `b`/`ib`), e.g. `2g`, `512MiB`, `1073741824`.
pub fn parse_memory(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1u64 << 20),
        Some('g') => (&t[..t.len() - 1], 1u64 << 30),
        Some('t') => (&t[..t.len() - 1], 1u64 << 40),
        _ => (t, 1),
    };
    let bad = || Error::invalid("memory limit", format!("{s:?} is not a size like 2g, 512m or 1073741824"));
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let bytes = n * mult as f64;
    if bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// The four policy knobs of the original component plus the limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Run the session's post-create commands (they come from the opened repository, so
    /// they are untrusted). Default off: they are reported as skipped.
    pub allow_post_create: bool,
    /// Use an image that is not in the trusted list. Default off: the default image is
    /// used instead, with a warning in the start report.
    pub allow_untrusted_image: bool,
    /// Network mode. Default bridge.
    pub network: Network,
    /// Fail the start when the host cannot enforce the limits. Default off: the session
    /// starts without them and the report says so.
    pub require_resource_limits: bool,
    /// The limits to apply.
    pub limits: Limits,
    /// Mount agent-sensitive paths of the working dir read-only in the container (see
    /// [`Policy::protected_paths`]). Default on.
    pub protect_workspace: bool,
    /// Paths, relative to the working dir, mounted read-only when they exist and
    /// `protect_workspace` is on (the `.git` of each submodule listed in `.gitmodules`
    /// is added when `.git` is listed). Default `.git`, the whole repository: git
    /// decides what to run from many files there (config, hooks, `commondir`,
    /// `config.worktree`, submodule git dirs, and the index, whose gitlinks make
    /// `git status` run inside nested repositories), so only a read-only `.git` keeps
    /// the host's git from running code the session chose. Commands inside can still
    /// read the repository (status, diff, log) but not commit.
    pub protected_paths: Vec<String>,
    /// On the bridge network, keep the session from connecting to this host's own
    /// addresses, its containers (other sessions included), link-local addresses
    /// (cloud metadata), and keep everything but its published ports from connecting
    /// to it. Default on; the internet and the LAN stay reachable.
    pub isolate_network: bool,
    /// Build the image of a `devcontainer.json`'s `build` (its Dockerfile) with
    /// `podman build`. Default off: the build is refused and reported. Even when on,
    /// the build runs without network, with the session's capabilities and limits,
    /// from trusted base images only, and its Dockerfile and context must lie inside
    /// the working dir.
    pub allow_build: bool,
    /// What an [`Network::Egress`] session may reach (empty: nothing). Rules given
    /// without a network mode make the mode `egress`.
    pub egress: EgressPolicy,
}

/// The default [`Policy::protected_paths`].
pub const DEFAULT_PROTECTED_PATHS: &[&str] = &[".git"];

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_post_create: false,
            allow_untrusted_image: false,
            network: Network::Bridge,
            require_resource_limits: false,
            limits: Limits::default(),
            protect_workspace: true,
            protected_paths: DEFAULT_PROTECTED_PATHS.iter().map(|p| p.to_string()).collect(),
            isolate_network: true,
            allow_build: false,
            egress: EgressPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_secure() {
        let p = Policy::default();
        assert!(!p.allow_post_create, "post-create must be off by default");
        assert!(!p.allow_untrusted_image, "untrusted images must be off by default");
        assert_eq!(p.network, Network::Bridge);
        assert!(!p.require_resource_limits);
        assert!(p.protect_workspace, "workspace protection must be on by default");
        assert_eq!(p.protected_paths, vec![".git"]);
        assert!(p.isolate_network, "network isolation must be on by default");
        assert!(!p.allow_build, "image builds must be off by default");
        assert_eq!(p.limits, Limits { memory_bytes: 2 << 30, cpus: 2.0, pids: 512 });
        p.limits.validate().unwrap();
    }

    #[test]
    fn memory_sizes_parse() {
        for (s, n) in [
            ("2g", 2u64 << 30),
            ("512m", 512 << 20),
            ("512MiB", 512 << 20),
            ("1.5G", 3 << 29),
            ("4096", 4096),
            ("64kb", 64 << 10),
        ] {
            assert_eq!(parse_memory(s).unwrap(), n, "{s}");
        }
        for s in ["", "g", "-1g", "lots", "1x"] {
            assert!(parse_memory(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn limits_out_of_range_are_rejected() {
        let bad = [
            Limits { memory_bytes: 1024, ..Limits::default() },
            Limits { cpus: 0.0, ..Limits::default() },
            Limits { cpus: f64::NAN, ..Limits::default() },
            Limits { pids: 1, ..Limits::default() },
        ];
        for l in bad {
            assert_eq!(l.validate().unwrap_err().kind(), crate::ErrorKind::InvalidInput, "{l:?}");
        }
    }

    #[test]
    fn network_parses() {
        assert_eq!("None".parse::<Network>().unwrap(), Network::None);
        assert_eq!("bridge".parse::<Network>().unwrap(), Network::Bridge);
        assert!("host".parse::<Network>().is_err(), "host networking is never allowed");
    }
}
