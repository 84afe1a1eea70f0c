//! The MCP server: lists the tools, runs a call under its cancellation token (a
//! `notifications/cancelled` drops the call, which kills a running exec in the
//! container), and turns what the call returned into a result or a tool error.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, JsonObject, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use sandbox_core::{Error, ErrorKind, Sandbox};
use serde_json::Value;

use super::policy::McpPolicy;
use super::state::{Progress, State};
use super::tool::{self, ToolDef};
use super::{copy, exec, file, fork, network, resource, session, snapshot, task, terminal};

/// The MCP server: the tools over a [`State`].
#[derive(Clone)]
pub struct Server {
    state: State,
}

/// Every tool, in the order listed.
fn tools() -> impl Iterator<Item = &'static ToolDef> {
    session::TOOLS
        .iter()
        .chain(snapshot::TOOLS)
        .chain(fork::TOOLS)
        .chain(copy::TOOLS)
        .chain(exec::TOOLS)
        .chain(task::TOOLS)
        .chain(terminal::TOOLS)
        .chain(file::TOOLS)
        .chain(network::TOOLS)
}

impl Server {
    /// A server over `sandbox` (already in the policy's scope) under `policy`.
    pub fn new(sandbox: Sandbox, policy: McpPolicy) -> Server {
        Server { state: State::new(sandbox, policy) }
    }

    /// Runs tool `name`; `None` when there is no such tool.
    async fn dispatch(
        &self,
        name: &str,
        args: Option<JsonObject>,
        progress: Option<Progress>,
    ) -> Option<Result<Value, Error>> {
        Some(match name {
            "session_start" => async { session::start(&self.state, tool::parse(name, args)?).await }.await,
            "session_list" => async { session::list(&self.state, tool::parse(name, args)?).await }.await,
            "session_stop" => async { session::stop(&self.state, tool::parse(name, args)?).await }.await,
            "session_pause" => async { session::pause(&self.state, tool::parse(name, args)?, false).await }.await,
            "session_resume" => async { session::pause(&self.state, tool::parse(name, args)?, true).await }.await,
            "session_snapshot" => async { snapshot::snapshot(&self.state, tool::parse(name, args)?).await }.await,
            "snapshot_list" => async { snapshot::list(&self.state, tool::parse(name, args)?).await }.await,
            "snapshot_remove" => async { snapshot::remove(&self.state, tool::parse(name, args)?).await }.await,
            "session_fork" => async { fork::fork(&self.state, tool::parse(name, args)?).await }.await,
            "session_diff" => async { fork::diff(&self.state, tool::parse(name, args)?).await }.await,
            "session_merge" => async { fork::merge(&self.state, tool::parse(name, args)?).await }.await,
            "copy_remove" => async { copy::remove(&self.state, tool::parse(name, args)?).await }.await,
            "exec" => async { exec::exec(&self.state, tool::parse(name, args)?, progress).await }.await,
            "task_spawn" => async { task::spawn(&self.state, tool::parse(name, args)?).await }.await,
            "task_list" => async { task::list(&self.state, tool::parse(name, args)?).await }.await,
            "task_logs" => async { task::logs(&self.state, tool::parse(name, args)?).await }.await,
            "task_wait" => async { task::wait(&self.state, tool::parse(name, args)?).await }.await,
            "task_kill" => async { task::kill(&self.state, tool::parse(name, args)?).await }.await,
            "terminal_open" => async { terminal::open(&self.state, tool::parse(name, args)?).await }.await,
            "terminal_list" => async { terminal::list(&self.state, tool::parse(name, args)?).await }.await,
            "terminal_send" => async { terminal::send(&self.state, tool::parse(name, args)?).await }.await,
            "terminal_read_until" => async { terminal::read_until(&self.state, tool::parse(name, args)?).await }.await,
            "terminal_kill" => async { terminal::kill(&self.state, tool::parse(name, args)?).await }.await,
            "file_read" => async { file::read(&self.state, tool::parse(name, args)?).await }.await,
            "file_write" => async { file::write(&self.state, tool::parse(name, args)?).await }.await,
            "file_list" => async { file::list(&self.state, tool::parse(name, args)?).await }.await,
            "network_log" => async { network::log(&self.state, tool::parse(name, args)?).await }.await,
            _ => return None,
        })
    }

    fn instructions(&self) -> String {
        let config = self.state.sandbox().config();
        format!(
            "Sandboxed sessions: each is a podman container with a working directory of the host mounted at the \
             same path. Start one with session_start, run commands with exec (argv, no shell unless you run \
             sh -c), long jobs with task_spawn and task_logs, interactive programs with terminal_open, \
             terminal_send and terminal_read_until, and read or write files with file_read, file_write and \
             file_list; network_log shows what a session on the egress network connected to and what was \
             refused. session_snapshot keeps a session's state under a name (session_start with snapshot \
             starts from it, in a new directory or, without working_dir, a copy the server manages); session_fork makes children to try things in parallel, session_diff shows \
             what one changed and session_merge applies it elsewhere; once such sessions are stopped, \
             copy_remove removes their copies (before snapshot_remove). Task and terminal output and files are also resources (sandbox://sessions/...). \
             Sessions outlive this server: stop them with session_stop when done. The user fixed \
             this policy; no argument changes it: {}",
            self.state.policy().describe(config)
        )
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(
                Implementation::new("sandbox", env!("CARGO_PKG_VERSION"))
                    .with_title("Sandbox sessions for coding agents"),
            )
            .with_instructions(self.instructions())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools().map(ToolDef::tool).collect()))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = resource::list(&self.state).await.map_err(|e| resource_error(&e))?;
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(resource::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let read = tokio::select! {
            r = resource::read(&self.state, &request.uri) => r,
            () = context.ct.cancelled() => return Err(ErrorData::internal_error("cancelled by the client", None)),
        };
        Ok(ReadResourceResult::new(vec![read.map_err(|e| resource_error(&e))?]).into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress = context.meta.get_progress_token().map(|token| Progress { peer: context.peer.clone(), token });
        let name = request.name.to_string();
        let session_id = request.arguments.as_ref().and_then(|a| a.get("session")).and_then(Value::as_str);
        let session_id = session_id.map(str::to_string);
        // Dropping the call's future is what cancels it: a running exec's stream is
        // dropped with it, and the agent kills the command's process group.
        let outcome = tokio::select! {
            r = self.dispatch(&name, request.arguments, progress) => r,
            () = context.ct.cancelled() => Some(Err(Error::NotRunning {
                what: name.clone(),
                detail: "cancelled by the client; a running command was killed".into(),
            })),
        };
        let result = match outcome {
            None => return Err(ErrorData::invalid_params(format!("no tool named {name:?}; list the tools"), None)),
            Some(Ok(v)) => tool::success(v),
            Some(Err(e)) => {
                if matches!(e.kind(), ErrorKind::SessionLost | ErrorKind::SessionNotFound)
                    && let Some(id) = &session_id
                {
                    self.state.forget(id);
                }
                tool::failure(&e)
            }
        };
        Ok(result.into())
    }
}

/// A failed resource read as a protocol error: not found for what does not exist (or
/// may not be touched), invalid params for a bad URI, internal otherwise; the message
/// starts with the error kind's name, as tool errors do.
fn resource_error(e: &Error) -> ErrorData {
    let kind = tool::kind_name(e.kind());
    let message = format!("{kind}: {e}");
    let data = Some(serde_json::json!({"kind": kind}));
    match e.kind() {
        ErrorKind::SessionNotFound | ErrorKind::NotFound => ErrorData::resource_not_found(message, data),
        ErrorKind::InvalidInput => ErrorData::invalid_params(message, data),
        _ => ErrorData::internal_error(message, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_listed_is_dispatched_and_names_are_unique() {
        let names: Vec<&str> = tools().map(|t| t.name).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(names.len(), 27);
        let dir = tempfile::tempdir().unwrap();
        let policy = McpPolicy { roots: vec![dir.path().to_path_buf()], ..McpPolicy::empty() };
        let server = Server::new(Sandbox::new(sandbox_core::Config::default()), policy);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for name in names {
            // An argument no tool takes: every tool answers with its own parse error.
            let args = serde_json::json!({"no_such_argument": 1}).as_object().cloned();
            let r = rt.block_on(server.dispatch(name, args, None));
            let e = r.unwrap_or_else(|| panic!("{name} is listed but not dispatched")).unwrap_err();
            assert!(e.to_string().contains(&format!("arguments of {name}")), "{name}: {e}");
        }
        assert!(rt.block_on(server.dispatch("no_such_tool", None, None)).is_none());
    }

    #[test]
    fn the_readme_lists_every_tool() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## MCP server").expect("the README's MCP section")..];
        for t in tools() {
            assert!(section.contains(&format!("| `{}` |", t.name)), "the README's tool table lacks {}", t.name);
        }
    }

    #[test]
    fn tool_schemas_refuse_unknown_arguments() {
        for t in tools() {
            let schema = (t.schema)();
            assert_eq!(schema.get("type"), Some(&serde_json::json!("object")), "{}", t.name);
            assert_eq!(schema.get("additionalProperties"), Some(&serde_json::json!(false)), "{}", t.name);
        }
    }
}
