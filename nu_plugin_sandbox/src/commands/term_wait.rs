//! `sandbox term wait <session> <terminal>`: waits for a terminal's program to end.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::ErrorKind;

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::records;

/// `sandbox term wait`: the terminal's record once its program has ended.
pub struct TermWait;

impl PluginCommand for TermWait {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term wait"
    }

    fn description(&self) -> &str {
        "Wait for a terminal's program to end and return the terminal's record."
    }

    fn extra_description(&self) -> &str {
        "Returns at once when it has ended. With --timeout, a program still running after that long is an error (it \
keeps running). Ctrl-C stops waiting."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
            .required("terminal", SyntaxShape::Any, "Terminal id (or a record with an id column).")
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
        vec!["join", "await", "exit"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "(sandbox term wait demo (sandbox term open demo sh -c 'exit 4')).exit_code",
            description: "Wait for a terminal's program and get its exit code",
            result: Some(Value::test_int(4)),
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
                "its program is still running: wait longer, or end it with `sandbox term kill {} {}`",
                ctx.session_id(),
                term.item
            ),
        );
        let id = term.item.clone();
        let info = ctx.on_session(
            plugin,
            engine,
            call,
            "sandbox term wait",
            "stopped waiting; the terminal keeps running",
            |s| async move { s.terminal(&id).wait(timeout).await },
        )?;
        Ok(PipelineData::value(records::terminal_row(&info, call.head), None))
    }
}
