//! `exec` (run to completion, output passed through) and `run` (streamed as it comes).

use std::io::{IsTerminal, Read, Write};

use sandbox_core::{Error, ExecEvent, ExecOptions, ExecOutput, Sandbox};
use serde_json::{Map, Value, json};

use crate::Done;
use crate::args::{CommandArgs, ExecArgs, RunArgs};
use crate::exit;
use crate::output::{Out, bytes_field, line};

fn options(c: CommandArgs, timeout: Option<std::time::Duration>) -> ExecOptions {
    let mut o = ExecOptions::new();
    o.timeout = timeout;
    o.env = c.env;
    o.cwd = c.cwd;
    o
}

/// All of this command's stdin.
pub fn read_stdin() -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::io("reading stdin", e))?;
    Ok(buf)
}

/// `sandbox exec`: the command's stdout and stderr go to ours as bytes, its exit code
/// becomes ours (124 on timeout, 128+N on signal N). With --json, one document instead.
pub async fn exec(sandbox: &Sandbox, a: ExecArgs, out: Out) -> Result<Done, Error> {
    let session = sandbox.attach(&a.session).await?;
    let mut o = options(a.command_args, a.timeout);
    o.output_cap = a.output_cap;
    if a.interactive {
        o.stdin = Some(read_stdin()?);
    }
    let r = session.exec(&a.argv, o).await?;
    let code = exit::of_process(r.exit_code, r.signal, r.timed_out);
    if out.json() {
        line(&exec_record(&r));
    } else {
        std::io::stdout().write_all(&r.stdout).map_err(|e| Error::io("writing stdout", e))?;
        std::io::stderr().write_all(&r.stderr).map_err(|e| Error::io("writing stderr", e))?;
        if r.stdout_truncated || r.stderr_truncated {
            out.note(&format!(
                "sandbox: output was cut at the cap: {} bytes of stdout, {} of stderr were written in all (raise --output-cap)",
                r.stdout_total, r.stderr_total
            ));
        }
        if r.timed_out {
            out.note("sandbox: the command timed out and was killed");
        }
    }
    Ok(Done::Code(code))
}

/// `sandbox run`: output as it comes (with --jsonl, one event per line); this command's
/// stdin is fed to it when it is not a terminal.
pub async fn run(sandbox: &Sandbox, a: RunArgs, out: Out) -> Result<Done, Error> {
    let session = sandbox.attach(&a.session).await?;
    let mut stream = session.exec_stream(&a.argv, options(a.command_args, a.timeout)).await?;
    let control = stream.control();
    let feeder = if std::io::stdin().is_terminal() {
        let _ = control.close_stdin().await;
        None
    } else {
        // Stdin is read on a thread of its own (reads block) and sent as it comes.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || tx.blocking_send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Some(tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if control.write_stdin(&bytes).await.is_err() {
                    return;
                }
            }
            let _ = control.close_stdin().await;
        }))
    };
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let result = loop {
        match stream.next().await {
            Some(Ok(ExecEvent::Stdout(b))) if out.jsonl() => line(&event("stdout", &b)),
            Some(Ok(ExecEvent::Stderr(b))) if out.jsonl() => line(&event("stderr", &b)),
            Some(Ok(ExecEvent::Stdout(b))) => {
                if stdout.write_all(&b).and_then(|()| stdout.flush()).is_err() {
                    // Our reader went away (`| head`): stop, which kills the command.
                    break Ok(Done::Code(141));
                }
            }
            Some(Ok(ExecEvent::Stderr(b))) => {
                let _ = stderr.write_all(&b);
            }
            Some(Ok(ExecEvent::Exit(x))) => {
                if out.jsonl() {
                    line(&json!({"exit": {"exit_code": x.exit_code, "signal": x.signal, "timed_out": x.timed_out,
                        "oom_killed": x.oom_killed, "stdout_total": x.stdout_total, "stderr_total": x.stderr_total,
                        "duration_ms": x.duration.as_secs_f64() * 1000.0}}));
                }
                break Ok(Done::Code(exit::of_process(x.exit_code, x.signal, x.timed_out)));
            }
            Some(Err(e)) => break Err(e),
            None => {
                break Err(Error::Protocol { detail: "the command's stream ended without its exit".into() });
            }
        }
    };
    if let Some(f) = feeder {
        f.abort();
    }
    result
}

/// An exec's result as one JSON object (`exec --json`, and the MCP server's `exec`):
/// how it ended, the output (text, or base64 when not UTF-8), what the cap cut.
pub fn exec_record(r: &ExecOutput) -> Value {
    let mut m = Map::new();
    m.insert("exit_code".into(), json!(r.exit_code));
    m.insert("signal".into(), json!(r.signal));
    m.insert("timed_out".into(), json!(r.timed_out));
    m.insert("oom_killed".into(), json!(r.oom_killed));
    bytes_field(&mut m, "stdout", &r.stdout);
    bytes_field(&mut m, "stderr", &r.stderr);
    m.insert("stdout_truncated".into(), json!(r.stdout_truncated));
    m.insert("stderr_truncated".into(), json!(r.stderr_truncated));
    m.insert("stdout_total".into(), json!(r.stdout_total));
    m.insert("stderr_total".into(), json!(r.stderr_total));
    m.insert("duration_ms".into(), json!(r.duration.as_secs_f64() * 1000.0));
    Value::Object(m)
}

fn event(stream: &str, data: &[u8]) -> Value {
    let mut m = Map::new();
    m.insert("stream".into(), json!(stream));
    bytes_field(&mut m, "data", data);
    Value::Object(m)
}
