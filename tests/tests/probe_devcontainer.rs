//! Probe family `devcontainer`: a project's `devcontainer.json` is written by whoever
//! wrote the project, so it is an attacker's file. Every way it could widen what a
//! session may do beyond the caller's configuration is tried here, and each must be
//! refused: in the report, and in effect. The effect is checked three ways where it
//! can be: podman's own record of the command that made the container
//! (`Config.CreateCommand` in `podman inspect`) holds none of the hostile arguments;
//! the container's settings equal those of a session started without the file (the
//! baseline); and from inside, the session sees what the baseline sees (capabilities,
//! seccomp, mounts, namespaces, user). Builds (with `allow_build`, so they run) are
//! attacked through their Dockerfile and context.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sandbox_core::{Config, DevcontainerReport, ErrorKind, ExecOptions, Sandbox, Session, SessionSpec, StartReport};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, free_port, run, test_config, unique_id};
use serde_json::Value;

const T: Duration = Duration::from_secs(600);

fn podman() -> PathBuf {
    PathBuf::from(std::env::var("SANDBOX_PODMAN").unwrap_or_else(|_| "podman".into()))
}

fn write_devcontainer(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join(".devcontainer")).unwrap();
    std::fs::write(dir.join(".devcontainer/devcontainer.json"), text).unwrap();
}

async fn sh(s: &Session, script: &str) -> String {
    let o = s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap();
    o.stdout_lossy().trim().to_string()
}

/// `podman inspect` of a session's container.
fn inspect(container: &str) -> Value {
    let out = Command::new(podman()).args(["inspect", container]).output().expect("podman inspect");
    let v: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    v[0].clone()
}

/// Whether the report refused (or did not use) something whose property or value
/// contains `needle`, and why.
fn reported(d: &DevcontainerReport, needle: &str) -> Option<String> {
    let items = || d.refused.iter().chain(&d.not_used);
    items()
        .find(|i| i.property == needle)
        .or_else(|| items().find(|i| i.property.contains(needle) || i.value.contains(needle)))
        .map(|i| i.reason.clone())
}

/// Removes an image when dropped (built images are the test's to remove).
struct RemoveImage(Vec<String>);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new(podman()).args(["rmi", "--force", image]).output();
        }
    }
}

/// Makes a hostile file in a working dir.
type MakeFile<'a> = Box<dyn Fn(&Path) + 'a>;

/// A host listener on every address that counts connections, until dropped.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("0.0.0.0:0").expect("listener");
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut b = [0u8; 64];
                        let _ = c.read(&mut b);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Listener { port, hits, stop, thread: Some(thread) }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A non-loopback IPv4 address of this host, if it has one.
fn host_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// What the session sees from inside, for comparing with the baseline.
async fn inside_view(s: &Session) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for (what, script) in [
        ("CapEff", "grep CapEff /proc/self/status | cut -f2"),
        ("CapBnd", "grep CapBnd /proc/self/status | cut -f2"),
        ("Seccomp", "grep '^Seccomp:' /proc/self/status | cut -f2"),
        ("NoNewPrivs", "grep NoNewPrivs /proc/self/status | cut -f2"),
        ("uid", "id -u"),
        ("uid_map", "cat /proc/self/uid_map | tr -s ' '"),
        ("ulimit -n", "ulimit -n"),
        ("ip_unprivileged_port_start", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start"),
        ("processes", "ls /proc | grep -c '^[0-9]'"),
        ("interfaces", "grep : /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '"),
        ("/etc/hosts evil", "grep -c evil /etc/hosts || true"),
        ("/etc/resolv.conf 10.9.9.9", "grep -c 10.9.9.9 /etc/resolv.conf || true"),
    ] {
        v.push((what, sh(s, script).await));
    }
    v
}

/// The namespaces of a session's commands that are the host's own (the test process's).
async fn shared_namespaces(s: &Session) -> Vec<String> {
    let mut shared = Vec::new();
    for ns in ["pid", "ipc", "uts", "user", "net", "mnt", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).map(|p| p.display().to_string());
        let inside = sh(s, &format!("readlink /proc/self/ns/{ns}")).await;
        if host.is_ok_and(|h| h == inside) {
            shared.push(ns.to_string());
        }
    }
    shared
}

#[test]
fn probe_devcontainer() {
    let t = TestScope::new("probe-devc");
    let mut rows = ProbeTable::new("devcontainer");
    let host_marker_dir = tempfile::tempdir().unwrap();
    let host_marker = host_marker_dir.path().join("initialize-command-ran");
    let mut images = RemoveImage(Vec::new());
    run(T, async {
        let config = test_config(&t.scope);
        let default_limits = config.policy.limits;

        // The baseline: a session without a file, in its own dir.
        let base_dir = tempfile::tempdir().unwrap();
        let base = t.sandbox.start(SessionSpec::new(unique_id("base"), base_dir.path())).await.unwrap();
        let base_view = inside_view(&base).await;
        let base_shared = shared_namespaces(&base).await;
        let base_inspect = inspect(base.container());

        // The hostile session: every widening at once, default policy.
        let (p1, p2) = (free_port(), free_port());
        write_devcontainer(
            t.dir.path(),
            &format!(
                r#"{{
  "image": "docker.io/library/alpine:3.20",
  "privileged": true,
  "capAdd": ["SYS_ADMIN", "NET_RAW"],
  "securityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
  "mounts": ["source=/,target=/host-mounts,type=bind"],
  "workspaceMount": "source=/,target=/host-workspace,type=bind",
  "workspaceFolder": "/etc",
  "initializeCommand": "touch {marker}",
  "postCreateCommand": "touch made-by-post-create",
  "onCreateCommand": ["touch", "made-by-on-create"],
  "containerUser": "1000",
  "remoteUser": "nobody",
  "containerEnv": {{"LEAK": "${{localEnv:PATH}}", "LEAK_HOME": "${{localEnv:HOME:unset}}"}},
  "appPort": ["0.0.0.0:{p1}:{p1}"],
  "forwardPorts": ["db:5432", "169.254.169.254:80"],
  "features": {{"ghcr.io/devcontainers/features/docker-in-docker:2": {{}}}},
  "runArgs": [
    "--privileged", "--cap-add=ALL", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt=no-new-privileges=false",
    "-v", "/:/host-v", "--mount", "type=bind,src=/etc,dst=/host-etc", "--device", "/dev/mem", "--tmpfs", "/host-tmpfs",
    "--volumes-from", "someone",
    "--pid=host", "--ipc=host", "--uts=host", "--userns=host", "--cgroupns=host", "--network=host",
    "--user", "1000", "--group-add", "disk", "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
    "--ulimit", "nofile=1048575:1048575",
    "--memory=64g", "--cpus=64", "--pids-limit=-1", "--oom-kill-disable", "--memory-swap=-1", "--shm-size=64g",
    "--entrypoint", "/bin/sh", "--runtime", "/bin/false",
    "--env-file", "/etc/passwd", "--env", "PATH", "--label", "sandbox.scope=someone-else", "--name", "hijacked-name",
    "--add-host", "evil.example:10.9.9.9", "--dns", "10.9.9.9",
    "--publish-all", "-p", "0.0.0.0:{p2}:{p2}", "--pidfile", "/tmp/hostile-pidfile"
  ]
}}"#,
                marker = host_marker.display()
            ),
        );
        let h = t.sandbox.start(t.spec("hostile").devcontainer(true)).await.unwrap();
        let r: StartReport = h.start_report().unwrap().clone();
        let d = r.devcontainer.clone().expect("devcontainer report");
        let hi = inspect(h.container());
        let create: Vec<String> = hi["Config"]["CreateCommand"]
            .as_array()
            .expect("CreateCommand")
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect();
        let create_text = create.join(" ");
        let view = inside_view(&h).await;
        let shared = shared_namespaces(&h).await;
        let inside = |what: &str| view.iter().find(|(w, _)| *w == what).map(|(_, v)| v.clone()).unwrap_or_default();
        let baseline =
            |what: &str| base_view.iter().find(|(w, _)| *w == what).map(|(_, v)| v.clone()).unwrap_or_default();
        let same = |what: &str| inside(what) == baseline(what);
        let hc = |k: &str| hi["HostConfig"][k].clone();
        let bc = |k: &str| base_inspect["HostConfig"][k].clone();

        // (probe, what it tried, the report's needle, podman never given these, effect check, detail)
        let mut check = |probe: &str, tried: &str, needle: &str, never: &[&str], effect: bool, what: String| {
            let why = reported(&d, needle);
            let leaked: Vec<&&str> = never.iter().filter(|n| create_text.contains(**n)).collect();
            let ok = why.is_some() && leaked.is_empty() && effect;
            let detail = match (&why, leaked.is_empty()) {
                (Some(w), true) => format!("{w}; {what}"),
                (None, _) => format!("NOT REPORTED; {what}"),
                (Some(_), false) => format!("podman was given {leaked:?}; {what}"),
            };
            rows.refused_if(probe, tried, ok, detail);
        };
        let caps = format!("CapEff {} (baseline {})", inside("CapEff"), baseline("CapEff"));
        check(
            "privileged",
            "\"privileged\": true",
            "privileged",
            &["--privileged"],
            same("CapEff") && same("CapBnd") && hc("Privileged") == Value::Bool(false),
            caps.clone(),
        );
        check(
            "runargs_privileged",
            "runArgs --privileged",
            "--privileged",
            &["--privileged"],
            same("CapEff"),
            caps.clone(),
        );
        check(
            "cap_add",
            "\"capAdd\": [SYS_ADMIN, NET_RAW]",
            "capAdd",
            &["SYS_ADMIN", "NET_RAW"],
            same("CapEff") && hc("CapAdd") == bc("CapAdd"),
            caps.clone(),
        );
        check(
            "runargs_cap_add_all",
            "runArgs --cap-add=ALL",
            "--cap-add=ALL",
            &["--cap-add=ALL"],
            same("CapBnd"),
            caps.clone(),
        );
        check(
            "runargs_cap_add",
            "runArgs --cap-add NET_ADMIN",
            "NET_ADMIN",
            &["NET_ADMIN"],
            same("CapEff"),
            caps.clone(),
        );
        let seccomp = format!(
            "Seccomp {} NoNewPrivs {} (baseline {} {})",
            inside("Seccomp"),
            inside("NoNewPrivs"),
            baseline("Seccomp"),
            baseline("NoNewPrivs")
        );
        check(
            "security_opt",
            "\"securityOpt\": [seccomp=unconfined, apparmor=unconfined]",
            "securityOpt",
            &["apparmor=unconfined"],
            same("Seccomp") && inside("Seccomp") == "2",
            seccomp.clone(),
        );
        check(
            "runargs_seccomp",
            "runArgs --security-opt seccomp=unconfined",
            "seccomp=unconfined",
            &["seccomp=unconfined"],
            same("Seccomp"),
            seccomp.clone(),
        );
        check(
            "runargs_no_new_privs",
            "runArgs --security-opt=no-new-privileges=false",
            "no-new-privileges=false",
            &["no-new-privileges=false"],
            inside("NoNewPrivs") == "1",
            seccomp.clone(),
        );
        for (probe, tried, needle, path) in [
            ("mounts", "\"mounts\": [source=/,target=/host-mounts]", "mounts", "/host-mounts"),
            (
                "workspace_mount",
                "\"workspaceMount\": source=/,target=/host-workspace",
                "workspaceMount",
                "/host-workspace",
            ),
            ("runargs_volume", "runArgs -v /:/host-v", "/:/host-v", "/host-v"),
            ("runargs_mount", "runArgs --mount type=bind,src=/etc,dst=/host-etc", "dst=/host-etc", "/host-etc"),
            ("runargs_tmpfs", "runArgs --tmpfs /host-tmpfs", "/host-tmpfs", "/host-tmpfs"),
            ("runargs_device", "runArgs --device /dev/mem", "/dev/mem", "/dev/mem"),
        ] {
            let absent = sh(&h, &format!("test -e {path} && echo present || echo absent")).await;
            check(probe, tried, needle, &[path], absent == "absent", format!("{path} {absent} inside"));
        }
        check(
            "runargs_volumes_from",
            "runArgs --volumes-from someone",
            "--volumes-from",
            &["--volumes-from"],
            hc("VolumesFrom") == bc("VolumesFrom"),
            "no volumes from other containers".into(),
        );
        for (ns, arg) in [
            ("pid", "--pid=host"),
            ("ipc", "--ipc=host"),
            ("uts", "--uts=host"),
            ("user", "--userns=host"),
            ("cgroup", "--cgroupns=host"),
            ("net", "--network=host"),
        ] {
            let shares = shared.contains(&ns.to_string());
            let base_shares = base_shared.contains(&ns.to_string());
            check(
                &format!("runargs_{ns}_namespace"),
                &format!("runArgs {arg}"),
                arg,
                &[arg],
                shares == base_shares,
                format!("{ns} namespace shared with the host: {shares} (baseline {base_shares})"),
            );
        }
        check(
            "runargs_host_pids",
            "runArgs --pid=host (seeing the host's processes)",
            "--pid=host",
            &["--pid=host"],
            inside("processes").parse::<u32>().unwrap_or(999) < 50,
            format!("{} processes visible", inside("processes")),
        );
        check(
            "runargs_host_network",
            "runArgs --network=host (the host's interfaces)",
            "--network=host",
            &["--network=host"],
            same("interfaces"),
            format!("interfaces: {}", inside("interfaces")),
        );
        let uid = format!("uid {} map {:?}", inside("uid"), inside("uid_map"));
        check(
            "container_user",
            "\"containerUser\": 1000",
            "containerUser",
            &["--user"],
            inside("uid") == "0" && same("uid_map"),
            uid.clone(),
        );
        check("remote_user", "\"remoteUser\": nobody", "remoteUser", &["nobody"], inside("uid") == "0", uid.clone());
        check("runargs_user", "runArgs --user 1000", "--user 1000", &["--user"], inside("uid") == "0", uid.clone());
        check(
            "runargs_group_add",
            "runArgs --group-add disk",
            "--group-add",
            &["--group-add"],
            hc("GroupAdd") == bc("GroupAdd"),
            "no extra groups".into(),
        );
        check(
            "runargs_sysctl",
            "runArgs --sysctl net.ipv4.ip_unprivileged_port_start=0",
            "--sysctl",
            &["ip_unprivileged_port_start=0"],
            same("ip_unprivileged_port_start"),
            format!("ip_unprivileged_port_start {}", inside("ip_unprivileged_port_start")),
        );
        check(
            "runargs_ulimit",
            "runArgs --ulimit nofile=1048575:1048575",
            "--ulimit nofile=1048575",
            &["1048575"],
            same("ulimit -n"),
            format!("ulimit -n {} (baseline {})", inside("ulimit -n"), baseline("ulimit -n")),
        );
        let limits = format!("limits {:?}", r.limits.requested);
        check(
            "runargs_memory",
            "runArgs --memory=64g",
            "--memory=64g",
            &["64g"],
            r.limits.requested.memory_bytes == default_limits.memory_bytes && hc("Memory") == bc("Memory"),
            limits.clone(),
        );
        check(
            "runargs_cpus",
            "runArgs --cpus=64",
            "--cpus=64",
            &["--cpus=64"],
            r.limits.requested.cpus == default_limits.cpus && hc("NanoCpus") == bc("NanoCpus"),
            limits.clone(),
        );
        check(
            "runargs_pids",
            "runArgs --pids-limit=-1",
            "--pids-limit=-1",
            &["--pids-limit=-1"],
            r.limits.requested.pids == default_limits.pids && hc("PidsLimit") == bc("PidsLimit"),
            limits.clone(),
        );
        check(
            "runargs_oom_kill_disable",
            "runArgs --oom-kill-disable",
            "--oom-kill-disable",
            &["--oom-kill-disable"],
            hc("OomKillDisable") == Value::Bool(false),
            format!("OomKillDisable {}", hc("OomKillDisable")),
        );
        check(
            "runargs_memory_swap",
            "runArgs --memory-swap=-1",
            "--memory-swap=-1",
            &["--memory-swap=-1"],
            hc("MemorySwap") == bc("MemorySwap"),
            format!("MemorySwap {}", hc("MemorySwap")),
        );
        check(
            "runargs_shm_size",
            "runArgs --shm-size=64g",
            "--shm-size",
            &["--shm-size"],
            hc("ShmSize") == bc("ShmSize"),
            format!("ShmSize {}", hc("ShmSize")),
        );
        let alive = sh(&h, "echo alive").await == "alive";
        check(
            "runargs_entrypoint",
            "runArgs --entrypoint /bin/sh (replace the agent)",
            "--entrypoint",
            &["/bin/sh"],
            alive && hi["Config"]["Entrypoint"] == base_inspect["Config"]["Entrypoint"],
            format!("entrypoint {}", hi["Config"]["Entrypoint"]),
        );
        check(
            "runargs_runtime",
            "runArgs --runtime /bin/false",
            "--runtime /bin/false",
            &["/bin/false"],
            hi["OCIRuntime"] == base_inspect["OCIRuntime"],
            format!("runtime {}", hi["OCIRuntime"]),
        );
        let env = sh(&h, "env").await;
        check(
            "runargs_env_file",
            "runArgs --env-file /etc/passwd (a host file)",
            "--env-file",
            &["--env-file"],
            !env.contains("root:x:0:0"),
            "no line of the host's /etc/passwd in the environment".into(),
        );
        let host_path = std::env::var("PATH").unwrap_or_default();
        let inner_path = sh(&h, "echo $PATH").await;
        check(
            "runargs_env_host",
            "runArgs --env PATH (the host's value)",
            "--env PATH",
            &[&format!("PATH={host_path}")],
            inner_path != host_path,
            format!("PATH inside {inner_path}"),
        );
        let leak = sh(&h, "echo \"[$LEAK][$LEAK_HOME]\"").await;
        check(
            "local_env_secret",
            "containerEnv LEAK=${localEnv:PATH} (a host variable not listed)",
            "localEnv:PATH",
            &[&format!("LEAK={host_path}")],
            leak == "[][unset]",
            format!("inside: {leak}"),
        );
        let mut labels = hi["Config"]["Labels"].clone();
        let scope_ok = labels["sandbox.scope"] == Value::String(t.scope.clone());
        labels = labels["sandbox.scope"].clone();
        check(
            "runargs_label",
            "runArgs --label sandbox.scope=someone-else",
            "--label",
            &["someone-else"],
            scope_ok,
            format!("sandbox.scope {labels}"),
        );
        let listed = t.sandbox.list().await.unwrap().iter().any(|s| s.id == h.id());
        check(
            "runargs_name",
            "runArgs --name hijacked-name",
            "--name",
            &["hijacked-name"],
            hi["Name"].as_str().is_some_and(|n| n.ends_with(h.id())) && listed,
            format!("container {}", hi["Name"]),
        );
        check(
            "runargs_add_host",
            "runArgs --add-host evil.example:10.9.9.9",
            "--add-host",
            &["evil.example"],
            inside("/etc/hosts evil") == "0",
            "no such line in /etc/hosts".into(),
        );
        check(
            "runargs_dns",
            "runArgs --dns 10.9.9.9",
            "--dns",
            &["10.9.9.9"],
            inside("/etc/resolv.conf 10.9.9.9") == "0",
            "not in /etc/resolv.conf".into(),
        );
        check(
            "runargs_pidfile",
            "runArgs --pidfile /tmp/hostile-pidfile (a host file)",
            "--pidfile",
            &["/tmp/hostile-pidfile"],
            !Path::new("/tmp/hostile-pidfile").exists(),
            "no such file on the host".into(),
        );
        check(
            "runargs_publish_all",
            "runArgs --publish-all",
            "--publish-all",
            &["--publish-all"],
            hc("PublishAllPorts") == Value::Bool(false),
            "only the asked ports, on 127.0.0.1".into(),
        );
        let bindings = hi["HostConfig"]["PortBindings"].to_string();
        let only_loopback =
            !bindings.contains("0.0.0.0") && bindings.contains(&p1.to_string()) && bindings.contains(&p2.to_string());
        check(
            "app_port_all_interfaces",
            &format!("\"appPort\": 0.0.0.0:{p1}:{p1}"),
            &format!("0.0.0.0:{p1}"),
            &["0.0.0.0"],
            only_loopback,
            format!("bindings {bindings}"),
        );
        check(
            "runargs_publish_all_interfaces",
            &format!("runArgs -p 0.0.0.0:{p2}:{p2}"),
            &format!("0.0.0.0:{p2}"),
            &["0.0.0.0"],
            only_loopback,
            format!("bindings {bindings}"),
        );
        check(
            "forward_other_host",
            "\"forwardPorts\": [db:5432, 169.254.169.254:80]",
            "169.254.169.254",
            &[":5432:", ":80:"],
            !r.ports_published.contains(&5432),
            format!("published {:?}", r.ports_published),
        );
        let workdir = sh(&h, "pwd").await;
        check(
            "workspace_folder",
            "\"workspaceFolder\": /etc",
            "workspaceFolder",
            &["--workdir /etc"],
            workdir == r.working_dir,
            format!("commands run in {workdir}"),
        );
        check(
            "initialize_command",
            "\"initializeCommand\" (runs on the host)",
            "initializeCommand",
            &["initialize-command-ran"],
            !host_marker.exists(),
            "its marker file was not made on the host".into(),
        );
        check(
            "features",
            "\"features\": docker-in-docker",
            "features",
            &["docker-in-docker"],
            sh(&h, "command -v dockerd || echo none").await == "none",
            "nothing installed".into(),
        );
        let made = t.dir.path().join("made-by-post-create").exists() || t.dir.path().join("made-by-on-create").exists();
        let skipped = r.post_create.iter().all(|o| !o.ran) && r.post_create.len() == 2;
        rows.refused_if(
            "lifecycle_commands",
            "postCreateCommand and onCreateCommand (post-create not allowed)",
            skipped && !made,
            format!("{} reported, none ran; no marker in the working dir", r.post_create.len()),
        );
        rows.refused_if(
            "untrusted_image",
            "\"image\": docker.io/library/alpine:3.20",
            r.image.used == config.default_image
                && r.image.reason == sandbox_core::ImageReason::UntrustedReplaced
                && !create_text.contains("alpine"),
            format!("ran {} ({:?})", r.image.used, r.image.reason),
        );
        h.stop().await.unwrap();
        base.stop().await.unwrap();

        // Files that are not what they say.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("devcontainer.json"), r#"{"containerEnv": {"FROM": "outside"}}"#).unwrap();
        let attempts: Vec<(&str, &str, MakeFile)> = vec![
            (
                "symlink_out",
                "devcontainer.json a symlink to a file outside the working dir",
                Box::new(|d: &Path| {
                    std::fs::create_dir_all(d.join(".devcontainer")).unwrap();
                    std::os::unix::fs::symlink(
                        outside.path().join("devcontainer.json"),
                        d.join(".devcontainer/devcontainer.json"),
                    )
                    .unwrap();
                }),
            ),
            (
                "fifo",
                "devcontainer.json a FIFO (a read would block)",
                Box::new(|d: &Path| {
                    std::fs::create_dir_all(d.join(".devcontainer")).unwrap();
                    let st = Command::new("mkfifo").arg(d.join(".devcontainer/devcontainer.json")).status().unwrap();
                    assert!(st.success());
                }),
            ),
            (
                "huge",
                "a 2 MiB devcontainer.json",
                Box::new(|d: &Path| {
                    write_devcontainer(d, &format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20)));
                }),
            ),
            (
                "deep",
                "a devcontainer.json nested 100000 levels deep",
                Box::new(|d: &Path| {
                    write_devcontainer(d, &format!("{{\"x\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000)));
                }),
            ),
            (
                "proc_link",
                "devcontainer.json a symlink through /proc/self/root",
                Box::new(|d: &Path| {
                    std::os::unix::fs::symlink("/proc/self/root/etc/hostname", d.join(".devcontainer.json")).unwrap();
                }),
            ),
        ];
        for (probe, tried, make) in attempts {
            let dir = tempfile::tempdir().unwrap();
            make(dir.path());
            let started = Instant::now();
            let res = t.sandbox.start(SessionSpec::new(unique_id(probe), dir.path()).devcontainer(true)).await;
            let took = started.elapsed();
            let (ok, detail) = match res {
                Err(e) => (e.kind() == ErrorKind::Config && took < Duration::from_secs(10), format!("{e} ({took:?})")),
                Ok(s) => {
                    let d = s.start_report().unwrap().devcontainer.clone();
                    s.stop().await.unwrap();
                    (false, format!("started: {d:?}"))
                }
            };
            rows.refused_if(probe, tried, ok, detail);
        }

        // Builds, allowed: the Dockerfile and context are the attacker's.
        let builder = {
            let mut c: Config = test_config(&t.scope);
            c.policy.allow_build = true;
            Sandbox::new(c)
        };
        let listener = Listener::start();
        let lport = listener.port;
        let host_ip = host_address().map(|i| i.to_string()).unwrap_or_else(|| "127.0.0.1".into());
        let trusted = config.default_image.clone();
        let bad_builds: Vec<(&str, String, String, Option<&str>, &str)> = vec![
            (
                "build_dockerfile_outside",
                "build.dockerfile ../../x/Dockerfile".into(),
                format!("FROM {trusted}\n"),
                Some(r#"{"build": {"dockerfile": "../../../../../../../../../tmp/Dockerfile"}}"#),
                "inside the working dir",
            ),
            (
                "build_context_outside",
                "build.context ../../..".into(),
                format!("FROM {trusted}\nCOPY etc/hostname /leak\n"),
                Some(r#"{"build": {"dockerfile": "Dockerfile", "context": "../../../../../../../.."}}"#),
                "inside the working dir",
            ),
            (
                "build_untrusted_base",
                "FROM docker.io/library/alpine:3.20".into(),
                "FROM docker.io/library/alpine:3.20\n".into(),
                None,
                "not trusted",
            ),
            (
                "build_base_from_arg",
                "ARG BASE / FROM ${BASE} with build.args BASE=untrusted".into(),
                "ARG BASE\nFROM ${BASE}\n".into(),
                Some(r#"{"build": {"dockerfile": "Dockerfile", "args": {"BASE": "docker.io/library/alpine:3.20"}}}"#),
                "build argument",
            ),
            (
                "build_copy_from_image",
                "COPY --from=docker.io/library/alpine:3.20".into(),
                format!("FROM {trusted}\nCOPY --from=docker.io/library/alpine:3.20 /etc /x\n"),
                None,
                "COPY --from",
            ),
            (
                "build_add_url",
                format!("ADD http://127.0.0.1:{lport}/ (fetched by podman on the host)"),
                format!("FROM {trusted}\nADD http://127.0.0.1:{lport}/secret /secret\n"),
                None,
                "ADD of a URL",
            ),
            (
                "build_add_git",
                "ADD git@host:repo.git".into(),
                format!("FROM {trusted}\nADD git@example.invalid:o/r.git /r\n"),
                None,
                "ADD of a URL",
            ),
            (
                "build_run_mount",
                "RUN --mount=type=bind,source=/,target=/h".into(),
                format!("FROM {trusted}\nRUN --mount=type=bind,source=/,target=/h cat /h/etc/shadow\n"),
                None,
                "--mount",
            ),
            (
                "build_run_mount_continued",
                "RUN \\ / --mount=type=cache on the next line".into(),
                format!("FROM {trusted}\nRUN \\\n  --mount=type=cache,target=/c true\n"),
                None,
                "--mount",
            ),
            (
                "build_run_network",
                "RUN --network=host".into(),
                format!("FROM {trusted}\nRUN --network=host wget http://127.0.0.1:{lport}/\n"),
                None,
                "--network",
            ),
            (
                "build_run_security",
                "RUN --security=insecure".into(),
                format!("FROM {trusted}\nRUN --security=insecure true\n"),
                None,
                "--security",
            ),
        ];
        for (probe, tried, dockerfile, file, words) in bad_builds {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join(".devcontainer")).unwrap();
            std::fs::write(dir.path().join(".devcontainer/Dockerfile"), &dockerfile).unwrap();
            write_devcontainer(dir.path(), file.unwrap_or(r#"{"build": {"dockerfile": "Dockerfile"}}"#));
            let s = builder.start(SessionSpec::new(unique_id(probe), dir.path()).devcontainer(true)).await.unwrap();
            let d = s.start_report().unwrap().devcontainer.clone().unwrap();
            s.stop().await.unwrap();
            if let Some(b) = &d.built_image {
                images.0.push(b.clone());
            }
            let why = reported(&d, "build").unwrap_or_default();
            rows.refused_if(probe, tried, d.built_image.is_none() && why.contains(words), why);
        }
        rows.refused_if(
            "build_add_url_fetch",
            format!("ADD http://127.0.0.1:{lport}/: did the host fetch it?"),
            listener.hits.load(Ordering::SeqCst) == 0,
            format!("{} connections to the host listener", listener.hits.load(Ordering::SeqCst)),
        );

        // An allowed build whose steps try to reach past it; the results are read from
        // the image it makes.
        let dir = tempfile::tempdir().unwrap();
        let dc = dir.path().join(".devcontainer");
        std::fs::create_dir_all(&dc).unwrap();
        std::fs::write(
            dc.join("Dockerfile"),
            format!(
                "FROM {trusted}\n\
                 RUN (nc -w 2 {host_ip} {lport} </dev/null && echo connected || echo no-connection) > /net-result\n\
                 RUN (mknod /tmp/mem c 1 1 && echo made || echo refused) > /mknod-result\n\
                 RUN grep CapEff /proc/self/status | cut -f2 > /caps\n\
                 RUN (mount -t tmpfs none /mnt && echo mounted || echo refused) > /mount-result\n"
            ),
        )
        .unwrap();
        write_devcontainer(
            dir.path(),
            r#"{"build": {"dockerfile": "Dockerfile", "options": ["--volume=/:/host", "--network=host"]}}"#,
        );
        let hits_before = listener.hits.load(Ordering::SeqCst);
        let s = builder.start(SessionSpec::new(unique_id("buildsteps"), dir.path()).devcontainer(true)).await.unwrap();
        let d = s.start_report().unwrap().devcontainer.clone().unwrap();
        let built = d.built_image.clone().expect("the allowed build ran");
        images.0.push(built.clone());
        let net = sh(&s, "cat /net-result").await;
        let hits = listener.hits.load(Ordering::SeqCst) - hits_before;
        rows.refused_if(
            "build_step_network",
            format!("RUN nc {host_ip}:{lport} (a host listener)"),
            net == "no-connection" && hits == 0,
            format!("{net}; {hits} connections"),
        );
        let mknod = sh(&s, "cat /mknod-result").await;
        rows.refused_if("build_step_mknod", "RUN mknod /tmp/mem c 1 1", mknod == "refused", mknod);
        let mount = sh(&s, "cat /mount-result").await;
        rows.refused_if("build_step_mount", "RUN mount -t tmpfs", mount == "refused", mount);
        let caps = sh(&s, "cat /caps").await;
        let mask = u64::from_str_radix(&caps, 16).unwrap_or(u64::MAX);
        let allowed: u64 = [0u32, 1, 3, 5, 6, 7, 10].iter().map(|b| 1u64 << b).sum();
        rows.refused_if(
            "build_step_caps",
            "RUN with more than the session's capabilities",
            mask & !allowed == 0,
            format!("CapEff {caps}"),
        );
        let options = ["--volume=/:/host", "--network=host"].iter().all(|o| d.refused.iter().any(|i| i.value == *o));
        rows.refused_if(
            "build_options",
            "build.options --volume=/:/host --network=host",
            options && sh(&s, "test -e /host && echo yes || echo no").await == "no",
            "refused; no /host in the image",
        );
        s.stop().await.unwrap();

        // COPY through a link in the context that points out of it.
        let dir = tempfile::tempdir().unwrap();
        let dc = dir.path().join(".devcontainer");
        std::fs::create_dir_all(&dc).unwrap();
        std::os::unix::fs::symlink("/etc", dc.join("hostetc")).unwrap();
        std::fs::write(dc.join("Dockerfile"), format!("FROM {trusted}\nCOPY hostetc/passwd /leak\n")).unwrap();
        write_devcontainer(dir.path(), r#"{"build": {"dockerfile": "Dockerfile"}}"#);
        let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        match builder.start(SessionSpec::new(unique_id("copylink"), dir.path()).devcontainer(true)).await {
            Err(e) => rows.refused_if(
                "build_copy_symlink_out",
                "COPY hostetc/passwd, hostetc -> /etc in the context",
                true,
                format!("the build failed: {}", e.to_string().lines().last().unwrap_or_default()),
            ),
            Ok(s) => {
                if let Some(b) = s.start_report().unwrap().devcontainer.clone().unwrap().built_image {
                    images.0.push(b);
                }
                let leak = sh(&s, "cat /leak 2>/dev/null").await;
                s.stop().await.unwrap();
                let escaped = !leak.is_empty() && leak.trim() == host_passwd.trim();
                rows.row(
                    "build_copy_symlink_out",
                    "COPY hostetc/passwd, hostetc -> /etc in the context",
                    if escaped { Outcome::Escaped } else { Outcome::Contained },
                    "the link resolved inside the context, not to the host's /etc/passwd",
                );
            }
        }

        // A build while another session runs in the same working dir (which could swap
        // the context for a link out of it mid-build).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".devcontainer")).unwrap();
        std::fs::write(dir.path().join(".devcontainer/Dockerfile"), format!("FROM {trusted}\n")).unwrap();
        write_devcontainer(dir.path(), r#"{"build": {"dockerfile": "Dockerfile"}}"#);
        let other = t.sandbox.start(SessionSpec::new(unique_id("racer"), dir.path())).await.unwrap();
        let s = builder.start(SessionSpec::new(unique_id("raced"), dir.path()).devcontainer(true)).await.unwrap();
        let d = s.start_report().unwrap().devcontainer.clone().unwrap();
        if let Some(b) = &d.built_image {
            images.0.push(b.clone());
        }
        let why = reported(&d, "build").unwrap_or_default();
        rows.refused_if(
            "build_with_a_session_running",
            "a build while another session runs in the working dir",
            d.built_image.is_none() && why.contains("already run"),
            why,
        );
        s.stop().await.unwrap();
        other.stop().await.unwrap();
    });
    drop(images);
    rows.finish(78);
    assert!(t.leftovers().is_empty());
}
