//! Baseline for `scripts/bench-nu`: the same `exec true` calls the nu benchmark makes,
//! through the Rust API directly, on an existing session. Prints one JSON line with the
//! per-call figures in milliseconds.
//!
//! `cargo run --release -p nu_plugin_sandbox --example exec_baseline -- <session id> [calls]`
//! (the scope and other settings come from the `SANDBOX_*` variables, as for the plugin).

use std::time::Instant;

use sandbox_core::{ExecOptions, Sandbox};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let id = args.next().ok_or("usage: exec_baseline <session id> [calls]")?;
    let calls: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(200);
    let sandbox = Sandbox::from_env()?;
    let session = sandbox.attach(&id).await?;
    session.exec(&["true"], ExecOptions::new()).await?; // warm the connection, as nu's run does
    let mut ms = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let out = session.exec(&["true"], ExecOptions::new()).await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if !out.success() {
            return Err(format!("`true` failed: {out:?}").into());
        }
    }
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{{\"calls\": {calls}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"min_ms\": {:.3}, \"max_ms\": {:.3}}}",
        pick(0.5),
        pick(0.9),
        ms[0],
        ms[ms.len() - 1]
    );
    Ok(())
}
