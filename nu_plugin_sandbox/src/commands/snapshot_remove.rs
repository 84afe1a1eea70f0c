//! `sandbox snapshot remove <name>`: a snapshot's copy and image removed.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type};

use crate::SandboxPlugin;
use crate::call_context::CallContext;

/// `sandbox snapshot remove`: removes one snapshot.
pub struct SnapshotRemove;

impl PluginCommand for SnapshotRemove {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox snapshot remove"
    }

    fn description(&self) -> &str {
        "Remove a snapshot: its copy of the working dir and its image."
    }

    fn extra_description(&self) -> &str {
        "Returns nothing. Sessions started from the snapshot keep their own copies, but while one of their containers \
exists (until `sandbox stop`) the image is in use and the removal is refused with nothing removed. So is it while an \
overlay copy of the snapshot exists (the copy column of `sandbox start --snapshot` and `sandbox fork` says overlay): \
it reads from the snapshot, and stays after its session stops until `sandbox copy remove <path>`."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required("name", SyntaxShape::Any, "The snapshot's name (or a row of `sandbox snapshot list`).")
            .input_output_type(Type::Nothing, Type::Nothing)
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["delete", "rm", "drop"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example { example: "sandbox snapshot remove base", description: "Remove snapshot base", result: None },
            Example {
                example: "sandbox snapshot list | where session == demo | each {|s| sandbox snapshot remove $s }",
                description: "Remove every snapshot of session demo",
                result: None,
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
        let mut ctx = CallContext::new(plugin, engine, call)?;
        let (name, span) = super::snapshot::snapshot_name(call, 0)?;
        ctx.errors.blame("snapshot name", span);
        let sandbox = ctx.sandbox.clone();
        super::snapshot::on_sandbox(&ctx, plugin, engine, call, self.name(), async move {
            sandbox.remove_snapshot(&name).await
        })?;
        Ok(PipelineData::empty())
    }
}
