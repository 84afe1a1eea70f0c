//! The `egress` network against real podman: what the policy lets through works, what it
//! does not is refused however it is asked for (probe family `egress`), decisions are
//! logged, the policy changes live, a dead enforcer fails closed and comes back.
//!
//! Names live under the reserved `.test` domain and are pinned to addresses in the
//! policy (the enforcer's own `hosts`), so nothing leaves the machine: the servers are
//! threads of this test on the host's loopback, reachable only through address rules
//! for their ports.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandbox_core::{
    EgressPolicy, ErrorKind, EventAction, EventFilter, EventKind, ExecOptions, ExecOutput, Network, Session,
    SessionEvent,
};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(300);
const PROBE_SOURCE: &str = include_str!("../probes/net_probe.c");
/// The proxy inside a session.
const PROXY: &str = "tcp:127.0.0.1:3128";

/// A server on the host's loopback that records what reaches it.
struct Server {
    port: u16,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// What each connection sent (its first 64 KiB).
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    /// `reply(first bytes)` is what it answers; it closes after answering.
    fn start(reply: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (c, r, reply) = (connections.clone(), received.clone(), Arc::new(reply));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, reply) = (r.clone(), reply.clone());
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
                    let mut got = Vec::new();
                    let mut buf = [0u8; 16384];
                    // Read the request head (HTTP) or whatever comes first, then answer.
                    while got.len() < 65536 {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                        if got.windows(4).any(|w| w == b"\r\n\r\n") || got.first() == Some(&22) {
                            break;
                        }
                    }
                    let answer = reply(&got);
                    r.lock().unwrap().push(got);
                    let _ = s.write_all(&answer);
                });
            }
        });
        Server { port, connections, received }
    }

    /// An HTTP server: `/redirect` sends the client to `location`, anything else gets
    /// `body`.
    fn http(body: &'static str, location: String) -> Server {
        Server::start(move |req| {
            let head = String::from_utf8_lossy(req);
            if head.starts_with("GET /redirect ") {
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .into_bytes()
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .into_bytes()
            }
        })
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A real TLS ClientHello asking for `name`, made by Python's OpenSSL.
fn client_hello(name: &str) -> Vec<u8> {
    let script = "import ssl,sys\nctx=ssl.create_default_context()\no=ssl.MemoryBIO()\ni=ssl.MemoryBIO()\n\
        s=ctx.wrap_bio(i,o,server_hostname=sys.argv[1])\ntry:\n s.do_handshake()\nexcept ssl.SSLWantReadError:\n pass\n\
        sys.stdout.buffer.write(o.read())\n";
    let out = Command::new("python3").args(["-c", script, name]).output().expect("python3 makes the ClientHello");
    assert!(out.status.success() && out.stdout.first() == Some(&22), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A real TLS ClientHello without a server name (Python's OpenSSL, no server_hostname).
fn client_hello_without_sni() -> Vec<u8> {
    let script = "import ssl,sys\nctx=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\nctx.check_hostname=False\n\
        ctx.verify_mode=ssl.CERT_NONE\no=ssl.MemoryBIO()\ni=ssl.MemoryBIO()\ns=ctx.wrap_bio(i,o)\ntry:\n s.do_handshake()\n\
        except ssl.SSLWantReadError:\n pass\nsys.stdout.buffer.write(o.read())\n";
    let out = Command::new("python3").args(["-c", script]).output().expect("python3 makes the ClientHello");
    assert!(out.status.success() && out.stdout.first() == Some(&22), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A non-loopback IPv4 address of this host, if it has one.
fn host_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

async fn sh(s: &Session, script: &str) -> ExecOutput {
    s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap()
}

/// What the probe's `send` saw: whether it connected (or the error) and the reply.
struct Sent {
    connect: String,
    reply: Vec<u8>,
}

impl Sent {
    fn connected(&self) -> bool {
        self.connect == "OK"
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.reply).into_owned()
    }
    /// The status line of an HTTP reply.
    fn status(&self) -> String {
        self.text().lines().next().unwrap_or_default().to_string()
    }
}

/// Runs the probe binary in the session.
struct Probe {
    bin: PathBuf,
    dir: PathBuf,
    n: AtomicUsize,
}

impl Probe {
    fn new(dir: &Path) -> Probe {
        Probe { bin: sandbox_e2e::build_static_probe(dir, "net_probe", PROBE_SOURCE), dir: dir.into(), n: 0.into() }
    }

    async fn send(&self, s: &Session, target: &str, data: &[u8], secs: u32) -> Sent {
        let file = self.dir.join(format!("req-{}", self.n.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&file, data).unwrap();
        let o = s
            .exec(
                &[self.bin.to_str().unwrap(), "send", target, file.to_str().unwrap(), &secs.to_string()],
                ExecOptions::new().timeout(Duration::from_secs(u64::from(secs) + 30)),
            )
            .await
            .unwrap();
        let _ = std::fs::remove_file(&file);
        let out = o.stdout;
        let line_end = out.iter().position(|b| *b == b'\n').unwrap_or(out.len());
        let first = String::from_utf8_lossy(&out[..line_end]).to_string();
        let connect = first.strip_prefix("connect\t").unwrap_or(&first).to_string();
        let rest = out.get(line_end + 1..).unwrap_or_default();
        let reply = match rest.iter().position(|b| *b == b'\n') {
            Some(i) if rest.starts_with(b"reply\t") => rest[i + 1..].to_vec(),
            _ => Vec::new(),
        };
        Sent { connect, reply }
    }

    /// `udp`, `raw` or `packet`: the word after the tab (`OK` or the error).
    async fn other(&self, s: &Session, args: &[&str]) -> String {
        let mut argv = vec![self.bin.to_str().unwrap()];
        argv.extend_from_slice(args);
        let o = s.exec(&argv, ExecOptions::new().timeout(Duration::from_secs(30))).await.unwrap();
        let text = o.stdout_lossy();
        text.trim().split_once('\t').map(|(_, r)| r.to_string()).unwrap_or(text.trim().to_string())
    }
}

fn connect_req(target: &str) -> Vec<u8> {
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes()
}

fn get_req(url: &str, host: &str) -> Vec<u8> {
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe\r\n\r\n").into_bytes()
}

/// The servers and the policy of one test.
struct World {
    web: Server,
    sink: Server,
    secret: Server,
    policy: EgressPolicy,
}

impl World {
    fn new() -> World {
        let secret = Server::http("secret", String::new());
        let web = Server::http("hello through the proxy", format!("http://denied.test:{}/", secret.port));
        let sink = Server::start(|_| b"sink-reply".to_vec());
        let mut policy = EgressPolicy::from_rules(&[
            "allowed.test".to_string(),
            "redirect.test".into(),
            "loop.test".into(),
            "meta.test".into(),
            "private.test".into(),
            "own.test".into(),
            "mapped.test".into(),
            "nat64.test".into(),
            format!("127.0.0.1:{}", web.port),
            format!("127.0.0.1:{}", sink.port),
        ])
        .unwrap();
        let pin = |p: &mut EgressPolicy, name: &str, addrs: &[&str]| {
            p.hosts.insert(name.into(), addrs.iter().map(|a| a.parse().unwrap()).collect());
        };
        for name in ["allowed.test", "redirect.test", "loop.test", "denied.test", "localhost.test"] {
            pin(&mut policy, name, &["127.0.0.1"]);
        }
        pin(&mut policy, "meta.test", &["169.254.169.254"]);
        pin(&mut policy, "private.test", &["10.0.0.1"]);
        pin(&mut policy, "mapped.test", &["::ffff:127.0.0.1"]);
        pin(&mut policy, "nat64.test", &["64:ff9b::7f00:1"]);
        let own = host_address().map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1".into());
        pin(&mut policy, "own.test", &[&own]);
        World { web, sink, secret, policy }
    }
}

#[test]
fn egress_probes() {
    let t = TestScope::new("egress-probes");
    let w = World::new();
    run(T, async {
        let probe = Probe::new(t.dir.path());
        let fport = sandbox_e2e::free_port();
        let s = t.sandbox.start(t.spec("egress").egress(w.policy.clone()).ports([fport])).await.unwrap();
        let mut table = ProbeTable::new("egress");
        let secret = w.secret.port;
        let web = w.web.port;
        let sink = w.sink.port;
        // What a row says it tried names ports by role, so rows of runs (and modes) match.
        let named = |text: String| {
            text.replace(&secret.to_string(), "CLOSED")
                .replace(&web.to_string(), "WEB")
                .replace(&sink.to_string(), "TLS")
                .replace(&fport.to_string(), "FWD")
        };

        // Controls: the probe and the proxy work, so a refusal below means "refused".
        let ok = probe
            .send(&s, PROXY, &get_req(&format!("http://allowed.test:{web}/"), &format!("allowed.test:{web}")), 10)
            .await;
        assert!(ok.text().contains("hello through the proxy"), "control: {} {}", ok.connect, ok.text());
        let hello = client_hello("allowed.test");
        let mut req = connect_req(&format!("allowed.test:{sink}"));
        req.extend_from_slice(&hello);
        let before = w.sink.received.lock().unwrap().len();
        let ok = probe.send(&s, PROXY, &req, 5).await;
        assert!(ok.text().contains("sink-reply"), "control TLS: {}", ok.text());
        assert_eq!(w.sink.received.lock().unwrap().get(before), Some(&hello), "the ClientHello arrives whole");

        // Without the proxy: there is no route out at all.
        let own = host_address();
        let mut direct = vec![
            ("TCP to a public IPv4 address", "tcp:1.1.1.1:80".to_string()),
            ("TCP to a public IPv6 address", "tcp6:2606:4700:4700::1111:80".to_string()),
            ("TCP to the cloud metadata address", "tcp:169.254.169.254:80".to_string()),
            ("TCP to IPv6 link-local", "tcp6:fe80::1:80".to_string()),
            ("TCP to a private address", "tcp:10.0.0.1:80".to_string()),
            (
                "TCP to the host's loopback service port (the container's own loopback)",
                format!("tcp:127.0.0.1:{secret}"),
            ),
        ];
        if let Some(a) = own {
            direct.push(("TCP to the host's own address", format!("tcp:{a}:{secret}")));
        }
        for (name, target) in direct {
            let r = probe.send(&s, &target, b"GET / HTTP/1.0\r\n\r\n", 3).await;
            let shown = own.map_or(target.clone(), |a| target.replace(&a.to_string(), "HOST"));
            table.refused_if(name, named(shown), !r.connected(), r.connect.clone());
        }
        for (name, args) in [
            ("UDP to a public DNS resolver", vec!["udp", "1.1.1.1", "53"]),
            ("UDP (QUIC) over IPv6", vec!["udp", "2606:4700:4700::1111", "443"]),
            ("UDP to the metadata address", vec!["udp", "169.254.169.254", "53"]),
        ] {
            let r = probe.other(&s, &args).await;
            table.refused_if(name, args.join(" "), r != "OK", r.clone());
        }
        for (name, args) in [("raw ICMP socket", vec!["raw"]), ("AF_PACKET socket", vec!["packet"])] {
            let r = probe.other(&s, &args).await;
            table.refused_if(name, args.join(" "), r != "OK", r.clone());
        }
        let dns = sh(&s, "nslookup allowed.test 2>&1; nslookup example.com 1.1.1.1 2>&1").await;
        table.refused_if(
            "DNS through any resolver (and so DNS tunnelling)",
            "nslookup allowed.test; nslookup example.com 1.1.1.1",
            !dns.stdout_lossy().contains("Address: 127.0.0.1") && !dns.stdout_lossy().contains("Address: 93."),
            dns.stdout_lossy().lines().last().unwrap_or_default().to_string(),
        );
        let unset = sh(
            &s,
            &format!(
                "env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
                 wget -q -O- http://allowed.test:{web}/ 2>&1; echo rc=$?"
            ),
        )
        .await;
        table.refused_if(
            "an allowed name with the proxy variables unset",
            "env -u http_proxy ... wget http://allowed.test/",
            !unset.stdout_lossy().contains("hello"),
            unset.stdout_lossy().trim().replace('\n', " "),
        );

        // Through the proxy: every target is judged.
        let refused = |r: &Sent| r.status().contains(" 403 ") || r.status().contains(" 400 ");
        let through: Vec<(&str, Vec<u8>)> = vec![
            ("CONNECT to an IPv4 literal", connect_req("1.1.1.1:443")),
            ("plain HTTP to an IPv4 literal", get_req("http://1.1.1.1/", "1.1.1.1")),
            ("CONNECT to an IPv6 literal", connect_req("[2606:4700:4700::1111]:443")),
            ("CONNECT to a name not in the allow list", connect_req(&format!("denied.test:{secret}"))),
            (
                "plain HTTP to a name not in the allow list",
                get_req(&format!("http://denied.test:{secret}/"), &format!("denied.test:{secret}")),
            ),
            ("an allowed name that resolves to 127.0.0.1", connect_req(&format!("loop.test:{secret}"))),
            ("an allowed name that resolves to 169.254.169.254", connect_req("meta.test:80")),
            ("an allowed name that resolves to a private address", connect_req("private.test:80")),
            ("an allowed name that resolves to the host's own address", connect_req(&format!("own.test:{secret}"))),
            ("an allowed name that resolves to ::ffff:127.0.0.1", connect_req(&format!("mapped.test:{secret}"))),
            ("an allowed name that resolves to NAT64 64:ff9b::7f00:1", connect_req(&format!("nat64.test:{secret}"))),
            ("CONNECT to 127.0.0.1 on a port without an address rule", connect_req(&format!("127.0.0.1:{secret}"))),
            ("CONNECT to [::ffff:127.0.0.1]", connect_req(&format!("[::ffff:127.0.0.1]:{secret}"))),
            ("CONNECT to localhost", connect_req(&format!("localhost:{secret}"))),
            ("DNS-over-HTTPS to a denied resolver", connect_req("dns.google:443")),
            (
                "Host header naming a denied host, URL an allowed one",
                get_req(&format!("http://allowed.test:{web}/"), &format!("denied.test:{secret}")),
            ),
            (
                "URL naming a denied host, Host header an allowed one",
                get_req(&format!("http://denied.test:{secret}/"), &format!("allowed.test:{web}")),
            ),
            ("an origin-form request (transparent-proxy style)", get_req("/", &format!("denied.test:{secret}"))),
            ("a request head larger than 16 KiB (refused; never forwarded)", {
                let mut r = get_req(&format!("http://allowed.test:{web}/"), "allowed.test");
                r.truncate(r.len() - 2);
                r.extend(format!("X-Pad: {}\r\n\r\n", "a".repeat(20000)).into_bytes());
                r
            }),
        ];
        for (name, req) in through {
            let r = probe.send(&s, PROXY, &req, 5).await;
            let first =
                String::from_utf8_lossy(&req).lines().next().unwrap_or_default().chars().take(70).collect::<String>();
            let detail = r.text().lines().last().unwrap_or(&r.connect).to_string();
            table.refused_if(name, named(first), refused(&r), named(detail));
        }

        // TLS: the server name must be the tunnel's target.
        let before = w.sink.received.lock().unwrap().len();
        let mut req = connect_req(&format!("allowed.test:{sink}"));
        req.extend_from_slice(&client_hello("denied.test"));
        let r = probe.send(&s, PROXY, &req, 5).await;
        let reached = w.sink.received.lock().unwrap()[before..].iter().any(|b| !b.is_empty());
        table.refused_if(
            "CONNECT to an allowed name, TLS SNI of a denied one (domain fronting)",
            "CONNECT allowed.test:TLS + ClientHello(denied.test)",
            !reached,
            format!("no byte reached the server; the client saw: {}", r.status()),
        );
        let mut req = connect_req(&format!("denied.test:{sink}"));
        req.extend_from_slice(&hello);
        let r = probe.send(&s, PROXY, &req, 5).await;
        table.refused_if(
            "CONNECT to a denied name, TLS SNI of an allowed one",
            "CONNECT denied.test:TLS + ClientHello(allowed.test)",
            refused(&r) && !r.text().contains("sink-reply"),
            r.status(),
        );
        let before = w.sink.received.lock().unwrap().len();
        let mut req = connect_req(&format!("allowed.test:{sink}"));
        req.extend_from_slice(&[22, 3, 1, 0, 40, 1, 0, 0, 200, 3, 3]);
        req.extend_from_slice(&[0xff; 34]);
        probe.send(&s, PROXY, &req, 3).await;
        // The server may speak first (its bytes flow at once); the client's must not
        // reach it.
        let reached = w.sink.received.lock().unwrap()[before..].iter().any(|b| !b.is_empty());
        table.refused_if(
            "a malformed ClientHello in an allowed tunnel",
            "CONNECT allowed.test + a truncated handshake",
            !reached,
            "no byte reached the server",
        );

        // Plain HTTP inside a tunnel to an allowed host would be routed by its Host.
        let before = w.web.received.lock().unwrap().len();
        let mut req = connect_req(&format!("allowed.test:{web}"));
        req.extend(get_req("/", &format!("denied.test:{secret}")));
        let r = probe.send(&s, PROXY, &req, 3).await;
        let reached = w.web.received.lock().unwrap()[before..].iter().any(|b| !b.is_empty());
        table.refused_if(
            "plain HTTP inside a CONNECT tunnel to an allowed host, Host naming a denied one",
            "CONNECT allowed.test:WEB, then GET / with Host: denied.test",
            !reached && !r.text().contains("hello"),
            "no byte reached the server behind the allowed address",
        );
        let before = w.sink.received.lock().unwrap().len();
        let mut req = connect_req(&format!("allowed.test:{sink}"));
        req.extend(client_hello_without_sni());
        probe.send(&s, PROXY, &req, 3).await;
        let reached = w.sink.received.lock().unwrap()[before..].iter().any(|b| !b.is_empty());
        table.refused_if(
            "TLS without a server name in a tunnel to a name (fronting by omission)",
            "CONNECT allowed.test:TLS + ClientHello without SNI",
            !reached,
            "no byte reached the server",
        );

        // A second request on a connection, to another host: it can only go to the
        // allowed host the connection was opened to.
        let secret_before = w.secret.connections();
        let mut req = get_req(&format!("http://allowed.test:{web}/"), &format!("allowed.test:{web}"));
        req.extend(get_req(&format!("http://denied.test:{secret}/"), &format!("denied.test:{secret}")));
        let r = probe.send(&s, PROXY, &req, 5).await;
        table.refused_if(
            "a pipelined second request to a denied host",
            "GET allowed, then GET denied on the same connection",
            w.secret.connections() == secret_before && !r.text().contains("secret"),
            "the second request went, if anywhere, to the allowed host",
        );

        // Redirects are new requests, judged again: follow one as a client does.
        let red = probe
            .send(
                &s,
                PROXY,
                &get_req(&format!("http://redirect.test:{web}/redirect"), &format!("redirect.test:{web}")),
                5,
            )
            .await;
        let location =
            red.text().lines().find_map(|l| l.strip_prefix("Location: ").map(str::to_string)).unwrap_or_default();
        assert!(location.starts_with("http://denied.test:"), "control: the redirect came: {}", red.text());
        let host = location.trim_start_matches("http://").trim_end_matches('/').to_string();
        let r = probe.send(&s, PROXY, &get_req(&location, &host), 5).await;
        table.refused_if(
            "a redirect from an allowed host to a denied one, followed",
            named(format!("GET http://redirect.test:{web}/redirect -> {location}")),
            refused(&r) && !r.text().contains("secret"),
            r.status(),
        );

        // The enforcer's socket, used directly, applies the same policy.
        let r = probe.send(&s, "unix:/.sandbox/egress.sock", &connect_req(&format!("denied.test:{secret}")), 5).await;
        let direct =
            s.network_log().unwrap().into_iter().rev().find(|d| d.host == "denied.test").and_then(|d| d.process);
        table.refused_if(
            "a forged request straight to the enforcer's socket",
            "unix:/.sandbox/egress.sock CONNECT denied.test",
            refused(&r) && direct.as_deref().is_some_and(|p| p.starts_with("direct: ")),
            format!("{}; logged as {:?}", r.status(), direct.unwrap_or_default()),
        );
        // A policy planted where the container can write is not the one in force.
        sh(&s, r#"printf '{"allow":["denied.test"]}' > /.sandbox/egress.json"#).await;
        let r = probe.send(&s, PROXY, &connect_req(&format!("denied.test:{secret}")), 5).await;
        table.refused_if(
            "a permissive policy planted in the shared control dir",
            "write /.sandbox/egress.json, then CONNECT denied.test",
            refused(&r),
            r.status(),
        );
        let listing = sh(&s, "rm /.sandbox/egress.json; ls /.sandbox").await.stdout_lossy();
        table.row(
            "the decision log and the real policy are out of the container's reach",
            "ls /.sandbox",
            if listing.contains("egress.log") { Outcome::Escaped } else { Outcome::Contained },
            format!("the shared dir holds: {}", listing.split_whitespace().collect::<Vec<_>>().join(" ")),
        );

        // Another session's enforcer is not reachable.
        let other = t.sandbox.start(t.spec("egress-b").egress(EgressPolicy::default())).await.unwrap();
        let first_socket = sandbox_core::egress::socket_path(s.control_dir());
        let r =
            probe.send(&other, &format!("unix:{}", first_socket.display()), &connect_req("allowed.test:80"), 3).await;
        table.refused_if(
            "a second session connects to the first's enforcer socket",
            "unix:<the first session's control dir>/shared/egress.sock",
            !r.connected(),
            r.connect.clone(),
        );
        let r = probe.send(&other, PROXY, &connect_req(&format!("allowed.test:{web}")), 5).await;
        table.refused_if(
            "a second session (empty policy) asks for what the first allows",
            "CONNECT allowed.test through its own proxy",
            refused(&r),
            r.status(),
        );
        other.stop().await.unwrap();

        // The forwarding socket: used from inside it reaches only the inside; replaced
        // by a link to a host socket, the host never follows it.
        let host_sock_dir = tempfile::tempdir_in("/tmp").unwrap();
        let host_sock = host_sock_dir.path().join("host.sock");
        let host_listener = std::os::unix::net::UnixListener::bind(&host_sock).unwrap();
        host_listener.set_nonblocking(true).unwrap();
        let r = probe.send(&s, "unix:/.sandbox/forward.sock", format!("{secret}\n").as_bytes(), 3).await;
        table.refused_if(
            "the forwarding socket asked for a port from inside",
            "unix:/.sandbox/forward.sock, port CLOSED",
            !r.text().contains("secret") && w.secret.connections() == 0,
            named(format!("{} (it connects to the container's own loopback)", r.text().trim())),
        );
        // The enforcer delivers its decisions to the agent over the forwarding socket; a
        // process of the session sending some there would forge network events.
        let forged = format!(
            "{}\n{{\"time_ms\":1,\"host\":\"forged.test\",\"port\":443,\"via\":\"connect\",\"allowed\":true}}\n",
            sandbox_proto::egress::DECISIONS_LINE
        );
        let r = probe.send(&s, "unix:/.sandbox/forward.sock", forged.as_bytes(), 3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let recorded = network_events(&s).await;
        table.refused_if(
            "a process of the session forges network events through the forwarding socket",
            "unix:/.sandbox/forward.sock: `decisions`, then a decision for forged.test",
            !recorded.iter().any(|e| e.host.as_deref() == Some("forged.test")),
            format!("{}; {} network events, none for forged.test", r.text().trim(), recorded.len()),
        );
        let plant = sh(
            &s,
            &format!(
                "rm -f /.sandbox/forward.sock && ln -s {} /.sandbox/forward.sock && echo planted",
                host_sock.display()
            ),
        )
        .await;
        assert!(plant.stdout_lossy().contains("planted"), "control: {}", plant.stderr_lossy());
        let reached = tokio::task::spawn_blocking(move || {
            let _ = std::net::TcpStream::connect(("127.0.0.1", fport)).map(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let _ = c.write_all(b"GET / HTTP/1.0\r\n\r\n");
                let _ = c.read(&mut [0u8; 64]);
            });
            host_listener.accept().is_ok()
        })
        .await
        .unwrap();
        table.refused_if(
            "a link to a host socket planted as the forwarding socket",
            "ln -s <host socket> /.sandbox/forward.sock; connect to the forwarded port on the host",
            !reached,
            "the host side opens the socket without following links: the host socket got no connection",
        );

        table.row(
            "nothing reached the server no rule allows",
            "connections to 127.0.0.1:CLOSED (no rule allows it) during all probes",
            if w.secret.connections() == 0 { Outcome::Refused } else { Outcome::Escaped },
            format!("{} connections", w.secret.connections()),
        );
        s.stop().await.unwrap();
        table.finish(40);
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn allowed_traffic_goes_through_and_every_decision_is_logged() {
    let t = TestScope::new("egress-log");
    let w = World::new();
    run(T, async {
        let s = t.sandbox.start(t.spec("egress").egress(w.policy.clone())).await.unwrap();
        let r = s.start_report().unwrap();
        assert_eq!(r.network, Network::Egress);
        let e = r.egress.as_ref().expect("the report states the policy");
        assert!(e.rules.contains(&"allowed.test".to_string()), "{e:?}");
        assert_eq!(e.proxy, "http://127.0.0.1:3128");
        assert!(s.egress_enforcer_running());

        // An ordinary tool, unchanged, through the proxy variables.
        let o = sh(&s, &format!("wget -q -O- http://allowed.test:{}/", w.web.port)).await;
        assert_eq!(o.stdout_lossy(), "hello through the proxy", "{}", o.stderr_lossy());
        let head = String::from_utf8_lossy(&w.web.received.lock().unwrap()[0]).to_string();
        assert!(head.starts_with("GET / HTTP/1.1\r\n"), "origin form upstream: {head}");
        assert!(!head.to_ascii_lowercase().contains("proxy-"), "no proxy headers upstream: {head}");
        let o = sh(&s, &format!("wget -q -O- http://denied.test:{}/ 2>&1; echo rc=$?", w.secret.port)).await;
        assert!(o.stdout_lossy().contains("403"), "{}", o.stdout_lossy());

        // An allowed connection is logged when it closes, a moment after the client
        // had its answer.
        let mut log = s.network_log().unwrap();
        for _ in 0..200 {
            if log.iter().any(|d| d.host == "allowed.test") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            log = s.network_log().unwrap();
        }
        let allowed = log.iter().find(|d| d.host == "allowed.test").expect("the allowed request is logged");
        assert!(allowed.allowed && allowed.via == "http" && allowed.port == w.web.port, "{allowed:?}");
        assert_eq!(allowed.address, Some("127.0.0.1".parse().unwrap()));
        assert!(allowed.bytes_in > 20 && allowed.bytes_out > 20, "{allowed:?}");
        let who = allowed.process.as_deref().unwrap_or_default();
        assert!(who.ends_with(" wget") && who.split(' ').next().unwrap().parse::<u32>().is_ok(), "{allowed:?}");
        let denied = log.iter().find(|d| d.host == "denied.test").expect("the refusal is logged");
        assert!(!denied.allowed && denied.reason.as_deref().unwrap_or_default().contains("not in the allow list"));
        assert_eq!(w.secret.connections(), 0);
        s.stop().await.unwrap();
        assert!(!sandbox_core::egress::enforcer_running(s.control_dir()), "stop ends the enforcer");
    });
    assert!(t.leftovers().is_empty());
}

/// The network events the session's journal holds.
async fn network_events(s: &Session) -> Vec<SessionEvent> {
    let only = EventFilter { kinds: vec![EventKind::Network], path_prefix: None };
    s.read_events(Some(1), &only, 10_000, None).await.unwrap().events
}

#[test]
fn every_decision_is_a_network_event_in_the_stream_and_survives_an_enforcer_restart() {
    let t = TestScope::new("egress-events");
    let w = World::new();
    run(T, async {
        let s = t.sandbox.start(t.spec("egress").egress(w.policy.clone())).await.unwrap();
        let only = EventFilter { kinds: vec![EventKind::Network], path_prefix: None };
        let mut stream = s.events(Some(1), only.clone());
        let o = sh(&s, &format!("wget -q -O- http://allowed.test:{}/", w.web.port)).await;
        assert_eq!(o.stdout_lossy(), "hello through the proxy", "{}", o.stderr_lossy());
        let o = sh(&s, &format!("wget -q -O- http://denied.test:{}/ 2>&1; echo rc=$?", w.secret.port)).await;
        assert!(o.stdout_lossy().contains("403"), "{}", o.stdout_lossy());

        let within = Some(Duration::from_secs(30));
        let refused = stream.wait_for(|e| e.host.as_deref() == Some("denied.test"), within).await.unwrap();
        assert_eq!((refused.kind, refused.action), (EventKind::Network, EventAction::Refused), "{refused:?}");
        assert_eq!(refused.port, Some(w.secret.port));
        assert!(refused.reason.as_deref().unwrap_or_default().contains("not in the allow list"), "{refused:?}");
        assert!(refused.command.as_deref().unwrap_or_default().ends_with(" wget"), "who connected: {refused:?}");
        assert_eq!((refused.bytes_in, refused.bytes_out), (None, None));
        // An allowed connection is recorded when it closes (it may come after the refusal).
        let mut stream = s.events(Some(1), only.clone());
        let allowed = stream.wait_for(|e| e.host.as_deref() == Some("allowed.test"), within).await.unwrap();
        assert_eq!(allowed.action, EventAction::Allowed, "{allowed:?}");
        assert_eq!((allowed.port, allowed.address.as_deref()), (Some(w.web.port), Some("127.0.0.1")));
        let logged = s.network_log().unwrap().into_iter().find(|d| d.host == "allowed.test").unwrap();
        assert_eq!((allowed.bytes_in, allowed.bytes_out), (Some(logged.bytes_in), Some(logged.bytes_out)));
        assert_eq!(allowed.time_ms, logged.time_ms, "the enforcer's time, not the delivery's");
        assert!(logged.bytes_in > 20, "{logged:?}");

        // Killed and restarted, the enforcer delivers again; the stream is the same one.
        let pid = sandbox_core::egress::enforcer_pid(s.control_dir()).expect("enforcer pid");
        assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
        while s.egress_enforcer_running() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s.restart_network().await.unwrap();
        let o = sh(&s, &format!("wget -q -O- http://denied.test:{}/again 2>&1", w.secret.port)).await;
        assert!(o.stdout_lossy().contains("403"), "{}", o.stdout_lossy());
        // (The stream may not have passed the first refusal yet if the allowed
        // connection closed before it: wait for a later one.)
        let later = |e: &SessionEvent| e.host.as_deref() == Some("denied.test") && e.seq > refused.seq;
        let again = stream.wait_for(later, within).await.unwrap();
        assert_eq!(again.action, EventAction::Refused);
        let all = network_events(&s).await;
        assert_eq!(all.len(), s.network_log().unwrap().len(), "one event per decision: {all:?}");
        assert!(all.windows(2).all(|p| p[0].seq < p[1].seq));

        // A session without an egress policy has no network events and no enforcer.
        let plain = t.sandbox.start(t.spec("plain")).await.unwrap();
        let _ = sh(&plain, "wget -q -T 2 -O- http://127.0.0.1:1/ 2>&1").await;
        assert!(network_events(&plain).await.is_empty());
        plain.stop().await.unwrap();
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn the_policy_changes_live_and_a_dead_enforcer_fails_closed_until_restarted() {
    let t = TestScope::new("egress-live");
    let w = World::new();
    run(T, async {
        let mut start = w.policy.clone();
        start.allow.retain(|r| r.to_string() != "allowed.test");
        let s = t.sandbox.start(t.spec("egress").egress(start.clone())).await.unwrap();
        // (busybox wget crashes on a refused proxied request when given -T.)
        let get = format!("wget -q -O- http://allowed.test:{}/ 2>&1; echo; echo rc=$?", w.web.port);
        let o = sh(&s, &get).await;
        assert!(o.stdout_lossy().contains("403"), "not allowed yet: {}", o.stdout_lossy());
        let mut wider = start.clone();
        wider.allow.push("allowed.test".parse().unwrap());
        s.set_egress(&wider).unwrap();
        assert_eq!(s.egress_policy().unwrap().as_ref(), Some(&wider));
        assert!(sh(&s, &get).await.stdout_lossy().contains("hello"), "allowed from the next connection on");
        s.set_egress(&start).unwrap();
        assert!(sh(&s, &get).await.stdout_lossy().contains("403"), "and refused again");

        // Kill the enforcer: the proxy answers 502 at once, nothing goes out.
        s.set_egress(&wider).unwrap();
        let pid = sandbox_core::egress::enforcer_pid(s.control_dir()).expect("enforcer pid");
        assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
        for _ in 0..100 {
            if !s.egress_enforcer_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!s.egress_enforcer_running());
        let listed = t.sandbox.list().await.unwrap().into_iter().find(|i| i.id == s.id()).unwrap();
        assert_eq!(listed.egress_enforcer_running(), Some(false), "the session's info says so");
        let o = sh(&s, &get).await;
        assert!(o.stdout_lossy().contains("502") && !o.stdout_lossy().contains("hello"), "{}", o.stdout_lossy());
        let again = s.restart_network().await.unwrap();
        assert_ne!(again, pid);
        assert!(sh(&s, &get).await.stdout_lossy().contains("hello"), "back, with the policy in force");
        assert_eq!(s.restart_network().await.unwrap(), again, "a running enforcer is kept");
        let listed = t.sandbox.list().await.unwrap().into_iter().find(|i| i.id == s.id()).unwrap();
        assert_eq!(listed.egress_enforcer_running(), Some(true));
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn bad_egress_input_is_refused_before_anything_starts() {
    let t = TestScope::new("egress-bad");
    run(T, async {
        let e = t
            .sandbox
            .start(t.spec("bridge").network(Network::Bridge).egress(EgressPolicy::default()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("network egress"), "{e}");
        let mut bad = EgressPolicy::default();
        bad.hosts.insert("Upper.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        let e = t.sandbox.start(t.spec("pins").egress(bad)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let mut empty = EgressPolicy::default();
        empty.hosts.insert("a.test".into(), vec![]);
        let e = t.sandbox.start(t.spec("pins").egress(empty)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        for bad in ["*", "**.x.test", "", "a.test:0", "10.0.0.1:70000", "bücher.test", "10.0.0.0/33"] {
            let e = EgressPolicy::from_rules(&[bad]).unwrap_err();
            assert_eq!(sandbox_core::Error::from(e).kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        // A session not on the egress network has no policy to change.
        let s = t.sandbox.start(t.spec("plain").network(Network::None)).await.unwrap();
        assert_eq!(s.set_egress(&EgressPolicy::default()).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(s.egress_policy().unwrap(), None);
        assert!(s.network_log().unwrap().is_empty());
        let listed = t.sandbox.list().await.unwrap().into_iter().find(|i| i.id == s.id()).unwrap();
        assert_eq!(listed.egress_enforcer_running(), None, "not on the egress network");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn ports_are_forwarded_from_the_host_loopback_into_an_egress_session() {
    let t = TestScope::new("egress-fwd");
    run(T, async {
        let port = sandbox_e2e::free_port();
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = busy.local_addr().unwrap().port();
        let s = t.sandbox.start(t.spec("egress").egress(EgressPolicy::default()).ports([port, taken])).await.unwrap();
        let r = s.start_report().unwrap();
        assert_eq!(r.ports_published, vec![port]);
        assert_eq!(r.egress.as_ref().unwrap().forwarded_ports, vec![port]);
        assert!(
            r.ports_dropped.iter().any(|d| d.port == taken && d.reason.contains("in use")),
            "{:?}",
            r.ports_dropped
        );
        // Before anything listens inside, a connection is closed at once (no hang).
        let early =
            tokio::task::spawn_blocking(move || sandbox_e2e::http_get(port, Duration::from_millis(300))).await.unwrap();
        assert!(early.is_err(), "{early:?}");
        let serve = format!(
            "mkdir -p /tmp/www && echo hello-forwarded > /tmp/www/index.html && httpd -p 127.0.0.1:{port} -h /tmp/www"
        );
        assert!(sh(&s, &serve).await.success());
        let body =
            tokio::task::spawn_blocking(move || sandbox_e2e::http_get(port, Duration::from_secs(20))).await.unwrap();
        assert!(body.as_ref().is_ok_and(|b| b.contains("hello-forwarded")), "{body:?}");
        if let Some(ip) = host_address() {
            let outside = std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2));
            assert!(outside.is_err(), "port {port} answered on {ip}, not only on 127.0.0.1");
        }
        s.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the forward ends with the session");
        drop(busy);
    });
    assert!(t.leftovers().is_empty());
}

/// VmRSS of a process in KiB (0 when unreadable).
fn rss_kib(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_of_connections_keeps_the_enforcer_and_the_agent_bounded_and_serving() {
    let t = TestScope::new("egress-flood");
    let w = World::new();
    run(T, async {
        let probe = Probe::new(t.dir.path());
        let s = t.sandbox.start(t.spec("egress").egress(w.policy.clone())).await.unwrap();
        let enforcer = sandbox_core::egress::enforcer_pid(s.control_dir()).unwrap();
        // 10 processes x 1000 connections that each send half a request head and wait
        // (the cheapest flood: every one holds a slot until the head timeout).
        let bin = probe.bin.display().to_string();
        let flood = format!(
            "for i in 0 1 2 3 4 5 6 7 8 9; do {bin} hold {PROXY} 1000 6 'CONNECT allowed.test' > /tmp/flood-$i & done; sleep 3; \
             for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = .sandbox-agent ] && grep VmRSS $p/status; done; \
             wait; cat /tmp/flood-*"
        );
        let during = tokio::spawn({
            let s = s.clone();
            async move { sh(&s, &flood).await }
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let enforcer_rss = rss_kib(&std::fs::read_to_string(format!("/proc/{enforcer}/status")).unwrap_or_default());
        let out = during.await.unwrap().stdout_lossy();
        let agent_rss = rss_kib(&out);
        let opened: usize =
            out.lines().filter_map(|l| l.strip_prefix("held\t")?.split('\t').next()?.parse::<usize>().ok()).sum();
        println!("flood: {opened} connections opened, enforcer RSS {enforcer_rss} KiB, agent RSS {agent_rss} KiB");
        assert!(opened >= 5000, "the flood opened only {opened} connections: {out}");
        assert!(
            enforcer_rss > 0 && enforcer_rss < 64 * 1024,
            "enforcer RSS {enforcer_rss} KiB under {opened} connections"
        );
        assert!(agent_rss > 0 && agent_rss < 64 * 1024, "agent RSS {agent_rss} KiB under {opened} connections: {out}");
        assert!(s.egress_enforcer_running(), "the enforcer survived");
        // And it serves again once the flood is over.
        let ok = probe
            .send(
                &s,
                PROXY,
                &get_req(&format!("http://allowed.test:{}/", w.web.port), &format!("allowed.test:{}", w.web.port)),
                10,
            )
            .await;
        assert!(ok.text().contains("hello through the proxy"), "{}", ok.text());
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

const TLS_ECHO: &str = include_str!("../probes/tls_echo.py");
const TLS_CLIENT: &str = include_str!("../probes/tls_client.py");

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A test CA (`ca.pem`) and, signed by it, a certificate for `name` (`<name>.pem`,
/// `<name>.key`); plus `impostor.pem`/`.key`, a self-signed certificate for `name`.
fn test_pki(dir: &Path, name: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca =
        vec!["req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=sandbox test CA"];
    ca.extend(ec);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &ca);
    let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
    let mut req = vec!["req", "-keyout", &key, "-out", &csr, "-subj", "/CN=server"];
    req.extend(ec);
    openssl(dir, &req);
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{name}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            "ext.cnf",
        ],
    );
    let san = format!("subjectAltName=DNS:{name}");
    let mut imp = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-keyout",
        "impostor.key",
        "-out",
        "impostor.pem",
        "-subj",
        "/CN=impostor",
        "-addext",
        &san,
    ];
    imp.extend(ec);
    openssl(dir, &imp);
}

/// A python3 HTTPS echo server; killed on drop.
struct TlsEcho {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl TlsEcho {
    fn start(dir: &Path, cert: &str, key: &str, tag: &str) -> TlsEcho {
        let script = dir.join("tls_echo.py");
        std::fs::write(&script, TLS_ECHO).unwrap();
        let (port_file, log) = (dir.join(format!("{tag}.port")), dir.join(format!("{tag}.log")));
        let child = Command::new("python3")
            .arg(&script)
            .args([dir.join(cert), dir.join(key), port_file.clone(), log.clone()])
            .spawn()
            .expect("python3");
        let mut port = None;
        for _ in 0..500 {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                port = p.trim().parse().ok();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        TlsEcho { child, port: port.expect("the TLS echo server started"), log }
    }

    fn received(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TlsEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the TLS client as the session's proxy would: through the enforcer's socket.
fn tls_request(
    dir: &Path,
    s: &Session,
    ca: &Path,
    target: (&str, u16),
    sni: &str,
    host_header: &str,
    extra: &str,
) -> String {
    let script = dir.join("tls_client.py");
    std::fs::write(&script, TLS_CLIENT).unwrap();
    let sock = sandbox_core::egress::socket_path(s.control_dir());
    let o = Command::new("python3")
        .arg(&script)
        .arg(&sock)
        .args([target.0, &target.1.to_string()])
        .arg(ca)
        .args([sni, host_header, extra])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn credentials_are_injected_outside_and_never_reach_the_session() {
    let t = TestScope::new("egress-cred");
    let pki = tempfile::tempdir().unwrap();
    test_pki(pki.path(), "cred.test");
    let real = TlsEcho::start(pki.path(), "cred.test.pem", "cred.test.key", "real");
    let impostor = TlsEcho::start(pki.path(), "impostor.pem", "impostor.key", "impostor");
    let plain = Server::start(|req| {
        let body = [b"you sent:\n".as_slice(), req].concat();
        let mut out =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
        out.extend(body);
        out
    });
    // The secrets live in host files outside the working dir.
    let secret = format!("s3cr3t-{}-{}", std::process::id(), sandbox_e2e::unique_id("tok"));
    let api_key = format!("k3y-{}", sandbox_e2e::unique_id("key"));
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("token"), format!("Bearer {secret}\n")).unwrap();
    std::fs::write(secrets.path().join("key"), &api_key).unwrap();
    let policy: EgressPolicy = serde_json::from_value(serde_json::json!({
        "allow": ["cred.test", "impostor.test", "plain.test", "other.test",
                  format!("127.0.0.1:{}", real.port), format!("127.0.0.1:{}", impostor.port), format!("127.0.0.1:{}", plain.port)],
        "hosts": {"cred.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"], "plain.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]},
        "credentials": [
            {"host": "cred.test", "header": "Authorization", "from_file": secrets.path().join("token")},
            {"host": "impostor.test", "header": "Authorization", "from_file": secrets.path().join("token")},
            {"host": "plain.test", "header": "X-Api-Key", "from_file": secrets.path().join("key")},
        ],
        "upstream_ca_files": [pki.path().join("ca.pem")],
    }))
    .unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("egress").egress(policy.clone())).await.unwrap();
        let mut table = ProbeTable::new("egress_credentials");
        let ca = s.control_dir().join("egress-ca.pem");
        let dir = pki.path();

        // Control: HTTPS through the enforcer, verified against the session CA, gets the
        // header added on the way (the server saw it) and scrubbed on the way back.
        let out = tls_request(
            dir,
            &s,
            &ca,
            ("cred.test", real.port),
            "cred.test",
            &format!("cred.test:{}", real.port),
            "Authorization: forged\r\n",
        );
        assert!(out.contains("200 OK") && out.contains("you sent:"), "control: {out}");
        let seen = real.received();
        assert!(seen.contains(&format!("Authorization: Bearer {secret}")), "the real host gets the credential: {seen}");
        assert!(!seen.contains("forged"), "the session's own header is dropped: {seen}");
        assert!(
            seen.contains("Accept-Encoding: identity") && !seen.contains("gzip"),
            "answers stay scrubbable (uncompressed): {seen}"
        );
        table.refused_if(
            "a server that echoes the request headers back (HTTPS)",
            "GET https://cred.test/echo, answer searched for the secret",
            !out.contains(&secret) && out.contains("Authorization: *****"),
            "the answer's copy of the secret is replaced by asterisks",
        );
        // Plain HTTP gets it too, scrubbed the same way, from an ordinary tool inside.
        let o = sh(&s, &format!("wget -q -O- http://plain.test:{}/echo", plain.port)).await;
        let plain_seen = String::from_utf8_lossy(&plain.received.lock().unwrap().concat()).to_string();
        assert!(plain_seen.contains(&format!("X-Api-Key: {api_key}")), "{plain_seen}");
        table.refused_if(
            "a server that echoes the request headers back (plain HTTP, from wget inside)",
            "wget http://plain.test/echo",
            !o.stdout_lossy().contains(&api_key) && o.stdout_lossy().contains("X-Api-Key: *"),
            o.stdout_lossy().lines().filter(|l| l.starts_with("X-Api-Key")).collect::<Vec<_>>().join(" "),
        );

        // The trust bundle: the session CA is trusted inside, by the usual variables.
        let trust =
            sh(&s, "echo $SSL_CERT_FILE; grep -c 'BEGIN CERTIFICATE' /.sandbox/ca-bundle.pem; ls /.sandbox").await;
        let ca_pem = std::fs::read_to_string(&ca).unwrap();
        let bundle = sh(&s, "cat /.sandbox/ca-bundle.pem").await.stdout_lossy();
        assert!(trust.stdout_lossy().starts_with("/.sandbox/ca-bundle.pem\n"), "{}", trust.stdout_lossy());
        assert!(bundle.contains(ca_pem.trim()), "the bundle holds the session CA");
        table.row(
            "the session CA's key is out of the container's reach",
            "ls /.sandbox (the shared dir)",
            if trust.stdout_lossy().contains("egress-ca.key") { Outcome::Escaped } else { Outcome::Contained },
            "only the certificate is shared; the key stays in the host-private control dir",
        );

        // Where the secret must never be found.
        let fs = sh(
            &s,
            &format!(
                "grep -rl -s '{secret}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev | head -5; echo done"
            ),
        )
        .await;
        table.refused_if(
            "the secret searched for in the container's whole filesystem",
            "grep -r <secret> / (except /proc, /sys, /dev)",
            fs.stdout_lossy().trim() == "done",
            fs.stdout_lossy().trim().replace('\n', " "),
        );
        let key_fs = sh(
            &s,
            &format!(
                "grep -rl -s '{api_key}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev | head -5; echo done"
            ),
        )
        .await;
        table.refused_if(
            "the plain-HTTP key searched for in the container's whole filesystem",
            "grep -r <key> /",
            key_fs.stdout_lossy().trim() == "done",
            key_fs.stdout_lossy().trim().replace('\n', " "),
        );
        let env =
            sh(&s, &format!("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '{secret}'; echo")).await;
        table.refused_if(
            "the secret searched for in every process's environment",
            "cat /proc/*/environ",
            env.stdout_lossy().trim().starts_with('0'),
            format!("{} matches", env.stdout_lossy().trim()),
        );
        let procs = sh(&s, "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done").await;
        table.refused_if(
            "the process holding the secret (the enforcer) from inside",
            "every command line in /proc",
            !procs.stdout_lossy().contains("enforce"),
            "the enforcer is a host process, outside the session's pid namespace",
        );
        let mem =
            sh(&s, &format!("for p in /proc/[0-9]*; do cat $p/mem 2>/dev/null; done | grep -c '{secret}'; echo")).await;
        table.refused_if(
            "the secret searched for in the memory of every process inside",
            "cat /proc/*/mem",
            mem.stdout_lossy().trim().starts_with('0'),
            format!("{} matches", mem.stdout_lossy().trim()),
        );
        let log = serde_json::to_string(&s.network_log().unwrap()).unwrap();
        let raw_log = std::fs::read_to_string(s.control_dir().join("egress.log")).unwrap_or_default();
        table.refused_if(
            "the secret searched for in the network log",
            "network_log() and the log file",
            !log.contains(&secret)
                && !raw_log.contains(&secret)
                && !log.contains(&api_key)
                && log.contains("\"injected\":\"Authorization\""),
            "the log names the header injected, never its value",
        );

        // Attempts to get the credential sent elsewhere.
        let sent = |e: &TlsEcho| e.received().matches(secret.as_str()).count();
        let before = sent(&real);
        let out =
            tls_request(dir, &s, &ca, ("cred.test", real.port), "cred.test", &format!("other.test:{}", real.port), "");
        table.refused_if(
            "a Host header naming another site inside the credential host's tunnel",
            "CONNECT cred.test, TLS, GET with Host: other.test",
            out.contains("400") && sent(&real) == before,
            out.lines().last().unwrap_or_default().to_string(),
        );
        let out =
            tls_request(dir, &s, &ca, ("cred.test", real.port), "other.test", &format!("cred.test:{}", real.port), "");
        table.refused_if(
            "TLS asking for another name inside the credential host's tunnel",
            "CONNECT cred.test, ClientHello(other.test)",
            !out.contains("200 OK") && sent(&real) == before,
            out.lines().last().unwrap_or_default().to_string(),
        );
        let out = tls_request(
            dir,
            &s,
            &ca,
            ("impostor.test", impostor.port),
            "impostor.test",
            &format!("impostor.test:{}", impostor.port),
            "",
        );
        table.refused_if(
            "a host that cannot prove its name (self-signed) gets no credential",
            "CONNECT impostor.test (certificate not from a trusted CA)",
            sent(&impostor) == 0 && out.contains("did not prove"),
            format!("the enforcer refused before any request: {}", out.lines().last().unwrap_or_default()),
        );
        let other = tls_request(
            dir,
            &s,
            &ca,
            ("other.test", real.port),
            "other.test",
            &format!("other.test:{}", real.port),
            "",
        );
        table.refused_if(
            "a host without a credential is not terminated (the session CA does not vouch for it)",
            "CONNECT other.test, TLS trusting only the session CA",
            other.contains("error") && !other.contains("200 OK"),
            "the session sees the real server's certificate, which its CA did not sign",
        );
        let mut changed = policy.clone();
        changed.credentials.pop();
        let e = s.set_egress(&changed).unwrap_err();
        table.refused_if(
            "changing the credentials of a running session",
            "set_egress with one credential less",
            e.kind() == ErrorKind::InvalidInput,
            e.to_string(),
        );
        s.stop().await.unwrap();
        table.finish(14);
    });
    assert!(t.leftovers().is_empty());
}
