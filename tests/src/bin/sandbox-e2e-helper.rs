//! Plays "another OS process" in end-to-end tests: attaches to a session by id and runs
//! a command, or lists sessions, printing JSON. Reads the same `SANDBOX_*` environment
//! as the test that spawned it.

use std::io::Write;
use std::time::Duration;

use sandbox_core::{ExecOptions, Sandbox, TaskSpec, TaskStream, TerminalSpec};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scope = std::env::var("SANDBOX_SCOPE").unwrap_or_else(|_| sandbox_core::DEFAULT_SCOPE.into());
    let sandbox = Sandbox::new(sandbox_e2e::test_config(&scope));
    let result = match args.first().map(String::as_str) {
        Some("exec") if args.len() >= 3 => {
            let run = async {
                let session = sandbox.attach(&args[1]).await?;
                session.exec(&args[2..], ExecOptions::new()).await
            };
            run.await.map(|out| {
                serde_json::json!({
                    "stdout": String::from_utf8_lossy(&out.stdout),
                    "exit_code": out.exit_code,
                })
            })
        }
        // Starts a session in the current directory and leaves it running.
        Some("start") if args.len() == 2 => {
            let dir = std::env::current_dir().expect("cwd");
            sandbox
                .start(sandbox_core::SessionSpec::new(&args[1], dir))
                .await
                .map(|s| serde_json::json!({"started": s.id()}))
        }
        Some("list") => sandbox.list().await.map(|l| serde_json::json!(l.iter().map(|s| &s.id).collect::<Vec<_>>())),
        // Starts a ticking task and a terminal, prints their ids, then waits to be killed.
        Some("hold") if args.len() == 2 => {
            let run = async {
                let session = sandbox.attach(&args[1]).await?;
                let script = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done";
                let task = session.spawn_task(TaskSpec::shell(script)).await?;
                let term = session.open_terminal(TerminalSpec::shell(24, 80)).await?;
                term.write(b"echo typed-before-$((1+1))\n").await?;
                Ok::<_, sandbox_core::Error>(serde_json::json!({"task": task.id(), "terminal": term.id()}))
            };
            match run.await {
                Ok(v) => {
                    println!("{v}");
                    let _ = std::io::stdout().flush();
                    loop {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                }
                Err(e) => Err(e),
            }
        }
        // Attaches and reports what a task and a terminal have produced.
        Some("observe") if args.len() == 4 => {
            let run = async {
                let session = sandbox.attach(&args[1]).await?;
                let tasks = session.list_tasks().await?;
                let terms = session.list_terminals().await?;
                let out = session.task(&args[2]).read(TaskStream::Stdout, 0, 1 << 20, Some(Duration::ZERO)).await?;
                session.terminal(&args[3]).write(b"echo typed-after-$((2+2))\n").await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let screen = session.terminal(&args[3]).read(0, 1 << 20, Some(Duration::ZERO)).await?;
                Ok::<_, sandbox_core::Error>(serde_json::json!({
                    "tasks": tasks.iter().map(|t| &t.id).collect::<Vec<_>>(),
                    "task_running": tasks.iter().any(|t| t.id == args[2] && t.state.is_running()),
                    "terminals": terms.iter().map(|t| &t.id).collect::<Vec<_>>(),
                    "task_output": String::from_utf8_lossy(&out.data),
                    "task_output_from": out.offset,
                    "screen": String::from_utf8_lossy(&screen.data),
                }))
            };
            run.await
        }
        // Attaches to a session whose container is gone and reports what is still there:
        // its tasks, one task's whole output (read in small pieces until the read says
        // it is finished) and what a call that needs the agent says.
        Some("lost") if args.len() == 3 => {
            let run = async {
                let session = sandbox.attach(&args[1]).await?;
                let tasks = session.list_tasks().await?;
                let mut output = Vec::new();
                let mut reads = 0;
                loop {
                    let c = session
                        .task(&args[2])
                        .read(TaskStream::Stdout, output.len() as u64, 1000, Some(Duration::ZERO))
                        .await?;
                    output.extend_from_slice(&c.data);
                    reads += 1;
                    if c.finished || reads > 10_000 {
                        break;
                    }
                }
                let exec = session.exec(&["true"], ExecOptions::new()).await;
                Ok::<_, sandbox_core::Error>(serde_json::json!({
                    "tasks": tasks.iter().map(|t| &t.id).collect::<Vec<_>>(),
                    "output": String::from_utf8_lossy(&output),
                    "reads": reads,
                    "exec_error": exec.err().map(|e| format!("{:?}", e.kind())),
                }))
            };
            run.await
        }
        _ => {
            eprintln!(
                "usage: sandbox-e2e-helper exec <session> <argv...> | start <session> | list | hold <session> | observe <session> <task> <terminal> | lost <session> <task>"
            );
            std::process::exit(2);
        }
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            println!("{}", serde_json::json!({"error": e.to_string(), "kind": format!("{:?}", e.kind())}));
            std::process::exit(1);
        }
    }
}
