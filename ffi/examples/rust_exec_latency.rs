//! The Rust API's side of the FFI benchmark (`scripts/bench-ffi`): attaches to a running
//! session with sandbox-core, then for each line `N` read from stdin runs `N` execs of
//! `true` and prints their latencies (microseconds) as one JSON array line. The Python
//! side alternates chunks with its own, so both are measured under the same load, in the
//! same run, on the same session.
//!
//! `rust_exec_latency <session-id>` (scope from `SANDBOX_SCOPE`).

use std::io::{BufRead, Write};
use std::time::Instant;

use sandbox_core::{ExecOptions, Sandbox};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let id = std::env::args().nth(1).ok_or("usage: rust_exec_latency <session-id>")?;
    let sandbox = Sandbox::from_env()?;
    let session = sandbox.attach(&id).await?;
    for _ in 0..200 {
        session.exec(&["true"], ExecOptions::new()).await?;
    }
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    for line in stdin.lock().lines() {
        let n: usize = line?.trim().parse()?;
        let mut us = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let out = session.exec(&["true"], ExecOptions::new()).await?;
            us.push(t.elapsed().as_secs_f64() * 1e6);
            assert!(out.success());
        }
        writeln!(stdout, "{}", serde_json::to_string(&us)?)?;
        stdout.flush()?;
    }
    Ok(())
}
