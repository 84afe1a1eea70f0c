//! `sandbox attach <session> [terminal]`: the user's terminal connected to a terminal in
//! the sandbox, both ways, until its program exits or the user detaches.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::TerminalSpec;
use sandbox_core::local_tty::{self, Outcome, RawMode, TerminalInput};

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::interrupt::{self, Interrupt};

/// `sandbox attach`: an interactive terminal in a session.
pub struct Attach;

impl PluginCommand for Attach {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox attach"
    }

    fn description(&self) -> &str {
        "Use a terminal in a sandbox session interactively: a new shell, or an existing terminal by id. Ctrl-] detaches."
    }

    fn extra_description(&self) -> &str {
        "Needs nushell's terminal: stdin and stdout must be a terminal (not a script's pipe or a redirect), else it \
is an error; from scripts use `sandbox term send` and `sandbox term read`. The plugin takes the terminal into the \
foreground, switches it to raw mode (every key, Ctrl-C included, goes to the program in the sandbox), copies both \
ways, and passes size changes on. Without a terminal id it opens a new shell sized like your terminal; with one, it \
resizes that terminal to yours and shows its output from now on (press Enter, or Ctrl-L, to redraw). It returns when \
the program exits, or when you press Ctrl-]: the terminal keeps running and `sandbox attach <session> <id>` comes \
back to it. Returns nothing."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .optional("terminal", SyntaxShape::Any, "Terminal id (or record) to attach to (default: a new shell).")
            .input_output_type(Type::Nothing, Type::Nothing)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["shell", "interactive", "tty", "ssh", "exec -it", "console"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox attach demo",
                description: "Open an interactive shell in the session",
                result: None,
            },
            Example {
                example: "sandbox attach demo (sandbox term open demo top)",
                description: "Run a full-screen program interactively",
                result: None,
            },
            Example {
                example: "sandbox attach demo (sandbox term list demo | where state == running | last)",
                description: "Go back to a terminal you detached from",
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
        let (mut ctx, session_id) = CallContext::for_session(plugin, engine, call)?;
        let wanted = match call.opt::<Value>(1)? {
            Some(v) => {
                let term = arguments::handle_id(&v, "terminal")?;
                ctx.errors.blame("terminal", term.span);
                Some(term.item)
            }
            None => None,
        };
        if engine.is_using_stdio() {
            return Err(LabeledError::new("sandbox attach needs the terminal, which this nushell uses to talk to the plugin")
                .with_label("cannot attach here", head)
                .with_help("nushell talks to this plugin over stdin/stdout (no local socket support); use `sandbox term send` and `sandbox term read` instead"));
        }
        if !local_tty::is_interactive() {
            return Err(LabeledError::new("sandbox attach needs an interactive terminal")
                .with_label("stdin or stdout is not a terminal", head)
                .with_help("run it from an interactive nushell; from scripts and pipes use `sandbox term open`, `sandbox term send` and `sandbox term read`"));
        }

        let (rows, cols) = local_tty::size();
        let (terminal, start_at) =
            ctx.on_session(plugin, engine, call, "sandbox attach", interrupt::CANCELLED, |s| async move {
                match wanted {
                    Some(id) => {
                        let terminal = s.terminal(&id);
                        terminal.resize(rows, cols).await?;
                        let now = terminal.read(0, 1, Some(Duration::ZERO)).await?;
                        Ok((terminal, now.end))
                    }
                    None => Ok((s.open_terminal(TerminalSpec::shell(rows, cols)).await?, 0)),
                }
            })?;
        let id = terminal.id().to_string();
        eprintln!("sandbox attach: terminal {id} in session {session_id} (Ctrl-] detaches)");

        // The terminal goes to this plugin's process group; nushell gets it back after.
        let nushell_group = local_tty::foreground_group();
        let foreground = engine.enter_foreground().map_err(|e| {
            LabeledError::new(format!("cannot take the terminal into the foreground: {e}"))
                .with_label("while attaching", head)
                .with_help(format!("the terminal {id} keeps running; `sandbox term kill {session_id} {id}` ends it"))
        })?;
        let interrupt = Interrupt::register(engine)?;
        let outcome = match RawMode::enter() {
            Ok(raw) => {
                let outcome = match TerminalInput::start() {
                    Ok((mut input, keys)) => {
                        let outcome =
                            plugin.runtime().block_on(local_tty::connect(&terminal, start_at, keys, interrupt.wait()));
                        input.stop();
                        outcome
                    }
                    Err(e) => Outcome::Failed(format!("cannot read the terminal: {e}")),
                };
                drop(raw);
                outcome
            }
            Err(e) => Outcome::Failed(format!("cannot switch the terminal to raw mode: {e}")),
        };
        if matches!(outcome, Outcome::Detached) {
            eprintln!(
                "\r\nsandbox attach: detached; terminal {id} keeps running (`sandbox attach {session_id} {id}` to return, `sandbox term kill {session_id} {id}` to end it)"
            );
        }
        // Hand the terminal back while still in the foreground: a nushell that is not
        // interactive (`nu -c`) does not ignore SIGTTOU, and its own taking back from the
        // background fails ("reset foreground id failed") or stops it.
        if let Some(group) = nushell_group {
            let _ = local_tty::set_foreground_group(group);
        }
        foreground.leave().map_err(LabeledError::from)?;
        match outcome {
            Outcome::Exited | Outcome::Detached => Ok(PipelineData::empty()),
            Outcome::Lost(e) => Err(ctx.errors.error(&e)),
            Outcome::Failed(why) => Err(LabeledError::new(why).with_label("while attached", head)),
        }
    }
}
