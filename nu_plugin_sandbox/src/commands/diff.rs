//! `sandbox diff <session>`: what a session's working dir changed relative to a
//! snapshot (by default the one it started from).

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::records;

/// What an interrupted diff or merge leaves: the sessions it paused stay paused.
pub(crate) const INTERRUPTED: &str = "the session (and a merge's target session) may be left paused: `sandbox \
resume` it; an interrupted merge may have written part of the changes";

/// `sandbox diff`: a session's changes as a table.
pub struct Diff;

impl PluginCommand for Diff {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox diff"
    }

    fn description(&self) -> &str {
        "What a session's working dir changed relative to a snapshot (default: the one it started from)."
    }

    fn extra_description(&self) -> &str {
        "A table, sorted by path: path (relative to the working dir), kind (added, modified or deleted), entry (file, \
dir, symlink or other; for a deletion what it was), size (filesize: what it is now; 0 for directories and \
deletions). A change of mode, link target or type is a modification. The session is paused while it is compared (a \
paused session stays paused). Only the working dir is compared, not the rest of the container."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .named(
                "snapshot",
                SyntaxShape::String,
                "Compare with this snapshot (default: the one the session started from).",
                None,
            )
            .input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["changes", "compare", "status", "changed"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox diff demo-1 | where kind != deleted | get path",
                description: "The paths a forked child added or modified",
                result: None,
            },
            Example {
                example: "sandbox diff demo --snapshot base | group-by kind --to-table",
                description: "Compare session demo with snapshot base",
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
        let head = call.head;
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let snapshot = snapshot_flag(&mut ctx, call)?;
        let sandbox = ctx.sandbox.clone();
        let changes = ctx.on_session(plugin, engine, call, self.name(), INTERRUPTED, |s| async move {
            sandbox.diff(&s, snapshot.as_deref()).await
        })?;
        let rows = changes.iter().map(|c| records::change_row(c, head)).collect();
        Ok(PipelineData::value(Value::list(rows, head), None))
    }
}

/// `--snapshot` of `sandbox diff` and `sandbox merge`: the snapshot to compare with.
/// Errors about the snapshot point at the flag, or at the session when it is not given
/// (then it is the one the session started from).
pub(crate) fn snapshot_flag(ctx: &mut CallContext, call: &EvaluatedCall) -> Result<Option<String>, LabeledError> {
    match crate::arguments::flag(call, "snapshot") {
        Some((v, span)) => {
            ctx.errors.blame("snapshot", span).blame("snapshot name", span);
            Ok(Some(v.as_str()?.to_string()))
        }
        None => {
            if let Some(span) = call.positional.first().map(Value::span) {
                ctx.errors.blame("snapshot", span);
            }
            Ok(None)
        }
    }
}
