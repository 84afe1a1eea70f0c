//! `sandbox file`: the parent of the `sandbox file ...` commands; on its own it prints
//! the help, which lists them.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;

/// `sandbox file`: prints help listing the subcommands.
pub struct FileCommand;

impl PluginCommand for FileCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox file"
    }

    fn description(&self) -> &str {
        "Files in a sandbox session, as its processes see them: read, write, list."
    }

    fn extra_description(&self) -> &str {
        "Paths are resolved inside the session's container; relative paths are relative to the session's working directory. Reads and writes stream in chunks, so large files are fine. Writes are atomic: a temporary file next to the target, renamed over it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["files", "cat", "save", "ls", "directory"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example { example: "sandbox file", description: "List the sandbox file subcommands", result: None }]
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
