//! `network_log`: what a session on the egress network connected to, and what its
//! enforcer refused. Reading only: the policy is the user's, no tool changes it.

use sandbox_core::Error;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{ToolDef, schema};
use crate::network::decision_row;

/// Decisions `network_log` returns when the call does not say (a model's context is small).
const DEFAULT_LAST: usize = 100;

/// `network_log`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogArgs {
    /// Session id.
    pub session: String,
    /// Only the last this many decisions (default 100).
    pub last: Option<usize>,
}

/// The network tools.
pub const TOOLS: &[ToolDef] = &[ToolDef {
    name: "network_log",
    description: "The connections a session on the egress network made through its proxy, oldest first: host, \
                  port, address, via (connect or http), process (\"pid name\" of the process in the session that opened \
                  it, when known), allowed, the reason of a refusal, bytes each way. Use it \
                  to see why a download or API call failed (a host outside the user's allow rules is refused \
                  with 403). Returns the last 100 unless `last` says otherwise, and the total.",
    schema: schema::<LogArgs>,
    read_only: true,
}];

/// `network_log`.
pub async fn log(state: &State, a: LogArgs) -> Result<Value, Error> {
    let session = state.session(&a.session).await?;
    if session.egress_policy()?.is_none() {
        return Err(Error::invalid(
            "session",
            format!("session {} is not on the egress network: it has no network log", a.session),
        ));
    }
    let log = session.network_log()?;
    let last = a.last.unwrap_or(DEFAULT_LAST);
    let rows: Vec<Value> = log[log.len().saturating_sub(last)..].iter().map(decision_row).collect();
    Ok(json!({"session": a.session, "total": log.len(), "decisions": rows}))
}
