//! Probe family `cross_session`: two sessions A and B of the same user, default
//! configuration (bridge network with isolation), separate working dirs. Every channel
//! between them must be closed (network, control dirs, keyrings, SysV IPC, POSIX shm,
//! abstract unix sockets, signals and pids, /tmp, the filesystem, the hostname), and A
//! must not reach the host's own services or the host's other containers. Each channel
//! first gets a control that proves the probe works (the listener answers its own side,
//! the IPC object exists for its creator...), so "nothing arrived" means "closed", not
//! "the probe was broken".

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandbox_core::{ExecOptions, ExecOutput, Session, TaskSpec};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, free_port, rootless, run, unique_id};

const PROBE_SOURCE: &str = include_str!("../probes/channel_probe.c");

/// The port the plain (non-sandbox) container listens on.
const FOREIGN_PORT: u16 = 7777;

async fn sh(s: &Session, script: &str) -> ExecOutput {
    s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(90))).await.unwrap()
}

/// A plain podman container (no sandbox labels, no isolation) serving "hi" on
/// [`FOREIGN_PORT`]; removed on drop.
struct Foreign {
    podman: PathBuf,
    name: String,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = Command::new(&self.podman).args(["rm", "--force", "--time", "0", &self.name]).output();
    }
}

/// A listener on every host address (`[::]`, dual-stack, or `0.0.0.0`) that answers
/// "hi" and records every peer, until dropped.
struct HostListener {
    port: u16,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostListener {
    fn start() -> HostListener {
        let l = TcpListener::bind("[::]:0").or_else(|_| TcpListener::bind("0.0.0.0:0")).expect("host listener");
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peers.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, peer)) => {
                        p.lock().unwrap().push(peer);
                        let _ = c.write_all(b"hi\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HostListener { port, peers, stop, thread: Some(thread) }
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One `nc` attempt made from inside a session.
struct Try {
    target: String,
    got_hi: bool,
    said: String,
}

/// Connects from `s` to each target on `port` with `nc`, reading what comes back.
async fn connect_all(s: &Session, targets: &[String], port: u16) -> Vec<Try> {
    // All at once (a dropped attempt waits out its 2 s), printed in order.
    let mut script = String::from("d=$(mktemp -d)\n");
    for (i, t) in targets.iter().enumerate() {
        script.push_str(&format!("(nc -w 2 {t} {port} </dev/null >$d/{i} 2>&1; echo \"@@rc $?\" >>$d/{i}) &\n"));
    }
    script.push_str("wait\n");
    for (i, t) in targets.iter().enumerate() {
        script.push_str(&format!("echo '@@ {t}'; cat $d/{i}\n"));
    }
    script.push_str("rm -rf $d\n");
    let o = sh(s, &script).await;
    let text = o.stdout_lossy();
    assert!(!text.contains("nc: not found") && !text.contains("applet not found"), "nc missing: {text}");
    let mut out: Vec<Try> = Vec::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("@@ ") {
            out.push(Try { target: t.to_string(), got_hi: false, said: String::new() });
        } else if let Some(last) = out.last_mut() {
            if line.trim() == "hi" {
                last.got_hi = true;
            } else if line.starts_with("@@rc ") {
                // nc's exit status: "hi" (or its absence) is what counts.
            } else if !line.is_empty() {
                let said = line.strip_prefix("nc: ").unwrap_or(line);
                last.said = if last.said.is_empty() { said.to_string() } else { format!("{}; {said}", last.said) };
            }
        }
    }
    assert_eq!(out.len(), targets.len(), "nc attempts did not all run: {text}\n{}", o.stderr_lossy());
    out
}

fn summary(tries: &[Try]) -> String {
    tries
        .iter()
        .map(|t| format!("{} -> {}", t.target, if t.got_hi { "ANSWERED" } else { t.said.as_str() }))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The container's address on its network (empty for rootless slirp4netns, which gives
/// containers no address of their own on the host).
fn container_ip(podman: &Path, name: &str) -> Option<String> {
    let out = Command::new(podman)
        .args(["inspect", name, "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"])
        .output()
        .unwrap();
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!ip.is_empty() && ip.parse::<IpAddr>().is_ok()).then_some(ip)
}

/// Every non-loopback address of the host, from `ip -j addr`; link-local IPv6 ones with
/// `%IFACE` for the caller to replace with the session's interface.
fn host_addresses() -> Vec<String> {
    let out = Command::new("ip").args(["-j", "addr"]).output().expect("ip -j addr");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip json");
    let mut v = Vec::new();
    for link in links.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let Some(ip) = a["local"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) else { continue };
            if ip.is_loopback() {
                continue;
            }
            let shown = match ip {
                IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => format!("{ip}%IFACE"),
                _ => ip.to_string(),
            };
            if !v.contains(&shown) {
                v.push(shown);
            }
        }
    }
    v
}

/// The session's network interface (not `lo`) and its IPv6 link-local address.
async fn iface_and_link_local(s: &Session) -> (String, Option<String>) {
    let o = sh(s, "cat /proc/net/dev; echo @@; cat /proc/net/if_inet6 2>/dev/null").await;
    let text = o.stdout_lossy();
    let (dev, inet6) = text.split_once("@@").unwrap();
    let iface = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .find(|n| n != "lo")
        .unwrap_or_else(|| "eth0".into());
    let ll = inet6.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 6 && f[5] == iface && f[3] == "20")
            .then(|| u128::from_str_radix(f[0], 16).ok().map(|n| format!("{}%{iface}", Ipv6Addr::from(n))))
            .flatten()
    });
    (iface, ll)
}

/// Reads "hi" from a TCP address on the host, retrying for a while (a published port
/// takes a moment to be forwarded).
fn host_reads_hi(addr: SocketAddr) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            c.set_read_timeout(Some(Duration::from_secs(3))).ok();
            let mut s = String::new();
            let _ = c.read_to_string(&mut s);
            if s.contains("hi") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Host pid of the process whose command line holds `marker`.
fn host_pid_of(marker: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmd).replace('\0', " ").contains(marker) {
            return Some(pid);
        }
    }
    None
}

/// The tab-separated lines of the C probe's output.
fn lines(o: &ExecOutput) -> Vec<Vec<String>> {
    o.stdout_lossy().lines().map(|l| l.split('\t').map(String::from).collect()).collect()
}

fn field(lines: &[Vec<String>], key: &[&str]) -> Option<String> {
    lines
        .iter()
        .find(|l| l.len() > key.len() && key.iter().zip(l.iter()).all(|(k, f)| k == f))
        .map(|l| l[key.len()].clone())
}

#[test]
fn no_channel_between_two_sessions() {
    let t = TestScope::new("xsession");
    let dir_b = tempfile::tempdir().unwrap();
    let mut foreign: Option<Foreign> = None;
    run(Duration::from_secs(300), async {
        let mut rows = ProbeTable::new("cross_session");
        let mode = if rootless() { "rootless" } else { "rootful" };
        let podman = t.sandbox.config().podman.clone();
        let host = t.sandbox.info().await.unwrap();
        let n = std::process::id();

        let probe_a = sandbox_e2e::build_static_probe(t.dir.path(), "channel_probe", PROBE_SOURCE);
        let probe_b = dir_b.path().join("channel_probe");
        std::fs::copy(&probe_a, &probe_b).unwrap();
        let (probe_a, probe_b) = (probe_a.display().to_string(), probe_b.display().to_string());

        let (port_a, port_b) = (free_port(), free_port());
        let a = t.sandbox.start(t.spec("xs-a").ports([port_a])).await.unwrap();
        let b = t
            .sandbox
            .start(sandbox_core::SessionSpec::new(unique_id("xs-b"), dir_b.path()).ports([port_b]))
            .await
            .unwrap();
        assert_eq!(a.start_report().unwrap().ports_published, vec![port_a]);
        assert_eq!(b.start_report().unwrap().ports_published, vec![port_b]);

        // Listeners: B and A serve "hi" on their published ports, a plain container
        // serves it on its own address, the host on every address.
        for (s, p) in [(&a, port_a), (&b, port_b)] {
            s.spawn_task(TaskSpec::shell(format!("nc -ll -p {p} -e echo hi"))).await.unwrap();
        }
        let foreign_name = unique_id("sbx-probe-foreign");
        let mut args: Vec<String> =
            ["run", "-d", "--rm", "--pull=never", "--name", &foreign_name].iter().map(|s| s.to_string()).collect();
        if let Some(rt) = &host.runtime_override {
            args.extend(["--runtime".into(), rt.clone()]);
        }
        if let Some(u) = host.ulimits {
            args.extend(["--ulimit".into(), format!("nofile={0}:{0}", u.nofile)]);
            args.extend(["--ulimit".into(), format!("nproc={0}:{0}", u.nproc)]);
        }
        args.push(t.sandbox.config().default_image.clone());
        args.extend(["nc", "-ll", "-p", &FOREIGN_PORT.to_string(), "-e", "echo", "hi"].map(String::from));
        foreign = Some(Foreign { podman: podman.clone(), name: foreign_name.clone() });
        let started = Command::new(&podman).args(&args).output().unwrap();
        assert!(started.status.success(), "podman run: {}", String::from_utf8_lossy(&started.stderr));
        let listener = HostListener::start();

        // Controls: each listener answers where it should.
        for (s, p) in [(&a, port_a), (&b, port_b)] {
            let mut ok = false;
            for _ in 0..50 {
                if connect_all(s, &["127.0.0.1".into()], p).await[0].got_hi {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ok, "control: a session's listener does not answer its own loopback");
        }
        let published = tokio::task::spawn_blocking(move || {
            host_reads_hi(([127, 0, 0, 1], port_b).into()) && host_reads_hi(([127, 0, 0, 1], port_a).into())
        })
        .await
        .unwrap();
        assert!(published, "control: the published ports do not answer on the host's 127.0.0.1");
        let foreign_ip = container_ip(&podman, &foreign_name);
        let foreign_ok = match &foreign_ip {
            Some(ip) => {
                let addr = SocketAddr::new(ip.parse().unwrap(), FOREIGN_PORT);
                tokio::task::spawn_blocking(move || host_reads_hi(addr)).await.unwrap()
            }
            None => {
                let o = Command::new(&podman)
                    .args(["exec", &foreign_name, "nc", "-w", "2", "127.0.0.1", &FOREIGN_PORT.to_string()])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).contains("hi")
            }
        };
        assert!(foreign_ok, "control: the plain container's listener does not answer");
        let listener_addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), listener.port);
        let _ = TcpStream::connect_timeout(&listener_addr, Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!listener.peers.lock().unwrap().is_empty(), "control: the host listener does not accept");
        listener.peers.lock().unwrap().clear();

        // --- network: A -> B ---
        let (iface_a, ll_a) = iface_and_link_local(&a).await;
        let (iface_b, ll_b) = iface_and_link_local(&b).await;
        let ip_b = container_ip(&podman, b.container());
        let ip_a = container_ip(&podman, a.container());
        match &ip_b {
            Some(ip) => {
                let r = connect_all(&a, std::slice::from_ref(ip), port_b).await;
                rows.refused_if(
                    "net_a_to_b_ip",
                    format!("A connects to B's address {ip}:{port_b} (B listens on 0.0.0.0, port published)"),
                    !r[0].got_hi,
                    format!("no answer: {}", r[0].said),
                );
            }
            None => {
                let r = connect_all(&a, &["10.0.2.100".into()], port_b).await;
                rows.row(
                    "net_a_to_b_ip",
                    format!("A connects to B's address on port {port_b}"),
                    if r[0].got_hi { Outcome::Escaped } else { Outcome::Contained },
                    format!(
                        "{mode} slirp4netns: B has no address on any network A is on (each session has its own user-mode stack and network namespace; 10.0.2.100 is every session's own address): A -> 10.0.2.100:{port_b} -> {}",
                        if r[0].got_hi { "ANSWERED" } else { r[0].said.as_str() }
                    ),
                );
            }
        }
        match &ll_b {
            Some(ll) => {
                let target = ll.replace(&format!("%{iface_b}"), &format!("%{iface_a}"));
                let r = connect_all(&a, std::slice::from_ref(&target), port_b).await;
                rows.refused_if(
                    "net_a_to_b_link_local",
                    format!("A connects to B's IPv6 link-local address {target} port {port_b}"),
                    !r[0].got_hi,
                    format!("no answer: {}", r[0].said),
                );
            }
            None => {
                rows.row(
                    "net_a_to_b_link_local",
                    "A connects to B's IPv6 link-local address",
                    Outcome::Contained,
                    format!(
                        "B's interface {iface_b} has no IPv6 link-local address in {mode} mode: nothing to connect to"
                    ),
                );
            }
        }
        let mut host_targets: Vec<String> =
            host_addresses().into_iter().map(|t| t.replace("%IFACE", &format!("%{iface_a}"))).collect();
        for gw in ["10.88.0.1", "10.0.2.2"] {
            if !host_targets.iter().any(|t| t == gw) {
                host_targets.push(gw.into());
            }
        }
        for r in connect_all(&a, &host_targets, port_b).await {
            rows.refused_if(
                "net_a_to_b_published",
                format!("A connects to B's published port via the host's {}:{port_b}", r.target),
                !r.got_hi,
                format!("no answer: {}", r.said),
            );
        }
        let r = connect_all(&a, &["127.0.0.1".into()], port_b).await;
        rows.refused_if(
            "net_a_to_b_published_lo",
            format!("A connects to 127.0.0.1:{port_b}, where the host publishes B's port"),
            !r[0].got_hi,
            format!("A's 127.0.0.1 is its own loopback: {}", r[0].said),
        );

        // --- network: A -> the host's other containers ---
        match &foreign_ip {
            Some(ip) => {
                let r = connect_all(&a, std::slice::from_ref(ip), FOREIGN_PORT).await;
                rows.refused_if(
                    "net_a_to_plain_container",
                    format!("A connects to a plain podman container at {ip}:{FOREIGN_PORT} (the host reaches it)"),
                    !r[0].got_hi,
                    format!("no answer: {}", r[0].said),
                );
            }
            None => {
                let mut targets = host_targets.clone();
                targets.push("10.0.2.100".into());
                let r = connect_all(&a, &targets, FOREIGN_PORT).await;
                let answered = r.iter().any(|t| t.got_hi);
                rows.row(
                    "net_a_to_plain_container",
                    format!("A connects to a plain podman container listening on {FOREIGN_PORT}"),
                    if answered { Outcome::Escaped } else { Outcome::Contained },
                    format!(
                        "{mode} slirp4netns: the plain container has no address on any network A is on; tried the host's addresses and 10.0.2.100: {}",
                        summary(&r)
                    ),
                );
            }
        }

        // --- network: A -> the host's own services ---
        for r in connect_all(&a, &host_targets, listener.port).await {
            rows.refused_if(
                "net_a_to_host",
                format!("A connects to a host service on [::]/0.0.0.0 via {}:{}", r.target, listener.port),
                !r.got_hi,
                format!("no answer: {}", r.said),
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let peers = listener.peers.lock().unwrap().clone();
        rows.refused_if(
            "net_a_to_host_seen",
            "(host side) the listener on every host address saw a connection from A",
            peers.is_empty(),
            if peers.is_empty() { "no connection arrived".to_string() } else { format!("connections from {peers:?}") },
        );

        // --- network: B -> A ---
        let mut b_targets: Vec<String> = Vec::new();
        if let Some(ip) = &ip_a {
            b_targets.push(ip.clone());
        } else {
            b_targets.push("10.0.2.100".into());
        }
        if let Some(ll) = &ll_a {
            b_targets.push(ll.replace(&format!("%{iface_a}"), &format!("%{iface_b}")));
        }
        b_targets.extend(host_addresses().into_iter().map(|t| t.replace("%IFACE", &format!("%{iface_b}"))));
        for gw in ["10.88.0.1", "10.0.2.2", "127.0.0.1"] {
            if !b_targets.iter().any(|t| t == gw) {
                b_targets.push(gw.into());
            }
        }
        let r = connect_all(&b, &b_targets, port_a).await;
        let answered = r.iter().any(|t| t.got_hi);
        rows.refused_if(
            "net_b_to_a",
            format!(
                "B connects to A's published port {port_a} via A's address{}, A's link-local, the host's addresses and gateways",
                ip_a.as_ref().map(|i| format!(" {i}")).unwrap_or_else(|| " (none: slirp4netns; tried 10.0.2.100)".into())
            ),
            !answered,
            summary(&r),
        );

        // --- control dirs ---
        let task_a = a.spawn_task(TaskSpec::shell("sleep 600")).await.unwrap();
        let marker = format!("sbx-mark-{n}");
        let task_b = b.spawn_task(TaskSpec::shell(format!("sleep 600; : {marker}"))).await.unwrap();
        let o = sh(&a, "ls -a /.sandbox; echo @@; ls /.sandbox/tasks").await;
        let text = o.stdout_lossy();
        let (top, tasks) = text.split_once("@@").unwrap();
        let allowed = [".", "..", "agent.sock", "agent.lock", "agent.exit", "tasks", "terminals"];
        let strangers: Vec<&str> = top.split_whitespace().filter(|e| !allowed.contains(e)).collect();
        assert!(tasks.contains(task_a.id()), "control: A's own task is not in A's /.sandbox/tasks: {text}");
        rows.refused_if(
            "control_dir_own_only",
            "A lists /.sandbox and /.sandbox/tasks",
            strangers.is_empty() && !tasks.contains(task_b.id()),
            format!(
                "only A's files (agent.sock, agent.lock, tasks, terminals; A's task {} listed), not B's task {}{}",
                task_a.id(),
                task_b.id(),
                if strangers.is_empty() { String::new() } else { format!("; STRANGE ENTRIES {strangers:?}") }
            ),
        );
        let b_shared = b.control_dir().join("shared");
        let o = sh(&a, &format!("ls -la {0}/agent.sock {0} {1}", b_shared.display(), b.control_dir().display())).await;
        let b_path_missing = !o.success() && o.stdout_lossy().trim().is_empty();
        let script = "ls -laR /run /.sandbox 2>&1; ls -la /run/sandbox /run/user /var/run 2>&1; \
             ls -la /proc/[0-9]*/root/.sandbox/tasks/ 2>&1; \
             find / -path /proc -prune -o -name agent.sock -print 2>/dev/null; echo @@; \
             stat -L -c %i /.sandbox/agent.sock /proc/[0-9]*/root/.sandbox/agent.sock 2>/dev/null | sort -u";
        let o = sh(&a, script).await;
        let text = o.stdout_lossy();
        let (listing, inodes) = text.split_once("@@").unwrap();
        let sockets: Vec<&str> = listing.lines().filter(|l| l.ends_with("agent.sock") && l.starts_with('/')).collect();
        let b_visible = listing.contains(task_b.id()) || listing.contains(b.id());
        let one_inode = inodes.split_whitespace().count() == 1;
        rows.refused_if(
            "control_dir_find_b",
            format!(
                "A looks for B's control dir and socket: B's host path {}, /run, /run/sandbox, /run/user, /proc/*/root/.sandbox, every agent.sock on its filesystem",
                b_shared.join("agent.sock").display()
            ),
            b_path_missing && !b_visible && one_inode && sockets == ["/.sandbox/agent.sock"],
            format!(
                "B's host path {} in A; the only agent.sock is A's own ({sockets:?}, {} distinct inode(s) through /proc/*/root); B's id and task id appear in no listing{}",
                if b_path_missing { "does not exist" } else { "EXISTS" },
                inodes.split_whitespace().count(),
                if b_visible { " -- BUT THEY DO" } else { "" }
            ),
        );

        // --- keyrings ---
        let o = a.exec(&[probe_a.as_str(), "keyring"], ExecOptions::new()).await.unwrap();
        let l = lines(&o);
        for call in ["add_key", "keyctl", "request_key"] {
            let got = field(&l, &[call]).unwrap_or_else(|| panic!("no {call} line: {}", o.stdout_lossy()));
            rows.refused_if(
                format!("keyring_{call}"),
                format!("A calls {call} (the kernel keyrings are per user, not per session)"),
                matches!(got.as_str(), "ENOSYS" | "EPERM" | "EACCES"),
                got,
            );
        }

        // --- SysV IPC ---
        let key = format!("{:#x}", 0x5b00_0000u32 | (n & 0xffff));
        let o = a.exec(&[probe_a.as_str(), "ipc-create", &key], ExecOptions::new()).await.unwrap();
        let la = lines(&o);
        let o = b.exec(&[probe_b.as_str(), "ipc-open", &key], ExecOptions::new()).await.unwrap();
        let lb = lines(&o);
        for kind in ["shm", "msg", "sem"] {
            let created = field(&la, &[kind, "create"]).unwrap_or_default();
            let own = field(&la, &[kind, "open"]).unwrap_or_default();
            assert_eq!((created.as_str(), own.as_str()), ("OK", "OK"), "control: A cannot make its own SysV {kind}");
            let got = field(&lb, &[kind, "open"]).unwrap_or_default();
            rows.refused_if(
                format!("sysv_{kind}"),
                format!("A creates a SysV {kind} with key {key}; B opens that key"),
                got == "ENOENT",
                format!("B: {got} (separate IPC namespaces; A opens its own: {own})"),
            );
        }

        // --- POSIX shm ---
        let shm = format!("/dev/shm/sbx-probe-{n}");
        let o = sh(&a, &format!("echo from-a > {shm} && cat {shm}")).await;
        assert!(o.stdout_lossy().contains("from-a"), "control: A cannot use {shm}: {o:?}");
        let o = sh(&b, &format!("cat {shm}")).await;
        rows.refused_if(
            "posix_shm",
            format!("A writes {shm}; B reads it"),
            !o.success() && !o.stdout_lossy().contains("from-a"),
            format!("B: {} (each container has its own /dev/shm)", o.stderr_lossy().trim()),
        );

        // --- abstract unix sockets ---
        let name = format!("sbx-probe-{n}");
        a.spawn_task(TaskSpec::argv([probe_a.as_str(), "abstract-listen", &name, "120"])).await.unwrap();
        let mut own = String::new();
        for _ in 0..50 {
            let o = a.exec(&[probe_a.as_str(), "abstract-connect", &name], ExecOptions::new()).await.unwrap();
            own = o.stdout_lossy();
            if own.contains("OK\thi") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(own.contains("OK\thi"), "control: A cannot reach its own abstract socket: {own}");
        let o = b.exec(&[probe_b.as_str(), "abstract-connect", &name], ExecOptions::new()).await.unwrap();
        let got = field(&lines(&o), &["connect"]).unwrap_or_default();
        rows.refused_if(
            "abstract_unix_socket",
            format!("A listens on the abstract unix socket @{name}; B connects"),
            got != "OK",
            format!("B: {got} (abstract sockets belong to the network namespace; A reaches its own)"),
        );

        // --- signals and pids ---
        let host_pid = host_pid_of(&marker);
        let b_pid = task_b.initial_info().unwrap().pid.to_string();
        let mut args: Vec<String> = vec![probe_b.clone(), "pids".into(), "sbx-mark".into(), n.to_string()];
        let o = b.exec(&args, ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap();
        assert_eq!(
            field(&lines(&o), &["marker"]).as_deref(),
            Some("1"),
            "control: B does not see its own marked process"
        );
        args[0] = probe_a.clone();
        args.push(b_pid.clone());
        if let Some(p) = host_pid {
            args.push(p.to_string());
        }
        let o = a.exec(&args, ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap();
        let l = lines(&o);
        let visible = field(&l, &["visible"]).unwrap_or_default();
        rows.refused_if(
            "pids_visible",
            "A scans every pid (kill 0 on 1..pid_max) and reads their /proc/<pid>/cmdline for B's marked process",
            field(&l, &["marker"]).as_deref() == Some("0"),
            format!(
                "A sees {visible} pids, none of them B's marked process, which B itself sees (separate pid namespaces)"
            ),
        );
        let killed = l.iter().any(|f| f.first().is_some_and(|k| k == "kill9"));
        let b_alive = b.task(task_b.id()).info().await.unwrap().state.is_running();
        rows.refused_if(
            "pids_signal_b",
            format!(
                "A signals B's marked process by its pid in B ({b_pid}) and on the host ({})",
                host_pid.map(|p| p.to_string()).unwrap_or_else(|| "not found".into())
            ),
            !killed && b_alive,
            format!(
                "kill 0: B's pid {} ({}), host pid {}; B's process still runs",
                field(&l, &["kill0", b_pid.as_str()]).unwrap_or_default(),
                "a number A's own processes may also use; it is not B's",
                host_pid.and_then(|p| field(&l, &["kill0", &p.to_string()])).unwrap_or_else(|| "-".into())
            ),
        );

        // --- /tmp, the image's filesystem, the working dirs, the agent binary ---
        let o = sh(&a, &format!("echo from-a > /tmp/sbx-probe-{n} && cat /tmp/sbx-probe-{n}")).await;
        assert!(o.stdout_lossy().contains("from-a"), "control: A cannot write /tmp");
        let o = sh(&b, &format!("cat /tmp/sbx-probe-{n}")).await;
        rows.refused_if(
            "tmp",
            format!("A writes /tmp/sbx-probe-{n}; B reads it"),
            !o.success(),
            format!("B: {} (each session has its own /tmp tmpfs)", o.stderr_lossy().trim()),
        );
        let o = sh(&a, &format!("echo from-a > /etc/sbx-probe-{n}; echo from-a > /bin/sbx-probe-{n}; true")).await;
        let a_wrote = o.stderr_lossy();
        let o = sh(&b, &format!("cat /etc/sbx-probe-{n} /bin/sbx-probe-{n}")).await;
        rows.refused_if(
            "image_fs",
            "A writes into the image's /etc and /bin; B reads them",
            !o.stdout_lossy().contains("from-a"),
            format!(
                "B sees neither (each container has its own writable layer; A: {})",
                if a_wrote.trim().is_empty() { "wrote both" } else { a_wrote.trim() }
            ),
        );
        let a_dir = std::fs::canonicalize(t.dir.path()).unwrap();
        std::fs::write(a_dir.join("a-file"), "from-a").unwrap();
        let o = sh(&b, &format!("cat {}/a-file; ls {}", a_dir.display(), a_dir.display())).await;
        rows.refused_if(
            "working_dir",
            format!("B reads A's working dir {}", a_dir.display()),
            !o.stdout_lossy().contains("from-a"),
            format!(
                "B: {} (only B's own working dir is mounted; two sessions on the SAME working dir share it by design)",
                o.stderr_lossy().lines().next().unwrap_or_default()
            ),
        );
        // chmod to its own mode changes nothing, but succeeds only on a writable mount.
        let o = sh(&a, "(: >> /.sandbox-agent); echo \"open=$?\"; chmod 755 /.sandbox-agent; echo \"chmod=$?\"").await;
        let text = o.stdout_lossy();
        rows.refused_if(
            "agent_binary",
            "A opens the agent binary every session runs (/.sandbox-agent) for writing, and changes its mode",
            text.contains("open=1") && text.contains("chmod=1"),
            format!(
                "{} (a read-only bind mount of the host's cached file)",
                o.stderr_lossy().trim().replace('\n', "; ")
            ),
        );

        // --- hostname ---
        let before = sh(&b, "hostname").await.stdout_lossy().trim().to_string();
        let o = sh(&a, &format!("hostname sbx-probe-{n}")).await;
        let after = sh(&b, "hostname").await.stdout_lossy().trim().to_string();
        rows.refused_if(
            "hostname",
            "A sets the hostname",
            !o.success() && before == after,
            format!("A: {}; B's hostname unchanged ({after}; separate UTS namespaces)", o.stderr_lossy().trim()),
        );

        a.stop().await.unwrap();
        b.stop().await.unwrap();
        drop(listener);
        rows.finish(30);
    });
    drop(foreign);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
