//! `sandbox mcp`: a Model Context Protocol server on stdin and stdout, so a coding
//! agent's MCP client can start sessions and run commands, tasks, terminals and file
//! operations in them as tools. What a model may do is fixed by the user who starts the
//! server ([`policy`]); tool arguments can only choose within it.

mod copy;
mod exec;
mod file;
mod fork;
mod network;
pub mod policy;
mod resource;
mod server;
mod session;
mod snapshot;
mod state;
mod task;
mod terminal;
mod tool;

use rmcp::ServiceExt;
use sandbox_core::{Config, Error, Sandbox};

use crate::args::McpArgs;

/// The longest message read (one JSON-RPC line): room for the largest input a tool takes
/// ([`tool::MAX_INPUT`]) as base64 or escaped text, so an input too large is refused
/// by the tool with an error instead of dropped by the transport (rmcp drops longer
/// lines unanswered).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Serves MCP on stdin/stdout until the client closes stdin (or the transport fails).
/// Sessions outlive the server: the client stops them with `session_stop`.
pub async fn serve(args: McpArgs) -> Result<(), Error> {
    let policy = policy::McpPolicy::load(&args)?;
    let config = policy.config(Config::load()?);
    let server = server::Server::new(Sandbox::new(config), policy);
    let (stdin, stdout) = rmcp::transport::stdio();
    let transport = rmcp::transport::async_rw::AsyncRwTransport::new(stdin, stdout).with_max_line_length(MAX_MESSAGE);
    let running = server
        .serve(transport)
        .await
        .map_err(|e| Error::Protocol { detail: format!("the MCP handshake failed: {e}") })?;
    running.waiting().await.map_err(|e| Error::Protocol { detail: format!("the MCP server stopped: {e}") })?;
    Ok(())
}
