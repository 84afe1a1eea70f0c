//! `sandbox copy remove <path>`: the copy of a snapshot that a session started from it
//! (a managed copy too) or a fork's child got as its working dir, unmounted if an overlay
//! and removed.

use std::path::Path;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;

/// `sandbox copy remove`: removes one copy of a snapshot.
pub struct CopyRemove;

impl PluginCommand for CopyRemove {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox copy remove"
    }

    fn description(&self) -> &str {
        "Remove the copy of a snapshot that a session started from it (or a fork's child) got as its working dir."
    }

    fn extra_description(&self) -> &str {
        "Returns nothing. A session started from a snapshot (`sandbox start --snapshot`, `sandbox fork`) works on a \
copy of the snapshot's working dir: a reflink copy, an overlay on the snapshot (the copy column says which) or a plain \
copy. The copy stays after `sandbox stop` (its changes are yours; an overlay stays mounted), and the snapshot cannot \
be removed while an overlay copy of it exists. This unmounts the copy if it is an overlay and removes its files, the \
session's changes included; a managed copy (`sandbox start --snapshot <name>` with no dir: <copy dir>/<id>) goes the \
same way, and the copy dir with its last one. A relative path is resolved against the current directory. Refused while a session has \
the copy as its working dir, or while the copy is in a running session's working dir (`sandbox stop` that session \
first); an error when no snapshot has a copy at the path."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .required(
                "path",
                SyntaxShape::Filepath,
                "The copy: the working dir of a stopped session started from a snapshot (a managed copy too) or of \
a fork's child.",
            )
            .input_output_type(Type::Nothing, Type::Nothing)
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["delete", "rm", "unmount", "overlay", "snapshot", "fork"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let s = sandbox start --snapshot base --quiet; sandbox stop $s.id | ignore; sandbox copy remove $s.working_dir",
                description: "Start a session on a managed copy of snapshot base, stop it, and remove the copy",
                result: None,
            },
            Example {
                example: "sandbox stop try-1 | ignore; sandbox copy remove ../try-1",
                description: "Stop session try-1, started from a snapshot on ../try-1, and remove its copy",
                result: None,
            },
            Example {
                example: "let kids = sandbox fork demo 2 --into ../tries; $kids | sandbox stop | ignore; $kids | each {|k| sandbox copy remove $k.working_dir } | ignore; sandbox snapshot remove $kids.0.snapshot",
                description: "Fork, stop the children, remove their copies, then the fork's snapshot",
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
        let value: Value = call.req(0)?;
        let span = value.span();
        let value_type = value.get_type();
        let text = value.coerce_into_string().map_err(|_| {
            LabeledError::new("the copy is given by its path")
                .with_label(format!("this is a {value_type}"), span)
                .with_help("pass the copy's path, e.g. the working_dir column of a `sandbox fork` row")
        })?;
        if text.is_empty() {
            return Err(LabeledError::new("the path is empty")
                .with_label("no path", span)
                .with_help("pass the copy's path: the working dir of a session started from a snapshot"));
        }
        // Relative paths are relative to nushell's current directory, not the plugin's.
        let path = Path::new(&engine.get_current_dir()?).join(text);
        ctx.errors.blame("copy path", span);
        let sandbox = ctx.sandbox.clone();
        super::snapshot::on_sandbox(&ctx, plugin, engine, call, self.name(), async move {
            sandbox.remove_copy(&path).await
        })?;
        Ok(PipelineData::empty())
    }
}
