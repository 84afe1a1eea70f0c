//! `sandbox task kill <session> <task>`: signals a task's process group.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::interrupt;
use crate::signal_name::signal_number;

/// `sandbox task kill`: sends a signal (TERM by default) to a task.
pub struct TaskKill;

impl PluginCommand for TaskKill {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task kill"
    }

    fn description(&self) -> &str {
        "Send a signal (TERM by default) to a background task's whole process group."
    }

    fn extra_description(&self) -> &str {
        "The signal goes to every process of the task (its process group), so children die with it. --signal takes \
a name (TERM, KILL, INT, HUP..., with or without SIG) or a number from 1 to 31. Returns nothing; `sandbox task wait` \
then says how it ended. A task that has already ended is an error."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .required("task", SyntaxShape::Any, "Task id (or a record with an id column).")
            .named(
                "signal",
                SyntaxShape::OneOf(vec![SyntaxShape::Int, SyntaxShape::String]),
                "Signal name or number (default TERM).",
                None,
            )
            .input_output_type(Type::Nothing, Type::Nothing)
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["stop", "terminate", "signal", "cancel"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let t = sandbox task spawn demo sleep 30; sandbox task kill demo $t; (sandbox task wait demo $t).signal",
                description: "Stop a task (with TERM) and see how it ended",
                result: Some(Value::test_int(15)),
            },
            Example {
                example: "sandbox task list demo | where state == running | each {|t| sandbox task kill demo $t --signal KILL }",
                description: "Kill every running task of a session",
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
        let signal = match flag(call, "signal") {
            Some((v, span)) => {
                ctx.errors.blame("signal", span);
                signal_number(&v, span)?
            }
            None => 15,
        };
        let id = task.item.clone();
        ctx.on_session(plugin, engine, call, "sandbox task kill", interrupt::CANCELLED, |s| async move {
            s.task(&id).kill(signal).await
        })?;
        Ok(PipelineData::empty())
    }
}
