//! What the engine probe found out about this host, and the flags it chose from those
//! facts. Parsing is a pure function of `podman info` output plus a few host readings,
//! so every branch is unit-tested.

use serde::Serialize;

use crate::error::{Error, Result};

/// How cgroups are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// cgroup v1 only.
    V1,
    /// v1 controllers plus a v2 `unified` hierarchy (crun refuses this mode).
    Hybrid,
    /// Unified cgroup v2.
    V2,
}

impl std::fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupMode::V1 => "v1",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::V2 => "v2",
        })
    }
}

/// Explicit rlimits passed with `--ulimit` where podman would otherwise fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimits {
    /// `--ulimit nofile=N:N`.
    pub nofile: u64,
    /// `--ulimit nproc=N:N`.
    pub nproc: u64,
}

/// Facts about the host and the engine, probed once per [`Sandbox`](crate::Sandbox).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostInfo {
    /// The podman program used.
    pub podman: String,
    /// podman's version string, e.g. `4.3.1`.
    pub version: String,
    /// Whether podman runs rootless (as a regular user, in a user namespace).
    pub rootless: bool,
    /// The cgroup layout.
    pub cgroup_mode: CgroupMode,
    /// Controllers podman can use.
    pub cgroup_controllers: Vec<String>,
    /// podman's default OCI runtime.
    pub default_runtime: String,
    /// The runtime we pass with `--runtime`, when the default cannot work here.
    pub runtime_override: Option<String>,
    /// Explicit rlimits, when podman's defaults would fail to apply.
    pub ulimits: Option<Ulimits>,
    /// Whether memory, cpu and pids limits can be enforced.
    pub limits_enforceable: bool,
    /// Why they cannot, when they cannot.
    pub limits_reason: Option<String>,
    /// Lowest host port a rootless process may bind.
    pub unprivileged_port_start: u16,
    /// Our uid (written into the `sandbox.owner` label).
    pub uid: u32,
    /// Number of CPUs the host reports.
    pub cpus: u32,
    /// Directories the engine keeps its state in (image and container storage, its
    /// runtime dir, volumes, its API socket's dir): never mountable into a session.
    pub engine_dirs: Vec<String>,
}

/// Readings of the host that `podman info` does not give.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReadings {
    /// `/sys/fs/cgroup/unified` exists beside v1 controllers.
    pub unified_mounted: bool,
    /// CAP_SYS_RESOURCE is in our effective set.
    pub cap_sys_resource: bool,
    /// Hard RLIMIT_NOFILE of this process (podman inherits it).
    pub hard_nofile: u64,
    /// Hard RLIMIT_NPROC of this process.
    pub hard_nproc: u64,
    /// `kernel.pid_max`: podman caps its own RLIMIT_NPROC there, so a container
    /// asking for more fails with EPERM.
    pub pid_max: u64,
    /// Whether a `runc` binary exists.
    pub runc_available: bool,
    /// `net.ipv4.ip_unprivileged_port_start`.
    pub unprivileged_port_start: u16,
    /// Our uid.
    pub uid: u32,
}

impl HostReadings {
    /// Reads the live values from this host.
    pub fn read() -> HostReadings {
        use rustix::process::{Resource, getrlimit, getuid};
        let hard = |r| getrlimit(r).maximum.unwrap_or(u64::MAX);
        HostReadings {
            unified_mounted: std::path::Path::new("/sys/fs/cgroup/unified").is_dir(),
            cap_sys_resource: effective_caps().map(|c| c & (1 << 24) != 0).unwrap_or(false),
            hard_nofile: hard(Resource::Nofile),
            hard_nproc: hard(Resource::Nproc),
            pid_max: std::fs::read_to_string("/proc/sys/kernel/pid_max")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(32768),
            runc_available: ["/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc"]
                .iter()
                .any(|p| std::path::Path::new(p).is_file()),
            unprivileged_port_start: std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1024),
            uid: getuid().as_raw(),
        }
    }
}

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// The engine's state directories named in `podman info`.
fn engine_dirs(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for ptr in ["/store/graphRoot", "/store/runRoot", "/store/volumePath", "/host/remoteSocket/path"] {
        if let Some(p) = v.pointer(ptr).and_then(|x| x.as_str()).filter(|p| p.starts_with('/')) {
            let p = if ptr.ends_with("/path") {
                std::path::Path::new(p).parent().and_then(|d| d.to_str()).unwrap_or(p)
            } else {
                p
            };
            if p != "/" && !out.iter().any(|x| x == p) {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// Parses `major.minor.patch` out of a version string like `4.3.1` or `5.4.0-rc1`.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let core = v.trim().split(['-', '+', '~']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next().flatten().unwrap_or(0);
    let patch = it.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

impl HostInfo {
    /// Whether a container gets a cgroup of its own: not with rootless podman on cgroup
    /// v1 or hybrid, where what a container sees under `/sys/fs/cgroup` is the host's.
    pub fn container_has_own_cgroup(&self) -> bool {
        !(self.rootless && self.cgroup_mode != CgroupMode::V2)
    }

    /// Builds the host facts from `podman info --format json` and the host readings.
    pub fn from_podman_info(podman: &str, info_json: &[u8], r: &HostReadings) -> Result<HostInfo> {
        let bad = |detail: String| Error::Protocol { detail: format!("unexpected `podman info` output: {detail}") };
        let v: serde_json::Value = serde_json::from_slice(info_json).map_err(|e| bad(e.to_string()))?;
        let host = v.get("host").ok_or_else(|| bad("no host section".into()))?;
        let version = v
            .pointer("/version/Version")
            .and_then(|x| x.as_str())
            .ok_or_else(|| bad("no version.Version".into()))?
            .to_string();
        let rootless = host.pointer("/security/rootless").and_then(|x| x.as_bool()).unwrap_or(r.uid != 0);
        let cgroup_version = host.get("cgroupVersion").and_then(|x| x.as_str()).unwrap_or("v2");
        let cgroup_mode = match cgroup_version {
            "v1" if r.unified_mounted => CgroupMode::Hybrid,
            "v1" => CgroupMode::V1,
            _ => CgroupMode::V2,
        };
        let cgroup_controllers: Vec<String> = host
            .get("cgroupControllers")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|c| c.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let default_runtime =
            host.pointer("/ociRuntime/name").and_then(|x| x.as_str()).unwrap_or("unknown").to_string();
        let runtime_override = (cgroup_mode == CgroupMode::Hybrid && default_runtime == "crun" && r.runc_available)
            .then(|| "runc".to_string());
        let old = parse_version(&version).is_some_and(|v| v < (5, 4, 0));
        let ulimits = (!rootless && old && !r.cap_sys_resource)
            .then(|| Ulimits { nofile: r.hard_nofile.min(1 << 20), nproc: r.hard_nproc.min(r.pid_max) });
        let needed = ["memory", "pids", "cpu"];
        let missing: Vec<&str> =
            needed.iter().copied().filter(|c| !cgroup_controllers.iter().any(|have| have == c)).collect();
        let limits_reason = if rootless && cgroup_mode != CgroupMode::V2 {
            Some(format!(
                "rootless podman on cgroup {cgroup_mode} cannot apply resource limits (podman only warns and ignores them); use cgroup v2 with delegation, or rootful podman"
            ))
        } else if !missing.is_empty() {
            Some(format!(
                "the cgroup controllers {} are not available to podman{}",
                missing.join(", "),
                if rootless { " (enable cgroup v2 controller delegation for this user)" } else { "" }
            ))
        } else {
            None
        };
        Ok(HostInfo {
            podman: podman.to_string(),
            version,
            rootless,
            cgroup_mode,
            cgroup_controllers,
            default_runtime,
            runtime_override,
            ulimits,
            limits_enforceable: limits_reason.is_none(),
            limits_reason,
            unprivileged_port_start: r.unprivileged_port_start,
            uid: r.uid,
            cpus: host.get("cpus").and_then(|x| x.as_u64()).unwrap_or(1) as u32,
            engine_dirs: engine_dirs(&v),
        })
    }

    /// The OCI runtime sessions actually use.
    pub fn runtime(&self) -> &str {
        self.runtime_override.as_deref().unwrap_or(&self.default_runtime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, rootless: bool, cgroup: &str, runtime: &str, controllers: &[&str]) -> Vec<u8> {
        serde_json::json!({
            "host": {
                "cgroupVersion": cgroup,
                "cgroupControllers": controllers,
                "ociRuntime": {"name": runtime},
                "security": {"rootless": rootless},
                "cpus": 2,
                "remoteSocket": {"path": "/run/podman/podman.sock"}
            },
            "store": {"graphRoot": "/var/lib/containers/storage", "runRoot": "/run/containers/storage", "volumePath": "/var/lib/containers/storage/volumes"},
            "version": {"Version": version}
        })
        .to_string()
        .into_bytes()
    }

    fn readings(uid: u32) -> HostReadings {
        HostReadings {
            unified_mounted: true,
            cap_sys_resource: false,
            hard_nofile: 20000,
            hard_nproc: 96364,
            pid_max: 32768,
            runc_available: true,
            unprivileged_port_start: 1024,
            uid,
        }
    }

    const ALL: &[&str] = &["cpuset", "cpu", "memory", "pids"];

    #[test]
    fn debian12_rootful_hybrid_gets_runc_and_ulimits() {
        let h = HostInfo::from_podman_info("podman", &info("4.3.1", false, "v1", "crun", ALL), &readings(0)).unwrap();
        assert_eq!(h.cgroup_mode, CgroupMode::Hybrid);
        assert_eq!(h.runtime_override.as_deref(), Some("runc"));
        assert_eq!(h.runtime(), "runc");
        assert_eq!(h.ulimits, Some(Ulimits { nofile: 20000, nproc: 32768 }), "nproc capped at pid_max");
        assert!(h.limits_enforceable);
        assert_eq!(
            h.engine_dirs,
            [
                "/var/lib/containers/storage",
                "/run/containers/storage",
                "/var/lib/containers/storage/volumes",
                "/run/podman"
            ]
        );
    }

    #[test]
    fn runc_default_needs_no_override() {
        let h = HostInfo::from_podman_info("podman", &info("4.3.1", false, "v1", "runc", ALL), &readings(0)).unwrap();
        assert_eq!(h.runtime_override, None);
        assert_eq!(h.runtime(), "runc");
    }

    #[test]
    fn new_podman_or_cap_sys_resource_needs_no_ulimits() {
        let h = HostInfo::from_podman_info("podman", &info("5.4.0", false, "v2", "crun", ALL), &readings(0)).unwrap();
        assert_eq!(h.ulimits, None);
        let mut r = readings(0);
        r.cap_sys_resource = true;
        let h = HostInfo::from_podman_info("podman", &info("4.3.1", false, "v2", "crun", ALL), &r).unwrap();
        assert_eq!(h.ulimits, None);
        assert_eq!(h.runtime_override, None, "crun is fine on v2");
    }

    #[test]
    fn rootless_cgroup_v1_cannot_enforce_limits() {
        let h = HostInfo::from_podman_info("podman", &info("4.3.1", true, "v1", "runc", ALL), &readings(1001)).unwrap();
        assert!(h.rootless);
        assert!(!h.limits_enforceable);
        assert!(h.limits_reason.unwrap().contains("rootless"));
        assert_eq!(h.ulimits, None, "rootless podman sets rlimits inside its own user namespace");
    }

    #[test]
    fn rootless_v2_without_delegation_cannot_enforce_limits() {
        let h = HostInfo::from_podman_info("podman", &info("4.9.0", true, "v2", "crun", &["cpu"]), &readings(1001))
            .unwrap();
        assert!(!h.limits_enforceable);
        let reason = h.limits_reason.unwrap();
        assert!(reason.contains("memory") && reason.contains("pids"), "{reason}");
        let h = HostInfo::from_podman_info("podman", &info("4.9.0", true, "v2", "crun", ALL), &readings(1001)).unwrap();
        assert!(h.limits_enforceable);
    }

    #[test]
    fn garbage_info_is_a_typed_error() {
        for bad in [&b"not json"[..], b"{}", br#"{"host":{}}"#] {
            let e = HostInfo::from_podman_info("podman", bad, &readings(0)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Protocol);
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("4.3.1"), Some((4, 3, 1)));
        assert_eq!(parse_version("5.4.0-rc1"), Some((5, 4, 0)));
        assert_eq!(parse_version("5"), Some((5, 0, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
