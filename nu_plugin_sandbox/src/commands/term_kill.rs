//! `sandbox term kill <session> <terminal>`: signals a terminal's program (its session).

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::interrupt;
use crate::signal_name::signal_number;

/// `sandbox term kill`: sends a signal (HUP by default) to a terminal's processes.
pub struct TermKill;

impl PluginCommand for TermKill {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term kill"
    }

    fn description(&self) -> &str {
        "Send a signal (HUP by default, as when a terminal is closed) to a terminal's program and its process group."
    }

    fn extra_description(&self) -> &str {
        "HUP is the default because interactive shells ignore TERM. --signal takes a name (HUP, TERM, KILL, INT..., \
with or without SIG) or a number from 1 to 31. Returns nothing; `sandbox term wait` then says how it ended. The \
terminal's output stays readable."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .required("terminal", SyntaxShape::Any, "Terminal id (or a record with an id column).")
            .named(
                "signal",
                SyntaxShape::OneOf(vec![SyntaxShape::Int, SyntaxShape::String]),
                "Signal name or number (default HUP).",
                None,
            )
            .input_output_type(Type::Nothing, Type::Nothing)
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["close", "hangup", "stop", "signal"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "let t = sandbox term open demo; sandbox term kill demo $t; (sandbox term wait demo $t).signal",
            description: "Close a terminal (its shell gets HUP)",
            result: Some(Value::test_int(1)),
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
        let term = arguments::handle_id(&call.req::<Value>(1)?, "terminal")?;
        ctx.errors.blame("terminal", term.span);
        let signal = match flag(call, "signal") {
            Some((v, span)) => {
                ctx.errors.blame("signal", span);
                signal_number(&v, span)?
            }
            None => 1,
        };
        let id = term.item.clone();
        ctx.on_session(plugin, engine, call, "sandbox term kill", interrupt::CANCELLED, |s| async move {
            s.terminal(&id).kill(signal).await
        })?;
        Ok(PipelineData::empty())
    }
}
