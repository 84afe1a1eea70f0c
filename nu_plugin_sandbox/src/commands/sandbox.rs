//! `sandbox`: the parent command. On its own it prints the help, which lists the verbs.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;

/// `sandbox`: prints help listing the subcommands.
pub struct SandboxCommand;

impl PluginCommand for SandboxCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox"
    }

    fn description(&self) -> &str {
        "Per-session podman sandboxes: start one on a directory, run commands in it in about a millisecond, stop it."
    }

    fn extra_description(&self) -> &str {
        "A session is a long-lived podman container with your directory mounted at the same path. \
Sessions live in their containers, not in this plugin: any nushell (or the Rust, C, Python and Go \
libraries) can list them and run commands in them by id. Configure defaults in \
$env.config.plugins.sandbox (same keys as the sandbox config file: image, trusted_images, scope, \
policy, limits...); SANDBOX_* environment variables and command flags override it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["container", "podman", "isolation", "agent"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example { example: "sandbox", description: "List the sandbox subcommands", result: None }]
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
