//! `sandbox term open <session> [cmd ...args]`: opens a terminal (a PTY) in a session.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Value};
use sandbox_core::TerminalSpec;

use super::held;
use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox term open`: one new terminal, as a record.
pub struct TermOpen;

impl PluginCommand for TermOpen {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term open"
    }

    fn description(&self) -> &str {
        "Open a terminal (a PTY) in a sandbox session running a program (an interactive shell by default), and return it as a record."
    }

    fn extra_description(&self) -> &str {
        "The program runs on a pseudo-terminal created inside the container, as its session leader, with TERM set to \
xterm-256color unless --env sets it. Drive it with `sandbox term send` and `sandbox term read`, or use it \
interactively with `sandbox attach`. The terminal is held by the session's agent: it outlives this nushell. The \
record has the columns of `sandbox term list`: id, command, state, exit_code, signal, pid, rows, cols, started, \
ended, scrollback."
    }

    fn signature(&self) -> Signature {
        let s = super::session_signature(self.name())
            .optional(
                "command",
                SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]),
                "Program to run (default: an interactive shell).",
            )
            .named("rows", SyntaxShape::Int, "Rows (default 24).", None)
            .named("cols", SyntaxShape::Int, "Columns (default 80).", None);
        super::held::start_options(s, ("scrollback", "Output kept for replay (default 1MiB, at least 64KiB)."))
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["pty", "tty", "shell", "interactive", "spawn"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox term open demo --rows 40 --cols 120).cols",
                description: "Open a shell on a 40x120 terminal",
                result: Some(Value::test_int(120)),
            },
            Example {
                example: "sandbox term open demo top",
                description: "Run a full-screen program on a terminal",
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
        let mut spec = TerminalSpec::shell(24, 80);
        if call.positional.len() > 1 {
            let (argv, command_span) = arguments::command_line(call, 1, "sandbox term open demo -- vim")?;
            ctx.errors.blame("command", command_span);
            spec.argv = argv;
        }
        if let Some((v, _)) = flag(call, "rows") {
            spec.rows = arguments::terminal_dimension(&v, "rows")?;
        }
        if let Some((v, _)) = flag(call, "cols") {
            spec.cols = arguments::terminal_dimension(&v, "columns")?;
        }
        ctx.cwd_and_env(call, &mut spec.cwd, &mut spec.env)?;
        if let Some((v, span)) = flag(call, "scrollback") {
            spec.scrollback = Some(arguments::positive_filesize(&v, "scrollback", "4MiB")?);
            ctx.errors.blame("scrollback", span);
            ctx.errors.blame("terminal request", span);
        }
        let term = ctx.on_session(plugin, engine, call, "sandbox term open", interrupt::CANCELLED, |s| async move {
            held::started(s.open_terminal(spec).await?).await
        })?;
        Ok(PipelineData::value(records::terminal_row(&term, call.head), None))
    }
}
