//! `sandbox list`: the sessions of this scope as a table.

use std::time::{Duration, SystemTime};

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Type, Value};
use sandbox_core::{Sandbox, SessionInfo};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::records::SessionCounts;
use crate::session_cache::SessionCache;
use crate::{interrupt, records};

/// How long counting one session's tasks and terminals may take before its row shows
/// nothing there.
const COUNT_TIMEOUT: Duration = Duration::from_secs(3);

/// `sandbox list`: one row per session.
pub struct List;

impl PluginCommand for List {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox list"
    }

    fn description(&self) -> &str {
        "List the sandbox sessions of this user and scope, running or not."
    }

    fn extra_description(&self) -> &str {
        "Columns: id, working_dir, image, state, created (datetime), uptime (duration; nothing when not running), \
ports (list of int), tasks and terminals (how many the session has, running or ended, as `sandbox task list` and \
`sandbox term list` show them: asked from a running session's agent, read from what it left behind when the \
container is no longer running; nothing when the agent does not answer or nothing can be read), container, \
snapshot (the snapshot the session started from: `sandbox start --snapshot`, `sandbox fork`; nothing otherwise). \
Sessions are found through podman labels, so this shows sessions started from any process. The output of a \
session whose container stopped stays readable (`sandbox task logs`, `sandbox term read`) until `sandbox stop`."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::table()).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["ps", "sessions", "containers"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox list).id",
                description: "The ids of the sessions (here after `sandbox start --id demo`)",
                result: Some(Value::test_list(vec![Value::test_string("demo")])),
            },
            Example {
                example: "sandbox list | where state == running | sort-by uptime | select id working_dir uptime",
                description: "Running sessions, newest first",
                result: None,
            },
            Example {
                example: "sandbox list | where tasks > 0 | select id tasks terminals",
                description: "Sessions with background tasks",
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
        let cache = plugin.cache();
        let (sessions, counts) = interrupt::block_on(plugin, engine, call.head, "sandbox list", async move {
            let sessions = sandbox.list().await?;
            let counts = count_all(cache, &sandbox, &sessions).await;
            Ok::<_, sandbox_core::Error>((sessions, counts))
        })?
        .map_err(|e| ctx.errors.error(&e))?;
        let now = SystemTime::now();
        let rows =
            sessions.iter().zip(counts).map(|(s, counts)| records::session_row(s, counts, now, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}

/// Counts every session's tasks and terminals, all at once. A running session's agent
/// is asked (live answers only: when it does not answer, core would read the spool, which
/// may be stale while the container runs). A session whose container is not running has
/// nothing left to change its spool, so its counts are read from there, as `sandbox task
/// list` and `sandbox term list` read them. A session that cannot be asked or read (or
/// does not answer within [`COUNT_TIMEOUT`]) gets no counts; the list itself never fails
/// because of one session.
async fn count_all(cache: &SessionCache, sandbox: &Sandbox, sessions: &[SessionInfo]) -> Vec<SessionCounts> {
    let mut asks = tokio::task::JoinSet::new();
    for (i, info) in sessions.iter().enumerate() {
        let running = info.is_running();
        let cached = if running { cache.cached(sandbox, &info.id) } else { None };
        let (sandbox, id) = (sandbox.clone(), info.id.clone());
        asks.spawn(async move {
            let ask = async {
                let session = match cached {
                    Some(s) => s,
                    None => sandbox.attach(&id).await.ok()?,
                };
                if running {
                    session.ping().await.ok()?;
                }
                let (tasks, terminals) = tokio::join!(session.list_tasks(), session.list_terminals());
                let counts =
                    SessionCounts { tasks: tasks.ok().map(|t| t.len()), terminals: terminals.ok().map(|t| t.len()) };
                // Only live sessions are worth keeping open for later calls.
                Some((running.then_some(session), counts))
            };
            (i, tokio::time::timeout(COUNT_TIMEOUT, ask).await.ok().flatten())
        });
    }
    let mut counts = vec![SessionCounts::default(); sessions.len()];
    while let Some(done) = asks.join_next().await {
        if let Ok((i, Some((session, c)))) = done {
            if let Some(session) = session {
                cache.remember(sandbox, session);
            }
            counts[i] = c;
        }
    }
    counts
}
