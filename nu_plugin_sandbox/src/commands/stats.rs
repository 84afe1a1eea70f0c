//! `sandbox stats <session>`: the session's resources now, or (with --follow) a record
//! of them every --interval until Ctrl-C or the session ends.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Example, LabeledError, ListStream, PipelineData, Signals, Signature, Span, SyntaxShape, Type, Value,
};
use sandbox_core::{ErrorKind, Session};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::error_context::ErrorContext;
use crate::interrupt::{self, Interrupt};
use crate::records;

/// Time between two records of --follow when --interval does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// `sandbox stats`: one record, or a stream of them.
pub struct Stats;

impl PluginCommand for Stats {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox stats"
    }

    fn description(&self) -> &str {
        "A session's resources now (CPU time, memory, processes, disk writes), or a record of them every --interval (--follow)."
    }

    fn extra_description(&self) -> &str {
        "A record: cpu (CPU time the session's processes used, a duration), memory (in use now), memory_peak (the \
most in use at once), memory_limit (null without a limit), pids (processes and threads), disk_written (bytes \
written to block devices), all sizes filesizes and null when the session's cgroup does not tell; source (cgroup, \
or proc when the figures are added up from /proc). The same record is the sample column of `sandbox events` \
(kind resources).

--follow returns a stream of such records, the first at once and then one every --interval (default 1sec), until \
Ctrl-C or the session ends."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .switch("follow", "A record every --interval until Ctrl-C or the session ends.", Some('f'))
            .named("interval", SyntaxShape::Duration, "Time between records with --follow (default 1sec).", None)
            .input_output_types(vec![(Type::Nothing, Type::record()), (Type::Nothing, Type::table())])
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["cpu", "memory", "usage", "top", "resources", "pids", "monitor"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox stats demo).pids > 0",
                description: "Whether anything runs in the session",
                result: Some(Value::test_bool(true)),
            },
            Example {
                example: "sandbox stats demo | select cpu memory memory_limit",
                description: "CPU time used, memory in use and the memory limit",
                result: None,
            },
            Example {
                example: "sandbox stats demo --follow --interval 2sec | each {|s| print $'($s.cpu) ($s.memory)' }",
                description: "CPU time and memory every two seconds (Ctrl-C to stop)",
                result: None,
            },
            Example {
                example: "sandbox stats demo --follow | first 10 | get memory | math max",
                description: "The most memory in use over ten seconds",
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
        let follow = call.has_flag("follow")?;
        let interval = ctx.flag(call, "interval", "interval", |v, span| {
            if !follow {
                return Err(LabeledError::new("--interval is for --follow")
                    .with_label("without --follow there is one record", span)
                    .with_help("add --follow for a record every --interval"));
            }
            arguments::positive_duration(v, "interval")
        })?;
        if !follow {
            let sample =
                ctx.on_session(
                    plugin,
                    engine,
                    call,
                    self.name(),
                    interrupt::CANCELLED,
                    |s| async move { s.stats().await },
                )?;
            return Ok(PipelineData::value(records::resource_sample(&sample, head), None));
        }
        let interrupt = Interrupt::register(engine)?;
        let session = ctx.on_session(plugin, engine, call, self.name(), interrupt::CANCELLED, |s| async move {
            // The first record is taken now, so a session that cannot answer is the
            // command's error.
            let first = s.stats().await?;
            Ok((s, first))
        })?;
        let follower = StatsFollow {
            handle: plugin.runtime().handle().clone(),
            session: Some(session.0),
            first: Some(session.1),
            interval: interval.unwrap_or(DEFAULT_INTERVAL),
            next: Instant::now(),
            interrupt,
            errors: ctx.errors,
            head,
        };
        Ok(PipelineData::list_stream(ListStream::new(follower, head, Signals::empty()), None))
    }
}

/// A sample every `interval`, as a list stream: ends when the session does (quietly),
/// with an error value on another error or Ctrl-C. (Signals are empty: the interrupt is
/// watched here, as in [`EventsFollow`](crate::events_follow::EventsFollow).)
struct StatsFollow {
    handle: Handle,
    session: Option<Session>,
    first: Option<sandbox_core::ResourceSample>,
    interval: Duration,
    /// When the last record was taken.
    next: Instant,
    interrupt: Interrupt,
    errors: ErrorContext,
    head: Span,
}

impl StatsFollow {
    fn finish(&mut self) {
        let _entered = self.handle.enter();
        self.session = None;
    }
}

impl Iterator for StatsFollow {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if let Some(first) = self.first.take() {
            return Some(records::resource_sample(&first, self.head));
        }
        let session = self.session.clone()?;
        // Steady: one interval after the last record was due, not after it was read.
        self.next = (self.next + self.interval).max(Instant::now());
        let at = self.next;
        let sample = self.interrupt.block_on(&self.handle, async {
            tokio::time::sleep_until(at).await;
            session.stats().await
        });
        match sample {
            Some(Ok(s)) => Some(records::resource_sample(&s, self.head)),
            Some(Err(e)) if matches!(e.kind(), ErrorKind::SessionNotFound | ErrorKind::SessionLost) => {
                self.finish();
                None
            }
            Some(Err(e)) => {
                self.finish();
                Some(Value::error(self.errors.error(&e).into(), self.head))
            }
            None => {
                self.finish();
                Some(interrupt::interrupted_value("sandbox stats", self.head))
            }
        }
    }
}

impl Drop for StatsFollow {
    fn drop(&mut self) {
        self.finish();
    }
}
