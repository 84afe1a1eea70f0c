//! `sandbox merge <session> --into <dir>` (or `--into-session <id>`): what a session
//! changed relative to its snapshot, applied to a directory or another session's.

use std::path::{Path, PathBuf};

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Span, SyntaxShape, Type, Value};
use sandbox_core::Session;

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::error_context::ErrorContext;
use crate::interrupt;

/// What `--into` must be.
pub(crate) const MERGE_TARGET_HELP: &str = "--into names an existing directory outside the working dirs of running \
sessions; to merge into a session, use --into-session <id> (it is paused while the changes are written)";

/// `sandbox merge`: a session's changes applied elsewhere.
pub struct Merge;

/// Where the changes go.
enum Target {
    /// A directory.
    Dir(PathBuf),
    /// A session's working dir.
    Session(Session),
}

impl PluginCommand for Merge {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox merge"
    }

    fn description(&self) -> &str {
        "Merge what a session changed since its snapshot into a directory (--into) or another session (--into-session)."
    }

    fn extra_description(&self) -> &str {
        "The changes are those `sandbox diff` shows (relative to --snapshot, default the snapshot the session started \
from): added and modified paths are written to the target, deleted ones deleted. Where the target changed one of \
the same paths too (it differs from the snapshot there), the merge is refused with nothing written and the error \
lists the paths; --force lets the session's version win. The session is paused meanwhile, and with --into-session \
the target session too. A record: from (the session), into (the directory written), changes (how many changes were \
merged), applied (how many paths were written or removed). Give exactly one of --into and --into-session; --into \
must not be in (or hold) a running session's working dir (use --into-session for that)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .named("into", SyntaxShape::Filepath, "The existing directory to merge into.", None)
            .named("into-session", SyntaxShape::Any, "The session to merge into (its working dir).", None)
            .named(
                "snapshot",
                SyntaxShape::String,
                "The snapshot the changes are relative to (default: the one the session started from).",
                None,
            )
            .switch("force", "Where both changed a path, the session's version wins.", Some('f'))
            .input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["apply", "patch", "sync", "back", "fork"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox merge demo-1 --into-session demo",
                description: "Bring a forked child's changes back into its parent session",
                result: None,
            },
            Example {
                example: "sandbox merge demo-2 --into ~/project --force | select changes applied",
                description: "Apply a child's changes to a directory, its version winning where both changed a path",
                result: None,
            },
            Example {
                example: "try { sandbox merge demo-1 --into . } catch {|e| $e.msg }",
                description: "A conflict is an error that lists the paths both changed",
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
        let (mut ctx, from_id) = CallContext::for_session(plugin, engine, call)?;
        let snapshot = super::diff::snapshot_flag(&mut ctx, call)?;
        let force = call.has_flag("force")?;
        let target = match (flag(call, "into"), flag(call, "into-session")) {
            (Some(_), Some((_, span))) => {
                return Err(LabeledError::new("give one of --into and --into-session")
                    .with_label("a second target", span)
                    .with_help(
                        "--into <dir> merges into a directory, --into-session <id> into a session's working dir",
                    ));
            }
            (None, None) => {
                return Err(LabeledError::new("sandbox merge needs a target")
                    .with_label("no --into or --into-session", head)
                    .with_help(
                        "--into <dir> merges into a directory, --into-session <id> into a session's working dir",
                    ));
            }
            (Some((v, span)), None) => {
                let kind = v.get_type();
                let text = v.coerce_into_string().map_err(|_| {
                    LabeledError::new("--into must be a path").with_label(format!("this is a {kind}"), span)
                })?;
                ctx.errors.blame("merge target", span).blame("merge", span);
                // Relative paths are relative to nushell's current directory, not the plugin's.
                let dir = Path::new(&engine.get_current_dir()?).join(text);
                if !dir.is_dir() {
                    return Err(LabeledError::new(format!("{} is not an existing directory", dir.display()))
                        .with_label("not a directory", span)
                        .with_help(MERGE_TARGET_HELP));
                }
                Target::Dir(dir)
            }
            (None, Some((v, span))) => {
                let id = arguments::session_id(&v)?;
                if id.item == from_id {
                    return Err(LabeledError::new(format!("session {from_id} cannot be merged into itself"))
                        .with_label("the session merged from", span)
                        .with_help("--into-session names another session (e.g. the parent of a forked child)"));
                }
                ctx.errors.blame("merge target", span).blame("merge", span);
                Target::Session(target_session(&ctx, plugin, engine, call, &id.item, span)?)
            }
        };
        let sandbox = ctx.sandbox.clone();
        let (into, report) =
            ctx.on_session(plugin, engine, call, self.name(), super::diff::INTERRUPTED, |s| async move {
                let snapshot = snapshot.as_deref();
                match target {
                    Target::Dir(dir) => {
                        let r = sandbox.merge(&s, snapshot, &dir, force).await?;
                        Ok((dir, r))
                    }
                    Target::Session(t) => {
                        let r = sandbox.merge_into_session(&s, snapshot, &t, force).await?;
                        Ok((t.working_dir().to_path_buf(), r))
                    }
                }
            })?;
        let mut r = Record::new();
        r.push("from", Value::string(from_id, head));
        r.push("into", Value::string(into.display().to_string(), head));
        r.push("changes", Value::int(report.changes as i64, head));
        r.push("applied", Value::int(report.applied as i64, head));
        Ok(PipelineData::value(Value::record(r, head), None))
    }
}

/// The session `id` of `--into-session` (at `span`), its errors labelled there.
fn target_session(
    ctx: &CallContext,
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    id: &str,
    span: Span,
) -> Result<Session, LabeledError> {
    let mut errors = ErrorContext::new(call.head, &ctx.sandbox.config().scope);
    errors.session(id, span);
    let (sandbox, cache) = (ctx.sandbox.clone(), plugin.cache());
    let found = interrupt::block_on(plugin, engine, call.head, "sandbox merge", cache.session(&sandbox, id))?;
    cache.forget_if_gone(&sandbox, id, &found);
    found.map_err(|e| errors.error(&e))
}
