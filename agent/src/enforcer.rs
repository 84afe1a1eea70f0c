//! The egress enforcer: `sandbox-agent enforce --dir <control dir>`, run on the host
//! (not in the container) by the session's `start`. It listens on the socket the
//! agent's proxy port relays to, reads each connection's target from its `CONNECT` line
//! or absolute-form request (and, in a tunnel, from the TLS ClientHello), judges it by
//! the session's policy, resolves names itself, refuses non-public addresses that no
//! address rule allows, connects, and records the decision. Everything that arrives is
//! treated as hostile: the code in the container can reach this socket directly.
//!
//! The process outlives the caller that started it, as the session does: the launcher
//! (the command as run) starts the daemon in its own process group, waits until it
//! listens, prints `ready <pid>` and exits. The daemon stops on SIGTERM, or by itself
//! once the session's control dir is removed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandbox_proto::egress::{self, Decision, EgressPolicy};
use sandbox_proto::layout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::egress_relay::pump;
use crate::http_head::{self, Head};
use crate::intercept::{Prefixed, Redactor, Secrets, Tls, pump_redacted, upstream_head};
use crate::peer;
use crate::tls_hello::{self, Hello};
use crate::zero_copy;

/// Most connections handled at once; beyond it a connection is answered 503.
const MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to send its request head, or its ClientHello.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to one address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The decision log is rotated (one old file kept) past this size.
const LOG_ROTATE: u64 = 4 * 1024 * 1024;
/// How long the launcher waits for the daemon to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// `enforce --dir <d> [--daemon]`.
pub fn main(args: &[String]) -> ExitCode {
    let (dir, daemon) = match args {
        [flag, d] if flag == "--dir" => (PathBuf::from(d), false),
        [flag, d, m] if flag == "--dir" && m == "--daemon" => (PathBuf::from(d), true),
        _ => {
            eprintln!("usage: sandbox-agent enforce --dir <session control dir>");
            return ExitCode::from(2);
        }
    };
    if daemon { run_daemon(&dir) } else { launch(&dir) }
}

/// Starts the daemon detached and reports its pid once it listens.
fn launch(dir: &Path) -> ExitCode {
    let fail = |why: String| {
        eprintln!("sandbox-agent enforce: {why}");
        ExitCode::FAILURE
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find its own binary: {e}")),
    };
    let errors = match File::create(dir.join(layout::ENFORCER_ERR)) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot write in {}: {e}", dir.display())),
    };
    let mut child = match Command::new(exe)
        .arg("enforce")
        .arg("--dir")
        .arg(dir)
        .arg("--daemon")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(errors)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    // The credentials' values (JSON), handed on through a pipe: never on disk, never in
    // an argument or the environment of the daemon.
    if let Some(mut to_daemon) = child.stdin.take() {
        let mut secrets = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut secrets);
        let _ = to_daemon.write_all(&secrets);
    }
    let Some(out) = child.stdout.take() else { return fail("no pipe to the daemon".into()) };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) if line.starts_with("ready ") => {
            print!("{line}");
            ExitCode::SUCCESS
        }
        Ok(_) => {
            let _ = child.wait();
            let why = std::fs::read_to_string(dir.join(layout::ENFORCER_ERR)).unwrap_or_default();
            fail(format!("the daemon stopped before it listened: {}", why.trim()))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            fail(format!("the daemon did not listen within {} s", READY_TIMEOUT.as_secs()))
        }
    }
}

fn run_daemon(dir: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sandbox-agent enforce: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox-agent enforce: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What every connection of the enforcer shares.
struct Shared {
    policy: PolicyFile,
    log: Log,
    own: OwnAddresses,
    /// The credentials' values, by credential key.
    secrets: Secrets,
    /// The session CA, when the policy injects credentials.
    tls: Option<Tls>,
}

async fn serve(dir: &Path) -> std::io::Result<()> {
    let policy_path = dir.join(layout::EGRESS_POLICY);
    let policy = PolicyFile::new(policy_path.clone());
    let first = policy.current().map_err(std::io::Error::other)?;
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw)?;
    let secrets: Secrets = if raw.is_empty() {
        Secrets::new()
    } else {
        let text: HashMap<String, String> = serde_json::from_slice(&raw).map_err(std::io::Error::other)?;
        text.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
    };
    drop(raw);
    let tls = match first.credentials.is_empty() {
        true => None,
        false => Some(Tls::load_or_create(dir, &first.upstream_ca_files).map_err(std::io::Error::other)?),
    };
    // Bind under a private name, then move it into the shared dir: the container can
    // write there, but never sees a half-made socket or makes this follow a link.
    let private = dir.join(format!("{}.tmp", layout::EGRESS_SOCKET));
    let _ = std::fs::remove_file(&private);
    let listener = UnixListener::bind(&private)?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o666))?;
    let socket = dir.join(layout::SHARED_DIR).join(layout::EGRESS_SOCKET);
    std::fs::rename(&private, &socket)?;
    let pid = std::process::id();
    std::fs::write(dir.join(layout::ENFORCER_PID), format!("{pid}\n"))?;
    let shared = Arc::new(Shared { policy, log: Log::open(dir)?, own: OwnAddresses::default(), secrets, tls });
    tokio::spawn(deliver(dir.to_path_buf(), shared.log.unsent.clone()));
    // Forwarded ports: listened on before reporting ready, so the start report can say
    // which ones the host gave.
    let mut forwarded = Vec::new();
    for port in forward_ports(dir) {
        match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                forwarded.push((port, tokio::net::TcpListener::from_std(l)?));
            }
            Err(e) => eprintln!("sandbox-agent enforce: cannot listen on 127.0.0.1:{port}: {e}"),
        }
    }
    let list: Vec<String> = forwarded.iter().map(|(p, _)| p.to_string()).collect();
    for (port, listener) in forwarded {
        tokio::spawn(serve_forwarded(port, listener, dir.to_path_buf()));
    }
    println!("ready {pid} {}", if list.is_empty() { "-".to_string() } else { list.join(",") });
    let _ = std::io::stdout().flush();

    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut check = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tokio::spawn(async move {
                        let mut s = stream;
                        let _ = s.write_all(&refusal(503, "too many connections through the proxy")).await;
                    });
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    handle(stream, &shared).await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = check.tick() => {
                // The session is gone (stop or reap removed its control dir).
                if !policy_path.exists() {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(dir.join(layout::ENFORCER_PID));
    Ok(())
}

/// The ports to forward, from the host-private control dir (none when it is absent).
fn forward_ports(dir: &Path) -> Vec<u16> {
    let text = std::fs::read_to_string(dir.join(layout::FORWARD_PORTS)).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().parse::<u16>().ok()).filter(|p| *p > 0).collect()
}

/// Carries each connection to host 127.0.0.1:`port` to the same port inside the session,
/// through the agent's forwarding socket.
async fn serve_forwarded(port: u16, listener: tokio::net::TcpListener, dir: PathBuf) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let dir = dir.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = client.set_nodelay(true);
            let Ok(agent) = connect_forward(&dir, port).await else { return };
            let _ = zero_copy::splice(&client, &agent).await;
        });
    }
}

/// Connects to the agent's forwarding socket and asks for `port`.
async fn connect_forward(dir: &Path, port: u16) -> std::io::Result<UnixStream> {
    connect_agent(dir, &port.to_string()).await
}

/// Connects to the agent's forwarding socket in the shared dir (as
/// [`peer::connect_own`] does: no link followed, the listener must run this binary),
/// sends `first` as the first line and waits for the agent's `ok`.
async fn connect_agent(dir: &Path, first: &str) -> std::io::Result<UnixStream> {
    let mut stream = peer::connect_own(&dir.join(layout::SHARED_DIR), layout::FORWARD_SOCKET).await?;
    stream.write_all(format!("{first}\n").as_bytes()).await?;
    let mut reply = Vec::new();
    let mut b = [0u8; 1];
    while reply.len() < 512 {
        if stream.read(&mut b).await? == 0 {
            break;
        }
        if b[0] == b'\n' {
            break;
        }
        reply.push(b[0]);
    }
    if reply != b"ok" {
        return Err(std::io::Error::other(String::from_utf8_lossy(&reply).into_owned()));
    }
    Ok(stream)
}

/// The policy file, read again whenever it changed (a live change applies to the next
/// connection). An unreadable or invalid policy refuses everything.
struct PolicyFile {
    path: PathBuf,
    cached: Mutex<Option<(SystemTime, u64, Arc<EgressPolicy>)>>,
}

impl PolicyFile {
    fn new(path: PathBuf) -> PolicyFile {
        PolicyFile { path, cached: Mutex::new(None) }
    }

    fn current(&self) -> Result<Arc<EgressPolicy>, String> {
        let meta = std::fs::metadata(&self.path).map_err(|e| format!("policy {}: {e}", self.path.display()))?;
        let stamp = (meta.modified().unwrap_or(UNIX_EPOCH), meta.len());
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((m, l, p)) = cached.as_ref()
            && (*m, *l) == stamp
        {
            return Ok(p.clone());
        }
        let text = std::fs::read(&self.path).map_err(|e| format!("policy: {e}"))?;
        let policy: EgressPolicy = serde_json::from_slice(&text).map_err(|e| format!("policy: {e}"))?;
        policy.validate().map_err(|e| format!("policy: {e}"))?;
        let policy = Arc::new(policy);
        *cached = Some((stamp.0, stamp.1, policy.clone()));
        Ok(policy)
    }
}

/// The decision log: JSON lines, appended, one old file kept. Each decision is also
/// queued for the session's agent, which records it as a network event (see
/// [`deliver`]).
struct Log {
    path: PathBuf,
    file: Mutex<File>,
    unsent: Arc<Unsent>,
}

/// Decisions not yet delivered to the agent, oldest first, at most [`MAX_UNSENT`].
#[derive(Default)]
struct Unsent {
    lines: Mutex<std::collections::VecDeque<Vec<u8>>>,
    more: tokio::sync::Notify,
}

/// Most decisions kept for the agent while it cannot take them (the log keeps all).
const MAX_UNSENT: usize = 10_000;

impl Log {
    fn open(dir: &Path) -> std::io::Result<Log> {
        let path = dir.join(layout::EGRESS_LOG);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Log { path, file: Mutex::new(file), unsent: Arc::default() })
    }

    fn record(&self, d: &Decision) {
        let Ok(mut line) = serde_json::to_vec(d) else { return };
        line.push(b'\n');
        {
            let mut unsent = self.unsent.lines.lock().unwrap_or_else(|p| p.into_inner());
            if unsent.len() >= MAX_UNSENT {
                unsent.pop_front();
            }
            unsent.push_back(line.clone());
        }
        self.unsent.more.notify_one();
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.metadata().is_ok_and(|m| m.len() + line.len() as u64 > LOG_ROTATE) {
            let old = self.path.with_file_name(layout::EGRESS_LOG_OLD);
            let _ = std::fs::rename(&self.path, old);
            match std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                Ok(f) => *file = f,
                // Bounded even then: start the file in hand over.
                Err(_) => {
                    let _ = file.set_len(0);
                }
            }
        }
        let _ = file.write_all(&line);
    }
}

/// Delivers the queued decisions to the session's agent, in order, over one
/// connection to its forwarding socket (made again when it breaks: the agent restarted,
/// or was not up yet). A decision leaves the queue once written.
async fn deliver(dir: PathBuf, unsent: Arc<Unsent>) {
    let mut agent: Option<UnixStream> = None;
    loop {
        let next = unsent.lines.lock().unwrap_or_else(|p| p.into_inner()).front().cloned();
        let Some(line) = next else {
            unsent.more.notified().await;
            continue;
        };
        if agent.is_none() {
            match connect_agent(&dir, egress::DECISIONS_LINE).await {
                Ok(a) => agent = Some(a),
                Err(_) => {
                    // Not there (yet): wait for the agent, or for more to send.
                    let _ = tokio::time::timeout(Duration::from_millis(500), unsent.more.notified()).await;
                    continue;
                }
            }
        }
        let Some(a) = agent.as_mut() else { continue };
        match a.write_all(&line).await {
            Ok(()) => {
                let mut queue = unsent.lines.lock().unwrap_or_else(|p| p.into_inner());
                if queue.front() == Some(&line) {
                    queue.pop_front();
                }
            }
            Err(_) => agent = None,
        }
    }
}

/// The host's own addresses (a connection to one reaches services listening on all
/// interfaces), read from /proc at most once a few seconds.
#[derive(Default)]
struct OwnAddresses(Mutex<Option<(Instant, Vec<IpAddr>)>>);

impl OwnAddresses {
    fn contains(&self, a: IpAddr) -> bool {
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_none_or(|(at, _)| at.elapsed() > Duration::from_secs(5)) {
            *cached = Some((Instant::now(), read_own_addresses()));
        }
        cached.as_ref().is_some_and(|(_, list)| list.contains(&egress::canonical(a)))
    }
}

/// Local IPv4 addresses from the FIB (`/32 host LOCAL` entries) and IPv6 ones from
/// `if_inet6`.
fn read_own_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<IpAddr> = None;
        for line in trie.lines() {
            let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
            if let Ok(a) = t.parse::<IpAddr>() {
                last = Some(a);
            } else if t.starts_with("/32 host LOCAL")
                && let Some(a) = last
                && !out.contains(&a)
            {
                out.push(a);
            }
        }
    }
    if let Ok(v6) = std::fs::read_to_string("/proc/net/if_inet6") {
        for line in v6.lines() {
            let Some(hex) = line.split_whitespace().next() else { continue };
            if let Ok(n) = u128::from_str_radix(hex, 16) {
                out.push(IpAddr::V6(std::net::Ipv6Addr::from(n)));
            }
        }
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn refusal(code: u16, why: &str) -> Vec<u8> {
    let status = match code {
        400 => "400 Bad Request",
        403 => "403 Forbidden",
        502 => "502 Bad Gateway",
        503 => "503 Service Unavailable",
        _ => "500 Internal Server Error",
    };
    let body = format!("sandbox egress: {why}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What one connection asked for.
struct Ask {
    host: String,
    port: u16,
    via: &'static str,
    /// Who opened the connection, when known.
    process: Option<String>,
}

impl Ask {
    fn decision(&self, allowed: bool, address: Option<IpAddr>, reason: Option<String>) -> Decision {
        Decision {
            time_ms: now_ms(),
            host: self.host.clone(),
            port: self.port,
            address,
            via: self.via.into(),
            allowed,
            reason,
            process: self.process.clone(),
            injected: None,
            bytes_out: 0,
            bytes_in: 0,
        }
    }
}

/// Answers a refusal and closes so that the client reads it: the write side first, then
/// what the client is still sending is read away for a moment (closing with unread input
/// would reset the connection and lose the answer).
async fn refuse(mut client: UnixStream, code: u16, why: &str) {
    if client.write_all(&refusal(code, why)).await.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let mut sink = [0u8; 16384];
    let drain = async {
        let mut left = 1 << 20;
        while left > 0 {
            match client.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left -= n.min(left),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Who opened a connection: from the agent's preamble when the peer runs the agent
/// binary (the relay), else the peer process itself (something in the session that used
/// the socket directly).
async fn who_connected(client: &mut UnixStream, buf: &mut Vec<u8>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let pid = client.peer_cred().ok()?.pid()?;
    let peer = std::fs::metadata(format!("/proc/{pid}/exe")).ok();
    let me = std::fs::metadata("/proc/self/exe").ok();
    let relay = matches!((&peer, &me), (Some(p), Some(m)) if (p.dev(), p.ino()) == (m.dev(), m.ino()));
    if !relay {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return Some(format!("direct: {}", printable(comm.trim())));
    }
    // The preamble line; what comes after it in the same reads stays in `buf` for the
    // request head. One deadline for all of it.
    let read_line = async {
        let mut chunk = [0u8; 4096];
        while !buf.contains(&b'\n') && buf.len() < 256 {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    };
    if !tokio::time::timeout(HEAD_TIMEOUT, read_line).await.unwrap_or(false) {
        return None;
    }
    let end = buf.iter().position(|b| *b == b'\n')?;
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut words = text.split(' ');
    if words.next() != Some(egress::RELAY_PREAMBLE) {
        // Not a preamble: the bytes are the request itself.
        return None;
    }
    buf.drain(..=end);
    match (words.next(), words.next()) {
        (Some(pid), Some(name)) if pid != "-" && pid.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("{pid} {}", printable(name)))
        }
        _ => None,
    }
}

/// A process name as it may be logged: printable ASCII, at most 32 characters.
fn printable(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).take(32).collect()
}

async fn handle(mut client: UnixStream, shared: &Shared) {
    let (policy, log, own) = (&shared.policy, &shared.log, &shared.own);
    let mut buf = Vec::with_capacity(2048);
    let process = who_connected(&mut client, &mut buf).await;
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client, &mut buf)).await {
        Ok(Ok(h)) => h,
        Ok(Err(why)) => return refuse(client, 400, why).await,
        Err(_) => return,
    };
    let (ask, path) = match what_is_asked(&head) {
        Ok(a) => a,
        Err(why) => return refuse(client, 400, &why).await,
    };
    let ask = Ask { process, ..ask };
    let judged = match policy.current() {
        Ok(p) => judge(&p, &ask.host, ask.port, own).await.map(|a| (p, a)),
        Err(e) => Err(format!("no usable policy ({e})")),
    };
    let (policy, addrs) = match judged {
        Ok(j) => j,
        Err(why) => {
            log.record(&ask.decision(false, None, Some(why.clone())));
            return refuse(client, 403, &why).await;
        }
    };
    let (upstream, address) = match connect(&addrs).await {
        Ok(u) => u,
        Err(e) => {
            log.record(&ask.decision(false, None, Some(format!("connect failed: {e}"))));
            return refuse(client, 502, &format!("cannot connect to {}:{}: {e}", ask.host, ask.port)).await;
        }
    };
    // A credential for this host: its value must be at hand, or the request is refused
    // (never sent without what the user meant it to carry).
    let inject = match policy.credentials.iter().find(|c| c.host == ask.host) {
        None => None,
        Some(c) => match (shared.secrets.get(&c.key()), &shared.tls) {
            (Some(v), Some(tls)) => Some(Inject { header: c.header.clone(), value: v.clone(), tls }),
            _ => {
                let why = format!(
                    "the credential for {} ({}) is not available to the enforcer: restart the network from a process that has it",
                    ask.host, c.header
                );
                log.record(&ask.decision(false, None, Some(why.clone())));
                return refuse(client, 403, &why).await;
            }
        },
    };
    // Over plain HTTP a credential would cross the network in the clear: only to an
    // address the policy allows explicitly (loopback, a private network).
    if path.is_some() && inject.is_some() && egress::special(address).is_none() {
        let why = format!("the credential for {} goes only over HTTPS (use https://)", ask.host);
        log.record(&ask.decision(false, Some(address), Some(why.clone())));
        return refuse(client, 403, &why).await;
    }
    let rest = buf[head.len..].to_vec();
    let result = match (path, &inject) {
        (None, None) => tunnel(client, upstream, rest, &ask, &policy).await,
        (None, Some(i)) => intercept(client, upstream, rest, &ask, i).await,
        (Some(path), i) => forward(client, upstream, &head, &path, rest, i.as_ref()).await,
    };
    let mut d = ask.decision(true, Some(address), None);
    d.injected = inject.as_ref().map(|i| i.header.clone());
    match result {
        Ok((out, inn)) => (d.bytes_out, d.bytes_in) = (out, inn),
        Err(Ended { out, inn, refused, why }) => {
            (d.bytes_out, d.bytes_in) = (out, inn);
            d.allowed = !refused;
            d.reason = Some(why);
        }
    }
    log.record(&d);
}

async fn read_head<R: tokio::io::AsyncRead + Unpin>(client: &mut R, buf: &mut Vec<u8>) -> Result<Head, &'static str> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(h) = http_head::parse(buf)? {
            return Ok(h);
        }
        let n = client.read(&mut chunk).await.map_err(|_| "the connection failed")?;
        if n == 0 {
            return Err("the connection closed before a whole request head");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The target of a request, and for a plain HTTP request the path to send upstream.
fn what_is_asked(head: &Head) -> Result<(Ask, Option<String>), String> {
    if head.method == "CONNECT" {
        let (host, port) = http_head::authority(&head.target, None)?;
        return Ok((Ask { host: normal_host(&host)?, port, via: "connect", process: None }, None));
    }
    let Some(rest) = head.target.strip_prefix("http://") else {
        return Err(if head.target.starts_with("https://") {
            "https:// URLs go through CONNECT (set HTTPS_PROXY)".into()
        } else {
            "this is a proxy: send CONNECT host:port or an absolute http:// URL".into()
        });
    };
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = if path.starts_with('?') { format!("/{path}") } else { path };
    let (host, port) = http_head::authority(auth, Some(80))?;
    let host = normal_host(&host)?;
    // The Host header must name the same target: a server behind an allowed address
    // that routes by Host must not be steered to another site.
    let mut hosts = head.values("host");
    if let Some(h) = hosts.next() {
        let (hh, hp) = http_head::authority(h, Some(80)).map_err(|e| format!("Host header: {e}"))?;
        if normal_host(&hh)? != host || hp != port {
            return Err(format!("the Host header ({h}) names another target than the URL ({auth})"));
        }
    }
    if hosts.next().is_some() {
        return Err("more than one Host header".into());
    }
    Ok((Ask { host, port, via: "http", process: None }, Some(path)))
}

/// A host as judged: an address (canonical text) or a normalized name.
fn normal_host(h: &str) -> Result<String, String> {
    if let Ok(a) = h.parse::<IpAddr>() {
        return Ok(egress::canonical(a).to_string());
    }
    egress::host_name(h).map_err(|e| e.to_string())
}

/// Where a target may be connected to under `policy`, or why not.
async fn judge(policy: &EgressPolicy, host: &str, port: u16, own: &OwnAddresses) -> Result<Vec<SocketAddr>, String> {
    if let Ok(a) = host.parse::<IpAddr>() {
        if policy.allows_address(a, port) {
            return Ok(vec![SocketAddr::new(a, port)]);
        }
        return Err(format!("the address {a} port {port} is not allowed (an address needs an address rule)"));
    }
    if !policy.allows_name(host, port) {
        return Err(format!("{host} port {port} is not in the allow list"));
    }
    let resolved: Vec<IpAddr> = match policy.pinned(host) {
        Some(list) => list.to_vec(),
        // As an absolute name (no search domains), within a deadline.
        None => {
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((format!("{host}."), port))).await {
                Ok(Ok(it)) => it.map(|s| s.ip()).collect(),
                Ok(Err(e)) => return Err(format!("{host} does not resolve: {e}")),
                Err(_) => return Err(format!("{host} did not resolve in time")),
            }
        }
    };
    let mut ok = Vec::new();
    let mut refused = None;
    for a in resolved {
        let a = egress::canonical(a);
        let why = egress::special(a).or_else(|| own.contains(a).then_some("this host's own address"));
        match why {
            Some(w) if !policy.allows_address(a, port) => refused = Some(format!("{host} resolves to {a} ({w})")),
            _ => ok.push(SocketAddr::new(a, port)),
        }
    }
    if ok.is_empty() {
        return Err(refused.unwrap_or_else(|| format!("{host} has no address")));
    }
    Ok(ok)
}

async fn connect(addrs: &[SocketAddr]) -> std::io::Result<(TcpStream, IpAddr)> {
    let mut last = std::io::Error::other("no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok((s, a.ip()));
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
        }
    }
    Err(last)
}

/// How a connection that was let through ended, when not cleanly.
struct Ended {
    out: u64,
    inn: u64,
    refused: bool,
    why: String,
}

/// A CONNECT tunnel: the client's first bytes are held back until, when they are TLS,
/// the server name they ask for is checked against the target; the server's bytes flow
/// at once (protocols where the server speaks first work).
async fn tunnel(
    mut client: UnixStream,
    upstream: TcpStream,
    mut first: Vec<u8>,
    ask: &Ask,
    policy: &EgressPolicy,
) -> Result<(u64, u64), Ended> {
    let ended = |out, inn, refused, why: String| Ended { out, inn, refused, why };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
        return Err(ended(0, 0, false, "the client went away".into()));
    }
    // The server's bytes flow at once (zero-copy); the client's wait for the check.
    let (stop_down, stopped) = tokio::sync::oneshot::channel::<()>();
    let down = async {
        tokio::select! {
            n = zero_copy::copy(&upstream, &client) => n.unwrap_or(0),
            _ = stopped => 0,
        }
    };
    let up = async {
        let checked = tokio::time::timeout(HEAD_TIMEOUT, async {
            let mut chunk = [0u8; 4096];
            loop {
                match tls_hello::parse(&first) {
                    Hello::NotTls => match plain_http(&first) {
                        Some(true) => {
                            return Err(
                                "plain HTTP inside a tunnel: send it as an absolute http:// URL (HTTP_PROXY), \
                                        so its Host can be checked"
                                    .to_string(),
                            );
                        }
                        Some(false) => return Ok(()),
                        None => {}
                    },
                    Hello::Sni(None) if ask.host.parse::<IpAddr>().is_err() => {
                        return Err(format!("a TLS ClientHello without a server name in a tunnel to {}", ask.host));
                    }
                    Hello::Sni(None) => return Ok(()),
                    Hello::Sni(Some(name)) => return sni_allowed(&name, ask, policy),
                    Hello::Malformed(why) => return Err(format!("malformed TLS ClientHello: {why}")),
                    Hello::Incomplete => {}
                }
                let read = async {
                    loop {
                        client.readable().await?;
                        match client.try_read(&mut chunk) {
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                            other => return other,
                        }
                    }
                };
                match read.await {
                    Ok(0) | Err(_) if first.is_empty() => return Ok(()),
                    Ok(0) | Err(_) => return Err("the client closed inside its ClientHello".to_string()),
                    Ok(n) => first.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("no complete ClientHello in time".to_string()));
        if let Err(why) = checked {
            let _ = stop_down.send(());
            return Err(why);
        }
        let sent = async {
            write_all_to(&upstream, &first).await?;
            Ok::<u64, std::io::Error>(first.len() as u64 + zero_copy::copy(&client, &upstream).await?)
        };
        Ok(sent.await.unwrap_or(first.len() as u64))
    };
    let (inn, out) = tokio::join!(down, up);
    match out {
        Ok(out) => Ok((out, inn)),
        Err(why) => Err(ended(0, 0, true, why)),
    }
}

/// Writes all of `data` to a socket shared with a concurrent reader.
async fn write_all_to(to: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a tunnel's first bytes are an HTTP/1 request line (`Some(true)`), something
/// else (`Some(false)`), or cannot be told yet (`None`: a method-like word so far, no
/// line end). Plain HTTP in a tunnel would reach any site behind the allowed address
/// by its Host header, which the enforcer checks only on absolute-form requests.
fn plain_http(first: &[u8]) -> Option<bool> {
    if first.is_empty() {
        return None;
    }
    let end = first.iter().position(|b| *b == b'\n');
    let line = &first[..end.unwrap_or(first.len())];
    let method = line.iter().take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)).count();
    if method == line.len() {
        // Only a word so far.
        return if end.is_some() || method > 32 { Some(false) } else { None };
    }
    if method == 0 || line[method] != b' ' {
        return Some(false);
    }
    match end {
        None if first.len() < http_head::MAX_HEAD => None,
        _ => Some(line.windows(6).any(|w| w.eq_ignore_ascii_case(b" HTTP/"))),
    }
}

/// A ClientHello's server name must be the tunnel's target (or, for a tunnel to an
/// address, a name the policy allows on that port).
fn sni_allowed(name: &str, ask: &Ask, policy: &EgressPolicy) -> Result<(), String> {
    let sni = egress::host_name(name).map_err(|e| format!("TLS server name: {e}"))?;
    if sni == ask.host {
        return Ok(());
    }
    if ask.host.parse::<IpAddr>().is_ok() && policy.allows_name(&sni, ask.port) {
        return Ok(());
    }
    Err(format!("TLS asks for {sni}, but the tunnel was opened to {}", ask.host))
}

/// A plain HTTP request: sent upstream in origin form with `Connection: close` (one
/// request per connection, so a second request cannot ride on to another target).
async fn forward(
    mut client: UnixStream,
    mut upstream: TcpStream,
    head: &Head,
    path: &str,
    rest: Vec<u8>,
    inject: Option<&Inject<'_>>,
) -> Result<(u64, u64), Ended> {
    let host = head.target.trim_start_matches("http://");
    let host = &host[..host.find(['/', '?']).unwrap_or(host.len())];
    let mut bytes = upstream_head(head, path, host, inject.map(|i| (i.header.as_str(), i.value.as_slice())));
    bytes.extend_from_slice(&rest);
    if let Err(e) = upstream.write_all(&bytes).await {
        return Err(Ended { out: 0, inn: 0, refused: false, why: format!("sending the request failed: {e}") });
    }
    let sent = bytes.len() as u64;
    let result = match inject {
        None => zero_copy::splice(&client, &upstream).await,
        Some(i) => carry_redacted(&mut client, &mut upstream, &i.value).await,
    };
    match result {
        Ok((o, i)) => Ok((o + sent, i)),
        Err(e) => Err(Ended { out: sent, inn: 0, refused: false, why: e.to_string() }),
    }
}

/// Carries a request's body up and the answer down, the answer scrubbed of `secret`.
async fn carry_redacted<A, B>(client: &mut A, upstream: &mut B, secret: &[u8]) -> std::io::Result<(u64, u64)>
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    tokio::try_join!(pump(&mut cr, &mut uw), pump_redacted(&mut ur, &mut cw, Redactor::new(secret)))
}

/// A credential about to be added to a connection's request.
struct Inject<'a> {
    header: String,
    value: Vec<u8>,
    tls: &'a Tls,
}

/// A tunnel to a host with a credential: the session's TLS is terminated with the
/// session CA's certificate for the host, the real host is reached with TLS verified
/// against the host's store (and the policy's extra CAs), and the first request, whose
/// Host must be the tunnel's target, goes up with the credential and `Connection: close`.
async fn intercept(
    mut client: UnixStream,
    upstream: TcpStream,
    first: Vec<u8>,
    ask: &Ask,
    inject: &Inject<'_>,
) -> Result<(u64, u64), Ended> {
    let refused = |why: String| Ended { out: 0, inn: 0, refused: true, why };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
        return Err(Ended { out: 0, inn: 0, refused: false, why: "the client went away".into() });
    }
    let config = inject.tls.server_for(&ask.host).map_err(refused)?;
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(Prefixed::new(first, client));
    let mut session = match tokio::time::timeout(HEAD_TIMEOUT, accept).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(refused(format!("TLS with the session failed: {e}"))),
        Err(_) => return Err(refused("no TLS handshake in time".into())),
    };
    if let Some(sni) = session.get_ref().1.server_name()
        && egress::host_name(sni).ok().as_deref() != Some(ask.host.as_str())
    {
        return Err(refused(format!("TLS asks for {sni}, but the tunnel was opened to {}", ask.host)));
    }
    let mut buf = Vec::new();
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut session, &mut buf)).await {
        Ok(Ok(h)) => h,
        Ok(Err(why)) => {
            let _ = session.write_all(&refusal(400, why)).await;
            return Err(refused(why.to_string()));
        }
        Err(_) => return Err(refused("no request in time".into())),
    };
    // The credential goes only to the host it is for, whatever the request says.
    let host_ok =
        head.values("host").count() == 1
            && head.values("host").next().and_then(|h| http_head::authority(h, Some(ask.port)).ok()).is_some_and(
                |(h, p)| egress::host_name(&h).ok().as_deref() == Some(ask.host.as_str()) && p == ask.port,
            );
    let path = match head.target.strip_prefix(&format!("https://{}", ask.host)) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => head.target.clone(),
    };
    if !host_ok || !path.starts_with('/') {
        let why = format!("a request in the tunnel to {} must name it as its Host and use a path", ask.host);
        let _ = session.write_all(&refusal(400, &why)).await;
        return Err(refused(why));
    }
    // Only now, with a request for the right host in hand, is the real host reached.
    let name = Tls::server_name(&ask.host).map_err(refused)?;
    let mut real = match tokio_rustls::TlsConnector::from(inject.tls.client.clone()).connect(name, upstream).await {
        Ok(r) => r,
        Err(e) => {
            let why = format!("{} did not prove it is {} (TLS: {e})", ask.host, ask.host);
            let _ = session.write_all(&refusal(502, &why)).await;
            return Err(refused(why));
        }
    };
    let mut bytes = upstream_head(&head, &path, &ask.host, Some((inject.header.as_str(), inject.value.as_slice())));
    bytes.extend_from_slice(&buf[head.len..]);
    if let Err(e) = real.write_all(&bytes).await {
        return Err(Ended { out: 0, inn: 0, refused: false, why: format!("sending the request failed: {e}") });
    }
    let sent = bytes.len() as u64;
    match carry_redacted(&mut session, &mut real, &inject.value).await {
        Ok((o, i)) => Ok((o + sent, i)),
        Err(e) => Err(Ended { out: sent, inn: 0, refused: false, why: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        http_head::parse(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn targets_are_read_from_connect_and_absolute_urls() {
        let (a, p) = what_is_asked(&head("CONNECT API.Example.com.:443 HTTP/1.1\r\n\r\n")).unwrap();
        assert_eq!((a.host.as_str(), a.port, a.via, p), ("api.example.com", 443, "connect", None));
        let (a, p) = what_is_asked(&head("GET http://a.test:8080/x?y HTTP/1.1\r\nHost: a.test:8080\r\n\r\n")).unwrap();
        assert_eq!((a.host.as_str(), a.port, a.via, p.as_deref()), ("a.test", 8080, "http", Some("/x?y")));
        let (a, p) = what_is_asked(&head("GET http://a.test?q HTTP/1.1\r\n\r\n")).unwrap();
        assert_eq!((a.port, p.as_deref()), (80, Some("/?q")));
        let (a, _) = what_is_asked(&head("CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1\r\n\r\n")).unwrap();
        assert_eq!(a.host, "127.0.0.1", "a mapped address is judged as IPv4");
    }

    #[test]
    fn spoofed_or_odd_requests_are_refused() {
        for (raw, says) in [
            ("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "another target"),
            ("GET http://a.test/ HTTP/1.1\r\nHost: a.test:81\r\n\r\n", "another target"),
            ("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "more than one"),
            ("GET https://a.test/ HTTP/1.1\r\n\r\n", "CONNECT"),
            ("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "this is a proxy"),
            ("GET http://user@a.test/ HTTP/1.1\r\n\r\n", "user information"),
            ("CONNECT a.test HTTP/1.1\r\n\r\n", "no port"),
            ("CONNECT bücher.test:443 HTTP/1.1\r\n\r\n", "not ASCII"),
        ] {
            let err = match http_head::parse(raw.as_bytes()) {
                Ok(Some(h)) => what_is_asked(&h).err().unwrap_or_default(),
                other => format!("{other:?}"),
            };
            assert!(err.contains(says), "{raw:?}: {err}");
        }
    }

    #[test]
    fn names_resolving_to_special_addresses_need_an_address_rule() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let own = OwnAddresses::default();
        let mut p = EgressPolicy::from_rules(&["a.test", "b.test", "c.test", "8.8.8.8:53"]).unwrap();
        p.hosts.insert("a.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        p.hosts.insert("b.test".into(), vec!["169.254.169.254".parse().unwrap(), "93.184.216.34".parse().unwrap()]);
        p.hosts.insert("c.test".into(), vec!["::ffff:10.0.0.1".parse().unwrap()]);
        rt.block_on(async {
            let e = judge(&p, "a.test", 80, &own).await.unwrap_err();
            assert!(e.contains("loopback"), "{e}");
            let ok = judge(&p, "b.test", 80, &own).await.unwrap();
            assert_eq!(ok, vec!["93.184.216.34:80".parse().unwrap()], "only the public address is kept");
            let e = judge(&p, "c.test", 80, &own).await.unwrap_err();
            assert!(e.contains("private"), "{e}");
            assert!(judge(&p, "d.test", 80, &own).await.unwrap_err().contains("not in the allow list"));
            assert!(judge(&p, "8.8.4.4", 53, &own).await.unwrap_err().contains("address rule"));
            assert_eq!(judge(&p, "8.8.8.8", 53, &own).await.unwrap().len(), 1);
            let mut q = p.clone();
            q.allow.push("127.0.0.1:80".parse().unwrap());
            assert_eq!(judge(&q, "a.test", 80, &own).await.unwrap(), vec!["127.0.0.1:80".parse().unwrap()]);
            assert!(judge(&q, "a.test", 81, &own).await.is_err(), "the address rule's port counts");
        });
    }

    #[test]
    fn the_host_knows_its_own_addresses() {
        let own = read_own_addresses();
        assert!(own.contains(&"127.0.0.1".parse().unwrap()), "{own:?}");
    }

    #[test]
    fn plain_http_in_a_tunnel_is_told_from_other_protocols() {
        assert_eq!(plain_http(b"GET / HTTP/1.1\r\nHost: other\r\n\r\n"), Some(true));
        assert_eq!(plain_http(b"get /x http/1.0\n"), Some(true), "case does not hide it");
        for partial in [&b""[..], b"G", b"GET", b"GET ", b"GET /x", b"GET /x HTT"] {
            assert_eq!(plain_http(partial), None, "{:?}: wait for the line", String::from_utf8_lossy(partial));
        }
        assert_eq!(plain_http(b"SSH-2.0-OpenSSH_9.2\r\n"), Some(false));
        assert_eq!(plain_http(b"EHLO mail.example\r\n"), Some(false), "a command that is not HTTP passes");
        assert_eq!(plain_http(b"\x00\x01binary"), Some(false));
    }

    #[test]
    fn a_tls_name_must_be_the_tunnels_target() {
        let p = EgressPolicy::from_rules(&["a.test:443", "1.2.3.4:443"]).unwrap();
        let ask = Ask { host: "a.test".into(), port: 443, via: "connect", process: None };
        assert!(sni_allowed("A.test", &ask, &p).is_ok());
        assert!(sni_allowed("b.test", &ask, &p).unwrap_err().contains("b.test"));
        let by_address = Ask { host: "1.2.3.4".into(), port: 443, via: "connect", process: None };
        assert!(sni_allowed("a.test", &by_address, &p).is_ok());
        assert!(sni_allowed("evil.test", &by_address, &p).is_err());
    }
}
