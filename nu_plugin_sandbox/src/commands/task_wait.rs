//! `sandbox task wait <session> <task>`: waits for a task to end.

use std::time::SystemTime;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::ErrorKind;

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::records;

/// `sandbox task wait`: the task's record once it has ended.
pub struct TaskWait;

impl PluginCommand for TaskWait {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task wait"
    }

    fn description(&self) -> &str {
        "Wait for a background task to end and return its record (state, exit_code, signal, ended...)."
    }

    fn extra_description(&self) -> &str {
        "Returns at once for a task that has ended. With --timeout, a task still running after that long is an error \
(it keeps running). Ctrl-C stops waiting; the task keeps running. A task that ends with a non-zero exit code is not \
an error here: look at exit_code."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .required(
                "task",
                SyntaxShape::Any,
                "Task id (or a record with an id column, e.g. from `sandbox task spawn`).",
            )
            .named(
                "timeout",
                SyntaxShape::Duration,
                "Give up (with an error) after this long (0sec: only check).",
                None,
            )
            .input_output_type(Type::Nothing, Type::record())
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["join", "await", "finish", "exit code"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox task wait demo (sandbox task spawn demo sh -c 'exit 3')).exit_code",
                description: "Wait for a task and get its exit code",
                result: Some(Value::test_int(3)),
            },
            Example {
                example: "sandbox task wait demo (sandbox task spawn demo make test) --timeout 10min",
                description: "Wait at most ten minutes",
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
        let mut ctx = CallContext::new(plugin, engine, call)?;
        ctx.session_arg(call, 0)?;
        let task = arguments::handle_id(&call.req::<Value>(1)?, "task")?;
        ctx.errors.blame("task", task.span);
        let timeout = match flag(call, "timeout") {
            Some((v, span)) => {
                ctx.errors.blame("timeout", span);
                Some(arguments::duration(&v, "timeout")?)
            }
            None => None,
        };
        ctx.errors.help(
            ErrorKind::Timeout,
            format!(
                "the task is still running: wait longer, or stop it with `sandbox task kill {} {}`",
                ctx.session_id(),
                task.item
            ),
        );
        let id = task.item.clone();
        let help = "stopped waiting; the task keeps running";
        let info = ctx.on_session(plugin, engine, call, "sandbox task wait", help, |s| async move {
            s.task(&id).wait(timeout).await
        })?;
        Ok(PipelineData::value(records::task_row(&info, SystemTime::now(), call.head), None))
    }
}
