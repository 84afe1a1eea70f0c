//! `sandbox fork <session> <count> --into <dir>`: a snapshot of a session and children
//! started from it, each on its own copy, in one call.

use std::path::Path;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Span, SyntaxShape, Type, Value};
use sandbox_core::{ForkSpec, Session};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::records::duration;

use super::settings;

/// What an interrupted fork leaves.
const INTERRUPTED: &str = "children started so far keep running (`sandbox list`) and the snapshot stays (`sandbox \
snapshot list`); the parent may be left paused (`sandbox resume` it): stop and remove what you do not want";

/// `sandbox fork`: children of a session.
pub struct Fork;

impl PluginCommand for Fork {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox fork"
    }

    fn description(&self) -> &str {
        "Fork a running session: take a snapshot of it and start children from it, each on its own copy of the working dir."
    }

    fn extra_description(&self) -> &str {
        "The children's working dirs are made in --into (an existing directory), one per child at <into>/<child id>; \
their ids are <prefix>-1, <prefix>-2, ... (the prefix is --id, default the session's id). The snapshot is named \
--snapshot (default <session>-fork-<ms>) and stays after the fork, and so do the children's copies after they stop \
(an overlay copy stays mounted): once the children are stopped, `sandbox copy remove` each child's working_dir, then \
`sandbox snapshot remove` the snapshot (refused while an overlay copy of it exists). The flags after --id are each \
child's settings, as for `sandbox start` (the children do not inherit what the session set for itself, such as its \
--env). All or nothing: when a child \
cannot start, those started are stopped, their copies and the snapshot removed. A table, one row per child: id, \
working_dir, container, image (the snapshot's), snapshot (its name), copy (reflink, overlay or copy: how the child's \
working dir was made), duration (of its start). `sandbox diff <child>` shows what a child changed since, `sandbox \
merge` brings it back."
    }

    fn signature(&self) -> Signature {
        let signature = super::session_signature(self.name())
            .required("count", SyntaxShape::Int, "How many children (1 to 64).")
            .named(
                "into",
                SyntaxShape::Filepath,
                "Existing directory the children's working dirs are made in (required).",
                None,
            )
            .named("snapshot", SyntaxShape::String, "The snapshot's name (default <session>-fork-<ms>).", None)
            .named("id", SyntaxShape::String, "The children's id prefix (default the session's id).", None);
        settings::signature(signature, "child").input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["clone", "branch", "children", "parallel", "snapshot"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox fork demo 3 --into ../tries | select id working_dir copy",
                description: "Three children of session demo, in ../tries/demo-1 to demo-3",
                result: None,
            },
            Example {
                example: "sandbox fork demo 2 --into /tmp/kids --id try --snapshot before-refactor | get id",
                description: "Children try-1 and try-2, from a snapshot named before-refactor",
                result: None,
            },
            Example {
                example: "sandbox fork demo 2 --into ../tries --env { ATTEMPT: on } --memory 2GiB | get id",
                description: "Two children, each with a variable of its own and a memory limit",
                result: None,
            },
            Example {
                example: "sandbox fork demo 4 --into ../tries | par-each {|c| sandbox exec $c make test | get exit_code }",
                description: "Run the tests in four children at once",
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
        let count_value: Value = call.req(1)?;
        let count_span = count_value.span();
        let count = count_value.as_int()?;
        let count = u32::try_from(count).map_err(|_| {
            LabeledError::new(format!("{count} is not a number of children"))
                .with_label("out of range", count_span)
                .with_help(format!("a fork makes 1 to {} children", sandbox_core::MAX_FORK_CHILDREN))
        })?;
        ctx.errors.blame("fork count", count_span);
        let Some((into, into_span)) = flag(call, "into") else {
            return Err(LabeledError::new("sandbox fork needs --into")
                .with_label("no --into directory", head)
                .with_help("--into <dir>: an existing directory; each child's copy is made in <dir>/<child id>"));
        };
        let into_type = into.get_type();
        let into = into.coerce_into_string().map_err(|_| {
            LabeledError::new("--into must be a path").with_label(format!("this is a {into_type}"), into_span)
        })?;
        // Relative paths are relative to nushell's current directory, not the plugin's.
        let into = Path::new(&engine.get_current_dir()?).join(into);
        ctx.errors.blame("fork directory", into_span);
        let mut spec = ForkSpec::new(count, into);
        if let Some((v, span)) = flag(call, "snapshot") {
            spec.snapshot = Some(v.as_str()?.to_string());
            ctx.errors.blame("snapshot name", span);
        }
        if let Some((v, span)) = flag(call, "id") {
            spec.template.id = arguments::session_id(&v)?.item;
            ctx.errors.blame_first("session id", span);
        }
        settings::apply(&mut ctx, call, &mut spec.template)?;
        let sandbox = ctx.sandbox.clone();
        let report =
            ctx.on_session(
                plugin,
                engine,
                call,
                self.name(),
                INTERRUPTED,
                |s| async move { sandbox.fork(&s, spec).await },
            )?;
        let name = report.snapshot.info.name.clone();
        let rows = report.children.iter().map(|c| child_row(c, &name, head)).collect();
        for child in report.children {
            plugin.cache().remember(&ctx.sandbox, child);
        }
        Ok(PipelineData::value(Value::list(rows, head), None))
    }
}

/// One child: `{id, working_dir, container, image, snapshot, copy, duration}`.
fn child_row(child: &Session, snapshot: &str, span: Span) -> Value {
    let report = child.start_report();
    let mut r = Record::new();
    r.push("id", Value::string(child.id(), span));
    r.push("working_dir", Value::string(child.working_dir().display().to_string(), span));
    r.push("container", Value::string(child.container(), span));
    r.push("image", report.map_or(Value::nothing(span), |s| Value::string(&s.image.used, span)));
    r.push("snapshot", Value::string(snapshot, span));
    r.push(
        "copy",
        report
            .and_then(|s| s.snapshot.as_ref())
            .map_or(Value::nothing(span), |from| Value::string(from.copy.name(), span)),
    );
    r.push("duration", report.map_or(Value::nothing(span), |s| duration(s.duration, span)));
    Value::record(r, span)
}
