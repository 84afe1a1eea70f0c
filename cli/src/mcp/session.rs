//! `session_start`, `session_list`, `session_stop`, `session_pause`, `session_resume`: sessions of the server's scope whose
//! working dirs lie in its roots (`session_start` may start one from a snapshot, in a new
//! directory in a root or, with no working dir given, in a managed copy the server makes
//! in the copy dir, which it may use too). The image, network, limits and post-create commands
//! come from the policy; a tool can choose only the directory (in a root), the id, the
//! environment and, on the egress network, hosts within the user's allow rules.

use sandbox_core::Error;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{Env, ToolDef, env_pairs, schema};
use crate::output::to_json;
use crate::sessions::session_row;

/// `session_start`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartArgs {
    /// The host directory to work in, mounted at the same path: absolute, or relative
    /// to the first allowed root (default: the first root). It must lie in one of the
    /// roots the user allowed; symlinks are resolved first.
    pub working_dir: Option<String>,
    /// Session id: letters, digits, `_`, `-` (default: the directory's name, or the
    /// snapshot's for a managed copy, and a random suffix).
    pub id: Option<String>,
    /// Environment variables of every command in the session.
    pub env: Env,
    /// Only when the user's policy puts sessions on the egress network: the hosts this
    /// session may reach through its proxy, fewer than the user allows (each within one
    /// of the user's rules, listed by session_list; anything wider is refused). Rules:
    /// "pypi.org", "*.example.com", "example.com:443", "10.0.0.0/8:5432". Default: all
    /// the user allows.
    pub allow_hosts: Option<Vec<String>>,
    /// Start from this snapshot (session_snapshot, snapshot_list): working_dir, which
    /// must then not exist yet (its parent in a root, not in a running session's working
    /// dir), or when not given a managed copy the server makes outside the roots in its
    /// copy dir (`<copy dir>/<id>`; the result's working_dir names it), becomes a copy of
    /// the snapshot's working dir (reflinks, an overlay on the snapshot, or a plain copy;
    /// copy_remove removes it once the session is stopped), and the container runs the
    /// snapshot's image.
    pub snapshot: Option<String>,
}

/// `session_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {}

/// `session_stop`, `session_pause`, `session_resume`: the session they act on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// Session id.
    pub session: String,
}

/// The session tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "session_start",
        description: "Start a sandbox session: a container with a host directory mounted at the same path, \
                      where commands run. Returns the session id (pass it to every other tool) and the start \
                      report (image, network, limits, egress rules, warnings). The image, network and limits are \
                      the user's policy, not arguments; on the egress network, allow_hosts can narrow the hosts \
                      the session reaches to fewer than the user allows. With `snapshot`, the session starts from \
                      a snapshot (session_snapshot) in a copy of its working dir: at working_dir, which must be a \
                      new directory, or without working_dir a managed copy the server makes in its copy dir \
                      (outside the roots, named after the session; the result's working_dir says where). \
                      report.snapshot.copy says how it was made (reflink, overlay or copy); remove it with \
                      copy_remove once the session is stopped. The policy's post-create commands do not run \
                      again.",
        schema: schema::<StartArgs>,
        read_only: false,
    },
    ToolDef {
        name: "session_list",
        description: "The sessions this server may use (its scope, working dirs in its roots or its managed \
                      copies), and the policy new sessions get.",
        schema: schema::<ListArgs>,
        read_only: true,
    },
    ToolDef {
        name: "session_stop",
        description: "Stop a session: remove its container and everything running in it (files written to \
                      the working dir stay).",
        schema: schema::<SessionArgs>,
        read_only: false,
    },
    ToolDef {
        name: "session_pause",
        description: "Pause a session: every process in it stops (no CPU), keeping all its state, until \
                      session_resume. Meanwhile exec, task_spawn and terminal_open fail with not_running; reading \
                      logs, terminals and files works. Returns paused, changed (false if it was paused already) \
                      and how many processes were stopped.",
        schema: schema::<SessionArgs>,
        read_only: false,
    },
    ToolDef {
        name: "session_resume",
        description: "Resume a paused session: its processes continue where they stopped. Returns paused (false), \
                      changed (false if it was running already) and how many processes continued.",
        schema: schema::<SessionArgs>,
        read_only: false,
    },
];

/// `session_start`.
pub async fn start(state: &State, a: StartArgs) -> Result<Value, Error> {
    let config = state.sandbox().config();
    let env = env_pairs(a.env);
    let mut spec = match (a.snapshot, a.working_dir.as_deref()) {
        (None, asked) => {
            let dir = state.policy().working_dir(asked)?;
            let id = a.id.unwrap_or_else(|| sandbox_core::default_session_id(&dir));
            state.policy().spec(id, dir, env, config)
        }
        (Some(name), asked) => {
            super::snapshot::find(state, &name).await?;
            // A new directory in a root, or (none given) a managed copy in the copy dir.
            let dir = asked.map(|asked| state.policy().new_dir(asked)).transpose()?;
            let id = a.id.unwrap_or_else(|| {
                sandbox_core::default_session_id(dir.as_deref().unwrap_or(std::path::Path::new(&name)))
            });
            state.policy().snapshot_spec(id, name, dir, env, config)
        }
    };
    if let Some(asked) = &a.allow_hosts {
        spec.egress = Some(state.policy().narrowed_egress(asked, config)?);
    }
    let session = state.sandbox().start(spec).await?;
    state.remember(&session);
    let report = session.start_report().map(to_json).transpose()?.unwrap_or(Value::Null);
    Ok(json!({"session": session.id(), "working_dir": session.working_dir(), "report": report}))
}

/// `session_list`.
pub async fn list(state: &State, _: ListArgs) -> Result<Value, Error> {
    let sessions: Vec<Value> = state
        .sandbox()
        .list()
        .await?
        .iter()
        .filter(|s| state.may_touch(&s.id, &s.working_dir))
        .map(session_row)
        .collect();
    Ok(json!({"sessions": sessions, "policy": state.policy().describe(state.sandbox().config())}))
}

/// `session_stop`.
pub async fn stop(state: &State, a: SessionArgs) -> Result<Value, Error> {
    state.session(&a.session).await?;
    state.forget(&a.session);
    state.sandbox().stop(&a.session).await?;
    Ok(json!({"stopped": a.session}))
}

/// `session_pause` (`resume` false) and `session_resume`.
pub async fn pause(state: &State, a: SessionArgs, resume: bool) -> Result<Value, Error> {
    let s = state.session(&a.session).await?;
    let r = if resume { s.resume().await? } else { s.pause().await? };
    Ok(json!({
        "session": a.session, "paused": r.paused, "changed": r.changed, "method": r.method,
        "processes": r.processes, "took_ms": r.took_us as f64 / 1000.0,
    }))
}
