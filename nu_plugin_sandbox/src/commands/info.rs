//! `sandbox info`: what the engine probe found and which image sessions will use.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// `sandbox info`: the host probe as a record.
pub struct Info;

impl PluginCommand for Info {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox info"
    }

    fn description(&self) -> &str {
        "Show what the sandbox found out about this host: podman version, rootless or not, cgroup mode, the OCI runtime chosen, whether limits can be enforced, and whether the default image is present."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::record()).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["podman", "version", "rootless", "cgroup", "probe"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox info | select podman_version rootless runtime limits_enforceable",
                description: "How sessions will run on this host",
                result: None,
            },
            Example {
                example: "(sandbox info).default_image_available",
                description: "Whether the default image is in local storage (sessions never pull)",
                result: Some(Value::test_bool(true)),
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
        let ctx = CallContext::new(plugin, engine, call)?;
        let sandbox = ctx.sandbox.clone();
        let result = interrupt::block_on(plugin, engine, call.head, "sandbox info", async move {
            let host = sandbox.info().await?;
            let available = sandbox.image_available(&sandbox.config().default_image).await?;
            Ok::<_, sandbox_core::Error>((host, available))
        })?;
        let (host, available) = result.map_err(|e| ctx.errors.error(&e))?;
        Ok(PipelineData::value(records::host_info(&host, ctx.sandbox.config(), available, call.head), None))
    }
}
