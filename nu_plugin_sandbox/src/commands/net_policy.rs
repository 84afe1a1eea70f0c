//! `sandbox net policy <session>`: the egress policy in force.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type};

use super::net;
use crate::SandboxPlugin;
use crate::{interrupt, records};

/// `sandbox net policy`: a record.
pub struct NetPolicy;

impl PluginCommand for NetPolicy {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net policy"
    }

    fn description(&self) -> &str {
        "The egress policy of a session: its allow rules, pinned names and credentials, whether its enforcer runs."
    }

    fn extra_description(&self) -> &str {
        "A record: session, allow (the rules, normalized), hosts (names pinned to addresses), credentials (host, header and from: env:VAR or file:/path, where the \
value is on the host, never the value; fixed at start), upstream_ca (CA files), enforcer_running \
(while it is false every connection is refused; `sandbox net restart` starts it again)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name()).input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["egress", "network", "rules", "allow", "proxy"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox net policy demo | get allow",
            description: "The hosts the session may reach",
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
        let (ctx, id) = net::target(plugin, engine, call)?;
        let (policy, running) =
            ctx.on_session(plugin, engine, call, "sandbox net policy", interrupt::CANCELLED, |s| async move {
                Ok((net::policy_in_force(&s)?, s.egress_enforcer_running()))
            })?;
        Ok(PipelineData::value(records::egress_policy(&id, &policy, running, call.head), None))
    }
}
