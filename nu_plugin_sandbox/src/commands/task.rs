//! `sandbox task`: the parent of the `sandbox task ...` commands; on its own it prints
//! the help, which lists them.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;

/// `sandbox task`: prints help listing the subcommands.
pub struct TaskCommand;

impl PluginCommand for TaskCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task"
    }

    fn description(&self) -> &str {
        "Background tasks in a sandbox session: spawn one, list them, read or follow their logs, wait for them, kill them."
    }

    fn extra_description(&self) -> &str {
        "Tasks are held by the session's agent, not by nushell: they keep running when the plugin or nushell goes away, and any nushell (or the Rust, C, Python and Go libraries) finds them, with their output, by session and task id. Each output stream (stdout, stderr, and both merged in order) is kept up to a cap per task (--spool-cap on spawn, 8MiB by default); beyond it the oldest part is dropped."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["background", "jobs", "daemon", "spawn", "logs"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example { example: "sandbox task", description: "List the sandbox task subcommands", result: None }]
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
