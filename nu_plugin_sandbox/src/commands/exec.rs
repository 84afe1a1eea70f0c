//! `sandbox exec <session> <cmd> ...args`: runs a command to completion in a session.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::stdin_input::StdinInput;
use crate::{interrupt, records};

/// `sandbox exec`: one command, its output as a record.
pub struct Exec;

impl PluginCommand for Exec {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox exec"
    }

    fn description(&self) -> &str {
        "Run a command in a sandbox session and return its output and exit status as a record."
    }

    fn extra_description(&self) -> &str {
        "The record has the columns of nushell's `complete` (stdout, stderr, exit_code) plus signal, timed_out, \
oom_killed (the kernel killed the command because the session ran out of memory, its memory limit), duration, \
stdout_truncated and stderr_truncated. stdout and stderr are strings when they are valid UTF-8 and \
binary otherwise (always binary with --raw). A non-zero exit, a signal or a timeout is data, not an error. \
Piped input (string, binary or a byte stream) becomes the command's stdin. The command runs in the session's \
working directory unless --cwd is given. Ctrl-C stops the command (its whole process group) in the sandbox. \
Words after the command are passed as written; put `--` before the command when its own flags share a name \
with this command's (--timeout, --cwd, --env, --raw, --max-output, --help)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            // OneOf: `true`, `false` and numbers are literals to nushell, programs here.
            .required("command", SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]), "Program to run.")
            // Bare words stay text as written (`1.50`, `0x10`, `2sec`); variables of other
            // types are accepted and turned into text.
            .rest("args", SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]), "Its arguments.")
            .named("timeout", SyntaxShape::Duration, "Kill the command (its process group) after this long.", None)
            .named("cwd", SyntaxShape::String, "Working directory inside the session.", None)
            .named(
                "env",
                SyntaxShape::Record(Default::default()),
                "Extra environment variables, e.g. { RUST_LOG: debug }.",
                None,
            )
            .named(
                "max-output",
                SyntaxShape::Filesize,
                "Capture at most this much of each stream (default 16MiB; 0B captures nothing, the totals still count).",
                None,
            )
            .switch("raw", "Return stdout and stderr as binary even when they are text.", None)
            .allows_unknown_args()
            .input_output_type(Type::Any, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["run", "command", "complete", "shell"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox exec demo sh -c 'echo hello; exit 3').exit_code",
                description: "Run a shell command; a non-zero exit is data, not an error",
                result: Some(Value::test_int(3)),
            },
            Example {
                example: "(sandbox exec demo true).oom_killed",
                description: "Whether the kernel killed the command because the session ran out of memory",
                result: Some(Value::test_bool(false)),
            },
            Example {
                example: "('some text' | sandbox exec demo wc -c).stdout",
                description: "Piped input becomes stdin",
                result: Some(Value::test_string("9\n")),
            },
            Example {
                example: "(sandbox exec demo --timeout 100ms sleep 10).timed_out",
                description: "Kill a command (and its children) that runs too long",
                result: Some(Value::test_bool(true)),
            },
            Example {
                example: "(sandbox exec demo --env { GREETING: hi } --cwd /tmp sh -c 'echo $GREETING from $(pwd)').stdout",
                description: "Set variables and the working directory",
                result: Some(Value::test_string("hi from /tmp\n")),
            },
            Example {
                example: "(sandbox exec demo printf '\\377').stdout",
                description: "Output that is not UTF-8 comes back as binary",
                result: Some(Value::test_binary(vec![0xff])),
            },
            Example {
                example: "(sandbox exec demo -- sh -c 'echo $1' _ --timeout).stdout",
                description: "Put -- before the command when its arguments look like this command's flags",
                result: Some(Value::test_string("--timeout\n")),
            },
            Example {
                example: "let r = sandbox exec demo cargo test; if $r.exit_code != 0 { print $r.stderr }",
                description: "Show the errors of a failed build",
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
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let (argv, command_span) = arguments::command_line(call, 1, "sandbox exec demo -- ls -la")?;
        ctx.errors.blame("command", command_span);
        let mut options = ctx.exec_options(call)?;
        if let Some((v, _)) = flag(call, "max-output") {
            options.output_cap = Some(arguments::filesize(&v, "max-output", "1MiB")?);
        }
        let raw = call.has_flag("raw")?;
        options.stdin = StdinInput::from_pipeline(input, "sandbox exec")?.into_bytes()?;

        let out = ctx.on_session(plugin, engine, call, "sandbox exec", interrupt::CANCELLED, |session| async move {
            session.exec(&argv, options).await
        })?;
        Ok(PipelineData::value(records::exec_output(out, raw, head), None))
    }
}
