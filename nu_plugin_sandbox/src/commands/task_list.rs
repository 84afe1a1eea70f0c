//! `sandbox task list <session>`: the tasks of a session as a table.

use std::time::SystemTime;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox task list`: one row per task, oldest first.
pub struct TaskList;

impl PluginCommand for TaskList {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task list"
    }

    fn description(&self) -> &str {
        "List the background tasks of a sandbox session, running or ended, oldest first."
    }

    fn extra_description(&self) -> &str {
        "Columns: id, command, state (running, exited or killed), exit_code and signal (nothing unless they apply), \
pid (inside the container), started and ended (datetime), duration (how long it ran, or has run so far), spool_cap \
(filesize: output kept per stream). When the session's agent is gone, the list is read from what it left on disk."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .input_output_type(Type::Nothing, Type::table())
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["jobs", "ps", "background"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox task list demo | where state == running | select id command duration",
                description: "The tasks still running",
                result: None,
            },
            Example {
                example: "sandbox task list demo | where exit_code != 0 and state == exited",
                description: "The tasks that failed",
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
        let tasks =
            ctx.on_session(plugin, engine, call, "sandbox task list", interrupt::CANCELLED, |s| async move {
                s.list_tasks().await
            })?;
        let now = SystemTime::now();
        let rows = tasks.iter().map(|t| records::task_row(t, now, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}
