//! `sandbox snapshot list`: the snapshots in the snapshot dir, as a table.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::records;

/// `sandbox snapshot list`: one row per snapshot.
pub struct SnapshotList;

impl PluginCommand for SnapshotList {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox snapshot list"
    }

    fn description(&self) -> &str {
        "List the snapshots (taken by `sandbox snapshot` or `sandbox fork`), by name."
    }

    fn extra_description(&self) -> &str {
        "Columns: name, session (the one it was taken from), image (of the container's changes), copy (reflink or \
copy), files and size (of the working dir's copy), working_dir (the session's), created (datetime). Snapshots are \
kept in the snapshot dir (the config's snapshot_dir, $env.SANDBOX_SNAPSHOT_DIR) until `sandbox snapshot remove`."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::table()).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["snapshots", "checkpoints", "ls"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox snapshot list | select name session size created",
                description: "The snapshots, with what they were taken from",
                result: None,
            },
            Example {
                example: "sandbox snapshot list | where created < ((date now) - 7day) | each {|s| sandbox snapshot remove $s }",
                description: "Remove the snapshots older than a week",
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
        let ctx = CallContext::new(plugin, engine, call)?;
        let sandbox = ctx.sandbox.clone();
        let list =
            super::snapshot::on_sandbox(
                &ctx,
                plugin,
                engine,
                call,
                self.name(),
                async move { sandbox.snapshots().await },
            )?;
        let rows = list.iter().map(|s| records::snapshot_row(s, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}
