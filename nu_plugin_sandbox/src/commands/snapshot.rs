//! `sandbox snapshot <session> <name>`: a running session's working dir and its
//! container's filesystem changes, captured under a name with its processes frozen.
//! Its group's verbs are `snapshot_list.rs` and `snapshot_remove.rs`.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Span, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{interrupt, records};

/// What an interrupted snapshot leaves: the capture stops where it was.
const INTERRUPTED: &str = "no snapshot was taken, but the session may be left paused (`sandbox resume` it) and a \
partial copy may be left in the snapshot dir";

/// `sandbox snapshot`: takes a snapshot of a session.
pub struct Snapshot;

impl PluginCommand for Snapshot {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox snapshot"
    }

    fn description(&self) -> &str {
        "Take a snapshot of a running session: its working dir and its container's filesystem changes, under a name."
    }

    fn extra_description(&self) -> &str {
        "The working dir is copied and the container's changes committed with the session running; then its \
processes are frozen (a paused session stays paused) while what changed meanwhile is taken again; their memory is \
not part of it. The working dir is copied with reflinks where the snapshot dir's filesystem has them (no data \
copied), else byte for byte; the container's changes become an image. A record: name, session, image, copy (reflink \
or copy), files and size (of the working dir's copy), freeze (signals, or already_paused), processes (how many were \
frozen), frozen (for how long), took (the whole snapshot), retaken (a list: working_dir, container, what changed \
during the copy and was taken again frozen; empty when nothing did), working_dir (the session's), created. Start \
sessions from it with `sandbox start --snapshot <name>` (on a managed copy, or at a new dir given), or take it and \
start children in one go with `sandbox fork`; `sandbox snapshot list` lists the snapshots, `sandbox snapshot remove` \
removes one."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .required("name", SyntaxShape::String, "The snapshot's name (the rules of session ids; unique).")
            .input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["checkpoint", "save", "commit", "copy", "clone"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox snapshot demo base | select name copy files size frozen retaken",
                description: "Take snapshot base of session demo",
                result: None,
            },
            Example {
                example: "sandbox snapshot demo base | ignore; sandbox start --snapshot base ../demo-copy --id copy",
                description: "Take a snapshot, then start a session from it on a new copy",
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
        let (name, name_span) = snapshot_name(call, 1)?;
        ctx.errors.blame("snapshot name", name_span);
        let sandbox = ctx.sandbox.clone();
        let report = ctx.on_session(plugin, engine, call, self.name(), INTERRUPTED, |s| async move {
            sandbox.snapshot(&s, &name).await
        })?;
        Ok(PipelineData::value(records::snapshot_report(&report, head), None))
    }
}

/// Positional argument `index`, a snapshot's name: a string, or a record with a `name`
/// column (a row of `sandbox snapshot list`, the record of `sandbox snapshot`).
pub(crate) fn snapshot_name(call: &EvaluatedCall, index: usize) -> Result<(String, Span), LabeledError> {
    let value: Value = call.req(index)?;
    let span = value.span();
    let name = match &value {
        Value::String { val, .. } => val.clone(),
        Value::Record { val, .. } => match val.get("name") {
            Some(Value::String { val, .. }) => val.clone(),
            _ => {
                return Err(LabeledError::new("this record has no string `name` column")
                    .with_label("expected a snapshot name or a snapshot record", span)
                    .with_help("pass the name, or a row of `sandbox snapshot list`"));
            }
        },
        other => {
            return Err(LabeledError::new("a snapshot is given by its name")
                .with_label(format!("this is a {}", other.get_type()), span)
                .with_help("pass the name, or a row of `sandbox snapshot list`"));
        }
    };
    Ok((name, span))
}

/// Runs `work` with the call's sandbox until done or Ctrl-C, labelling core errors.
pub(crate) fn on_sandbox<T, Fut>(
    ctx: &CallContext,
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    what: &str,
    work: Fut,
) -> Result<T, LabeledError>
where
    Fut: std::future::Future<Output = sandbox_core::Result<T>>,
{
    interrupt::block_on(plugin, engine, call.head, what, work)?.map_err(|e| ctx.errors.error(&e))
}
