//! `sandbox net allow <session> ...rules`: adds egress rules, live.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature};

use super::net;
use crate::SandboxPlugin;

/// `sandbox net allow`: the policy with the rules added.
pub struct NetAllow;

impl PluginCommand for NetAllow {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net allow"
    }

    fn description(&self) -> &str {
        "Let a session on the egress network reach more hosts, from its next connection on."
    }

    fn extra_description(&self) -> &str {
        "Each rule is a host (pypi.org), *.domain, an address or network (10.0.0.0/8), optionally with :port; rules \
already there are kept once. Returns the policy: session, allow (the rules), hosts (pinned names), \
enforcer_running. Connections already open keep going."
    }

    fn signature(&self) -> Signature {
        net::change_signature(self.name(), "Rules to add.")
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["egress", "network", "permit", "firewall", "proxy"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox net allow demo crates.io static.crates.io | get allow",
            description: "Let the session reach crates.io too",
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
        net::change(plugin, engine, call, true)
    }
}
