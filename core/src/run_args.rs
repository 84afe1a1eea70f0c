//! Pure builder of the `podman run` command line of a session container. Everything a
//! session's safety depends on is decided here, so it is covered by table-driven tests.

use sandbox_proto::layout;

use crate::host_info::HostInfo;
use crate::policy::{Limits, Network};

/// Where the agent binary is mounted (read-only) inside the container.
pub const CONTAINER_AGENT_PATH: &str = "/.sandbox-agent";

/// Capabilities added back after `--cap-drop ALL`: what a root user in a dev container
/// needs to manage its own files and processes. They hold only inside the session's user
/// namespace, where container root is the working dir's owner and no other id exists.
///
/// - `CHOWN`, `DAC_OVERRIDE`, `FOWNER`: package managers and file ownership (only ids
///   mapped into the namespace count, i.e. only the owner's own files).
/// - `SETUID`, `SETGID`: programs that call `setuid(0)` / `setgroups` (`su`, package
///   scripts); switching to another user fails (no other id is mapped).
/// - `KILL`: signalling any process in the container.
/// - `NET_BIND_SERVICE`: dev servers on ports below 1024 inside the container.
///
/// Not added (and so not available): `FSETID` (keeping setuid/setgid bits a write would
/// clear), `NET_RAW` (raw sockets, spoofing), `MKNOD` (device nodes), `SYS_CHROOT`,
/// `SETPCAP`, `SETFCAP` (file capabilities), `AUDIT_WRITE`, and everything podman never
/// grants (`SYS_ADMIN`, `SYS_MODULE`, `SYS_PTRACE`, `SYS_TIME`...).
pub const CAP_ADD: &[&str] = &["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"];

/// Seconds podman waits after SIGTERM before SIGKILL when stopping the container.
pub const STOP_TIMEOUT_SECS: u32 = 2;

/// Everything needed to create one session container.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// Container name.
    pub name: String,
    /// Labels (`sandbox.*`).
    pub labels: Vec<(String, String)>,
    /// Image to run.
    pub image: String,
    /// Host working dir, mounted at the same path and used as the workdir.
    pub working_dir: String,
    /// Host control dir: podman runs in it (so conmon's files land there); only its
    /// shared part ([`layout::SHARED_DIR`]) is mounted, at [`layout::CONTAINER_DIR`].
    pub control_dir: String,
    /// The host user and group the container's root (its only user) is mapped to.
    pub root_maps_to: IdMap,
    /// Host path of the agent binary, mounted at [`CONTAINER_AGENT_PATH`].
    pub agent_path: String,
    /// Host ports published on 127.0.0.1 (same port inside).
    pub ports: Vec<u16>,
    /// Network mode.
    pub network: Network,
    /// Limits to apply; `None` runs without them.
    pub limits: Option<Limits>,
    /// Environment of the container (and so of every command).
    pub env: Vec<(String, String)>,
    /// Variables the image sets that the container must not have (`--unsetenv`).
    pub unset_env: Vec<String>,
    /// Stop the session after this many seconds without calls.
    pub idle_timeout_secs: Option<u64>,
    /// Paths of the working dir mounted onto themselves (workspace protection),
    /// parents first: (path, read-only).
    pub self_mounts: Vec<(String, bool)>,
    /// Size of the tmpfs mounted on /tmp (bytes); `None` keeps the image's /tmp.
    pub tmp_size: Option<u64>,
    /// RLIMIT_NPROC set when the pids limit cannot be enforced through cgroups, so a
    /// fork bomb still stops.
    pub nproc_fallback: Option<u64>,
    /// What the agent watches for the event stream.
    pub events: crate::EventsConfig,
}

/// The one user and group that exist in a session's user namespace: container root (uid
/// and gid 0) is `uid`/`gid` as podman sees them (the host's ids when rootful; ids of
/// podman's own namespace when rootless, where 0 is the user running podman). No other
/// id is mapped, so nothing in the container can create a file owned by anyone else, or
/// become anyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// The uid container root is.
    pub uid: u32,
    /// The gid container root is.
    pub gid: u32,
}

/// Quotes one `--mount` field CSV-style when it holds `,` or `"`, which podman's
/// parser would otherwise split on. Paths with `:` need nothing: `--mount` does not
/// split on it (unlike `-v`).
fn mount_field(field: String) -> String {
    if field.contains(',') || field.contains('"') { format!("\"{}\"", field.replace('"', "\"\"")) } else { field }
}

/// Builds a `--mount` value for a bind mount.
pub fn bind_mount(src: &str, dst: &str, read_only: bool) -> String {
    let mut fields =
        vec!["type=bind".to_string(), mount_field(format!("src={src}")), mount_field(format!("dst={dst}"))];
    if read_only {
        fields.push("ro=true".into());
    }
    fields.join(",")
}

/// The complete argument list after `podman`.
pub fn build_run_args(plan: &RunPlan, host: &HostInfo) -> Vec<String> {
    let mut a: Vec<String> = Vec::with_capacity(64);
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    push(&["run", "--detach", "--name", &plan.name, "--pull=never", "--init"]);
    // Where the network isolation finds the container's network namespace, in the
    // host-private control dir (no `podman inspect` needed).
    let pidfile = format!("{}/{}", plan.control_dir.trim_end_matches('/'), layout::PID_FILE);
    push(&["--pidfile", &pidfile]);
    if let Some(rt) = &host.runtime_override {
        push(&["--runtime", rt]);
    }
    match (host.ulimits, plan.nproc_fallback) {
        (Some(u), fallback) => {
            let nproc = fallback.map_or(u.nproc, |f| f.min(u.nproc));
            push(&["--ulimit", &format!("nofile={0}:{0}", u.nofile), "--ulimit", &format!("nproc={nproc}:{nproc}")]);
        }
        (None, Some(n)) => push(&["--ulimit", &format!("nproc={n}:{n}")]),
        (None, None) => {}
    }
    for (k, v) in &plan.labels {
        push(&["--label", &format!("{k}={v}")]);
    }
    push(&["--cap-drop", "ALL"]);
    for cap in CAP_ADD {
        push(&["--cap-add", cap]);
    }
    push(&["--security-opt", "no-new-privileges"]);
    push(&[
        "--uidmap",
        &format!("0:{}:1", plan.root_maps_to.uid),
        "--gidmap",
        &format!("0:{}:1", plan.root_maps_to.gid),
    ]);
    match plan.network {
        Network::None | Network::Egress => push(&["--network", "none"]),
        Network::Bridge => {
            for p in &plan.ports {
                push(&["--publish", &format!("127.0.0.1:{p}:{p}")]);
            }
        }
    }
    if let Some(l) = &plan.limits {
        let mem = l.memory_bytes.to_string();
        push(&["--memory", &mem, "--memory-swap", &mem, "--cpus", &format!("{}", l.cpus)]);
        push(&["--pids-limit", &l.pids.to_string()]);
    }
    push(&["--mount", &bind_mount(&plan.working_dir, &plan.working_dir, false)]);
    for (path, read_only) in &plan.self_mounts {
        push(&["--mount", &bind_mount(path, path, *read_only)]);
    }
    if let Some(size) = plan.tmp_size {
        push(&["--tmpfs", &format!("/tmp:rw,nosuid,nodev,size={size},mode=1777")]);
    }
    let shared = format!("{}/{}", plan.control_dir.trim_end_matches('/'), layout::SHARED_DIR);
    push(&["--mount", &bind_mount(&shared, layout::CONTAINER_DIR, false)]);
    push(&["--mount", &bind_mount(&plan.agent_path, CONTAINER_AGENT_PATH, true)]);
    push(&["--workdir", &plan.working_dir]);
    for k in &plan.unset_env {
        push(&["--unsetenv", k]);
    }
    for (k, v) in &plan.env {
        push(&["--env", &format!("{k}={v}")]);
    }
    push(&["--stop-timeout", &STOP_TIMEOUT_SECS.to_string()]);
    push(&["--entrypoint", CONTAINER_AGENT_PATH, &plan.image, "serve", "--socket", &layout::container_socket()]);
    a.extend(["--bridge".to_string(), layout::BRIDGE_NAME.to_string()]);
    if let Some(secs) = plan.idle_timeout_secs {
        a.extend(["--idle-timeout".to_string(), secs.to_string()]);
    }
    if plan.network == Network::Egress {
        a.extend(["--egress-proxy".to_string(), sandbox_proto::egress::PROXY_PORT.to_string()]);
    }
    a.extend(plan.events.agent_args(&plan.working_dir));
    if !host.container_has_own_cgroup() {
        a.extend(["--resources".to_string(), "proc".to_string()]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_info::{CgroupMode, Ulimits};

    fn host(rootful_old: bool) -> HostInfo {
        HostInfo {
            podman: "podman".into(),
            version: "4.3.1".into(),
            rootless: !rootful_old,
            cgroup_mode: CgroupMode::Hybrid,
            cgroup_controllers: vec!["memory".into(), "pids".into(), "cpu".into()],
            default_runtime: "crun".into(),
            runtime_override: rootful_old.then(|| "runc".into()),
            ulimits: rootful_old.then_some(Ulimits { nofile: 20000, nproc: 9000 }),
            limits_enforceable: true,
            limits_reason: None,
            unprivileged_port_start: 1024,
            uid: 0,
            cpus: 2,
            engine_dirs: Vec::new(),
        }
    }

    fn plan() -> RunPlan {
        RunPlan {
            name: "sandbox-x".into(),
            labels: vec![("sandbox.managed".into(), "true".into())],
            image: "localhost/img:1".into(),
            working_dir: "/w".into(),
            control_dir: "/run/sandbox/x".into(),
            root_maps_to: IdMap { uid: 1000, gid: 1001 },
            agent_path: "/cache/agent-abc".into(),
            ports: vec![3000, 5173],
            network: Network::Bridge,
            limits: Some(Limits::default()),
            env: vec![("A".into(), "1 2".into())],
            unset_env: Vec::new(),
            idle_timeout_secs: None,
            self_mounts: vec![("/w/.git".into(), false), ("/w/.git/hooks".into(), true)],
            tmp_size: Some(1 << 30),
            nproc_fallback: None,
            events: crate::EventsConfig::default(),
        }
    }

    fn has_pair(a: &[String], k: &str, v: &str) -> bool {
        a.windows(2).any(|w| w[0] == k && w[1] == v)
    }

    #[test]
    fn a_snapshots_variables_are_unset_before_the_sessions_own_are_set() {
        let mut p = plan();
        p.unset_env = vec!["HOSTNAME".into(), "SECRET".into()];
        let a = build_run_args(&p, &host(false));
        let unset = a.iter().position(|x| x == "--unsetenv").unwrap();
        assert!(has_pair(&a, "--unsetenv", "HOSTNAME") && has_pair(&a, "--unsetenv", "SECRET"));
        assert!(unset < a.iter().position(|x| x == "--env").unwrap());
        assert!(!build_run_args(&plan(), &host(false)).iter().any(|x| x == "--unsetenv"));
    }

    #[test]
    fn hardening_is_always_present() {
        for p in [plan(), RunPlan { limits: None, network: Network::None, ..plan() }] {
            for h in [host(true), host(false)] {
                let a = build_run_args(&p, &h);
                assert!(has_pair(&a, "--cap-drop", "ALL"));
                for cap in CAP_ADD {
                    assert!(has_pair(&a, "--cap-add", cap), "{cap}");
                }
                assert!(has_pair(&a, "--security-opt", "no-new-privileges"));
                assert!(a.iter().any(|x| x == "--init"));
                assert!(a.iter().any(|x| x == "--pull=never"));
                assert!(!a.iter().any(|x| x == "--privileged"));
                assert!(!a.iter().any(|x| x.contains("SYS_ADMIN") || x.contains("NET_RAW")));
                // One user: container root is the mapped owner, no other id exists.
                assert!(has_pair(&a, "--uidmap", "0:1000:1"));
                assert!(has_pair(&a, "--gidmap", "0:1001:1"));
                assert_eq!(a.iter().filter(|x| *x == "--uidmap" || *x == "--gidmap").count(), 2);
                assert!(!a.iter().any(|x| x.starts_with("--userns")));
            }
        }
    }

    #[test]
    fn ports_are_published_on_loopback_only() {
        let a = build_run_args(&plan(), &host(true));
        assert!(has_pair(&a, "--publish", "127.0.0.1:3000:3000"));
        assert!(has_pair(&a, "--publish", "127.0.0.1:5173:5173"));
        assert!(!a.iter().any(|x| x == "-p"));
    }

    #[test]
    fn egress_has_no_interface_and_starts_the_proxy() {
        let a = build_run_args(&RunPlan { network: Network::Egress, ..plan() }, &host(true));
        assert!(has_pair(&a, "--network", "none"));
        assert!(!a.iter().any(|x| x == "--publish"), "{a:?}");
        assert!(has_pair(agent_args(&a), "--egress-proxy", "3128"), "{a:?}");
        let b = build_run_args(&plan(), &host(true));
        assert!(!b.iter().any(|x| x == "--egress-proxy"), "{b:?}");
    }

    #[test]
    fn network_none_removes_publishing() {
        let a = build_run_args(&RunPlan { network: Network::None, ..plan() }, &host(true));
        assert!(has_pair(&a, "--network", "none"));
        assert!(!a.iter().any(|x| x == "--publish"));
    }

    #[test]
    fn limits_on_and_off() {
        let a = build_run_args(&plan(), &host(true));
        assert!(has_pair(&a, "--memory", "2147483648"));
        assert!(has_pair(&a, "--memory-swap", "2147483648"));
        assert!(has_pair(&a, "--cpus", "2"));
        assert!(has_pair(&a, "--pids-limit", "512"));
        let a = build_run_args(&RunPlan { limits: None, ..plan() }, &host(true));
        for f in ["--memory", "--memory-swap", "--cpus", "--pids-limit"] {
            assert!(!a.iter().any(|x| x == f), "{f} without limits");
        }
    }

    #[test]
    fn host_flags_follow_the_probe() {
        let a = build_run_args(&plan(), &host(true));
        assert!(has_pair(&a, "--runtime", "runc"));
        assert!(has_pair(&a, "--ulimit", "nofile=20000:20000"));
        assert!(has_pair(&a, "--ulimit", "nproc=9000:9000"));
        let a = build_run_args(&plan(), &host(false));
        assert!(!a.iter().any(|x| x == "--runtime" || x == "--ulimit"));
    }

    #[test]
    fn agent_is_the_entrypoint_and_mounts_are_in_place() {
        let a = build_run_args(&plan(), &host(true));
        let i = a.iter().position(|x| x == "--entrypoint").unwrap();
        assert_eq!(
            &a[i..i + 6],
            ["--entrypoint", "/.sandbox-agent", "localhost/img:1", "serve", "--socket", "/.sandbox/agent.sock"]
        );
        assert!(has_pair(&a, "--mount", "type=bind,src=/w,dst=/w"));
        assert!(has_pair(&a, "--mount", "type=bind,src=/run/sandbox/x/shared,dst=/.sandbox"));
        assert!(!a.iter().any(|x| x.contains("src=/run/sandbox/x,")), "only the shared part is mounted");
        assert!(has_pair(&a, "--mount", "type=bind,src=/cache/agent-abc,dst=/.sandbox-agent,ro=true"));
        assert!(has_pair(&a, "--workdir", "/w"));
        let mounts: Vec<&str> = a.windows(2).filter(|w| w[0] == "--mount").map(|w| w[1].as_str()).collect();
        let wd = mounts.iter().position(|m| *m == "type=bind,src=/w,dst=/w").unwrap();
        let pin = mounts.iter().position(|m| *m == "type=bind,src=/w/.git,dst=/w/.git").unwrap();
        let hooks = mounts.iter().position(|m| *m == "type=bind,src=/w/.git/hooks,dst=/w/.git/hooks,ro=true").unwrap();
        assert!(wd < pin && pin < hooks, "parents are mounted before children: {mounts:?}");
        assert!(has_pair(&a, "--env", "A=1 2"));
        assert!(has_pair(&a, "--label", "sandbox.managed=true"));
    }

    #[test]
    fn tmp_is_a_bounded_tmpfs_and_nproc_backs_up_a_missing_pids_limit() {
        let a = build_run_args(&plan(), &host(false));
        assert!(has_pair(&a, "--tmpfs", "/tmp:rw,nosuid,nodev,size=1073741824,mode=1777"));
        assert!(!a.iter().any(|x| x == "--ulimit"));
        let a = build_run_args(&RunPlan { nproc_fallback: Some(4096), tmp_size: None, ..plan() }, &host(false));
        assert!(has_pair(&a, "--ulimit", "nproc=4096:4096"));
        assert!(!a.iter().any(|x| x == "--tmpfs"));
        let a = build_run_args(&RunPlan { nproc_fallback: Some(4096), ..plan() }, &host(true));
        assert!(has_pair(&a, "--ulimit", "nproc=4096:4096"), "the smaller of the two wins");
    }

    #[test]
    fn idle_timeout_is_passed_to_the_agent() {
        let a = build_run_args(&RunPlan { idle_timeout_secs: Some(90), ..plan() }, &host(true));
        assert!(has_pair(agent_args(&a), "--idle-timeout", "90"), "{a:?}");
    }

    #[test]
    fn the_agent_watches_the_working_dir_and_samples_as_configured() {
        let a = build_run_args(&plan(), &host(true));
        let agent = agent_args(&a);
        assert!(has_pair(agent, "--watch", "/w"), "{agent:?}");
        assert!(has_pair(agent, "--ignore", "node_modules"), "{agent:?}");
        assert!(has_pair(agent, "--sample-interval", "5000"), "{agent:?}");
        let quiet = crate::EventsConfig { watch_working_dir: false, sample_interval: None, ..Default::default() };
        let a = build_run_args(&RunPlan { events: quiet, ..plan() }, &host(true));
        assert!(!a.iter().any(|x| x == "--watch"), "{a:?}");
        assert!(has_pair(agent_args(&a), "--sample-interval", "0"));
    }

    #[test]
    fn the_agent_reads_proc_where_the_container_has_no_cgroup_of_its_own() {
        let rootful = build_run_args(&plan(), &host(true));
        assert!(!rootful.iter().any(|x| x == "--resources"), "rootful: its own cgroup: {rootful:?}");
        let rootless_hybrid = build_run_args(&plan(), &host(false));
        assert!(has_pair(agent_args(&rootless_hybrid), "--resources", "proc"), "{rootless_hybrid:?}");
        let rootless_v2 = build_run_args(&plan(), &HostInfo { cgroup_mode: CgroupMode::V2, ..host(false) });
        assert!(!rootless_v2.iter().any(|x| x == "--resources"), "rootless v2: its own cgroup: {rootless_v2:?}");
    }

    /// The agent's own arguments (after `serve`).
    fn agent_args(a: &[String]) -> &[String] {
        let i = a.iter().position(|x| x == "serve").expect("serve is there");
        &a[i + 1..]
    }

    #[test]
    fn mount_fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(bind_mount("/a:b", "/a:b", false), "type=bind,src=/a:b,dst=/a:b");
        assert_eq!(bind_mount("/a,b", "/a,b", false), r#"type=bind,"src=/a,b","dst=/a,b""#);
        assert_eq!(bind_mount("/a\"b", "/c", true), r#"type=bind,"src=/a""b",dst=/c,ro=true"#);
    }
}
