//! `sandbox watch <session> [path]`: the file changes below a path, from now on, as a
//! live stream of event records.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::{ErrorKind, EventFilter, EventKind, FileKind};

use super::events::READ_INTERRUPTED;
use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::events_follow::EventsFollow;
use crate::interrupt::Interrupt;

/// `sandbox watch`: file events below a path, as they happen.
pub struct Watch;

impl PluginCommand for Watch {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox watch"
    }

    fn description(&self) -> &str {
        "Follow the file changes below a path in a session (default: its working directory) as they happen, until the session stops (or Ctrl-C)."
    }

    fn extra_description(&self) -> &str {
        "A stream of the records of `sandbox events` (kind file; action created, modified, deleted, renamed, or \
overflow when changes were lost and the path should be looked at again), from the moment the command starts \
(the agent records a file's changes a few milliseconds after they are made, so one made just before may still \
show): the same as `sandbox events --follow --kind [file] --path <path>` from the journal's current end. A path that \
is not watched yet (one outside the working directory, such as /tmp) is watched from now on, for every reader \
of the session's events; a file is watched through its directory. Relative paths are resolved against the \
session's working directory. Paths the session ignores (node_modules, target, .git/objects by default) report \
nothing."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .optional("path", SyntaxShape::String, "Directory (or file) to watch (default: the working directory).")
            .input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["inotify", "changes", "files", "monitor", "notify", "events"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox task spawn demo sh -c 'sleep 1; echo done > build.log' | ignore; for e in (sandbox watch demo) { if $e.path =~ 'build.log$' { break } }; sandbox file read demo build.log",
                description: "Wait until a file appears",
                result: Some(Value::test_string("done\n")),
            },
            Example {
                example: "sandbox watch demo | first | select action path",
                description: "The first change in the working directory from now on",
                result: None,
            },
            Example {
                example: "sandbox watch demo src | where action != deleted | each {|e| sandbox exec demo cargo check | ignore }",
                description: "Check the project whenever a source file changes (Ctrl-C to stop)",
                result: None,
            },
            Example {
                example: "sandbox watch demo /tmp | each {|e| print $'($e.action) ($e.path)' }",
                description: "Watch a directory outside the working directory",
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
        let path = match call.opt::<Value>(1)? {
            Some(v) => {
                let p = arguments::sandbox_path(&v)?;
                for what in ["file", "path", "file request", "watch", "watch request", "path prefix"] {
                    ctx.errors.blame(what, p.span);
                }
                Some(p.item)
            }
            None => None,
        };
        ctx.errors.help(
            ErrorKind::NotFound,
            "give a directory or file that exists in the session (relative paths are resolved against its working \
directory); `sandbox file ls` shows what is there",
        );
        let interrupt = Interrupt::register(engine)?;
        let stream = ctx.on_session(plugin, engine, call, self.name(), READ_INTERRUPTED, |s| async move {
            let full = match &path {
                Some(p) => arguments::resolve_in(s.working_dir(), p),
                None => s.working_dir().display().to_string(),
            };
            // A file is watched through its directory, and followed by its own path.
            let info = s.stat(&full).await?;
            let dir = match info.kind {
                FileKind::Dir => full.clone(),
                _ => std::path::Path::new(&full).parent().map_or_else(|| "/".to_string(), |d| d.display().to_string()),
            };
            let filter = EventFilter { kinds: vec![EventKind::File], path_prefix: Some(full) };
            // From the journal's end now: what happens from here on (the watch's own
            // setup reports nothing of kind file).
            let now = s.read_events(None, &filter, 1, None).await?.next;
            s.watch(&dir).await?;
            Ok(s.events(Some(now), filter))
        })?;
        let handle = plugin.runtime().handle().clone();
        let follower = EventsFollow::new(handle, stream, interrupt, ctx.errors, "sandbox watch", head);
        Ok(PipelineData::list_stream(follower.into_list_stream(), None))
    }
}
