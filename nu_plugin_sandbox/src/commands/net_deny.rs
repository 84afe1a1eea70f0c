//! `sandbox net deny <session> ...rules`: removes egress rules, live.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature};

use super::net;
use crate::SandboxPlugin;

/// `sandbox net deny`: the policy with the rules removed.
pub struct NetDeny;

impl PluginCommand for NetDeny {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net deny"
    }

    fn description(&self) -> &str {
        "Remove allow rules of a session on the egress network, from its next connection on."
    }

    fn extra_description(&self) -> &str {
        "Each rule must be in the session's allow list as written (`sandbox net policy` lists them): removing a \
rule that is not there is an error, since a broader rule may still allow what it names. Returns the policy. \
Connections already open keep going."
    }

    fn signature(&self) -> Signature {
        net::change_signature(self.name(), "Rules to remove.")
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["egress", "network", "block", "revoke", "firewall"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox net deny demo crates.io | get allow",
            description: "Stop the session reaching crates.io",
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
        net::change(plugin, engine, call, false)
    }
}
