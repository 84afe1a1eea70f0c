//! Plays "another OS process" in end-to-end tests: attaches to a session by id and runs
//! a command, or lists sessions, printing JSON. Reads the same `SANDBOX_*` environment
//! as the test that spawned it.

use sandbox_core::{ExecOptions, Sandbox};

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
        Some("list") => sandbox.list().await.map(|l| serde_json::json!(l.iter().map(|s| &s.id).collect::<Vec<_>>())),
        _ => {
            eprintln!("usage: sandbox-e2e-helper exec <session> <argv...> | list");
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
