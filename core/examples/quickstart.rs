//! The main job: start a real session on the current directory (or the one given),
//! run a few commands in it, show the results and the start report, stop it.
//!
//! `cargo run --release -p sandbox-core --example quickstart -- [DIR]`

use std::time::{Duration, Instant};

use sandbox_core::{ExecOptions, Sandbox, SessionSpec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::current_dir()?,
    };
    let sandbox = Sandbox::from_env()?;
    let info = sandbox.info().await?;
    println!(
        "podman {} ({}, cgroup {}, runtime {}, limits {})",
        info.version,
        if info.rootless { "rootless" } else { "rootful" },
        info.cgroup_mode,
        info.runtime(),
        if info.limits_enforceable { "enforced" } else { "not enforceable" }
    );
    let id = format!("quickstart-{}", std::process::id());
    let t = Instant::now();
    let session = sandbox.start(SessionSpec::new(&id, &dir)).await?;
    println!("started session {id} in {:?}", t.elapsed());
    let report = session.start_report().expect("a started session has a report");
    println!("start report:\n{}", serde_json::to_string_pretty(report)?);

    let run = async {
        for cmd in [
            "uname -a",
            "id",
            "pwd && ls | head -5",
            "echo from-the-sandbox > sandbox-quickstart.txt && cat sandbox-quickstart.txt && rm sandbox-quickstart.txt",
        ] {
            let t = Instant::now();
            let out = session.exec(&["sh", "-c", cmd], ExecOptions::new().timeout(Duration::from_secs(30))).await?;
            let code = out.exit_code.map_or_else(|| format!("signal {:?}", out.signal), |c| c.to_string());
            println!("$ {cmd}    [exit {code}, {:.2} ms]", t.elapsed().as_secs_f64() * 1e3);
            print!("{}", out.stdout_lossy());
            eprint!("{}", out.stderr_lossy());
        }
        let t = Instant::now();
        let n = 200;
        for _ in 0..n {
            session.exec(&["true"], ExecOptions::new()).await?;
        }
        println!("{n} execs of `true`: {:?} each on average", t.elapsed() / n);
        let out = session
            .exec(&["sh", "-c", "sleep 100 & sleep 100"], ExecOptions::new().timeout(Duration::from_millis(300)))
            .await?;
        println!("a command past its 300 ms timeout: timed_out={} signal={:?}", out.timed_out, out.signal);
        Ok::<_, sandbox_core::Error>(())
    };
    let result = run.await;
    let t = Instant::now();
    session.stop().await?;
    println!("stopped in {:?}", t.elapsed());
    result?;
    Ok(())
}
