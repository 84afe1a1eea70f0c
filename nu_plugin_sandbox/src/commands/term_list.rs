//! `sandbox term list <session>`: the terminals of a session as a table.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox term list`: one row per terminal, oldest first.
pub struct TermList;

impl PluginCommand for TermList {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term list"
    }

    fn description(&self) -> &str {
        "List the terminals of a sandbox session, running or ended, oldest first."
    }

    fn extra_description(&self) -> &str {
        "Columns: id, command, state (running, exited or killed), exit_code and signal (nothing unless they apply), \
pid (inside the container), rows, cols, started and ended (datetime), scrollback (filesize: output kept for \
replay)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .input_output_type(Type::Nothing, Type::table())
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["pty", "tty", "terminals"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox term list demo | where state == running | select id command rows cols",
            description: "The terminals whose program still runs",
            result: None,
        }]
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
        let terms =
            ctx.on_session(plugin, engine, call, "sandbox term list", interrupt::CANCELLED, |s| async move {
                s.list_terminals().await
            })?;
        let rows = terms.iter().map(|t| records::terminal_row(t, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}
