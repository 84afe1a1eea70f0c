//! `exec`: run a command to completion. When the client sent a progress token, the
//! output is streamed and a progress notification (seconds so far, bytes of output so
//! far) goes out every second; a cancelled call kills the command either way.

use std::time::{Duration, Instant};

use rmcp::model::ProgressNotificationParam;
use sandbox_core::{DEFAULT_OUTPUT_CAP, Error, ExecEvent, ExecOptions, ExecOutput, Session};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::state::{Progress, State};
use super::tool::{Env, ToolDef, byte_limit, env_pairs, input_bytes, schema, seconds};
use crate::run::exec_record;

/// Bytes of each stream returned when the call does not say (a model's context is
/// small; the totals still count every byte).
pub const DEFAULT_EXEC_OUTPUT: u64 = 256 * 1024;
/// How often a progress notification goes out.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// `exec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// Session id.
    pub session: String,
    /// The command and its arguments, run without a shell (use ["sh", "-c", "..."] for one).
    pub argv: Vec<String>,
    /// Working directory inside the container (default: the session's working dir).
    pub cwd: Option<String>,
    /// Environment variables for this command.
    pub env: Env,
    /// Text written to the command's stdin, which is then closed (default: empty stdin;
    /// at most 16 MiB).
    pub stdin: Option<String>,
    /// Bytes written to stdin, in base64 (instead of `stdin`).
    pub stdin_base64: Option<String>,
    /// Kill the command's process group after this many seconds (default: no limit).
    pub timeout_secs: Option<f64>,
    /// Most bytes of each of stdout and stderr returned (default 262144, at most
    /// 16777216); the totals count every byte.
    pub output_cap: Option<u64>,
}

/// The exec tool.
pub const TOOLS: &[ToolDef] = &[ToolDef {
    name: "exec",
    description: "Run a command in a session to completion. Returns exit_code (or signal when killed by one), \
                  timed_out, stdout and stderr (as text; as stdout_base64/stderr_base64 when not UTF-8), and \
                  the byte totals with *_truncated when the output cap cut them. A failing command is a \
                  result, not an error. Cancelling the call kills the command.",
    schema: schema::<ExecArgs>,
    read_only: false,
}];

/// `exec`.
pub async fn exec(state: &State, a: ExecArgs, progress: Option<Progress>) -> Result<Value, Error> {
    let cap = byte_limit("output_cap", a.output_cap, DEFAULT_EXEC_OUTPUT, DEFAULT_OUTPUT_CAP)?;
    let mut o = ExecOptions::new();
    o.timeout = seconds("timeout_secs", a.timeout_secs)?;
    o.cwd = a.cwd;
    o.env = env_pairs(a.env);
    o.output_cap = Some(cap);
    o.stdin = input_bytes("stdin", a.stdin, a.stdin_base64)?;
    if a.argv.is_empty() {
        return Err(Error::invalid("argv", "is empty: give the command and its arguments"));
    }
    let session = state.session(&a.session).await?;
    let r = match progress {
        None => session.exec(&a.argv, o).await?,
        Some(p) => exec_with_progress(&session, &a.argv, o, cap, p).await?,
    };
    Ok(exec_record(&r))
}

/// [`Session::exec`], streamed, with a progress notification every second.
async fn exec_with_progress(
    session: &Session,
    argv: &[String],
    mut o: ExecOptions,
    cap: u64,
    progress: Progress,
) -> Result<ExecOutput, Error> {
    let stdin = o.stdin.take();
    let mut stream = session.exec_stream(argv, o).await?;
    let control = stream.control();
    // A streamed command's stdin is a pipe: feed it, then close it (without input, at once).
    let feeder = tokio::spawn(async move {
        if let Some(bytes) = stdin
            && control.write_stdin(&bytes).await.is_err()
        {
            return;
        }
        let _ = control.close_stdin().await;
    });
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut r = ExecOutput::default();
    let (mut out_seen, mut err_seen) = (0u64, 0u64);
    let exit = loop {
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(ExecEvent::Stdout(b))) => {
                    out_seen += b.len() as u64;
                    keep(&mut r.stdout, &b, cap);
                }
                Some(Ok(ExecEvent::Stderr(b))) => {
                    err_seen += b.len() as u64;
                    keep(&mut r.stderr, &b, cap);
                }
                Some(Ok(ExecEvent::Exit(x))) => break x,
                Some(Err(e)) => {
                    feeder.abort();
                    return Err(e);
                }
                None => {
                    feeder.abort();
                    return Err(Error::Protocol { detail: "the command's stream ended without its exit".into() });
                }
            },
            _ = ticks.tick() => {
                let secs = started.elapsed().as_secs_f64().floor();
                let note = ProgressNotificationParam::new(progress.token.clone(), secs).with_message(format!(
                    "running for {secs:.0} s; {} bytes of output so far ({out_seen} stdout, {err_seen} stderr)",
                    out_seen + err_seen
                ));
                // A client that stopped listening does not stop the command.
                let _ = progress.peer.notify_progress(note).await;
            }
        }
    };
    feeder.abort();
    r.stdout_truncated = exit.stdout_total > r.stdout.len() as u64;
    r.stderr_truncated = exit.stderr_total > r.stderr.len() as u64;
    r.exit_code = exit.exit_code;
    r.signal = exit.signal;
    r.timed_out = exit.timed_out;
    r.oom_killed = exit.oom_killed;
    r.stdout_total = exit.stdout_total;
    r.stderr_total = exit.stderr_total;
    r.duration = exit.duration;
    Ok(r)
}

/// Appends what still fits under `cap`.
fn keep(buf: &mut Vec<u8>, bytes: &[u8], cap: u64) {
    let room = usize::try_from(cap).unwrap_or(usize::MAX).saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_kept_up_to_the_cap() {
        let mut buf = Vec::new();
        keep(&mut buf, b"abc", 5);
        keep(&mut buf, b"defg", 5);
        keep(&mut buf, b"h", 5);
        assert_eq!(buf, b"abcde");
    }
}
