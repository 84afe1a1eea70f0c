//! `sandbox run <session> <cmd> ...args`: runs a command in a session and streams its
//! stdout as it is written, like an external command.

use std::io::{self, Read, Write};
use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    ByteStream, ByteStreamType, Example, LabeledError, PipelineData, Signature, Span, SyntaxShape, Type,
};
use sandbox_core::{ExecControl, ExecEvent, ExecExit, ExecStream};
use tokio::runtime::Handle;

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::chunk_reader::{ChunkReader, ChunkSource, stream_error};
use crate::interrupt::{self, Interrupt};
use crate::signal_name::signal_name;
use crate::stdin_input::StdinInput;

/// `sandbox run`: one command, its stdout as a byte stream.
pub struct Run;

/// How long the stream waits, after the command exited, for its output pipes to close
/// (background processes may hold them): as long as it takes, as for an external
/// command, which nushell reads to the end of its output.
///
/// It also works around a sandbox-agent behaviour: the agent gives up on the pipes
/// `linger` after the exit (100 ms by default) even while it is only waiting for the
/// reader to take output it has not sent yet (flow control), so the last part of the
/// output of a fast command read by a slow consumer was lost. With the pipes closed by
/// the command's exit, the wait ends as soon as everything is read.
const UNTIL_PIPES_CLOSE: Duration = Duration::from_secs(7 * 24 * 3600);

const HELP_FAILURE: &str = "pass --ignore-errors to take a failure as the end of the output, or use `sandbox exec` to get the exit code as data";

impl PluginCommand for Run {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox run"
    }

    fn description(&self) -> &str {
        "Run a command in a sandbox session and stream its output as it is written, like an external command."
    }

    fn extra_description(&self) -> &str {
        "stdout becomes a byte stream that arrives while the command runs, so `sandbox run s make | lines | each {...}` \
works on long output, and a consumer that stops early (`| first 10`) kills the command. stderr goes to nushell's \
stderr as it is written, as for an external command (--merge puts it into the stream instead). Piped input (text, \
binary or a byte stream, fed as it comes) becomes the command's stdin. Ctrl-C kills the command (its whole process \
group) in the sandbox.

Like an external command's, the output ends when the command's stdout and stderr close: a background process \
that keeps them open (`sh -c 'server &'`) keeps the stream going until it exits or Ctrl-C.

Like an external command, a command that fails is an error: a non-zero exit code, a signal, a timeout. When it fails \
before writing any output, the error names the exit code. When it fails after output was streamed, nushell 0.115 \
keeps only the kind of a byte stream's error, so the plugin writes the full message to stderr and the stream ends \
with an I/O error labelled at the command: not found (exit code 127), permission denied (126), timed out, out of \
memory, interrupted (killed by a signal) or invalid data (any other exit code). With --ignore-errors a failure is \
just the end of the output. For the exit status as data use `sandbox exec`, which returns a record.

Words after the command are passed as written; put `--` before the command when its own flags share a name with \
this command's (--timeout, --cwd, --env, --merge, --raw, --ignore-errors, --help)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            // OneOf: `true`, `false` and numbers are literals to nushell, programs here.
            .required("command", SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]), "Program to run.")
            .rest("args", SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]), "Its arguments.")
            .named("timeout", SyntaxShape::Duration, "Kill the command (its process group) after this long.", None)
            .named("cwd", SyntaxShape::String, "Working directory inside the session.", None)
            .named(
                "env",
                SyntaxShape::Record(Default::default()),
                "Extra environment variables, e.g. { RUST_LOG: debug }.",
                None,
            )
            .switch("merge", "Put stderr into the output stream too (like o+e>|).", None)
            .switch("ignore-errors", "A failing command just ends the output; no error.", None)
            .switch("raw", "Stream binary, even when the output is text.", None)
            .allows_unknown_args()
            .input_output_type(Type::Any, Type::Any)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["stream", "external", "command", "shell", "pipe"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox run demo seq 3",
                description: "Run a command; its output streams like an external command's",
                result: Some(nu_protocol::Value::test_string("1\n2\n3\n")),
            },
            Example {
                example: "sandbox run demo sh -c 'yes | head -n 100000' | lines | length",
                description: "Work on long output line by line as it arrives",
                result: None,
            },
            Example {
                example: "'hello' | sandbox run demo tr a-z A-Z",
                description: "Piped input becomes stdin",
                result: Some(nu_protocol::Value::test_string("HELLO")),
            },
            Example {
                example: "sandbox run demo --merge sh -c 'echo oops >&2'",
                description: "Merge stderr into the stream",
                result: Some(nu_protocol::Value::test_string("oops\n")),
            },
            Example {
                example: "sandbox run demo --ignore-errors sh -c 'echo partial; exit 3'",
                description: "Take a failure as the end of the output",
                result: Some(nu_protocol::Value::test_string("partial\n")),
            },
            Example {
                example: "sandbox run demo tail -f /var/log/app.log | lines | each {|l| print $l }",
                description: "Follow a growing log until Ctrl-C (which stops `tail` in the sandbox)",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let head = call.head;
        let (mut ctx, session) = CallContext::for_session(plugin, engine, call)?;
        let (argv, command_span) = arguments::command_line(call, 1, "sandbox run demo -- make test")?;
        ctx.errors.blame("command", command_span);
        let mut options = ctx.exec_options(call)?;
        options.linger = Some(UNTIL_PIPES_CLOSE);
        let merge = call.has_flag("merge")?;
        let ignore_errors = call.has_flag("ignore-errors")?;
        let raw = call.has_flag("raw")?;
        let piped = match StdinInput::from_pipeline(input, "sandbox run")? {
            StdinInput::None => {
                // An empty stdin that is closed at once, as for an external without input.
                options.stdin = Some(Vec::new());
                None
            }
            StdinInput::Bytes(bytes) => {
                options.stdin = Some(bytes);
                None
            }
            StdinInput::Stream(stream) => Some(stream),
        };

        let what = format!("`{}` in session {session}", argv[0]);
        // Registered before the command starts, kept by the stream until it ends.
        let interrupt = Interrupt::register(engine)?;
        let mut stream = ctx.on_session(plugin, engine, call, "sandbox run", interrupt::CANCELLED, |s| async move {
            s.exec_stream(&argv, options).await
        })?;
        let handle = plugin.runtime().handle().clone();
        if let Some(piped) = piped {
            feed_stdin(handle.clone(), stream.control(), piped, command_span)?;
        }

        let mut output = RunOutput { stream: None, interrupt, merge, ignore_errors, what };
        // Up to the first output (or the end): errors before any output are labelled
        // errors at the command, which a stream cannot carry (see chunk_reader).
        let first = {
            let _entered = handle.enter();
            let first = handle.block_on(output.first(&mut stream));
            if !matches!(first, First::Output(_)) {
                drop(stream);
            } else {
                output.stream = Some(stream);
            }
            first
        };
        let first = match first {
            First::Output(bytes) => bytes,
            First::Ended => Vec::new(),
            First::Interrupted => {
                return Err(interrupt::interrupted_error("sandbox run", head, interrupt::CANCELLED));
            }
            First::Failed(exit) => return Err(failure_error(&exit, &output.what, command_span)),
            First::Error(e) => return Err(ctx.errors.error(&e)),
        };
        let type_ = if raw { ByteStreamType::Binary } else { ByteStreamType::Unknown };
        let reader = ChunkReader::new(handle, output, first);
        Ok(PipelineData::byte_stream(reader.into_byte_stream(command_span, type_), None))
    }
}

/// How the wait for the first output ended.
enum First {
    /// Output to stream, starting with these bytes.
    Output(Vec<u8>),
    /// The command ended successfully (or, with --ignore-errors, at all) without output.
    Ended,
    /// It failed without output.
    Failed(ExecExit),
    /// Ctrl-C.
    Interrupted,
    /// The sandbox reported an error (e.g. the working directory does not exist).
    Error(sandbox_core::Error),
}

/// The source of the byte stream: the command's events after the first output.
struct RunOutput {
    stream: Option<ExecStream>,
    interrupt: Interrupt,
    merge: bool,
    ignore_errors: bool,
    /// "`sh` in session demo", for messages.
    what: String,
}

/// One step of a running command, as the stream sees it.
enum Step {
    Event(Option<sandbox_core::Result<ExecEvent>>),
    Interrupted,
}

impl RunOutput {
    async fn step(interrupt: &Interrupt, stream: &mut ExecStream) -> Step {
        tokio::select! {
            biased;
            _ = interrupt.wait() => Step::Interrupted,
            event = stream.next() => Step::Event(event),
        }
    }

    /// Reads events up to the first output (stderr is written out meanwhile).
    async fn first(&self, stream: &mut ExecStream) -> First {
        loop {
            match Self::step(&self.interrupt, stream).await {
                Step::Interrupted => return First::Interrupted,
                Step::Event(None) => return First::Ended,
                Step::Event(Some(Err(e))) => return First::Error(e),
                Step::Event(Some(Ok(ExecEvent::Stdout(b)))) => return First::Output(b),
                Step::Event(Some(Ok(ExecEvent::Stderr(b)))) => {
                    if self.merge {
                        return First::Output(b);
                    }
                    write_stderr(&b);
                }
                Step::Event(Some(Ok(ExecEvent::Exit(exit)))) => {
                    return if self.ignore_errors || failure(&exit).is_none() {
                        First::Ended
                    } else {
                        First::Failed(exit)
                    };
                }
            }
        }
    }
}

impl ChunkSource for RunOutput {
    async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            let step = Self::step(&self.interrupt, stream).await;
            let event = match step {
                Step::Event(None) => {
                    self.stream = None;
                    return Ok(None);
                }
                // Dropping the exec stream kills the command; the stream ends with an
                // error, as a pipeline interrupted by Ctrl-C does.
                Step::Interrupted => {
                    self.stream = None;
                    return Err(stream_error(
                        io::ErrorKind::Interrupted,
                        format!("sandbox run: {} was interrupted", self.what),
                    ));
                }
                Step::Event(Some(event)) => event,
            };
            match event {
                Ok(ExecEvent::Stdout(b)) => return Ok(Some(b)),
                Ok(ExecEvent::Stderr(b)) if self.merge => return Ok(Some(b)),
                Ok(ExecEvent::Stderr(b)) => write_stderr(&b),
                Ok(ExecEvent::Exit(exit)) => {
                    self.stream = None;
                    return match failure(&exit) {
                        Some((words, kind)) if !self.ignore_errors => {
                            let message = format!("sandbox run: {} {words}", self.what);
                            eprintln!("Error: {message}\n  help: {HELP_FAILURE}");
                            Err(stream_error(kind, message))
                        }
                        _ => Ok(None),
                    };
                }
                Err(e) => {
                    self.stream = None;
                    let message = format!("sandbox run: {}: {e}", self.what);
                    eprintln!("Error: {message}");
                    return Err(stream_error(io::ErrorKind::BrokenPipe, message));
                }
            }
        }
    }
}

/// How a command failed (words for messages, and the error kind a stream ends with), or
/// `None` when it succeeded.
fn failure(exit: &ExecExit) -> Option<(String, io::ErrorKind)> {
    if exit.timed_out {
        let how = exit.signal.map_or_else(String::new, |s| format!(" ({} sent)", signal_name(s)));
        return Some((format!("timed out and was killed{how}"), io::ErrorKind::TimedOut));
    }
    if exit.oom_killed {
        return Some(("was killed for running out of memory".into(), io::ErrorKind::OutOfMemory));
    }
    if let Some(signal) = exit.signal {
        return Some((format!("was killed by {}", signal_name(signal)), io::ErrorKind::Interrupted));
    }
    match exit.exit_code {
        Some(0) | None => None,
        Some(127) => Some(("exited with code 127 (command not found)".into(), io::ErrorKind::NotFound)),
        Some(126) => Some(("exited with code 126 (not executable)".into(), io::ErrorKind::PermissionDenied)),
        Some(code) => Some((format!("exited with code {code}"), io::ErrorKind::InvalidData)),
    }
}

/// The labelled error of a command that failed before writing any output.
fn failure_error(exit: &ExecExit, what: &str, command_span: Span) -> LabeledError {
    let (words, _) = failure(exit).unwrap_or_else(|| ("failed".into(), io::ErrorKind::InvalidData));
    let label = match exit.exit_code {
        Some(code) if !exit.timed_out && exit.signal.is_none() => format!("exited with code {code}"),
        _ => words.clone(),
    };
    LabeledError::new(format!("{what} {words}")).with_label(label, command_span).with_help(HELP_FAILURE)
}

fn write_stderr(bytes: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(bytes);
    let _ = err.flush();
}

/// Feeds a piped byte stream to the command's stdin from a thread of its own (the
/// stream is read blocking), then closes stdin. Stops when the command no longer takes
/// input.
fn feed_stdin(handle: Handle, control: ExecControl, input: ByteStream, span: Span) -> Result<(), LabeledError> {
    let feed = move || {
        let Some(mut reader) = input.reader() else {
            let _ = handle.block_on(control.close_stdin());
            return;
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if handle.block_on(control.write_stdin(&buf[..n])).is_err() {
                        return; // the command ended
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("sandbox run: reading the piped input failed: {e}; closing the command's stdin");
                    break;
                }
            }
        }
        let _ = handle.block_on(control.close_stdin());
    };
    std::thread::Builder::new().name("sandbox run stdin".into()).spawn(feed).map(|_| ()).map_err(|e| {
        LabeledError::new(format!("cannot start feeding the piped input: {e}")).with_label("this command's stdin", span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: Option<i32>, signal: Option<i32>, timed_out: bool) -> ExecExit {
        ExecExit { exit_code: code, signal, timed_out, ..Default::default() }
    }

    #[test]
    fn failures_are_named_and_never_other() {
        assert!(failure(&exit(Some(0), None, false)).is_none());
        let cases = [
            (exit(Some(3), None, false), "exited with code 3", io::ErrorKind::InvalidData),
            (exit(Some(127), None, false), "command not found", io::ErrorKind::NotFound),
            (exit(Some(126), None, false), "not executable", io::ErrorKind::PermissionDenied),
            (exit(None, Some(9), false), "killed by SIGKILL", io::ErrorKind::Interrupted),
            (exit(None, Some(15), true), "timed out", io::ErrorKind::TimedOut),
        ];
        for (e, words, kind) in cases {
            let (w, k) = failure(&e).expect("a failure");
            assert!(w.contains(words), "{w}");
            assert_eq!(k, kind);
        }
        let oom = ExecExit { oom_killed: true, signal: Some(9), ..Default::default() };
        assert_eq!(failure(&oom).unwrap().1, io::ErrorKind::OutOfMemory);
    }
}
