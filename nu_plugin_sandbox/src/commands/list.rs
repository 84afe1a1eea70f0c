//! `sandbox list`: the sessions of this scope as a table.

use std::time::SystemTime;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox list`: one row per session.
pub struct List;

impl PluginCommand for List {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox list"
    }

    fn description(&self) -> &str {
        "List the sandbox sessions of this user and scope, running or not."
    }

    fn extra_description(&self) -> &str {
        "Columns: id, working_dir, image, state, created (datetime), uptime (duration; nothing when not running), ports (list of int), container. \
Sessions are found through podman labels, so this shows sessions started from any process."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::table()).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["ps", "sessions", "containers"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox list).id",
                description: "The ids of the sessions (here after `sandbox start --id demo`)",
                result: Some(Value::test_list(vec![Value::test_string("demo")])),
            },
            Example {
                example: "sandbox list | where state == running | sort-by uptime | select id working_dir uptime",
                description: "Running sessions, newest first",
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
        let ctx = CallContext::new(plugin, engine, call)?;
        let sandbox = ctx.sandbox.clone();
        let sessions =
            interrupt::block_on(plugin, engine, call.head, "sandbox list", async move { sandbox.list().await })?
                .map_err(|e| ctx.errors.error(&e))?;
        let now = SystemTime::now();
        let rows = sessions.iter().map(|s| records::session_row(s, now, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}
