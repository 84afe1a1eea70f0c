//! `sandbox wait-port <session> <port>`: waits until a process in the session listens on
//! a TCP port.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::ErrorKind;

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::records;

/// `sandbox wait-port`: the port's `listening` event, once there is one.
pub struct WaitPort;

impl PluginCommand for WaitPort {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox wait-port"
    }

    fn description(&self) -> &str {
        "Wait until a process in a session listens on a TCP port (a server is up); returns the port's listening event."
    }

    fn extra_description(&self) -> &str {
        "Returns the record of `sandbox events` that says the port listens (kind port, action listening; command is \
the listening program's name, pid its pid, address where it listens), at once when it listens already. Waits as \
long as it takes unless --timeout says otherwise (0sec: only check); a timeout, or the session ending first, is \
an error. Ctrl-C stops waiting."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .required("port", SyntaxShape::Int, "The TCP port inside the session.")
            .named(
                "timeout",
                SyntaxShape::Duration,
                "Give up (with an error) after this long (0sec: only check).",
                None,
            )
            .input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["listen", "server", "ready", "port", "tcp", "health"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let t = sandbox task spawn demo httpd -f -p 8080; let up = sandbox wait-port demo 8080 --timeout 30sec; sandbox task kill demo $t; $up.command",
                description: "Start a server and wait until it accepts connections",
                result: Some(Value::test_string("httpd")),
            },
            Example {
                example: "sandbox task spawn demo npm run dev | ignore; sandbox wait-port demo 5173 --timeout 2min; http get http://127.0.0.1:5173",
                description: "Wait for a dev server (published with `sandbox start --ports [5173]`) before using it",
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
        let (mut ctx, session) = CallContext::for_session(plugin, engine, call)?;
        ctx.errors.blame("session", call.req::<Value>(0)?.span());
        let port_arg = call.req::<Value>(1)?;
        let port = port_arg
            .as_int()
            .map_err(LabeledError::from)
            .and_then(|n| {
                sandbox_core::validate::port_from_i64(n)
                    .map_err(|e| LabeledError::new(e.to_string()).with_label("not a port", port_arg.span()))
            })
            .map_err(|e| e.with_help("TCP ports are 1 to 65535"))?;
        ctx.errors.blame("port", port_arg.span());
        let timeout = ctx.flag(call, "timeout", "timeout", |v, _| arguments::duration(v, "timeout"))?;
        ctx.errors.help(
            ErrorKind::Timeout,
            format!(
                "nothing listened on port {port} in time: wait longer with --timeout; `sandbox events {session} --kind [port]` \
shows the ports that opened, `sandbox task list {session}` whether the server still runs"
            ),
        );
        ctx.errors.help(ErrorKind::NotRunning, format!("the session ended before anything listened on port {port}"));
        let event = ctx.on_session(
            plugin,
            engine,
            call,
            self.name(),
            "stopped waiting; nothing was changed in the session",
            |s| async move { s.wait_for_port(port, timeout).await },
        )?;
        Ok(PipelineData::value(records::session_event(&event, head), None))
    }
}
