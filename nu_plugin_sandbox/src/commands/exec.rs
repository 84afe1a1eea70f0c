//! `sandbox exec <session> <cmd> ...args`: runs a command to completion in a session.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::ExecOptions;

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
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
duration, stdout_truncated and stderr_truncated. stdout and stderr are strings when they are valid UTF-8 and \
binary otherwise (always binary with --raw). A non-zero exit, a signal or a timeout is data, not an error. \
Piped input (string, binary or a byte stream) becomes the command's stdin. The command runs in the session's \
working directory unless --cwd is given. Ctrl-C stops the command (its whole process group) in the sandbox. \
Words after the command are passed as written; put `--` before the command when its own flags share a name \
with this command's (--timeout, --cwd, --env, --raw, --max-output, --help)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
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
                "Capture at most this much of each stream (default 16MiB).",
                None,
            )
            .switch("raw", "Return stdout and stderr as binary even when they are text.", None)
            .allows_unknown_args()
            .input_output_type(Type::Any, Type::record())
            .category(super::category())
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
        let mut ctx = CallContext::new(plugin, engine, call)?;
        let session = arguments::session_id(&call.req::<Value>(0)?)?;
        ctx.errors.session(&session.item, session.span);

        // Positional words after the session; `--` (end of this command's options) is
        // forwarded by nushell as a word of its own and is dropped here.
        let mut words: Vec<&Value> = call.positional.iter().skip(1).collect();
        if words.first().is_some_and(|v| v.as_str().is_ok_and(|s| s == "--")) {
            words.remove(0);
        }
        let Some(first) = words.first() else {
            return Err(LabeledError::new("no command given")
                .with_label("give the command to run after the session", head)
                .with_help("e.g. sandbox exec demo -- ls -la"));
        };
        ctx.errors.blame("command", first.span());
        let argv = words.iter().map(|v| arguments::command_word(v)).collect::<Result<Vec<String>, _>>()?;
        if argv[0].is_empty() {
            return Err(LabeledError::new("the command is empty")
                .with_label("empty program name", first.span())
                .with_help("give the program to run, e.g. sh"));
        }

        let mut options = ExecOptions::new();
        if let Some((v, span)) = flag(call, "timeout") {
            options.timeout = Some(arguments::positive_duration(&v, "timeout")?);
            ctx.errors.blame("timeout", span);
        }
        if let Some((v, span)) = flag(call, "cwd") {
            let cwd = v.as_str().map_err(|_| {
                LabeledError::new("--cwd must be a string").with_label(format!("this is a {}", v.get_type()), span)
            })?;
            if cwd.is_empty() {
                return Err(LabeledError::new("--cwd is empty")
                    .with_label("empty path", span)
                    .with_help("leave --cwd out to use the session's working directory"));
            }
            options.cwd = Some(cwd.to_string());
            ctx.errors.blame("cwd", span);
        }
        if let Some((v, span)) = flag(call, "env") {
            options.env = arguments::env_pairs(&v)?;
            ctx.errors.blame("environment variable", span);
        }
        if let Some((v, span)) = flag(call, "max-output") {
            let bytes = v.as_filesize().map(|f| f.get()).unwrap_or(-1);
            if bytes <= 0 {
                return Err(LabeledError::new("--max-output must be a positive size")
                    .with_label("not a positive filesize", span)
                    .with_help("e.g. --max-output 1MiB"));
            }
            options.output_cap = Some(bytes as u64);
        }
        let raw = call.has_flag("raw")?;
        options.stdin = stdin_bytes(input)?;

        let sandbox = ctx.sandbox.clone();
        let id = session.item.clone();
        let cache = plugin.cache();
        let result = interrupt::block_on(plugin, engine, head, "sandbox exec", async {
            let session = cache.session(&sandbox, &id).await?;
            session.exec(&argv, options).await
        })?;
        cache.forget_if_gone(&ctx.sandbox, &session.item, &result);
        let out = result.map_err(|e| ctx.errors.error(&e))?;
        Ok(PipelineData::value(records::exec_output(out, raw, head), None))
    }
}

/// Piped input as stdin bytes: nothing means no stdin (/dev/null). Text, binary and
/// byte streams go as they are; numbers, bools and other simple values as their text,
/// as nushell does for external commands (so `1..3 | each { sandbox exec s cat }`
/// works); structured data is refused with a hint to convert it.
fn stdin_bytes(input: PipelineData) -> Result<Option<Vec<u8>>, LabeledError> {
    match input {
        PipelineData::Empty => Ok(None),
        PipelineData::Value(v, _) => match v {
            Value::Nothing { .. } => Ok(None),
            Value::String { val, .. } => Ok(Some(val.into_bytes())),
            Value::Binary { val, .. } => Ok(Some(val.into_owned())),
            v @ (Value::Int { .. }
            | Value::Float { .. }
            | Value::Bool { .. }
            | Value::Filesize { .. }
            | Value::Duration { .. }
            | Value::Date { .. }
            | Value::Glob { .. }) => Ok(Some(v.coerce_into_string()?.into_bytes())),
            other => Err(stdin_type_error(&other.get_type().to_string(), other.span())),
        },
        PipelineData::ByteStream(stream, _) => Ok(Some(stream.into_bytes()?)),
        PipelineData::ListStream(stream, _) => Err(stdin_type_error("list stream", stream.span())),
    }
}

fn stdin_type_error(kind: &str, span: nu_protocol::Span) -> LabeledError {
    LabeledError::new(format!("sandbox exec takes text or binary as input, not a {kind}"))
        .with_label("this input cannot be stdin", span)
        .with_help("convert it first, e.g. `| to json`, `| to text` or `| str join (char nl)`")
}
