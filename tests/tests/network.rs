//! Ports and network modes against real podman.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sandbox_core::{ExecOptions, Network};
use sandbox_e2e::{TestScope, free_port, http_get, run};

const T: Duration = Duration::from_secs(120);

/// Proves `nc` works in the session (so a failed connection means "unreachable", not
/// "no nc"): a listener inside the container accepts a connection from inside.
async fn nc_works(s: &sandbox_core::Session) {
    let script = "nc -l -p 9999 >/dev/null & sleep 0.3; echo x | nc -w 2 127.0.0.1 9999";
    let o = s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(10))).await.unwrap();
    assert!(o.success(), "nc does not work in the image: {o:?}");
}

/// Tries to connect from inside; returns whether it connected (panics if nc is missing).
async fn reaches(s: &sandbox_core::Session, ip: &str, port: u16) -> bool {
    let cmd = format!("echo x | nc -w 2 {ip} {port}");
    let o = s.exec(&["sh", "-c", &cmd], ExecOptions::new().timeout(Duration::from_secs(10))).await.unwrap();
    assert_ne!(o.exit_code, Some(127), "nc missing: {o:?}");
    o.success()
}

/// A non-loopback IPv4 address of this host, if it has one.
fn host_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn a_published_port_answers_on_loopback_only() {
    let t = TestScope::new("port");
    run(T, async {
        let port = free_port();
        let s = t.sandbox.start(t.spec("port").ports([port])).await.unwrap();
        assert_eq!(s.start_report().unwrap().ports_published, vec![port]);
        let serve =
            format!("mkdir -p /tmp/www && echo hello-port > /tmp/www/index.html && httpd -p {port} -h /tmp/www");
        let o = s.exec(&["sh", "-c", &serve], ExecOptions::new()).await.unwrap();
        assert!(o.success(), "{}", o.stderr_lossy());
        let body = tokio::task::spawn_blocking(move || http_get(port, Duration::from_secs(20))).await.unwrap();
        assert!(body.as_ref().is_ok_and(|b| b.contains("hello-port")), "{body:?}");
        if let Some(ip) = host_address() {
            let outside = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2));
            assert!(outside.is_err(), "port {port} answered on {ip}, not only on 127.0.0.1");
        }
        s.stop().await.unwrap();
    });
}

#[test]
fn a_port_in_use_is_dropped_and_the_others_kept() {
    let t = TestScope::new("portbusy");
    run(T, async {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_port = busy.local_addr().unwrap().port();
        let free = free_port();
        let s = t.sandbox.start(t.spec("portbusy").ports([free, busy_port])).await.unwrap();
        let r = s.start_report().unwrap();
        assert_eq!(r.ports_published, vec![free]);
        assert_eq!(r.ports_dropped.len(), 1);
        assert_eq!(r.ports_dropped[0].port, busy_port);
        assert!(r.warnings.iter().any(|w| w.contains(&busy_port.to_string())), "{:?}", r.warnings);
        let listed = t.sandbox.list().await.unwrap();
        assert_eq!(listed[0].ports, vec![free]);
        s.stop().await.unwrap();
        drop(busy);
    });
}

#[test]
fn network_none_reaches_nothing_not_even_host_loopback() {
    let t = TestScope::new("netnone");
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("netnone").network(Network::None).ports([free_port()])).await.unwrap();
        let r = s.start_report().unwrap();
        assert!(r.ports_published.is_empty(), "network none publishes nothing");
        assert_eq!(r.ports_dropped.len(), 1);
        let o = s.exec(&["cat", "/proc/net/dev"], ExecOptions::new()).await.unwrap();
        let ifaces: Vec<String> = o
            .stdout_lossy()
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
            .collect();
        assert_eq!(ifaces, vec!["lo".to_string()], "only loopback");
        let mut targets = vec!["127.0.0.1".to_string(), "10.88.0.1".to_string(), "10.0.2.2".to_string()];
        if let Some(ip) = host_address() {
            targets.push(ip.to_string());
        }
        nc_works(&s).await;
        for ip in &targets {
            assert!(!reaches(&s, ip, port).await, "reached {ip}:{port} with network none");
        }
        s.stop().await.unwrap();
    });
    assert!(listener.accept().is_err(), "the host listener saw a connection");
}

#[test]
fn bridge_network_cannot_reach_host_loopback_services() {
    let t = TestScope::new("loopback");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("loopback")).await.unwrap();
        nc_works(&s).await;
        for ip in ["127.0.0.1", "10.0.2.2", "10.88.0.1"] {
            assert!(!reaches(&s, ip, port).await, "reached the host's 127.0.0.1:{port} via {ip}");
        }
        s.stop().await.unwrap();
    });
    assert!(listener.accept().is_err(), "the host loopback listener saw a connection");
}
