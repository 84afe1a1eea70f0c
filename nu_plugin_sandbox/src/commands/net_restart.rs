//! `sandbox net restart <session>`: starts the session's egress enforcer again.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Type, Value};

use super::net;
use crate::SandboxPlugin;
use crate::interrupt;

/// `sandbox net restart`: the enforcer's pid.
pub struct NetRestart;

impl PluginCommand for NetRestart {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net restart"
    }

    fn description(&self) -> &str {
        "Start a session's egress enforcer again when it is not running (it was killed, or the host rebooted)."
    }

    fn extra_description(&self) -> &str {
        "While the enforcer is not running every connection through the proxy is refused. It comes back with the \
policy in force. A running enforcer is kept. Returns a record: session, enforcer_pid."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name()).input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["egress", "network", "enforcer", "proxy", "recover"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "sandbox net restart demo | get enforcer_pid",
            description: "Bring back the session's egress enforcer",
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
        let pid =
            ctx.on_session(plugin, engine, call, "sandbox net restart", interrupt::CANCELLED, |s| async move {
                s.restart_network().await
            })?;
        let mut r = Record::new();
        r.push("session", Value::string(id, call.head));
        r.push("enforcer_pid", Value::int(i64::from(pid), call.head));
        Ok(PipelineData::value(Value::record(r, call.head), None))
    }
}
