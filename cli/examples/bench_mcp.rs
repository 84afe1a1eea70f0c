//! Benchmark of `sandbox mcp`: an `exec` of `true` as an MCP `tools/call` over stdio (a
//! JSON-RPC line to the server, its answer read back), beside the same exec through the
//! Rust API on the same session, interleaved in chunks so both see the same machine. Prints
//! p50, p99 and mean of each and the ratio of the p50s.
//!
//! `scripts/bench-mcp` (release build). `--quick` runs tiny sample counts (a smoke test);
//! `--samples N` sets the count. The `sandbox` binary is `SANDBOX_CLI`, else the one
//! beside this example's directory (`target/<profile>/sandbox`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sandbox_core::ExecOptions;
use sandbox_e2e::TestScope;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

/// A JSON-RPC client of the server, as bare as the protocol allows: a line out, lines in
/// until the answer with our id.
struct Rpc {
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Rpc {
    async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("json");
        line.push(b'\n');
        self.input.write_all(&line).await.expect("write to the server");
        self.input.flush().await.expect("flush");
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let line = self.output.next_line().await.expect("read from the server").expect("the server ended");
            let v: Value = serde_json::from_str(&line).expect("a JSON-RPC line");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }
}

fn sandbox_binary() -> PathBuf {
    std::env::var_os("SANDBOX_CLI").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("this program's path");
        exe.parent().and_then(|examples| examples.parent()).expect("target/<profile>").join("sandbox")
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(name: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!("{name:<48} {:>8.3} {:>8.3} {:>8.3}", ms(pct(&v, 0.5)), ms(pct(&v, 0.99)), ms(mean));
    pct(&v, 0.5)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let samples: usize = match args.iter().position(|a| a == "--samples") {
        Some(i) => args.get(i + 1).and_then(|n| n.parse().ok()).expect("--samples N"),
        None if quick => 20,
        None => 2000,
    };
    let chunk = (samples / 8).max(1);
    let t = TestScope::new("benchmcp");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let session = t.sandbox.start(t.spec("benchmcp")).await.expect("start a session");
        let mut server = tokio::process::Command::new(sandbox_binary())
            .args(["mcp", "--root"])
            .arg(t.dir.path())
            .env("SANDBOX_SCOPE", &t.scope)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run sandbox mcp (build it: cargo build -p sandbox-cli)");
        let mut rpc = Rpc {
            input: server.stdin.take().expect("stdin"),
            output: BufReader::new(server.stdout.take().expect("stdout")).lines(),
            next_id: 0,
        };
        let init = rpc
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "bench_mcp", "version": "1"}}),
            )
            .await;
        rpc.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        let call = json!({"name": "exec", "arguments": {"session": session.id(), "argv": ["true"]}});
        let (mut over_mcp, mut direct) = (Vec::new(), Vec::new());
        // Warm both paths up, then interleave chunks of each.
        for _ in 0..chunk.min(50) {
            rpc.request("tools/call", call.clone()).await;
            session.exec(&["true"], ExecOptions::new()).await.expect("exec");
        }
        while over_mcp.len() < samples {
            for _ in 0..chunk.min(samples - over_mcp.len()) {
                let at = Instant::now();
                let r = rpc.request("tools/call", call.clone()).await;
                over_mcp.push(at.elapsed());
                assert!(r["isError"] != true && r["structuredContent"]["exit_code"] == 0, "{r}");
            }
            for _ in 0..chunk.min(samples - direct.len()) {
                let at = Instant::now();
                let r = session.exec(&["true"], ExecOptions::new()).await.expect("exec");
                direct.push(at.elapsed());
                assert_eq!(r.exit_code, Some(0));
            }
        }
        println!(
            "exec `true` round trip, {} samples per row, interleaved in chunks of {chunk}; MCP protocol {}",
            samples, init["protocolVersion"]
        );
        println!("{:<48} {:>8} {:>8} {:>8}", "path", "p50 ms", "p99 ms", "mean ms");
        let mcp = row("MCP tools/call exec over stdio (sandbox mcp)", over_mcp);
        let rust = row("Rust API (Session::exec), same session", direct);
        println!(
            "MCP over the Rust API at p50: {:.2}x (+{:.3} ms)",
            mcp.as_secs_f64() / rust.as_secs_f64(),
            ms(mcp.saturating_sub(rust))
        );
        drop(rpc);
        let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
        session.stop().await.expect("stop the session");
    });
}
