//! The escape probe suite: things an untrusted command must not be able to do, tried
//! from inside a real session. Prints a table of what was tried and what happened, and
//! fails on any escape. Run with `--nocapture` to see the table.

use std::net::TcpListener;
use std::time::Duration;

use sandbox_core::{ErrorKind, ExecOptions, Limits, Network, Session};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, run, unique_id};

const PROBE_SOURCE: &str = include_str!("../probes/escape_probe.c");

fn row(rows: &mut ProbeTable, name: &str, tried: &str, refused: bool, detail: impl Into<String>) {
    rows.refused_if(name, tried, refused, detail);
}

async fn sh(s: &Session, script: &str, timeout: Duration) -> sandbox_core::ExecOutput {
    s.exec(&["sh", "-c", script], ExecOptions::new().timeout(timeout)).await.unwrap()
}

#[test]
fn every_escape_probe_is_refused() {
    let t = TestScope::new("probes");
    run(Duration::from_secs(600), async {
        let mut rows = ProbeTable::new("escapes");
        let host = t.sandbox.info().await.unwrap();
        let limits = Limits { memory_bytes: 256 << 20, cpus: 1.0, pids: 256 };
        let s = t.sandbox.start(t.spec("probes").limits(limits)).await.unwrap();
        let report = s.start_report().unwrap().clone();

        // Syscall-level probes from a static C program.
        sandbox_e2e::build_static_probe(t.dir.path(), "escape_probe", PROBE_SOURCE);
        let o = s.exec(&["./escape_probe"], ExecOptions::new().timeout(Duration::from_secs(120))).await.unwrap();
        let text = o.stdout_lossy();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 4, "bad probe line {line:?}");
            row(&mut rows, f[0], f[1], f[2] == "REFUSED", f[3]);
        }
        assert!(rows.len() >= 30, "the probe program stopped early: {}\n{}", text, o.stderr_lossy());

        // Writing outside the working dir through the bind mount.
        let marker = unique_id("escape-marker");
        let o = sh(
            &s,
            &format!("ln -s / escape-link && echo pwned > escape-link/tmp/{marker}; ls -l escape-link"),
            Duration::from_secs(10),
        )
        .await;
        let host_file = std::path::Path::new("/tmp").join(&marker);
        row(
            &mut rows,
            "symlink_out",
            "write the host's /tmp through a symlink in the working dir",
            !host_file.exists(),
            format!(
                "the link resolves inside the container (exit {})",
                o.exit_code.map_or("none".into(), |c| c.to_string())
            ),
        );
        let dotdot = t.dir.path().parent().unwrap().join(&marker);
        sh(&s, &format!("echo pwned > ../{marker}; echo pwned > \"$PWD/../{marker}\""), Duration::from_secs(10)).await;
        row(
            &mut rows,
            "dotdot_out",
            "write next to the working dir with `..`",
            !dotdot.exists(),
            "`..` is the container's own directory",
        );

        // The host's loopback services and the engine's API socket.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        for ip in ["127.0.0.1", "10.88.0.1", "10.0.2.2"] {
            let o = sh(&s, &format!("echo x | nc -w 2 {ip} {port}"), Duration::from_secs(10)).await;
            assert_ne!(o.exit_code, Some(127), "nc missing");
            row(
                &mut rows,
                "host_loopback",
                &format!("reach a service on the host's 127.0.0.1 via {ip}"),
                !o.success(),
                format!("nc exit {}", o.exit_code.map_or("none".into(), |c| c.to_string())),
            );
        }
        let connected = listener.accept().is_ok();
        // The host's other addresses: a service listening on every interface must not be
        // reachable through them (the isolation rules reject the host's own addresses
        // and the container networks).
        let open = TcpListener::bind("0.0.0.0:0").unwrap();
        let open_port = open.local_addr().unwrap().port();
        open.set_nonblocking(true).unwrap();
        let mut hood = sandbox_core::network_isolation::Neighbourhood::default();
        let ip = std::process::Command::new("ip").args(["-j", "-d", "addr", "show"]).output().expect("ip");
        sandbox_core::network_isolation::add_ip_addr_json(&mut hood, &ip.stdout).unwrap();
        let mut targets: Vec<String> =
            hood.host_addresses.iter().filter(|c| c.addr.is_ipv4()).map(|c| c.addr.to_string()).collect();
        for gw in ["10.88.0.1", "10.0.2.2"] {
            if !targets.iter().any(|t| t == gw) {
                targets.push(gw.to_string());
            }
        }
        for ip in &targets {
            let o = sh(&s, &format!("echo x | nc -w 2 {ip} {open_port}"), Duration::from_secs(10)).await;
            row(
                &mut rows,
                "host_address",
                &format!("reach a service on all of the host's interfaces via {ip}"),
                !o.success(),
                format!("nc exit {}", o.exit_code.map_or("none".into(), |c| c.to_string())),
            );
        }
        let seen = open.accept().is_ok();
        row(
            &mut rows,
            "host_address_seen",
            "(host side) the listener on all interfaces saw a connection",
            !seen,
            "no connection arrived",
        );
        row(
            &mut rows,
            "host_loopback_seen",
            "(host side) the loopback listener saw a connection",
            !connected,
            "no connection arrived",
        );
        let o = sh(
            &s,
            "ls /run/podman/podman.sock /var/run/docker.sock /run/docker.sock /run/user/*/podman/podman.sock 2>&1",
            Duration::from_secs(10),
        )
        .await;
        row(
            &mut rows,
            "engine_socket",
            "find the container engine's API socket",
            !o.success(),
            "no engine socket is mounted",
        );

        s.stop().await.unwrap();

        // Fork bomb: the pids limit (or the nproc fallback) holds, the bomb is killed at
        // the timeout, and the session recovers.
        let s = t.sandbox.start(t.spec("forkbomb").limits(limits)).await.unwrap();
        let o = sh(&s, "b() { b | b & }; b; sleep 60", Duration::from_secs(5)).await;
        // Right after, the limit may still be reached for a moment (a typed error); the
        // session must recover.
        let mut after = None;
        for _ in 0..100 {
            match s
                .exec(&["cat", "/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"], ExecOptions::new())
                .await
            {
                Ok(out) => {
                    after = Some(out);
                    break;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let after = after.expect("the session recovers after a fork bomb");
        let held = if report.limits.enforced {
            let events = after.stdout_lossy();
            let hits: u64 = events.lines().find_map(|l| l.strip_prefix("max ")?.trim().parse().ok()).unwrap_or(0);
            format!("the pids limit (256) refused {hits} forks")
        } else {
            format!("RLIMIT_NPROC {:?} held it (no cgroup pids limit here)", report.limits.nproc_fallback)
        };
        let alive = s.exec(&["true"], ExecOptions::new()).await.map(|o| o.success()).unwrap_or(false);
        row(
            &mut rows,
            "fork_bomb",
            "fork bomb",
            o.timed_out && alive,
            format!("{held}; killed at the timeout; the session still runs commands"),
        );
        s.stop().await.unwrap();

        // Memory bomb.
        if host.limits_enforceable {
            let s = t.sandbox.start(t.spec("membomb").limits(limits)).await.unwrap();
            let o = sh(&s, "x=0123456789abcdef; while true; do x=$x$x; done", Duration::from_secs(60)).await;
            let after = s.exec(&["true"], ExecOptions::new()).await.unwrap();
            row(
                &mut rows,
                "memory_bomb",
                "allocate without bound",
                o.oom_killed && after.success(),
                format!(
                    "OOM-killed inside the 256 MiB limit (signal {:?}, oom_killed {}); the session survives",
                    o.signal, o.oom_killed
                ),
            );
            s.stop().await.unwrap();
        } else {
            let spec = t.spec("memreq").limits(limits).require_resource_limits(true);
            let e = t.sandbox.start(spec).await.unwrap_err();
            rows.row(
                "memory_bomb",
                "allocate without bound",
                if e.kind() == ErrorKind::LimitsUnavailable { Outcome::HostLimit } else { Outcome::Escaped },
                "NOT contained: this host cannot enforce memory limits (rootless cgroup v1), so only the host's OOM killer stops a memory bomb; the start report says so, and require_resource_limits refuses to start",
            );
        }

        // Filling /tmp: a bounded tmpfs, not the host's disk.
        let s = t.sandbox.start(t.spec("filltmp").limits(limits)).await.unwrap();
        let o =
            sh(&s, "dd if=/dev/zero of=/tmp/fill bs=1M count=2048 2>&1; df -k /tmp | tail -1", Duration::from_secs(60))
                .await;
        let text = o.stdout_lossy();
        let after = s.exec(&["true"], ExecOptions::new()).await.unwrap();
        row(
            &mut rows,
            "fill_tmp",
            "fill /tmp (2 GiB)",
            text.contains("No space left") && after.success(),
            "stops at the /tmp tmpfs size (1 GiB, at most half the memory limit), in memory, not on the host's disk; the session survives",
        );
        s.stop().await.unwrap();

        // Network none reaches nothing.
        let none = t.sandbox.start(t.spec("probes-none").network(Network::None)).await.unwrap();
        let open = TcpListener::bind("0.0.0.0:0").unwrap();
        let oport = open.local_addr().unwrap().port();
        open.set_nonblocking(true).unwrap();
        let o = sh(&none, &format!("for ip in 127.0.0.1 10.88.0.1 10.0.2.2 1.1.1.1; do echo x | nc -w 2 $ip {oport} && echo reached-$ip; done; cat /proc/net/dev"), Duration::from_secs(30)).await;
        let text = o.stdout_lossy();
        row(
            &mut rows,
            "network_none",
            "reach anything with network none",
            !text.contains("reached-") && open.accept().is_err(),
            "only a loopback interface",
        );
        none.stop().await.unwrap();

        rows.finish(50);
    });
    assert!(t.leftovers().is_empty());
}
