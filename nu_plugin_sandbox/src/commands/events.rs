//! `sandbox events <session>`: the session's event journal as a table, or (with
//! --follow) a live stream of its records until the session stops.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::events::JOURNAL_CAPACITY;
use sandbox_core::{ErrorKind, EventFilter, Session, SessionEvent};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::events_follow::EventsFollow;
use crate::interrupt::Interrupt;
use crate::records;

/// What Ctrl-C during a read leaves behind.
pub(crate) const READ_INTERRUPTED: &str = "stopped reading events; nothing was changed in the session";

/// `sandbox events`: a table of events, or a live stream of them.
pub struct Events;

impl PluginCommand for Events {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox events"
    }

    fn description(&self) -> &str {
        "A session's events (file changes, processes, ports, resource samples, lifecycle, egress decisions): those its journal holds, or a live stream of them (--follow)."
    }

    fn extra_description(&self) -> &str {
        "Every record has the same columns, null where an event has no such field: seq (its sequence number), time \
(datetime), kind (file, process, port, resources, lifecycle, network, gap), action (created, modified, deleted, renamed, \
overflow; started, exited, timed_out; listening, closed; sample; watching, stopping, stopped, lost, limit; allowed, refused; dropped), \
path and from (file: absolute paths inside the session; from is a renamed file's old path), dir, process (task, \
terminal or exec), id, command, pid, code, signal, oom (process), port, address (port), sample (resources: a record \
with the columns of `sandbox stats`), dropped (gap: events the journal no longer had), count (watching: directories \
watched), reason, host, bytes_in, bytes_out (network: the egress enforcer's decisions on a session with an egress \
policy; command is the process that connected, port and address the target's).

Without --follow: the events the journal holds now, from --from (default 1: all it keeps); --wait waits that long \
for at least one when there is none yet. To go on where a read stopped, pass its last seq + 1 as --from: nothing is \
missed, and events dropped from the journal meanwhile come as one gap record that counts them.

--follow returns a stream that goes on as events happen and ends after the session's last record (lifecycle \
stopped, or lost when its container went away without a stop); Ctrl-C stops following. --kind keeps only some \
kinds (gap records always come); --path keeps only file events at or below an absolute path (other kinds pass)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .named("from", SyntaxShape::Int, "Start at this sequence number (default 1: all the journal keeps).", None)
            .named(
                "kind",
                SyntaxShape::OneOf(vec![SyntaxShape::List(Box::new(SyntaxShape::String)), SyntaxShape::String]),
                "Only these kinds: file, process, port, resources, lifecycle, network.",
                None,
            )
            .named("path", SyntaxShape::String, "Only file events at or below this absolute path.", None)
            .switch("follow", "Stream events as they happen until the session stops (or Ctrl-C).", Some('f'))
            .named(
                "wait",
                SyntaxShape::Duration,
                "Wait this long for at least one event when there is none yet (default 0sec: do not wait).",
                None,
            )
            .input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["journal", "inotify", "changes", "notify", "monitor", "tail"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let wd = (sandbox list).0.working_dir; sandbox exec demo sh -c 'echo hi > notes.txt' | ignore; (sandbox events demo --kind [file] --path $'($wd)/notes.txt' --wait 10sec).0.action",
                description: "What happened to a file (paths are absolute, inside the session)",
                result: Some(Value::test_string("created")),
            },
            Example {
                example: "let next = (sandbox events demo | last | get seq) + 1; sandbox exec demo make | ignore; sandbox events demo --from $next --kind [file] --wait 1sec | select action path",
                description: "What a command changed: the file events after a known point",
                result: None,
            },
            Example {
                example: "sandbox events demo --kind [process] | select time action command code",
                description: "The tasks and terminals the session started, and how they ended",
                result: None,
            },
            Example {
                example: "sandbox events demo --follow --kind [process port] | each {|e| print $'($e.time) ($e.kind) ($e.action) ($e.command)' }",
                description: "Watch processes and ports come and go until the session stops (or Ctrl-C)",
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
        let from = ctx.flag(call, "from", "from", arguments::event_seq)?.unwrap_or(1);
        // A sequence number the journal has not reached is refused by the agent.
        if let Some((_, span)) = flag(call, "from") {
            ctx.errors.blame("events request", span);
        }
        let kinds = ctx.flag(call, "kind", "kind", |v, _| arguments::event_kinds(v))?.unwrap_or_default();
        let path_prefix = ctx.flag(call, "path", "path prefix", |v, _| arguments::absolute_sandbox_path(v, "path"))?;
        let filter = EventFilter { kinds, path_prefix };
        let follow = call.has_flag("follow")?;
        let wait = ctx.flag(call, "wait", "timeout", |v, span| {
            if follow {
                return Err(LabeledError::new("give --wait or --follow, not both")
                    .with_label("--wait is for a read of the events there are now", span)
                    .with_help("--follow waits for events as long as the session runs; Ctrl-C stops it"));
            }
            arguments::duration(v, "wait")
        })?;

        if !follow {
            let events = ctx.on_session(plugin, engine, call, self.name(), READ_INTERRUPTED, |s| async move {
                read_now(&s, from, filter, wait.unwrap_or(Duration::ZERO)).await
            })?;
            let rows = events.iter().map(|e| records::session_event(e, head)).collect();
            return Ok(PipelineData::value(Value::list(rows, head), None));
        }

        let interrupt = Interrupt::register(engine)?;
        let stream = ctx.on_session(plugin, engine, call, self.name(), READ_INTERRUPTED, |s| async move {
            // A bad --from is the command's error, not the stream's (a session that
            // ended is the stream's to say, with its last record).
            match s.read_events(Some(from), &filter, 1, None).await {
                Err(e) if e.kind() == ErrorKind::InvalidInput => Err(e),
                _ => Ok(s.events(Some(from), filter)),
            }
        })?;
        let handle = plugin.runtime().handle().clone();
        let follower = EventsFollow::new(handle, stream, interrupt, ctx.errors, "sandbox events", head);
        Ok(PipelineData::list_stream(follower.into_list_stream(), None))
    }
}

/// The events that pass `filter` from `from` on, as far as the journal goes now, waiting
/// up to `wait` for the first. A session that ended gives its last (lifecycle) event,
/// as its stream does. Never more than the journal can hold, so a session that keeps
/// making events cannot keep the read going.
async fn read_now(
    s: &Session,
    from: u64,
    filter: EventFilter,
    wait: Duration,
) -> sandbox_core::Result<Vec<SessionEvent>> {
    let mut stream = s.events(Some(from), filter);
    let mut events = Vec::new();
    let mut wait = Some(wait);
    while events.len() < JOURNAL_CAPACITY {
        match stream.next_within(Some(wait.take().unwrap_or(Duration::ZERO))).await? {
            Some(e) => events.push(e),
            None => break,
        }
    }
    Ok(events)
}
