//! `sandbox term`: the parent of the `sandbox term ...` commands; on its own it prints
//! the help, which lists them.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;

/// `sandbox term`: prints help listing the subcommands.
pub struct TermCommand;

impl PluginCommand for TermCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term"
    }

    fn description(&self) -> &str {
        "Terminals (PTYs) in a sandbox session: open one, send it keystrokes, read its output, resize it, kill it; `sandbox attach` uses one interactively."
    }

    fn extra_description(&self) -> &str {
        "A terminal is a pseudo-terminal created inside the container with a program on it (a shell by default). Like tasks, terminals are held by the session's agent: they outlive the plugin and nushell, and their output is kept in a bounded scrollback (--scrollback on open, 1MiB by default) that any later reader can replay."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["pty", "tty", "terminal", "shell", "interactive"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example { example: "sandbox term", description: "List the sandbox term subcommands", result: None }]
    }

    fn run(
        &self,
        _plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        Ok(PipelineData::value(Value::string(engine.get_help()?, call.head), None))
    }
}
