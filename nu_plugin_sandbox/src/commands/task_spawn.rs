//! `sandbox task spawn <session> <cmd> ...args`: starts a background task.

use std::time::SystemTime;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Value};
use sandbox_core::TaskSpec;

use super::held;
use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox task spawn`: one new task, as a record.
pub struct TaskSpawn;

impl PluginCommand for TaskSpawn {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task spawn"
    }

    fn description(&self) -> &str {
        "Start a command as a background task in a sandbox session and return the task as a record."
    }

    fn extra_description(&self) -> &str {
        "The task runs in its own process group, held by the session's agent: it keeps running when this nushell \
(or the plugin) goes away, and `sandbox task list|logs|wait|kill` find it by id from any nushell. Its stdin is \
empty; stdout and stderr are kept (each, and both merged) up to --spool-cap bytes. The record has the columns of \
`sandbox task list`: id, command, state (running, exited, killed), exit_code, signal, pid, started, ended, duration, \
spool_cap. Words after the command are passed as written; put `--` before the command when its flags share a name \
with this command's (--cwd, --env, --spool-cap, --help)."
    }

    fn signature(&self) -> Signature {
        let s = super::session_signature(self.name()).required(
            "command",
            SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]),
            "Program to run.",
        );
        super::held::start_options(
            s,
            ("spool-cap", "Output kept per stream (default 8MiB; the oldest part is dropped)."),
        )
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["background", "start", "job", "daemon", "server"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox task spawn demo sleep 30).state",
                description: "Start a background task",
                result: Some(Value::test_string("running")),
            },
            Example {
                example: "let t = sandbox task spawn demo sh -c 'echo built'; sandbox task wait demo $t | ignore; sandbox task logs demo $t",
                description: "Run a build in the background, wait for it, read its output",
                result: Some(Value::test_string("built\n")),
            },
            Example {
                example: "sandbox task spawn demo --cwd /tmp --env { PORT: 8080 } python3 -m http.server",
                description: "Start a server in another directory, with an environment variable",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let (argv, command_span) = arguments::command_line(call, 1, "sandbox task spawn demo -- npm run dev")?;
        ctx.errors.blame("command", command_span);
        let mut spec = TaskSpec::argv(argv);
        ctx.cwd_and_env(call, &mut spec.cwd, &mut spec.env)?;
        if let Some((v, span)) = flag(call, "spool-cap") {
            spec.spool_cap = Some(arguments::positive_filesize(&v, "spool-cap", "1MiB")?);
            ctx.errors.blame("spool cap", span);
            ctx.errors.blame("task request", span);
        }
        let task =
            ctx.on_session(plugin, engine, call, "sandbox task spawn", interrupt::CANCELLED, |s| async move {
                held::started(s.spawn_task(spec).await?).await
            })?;
        Ok(PipelineData::value(records::task_row(&task, SystemTime::now(), call.head), None))
    }
}
