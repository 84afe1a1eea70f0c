//! `sandbox net log <session>`: the connections the session's egress enforcer decided.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use super::net;
use crate::SandboxPlugin;
use crate::{interrupt, records};

/// `sandbox net log`: a table, oldest first.
pub struct NetLog;

impl PluginCommand for NetLog {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net log"
    }

    fn description(&self) -> &str {
        "The connections a session on the egress network made or was refused, oldest first."
    }

    fn extra_description(&self) -> &str {
        "A table: time (datetime), host and port as asked for, address (the one connected to, when it got that \
far), via (connect for a CONNECT tunnel, http for a plain request), process (\"pid name\" of the process in the \
session that opened it, or \"direct: name\" for one that used the enforcer's socket itself; null when unknown), allowed, reason (why it was refused), injected (the name of the header an egress credential added, never its value), bytes_out \
and bytes_in (filesize). A refusal is logged when it is decided, an allowed connection when it closes."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name()).input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["egress", "network", "connections", "proxy", "audit"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox net log demo | where not allowed | select time host reason",
            description: "What the session tried to reach and was refused",
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
        let (ctx, _) = net::target(plugin, engine, call)?;
        let log = ctx.on_session(plugin, engine, call, "sandbox net log", interrupt::CANCELLED, |s| async move {
            net::policy_in_force(&s)?;
            s.network_log()
        })?;
        let rows = log.iter().map(|d| records::egress_decision(d, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}
