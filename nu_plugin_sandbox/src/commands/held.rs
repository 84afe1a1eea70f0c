//! The commands tasks and terminals share, one generic command each: the group
//! (`sandbox task`, `sandbox term`), `list`, `wait` and `kill`. What differs between the
//! two (names, help, the default signal, the row) is the [`HeldCommands`] of
//! [`Tasks`](super::Tasks) and [`Terminals`](super::Terminals) in `held_kinds.rs`.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Span, SyntaxShape, Type, Value};
use sandbox_core::{ErrorKind, Held, ProcessKind, Session};

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::interrupt;
use crate::signal_name::signal_number;

/// The help of one command: what `help <command>` shows.
pub struct Help {
    /// The command's name, `sandbox <stem> <verb>`.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// The rest.
    pub extra: &'static str,
    /// Words `help --find` matches.
    pub search_terms: &'static [&'static str],
    /// Examples (those with a result are run by the plugin tests).
    pub examples: fn() -> Vec<Example<'static>>,
}

/// A kind of held process as the plugin's commands show it.
pub trait HeldCommands: Send + Sync + 'static {
    /// The core kind.
    type Kind: ProcessKind;
    /// The name of the id argument and of its column in errors: "task" or "terminal".
    const ARG: &'static str;
    /// The id argument's help.
    const ARG_HELP: &'static str;
    /// The signal `kill` sends when none is given.
    const DEFAULT_SIGNAL: i32;
    /// The help of the group, `list`, `wait` and `kill`.
    const GROUP: Help;
    /// See [`GROUP`](Self::GROUP).
    const LIST: Help;
    /// See [`GROUP`](Self::GROUP).
    const WAIT: Help;
    /// See [`GROUP`](Self::GROUP).
    const KILL: Help;
    /// The hint of a wait that timed out, for the process `id` of `session`.
    fn still_running(session: &str, id: &str) -> String;
    /// What Ctrl-C during a wait leaves behind.
    const WAIT_INTERRUPTED: &'static str;

    /// A handle on the process `id` of `session`.
    fn handle(session: &Session, id: &str) -> Held<Self::Kind>;
    /// Every process of the kind in `session`.
    fn list(session: Session) -> impl Future<Output = sandbox_core::Result<Vec<<Self::Kind as ProcessKind>::Info>>>;
    /// One process as a row.
    fn row(info: &<Self::Kind as ProcessKind>::Info, span: Span) -> Value;
}

/// The parts of a command that come from its [`Help`].
macro_rules! help_parts {
    ($help:expr) => {
        fn name(&self) -> &str {
            $help.name
        }

        fn description(&self) -> &str {
            $help.description
        }

        fn extra_description(&self) -> &str {
            $help.extra
        }

        fn search_terms(&self) -> Vec<&str> {
            $help.search_terms.to_vec()
        }

        fn examples(&self) -> Vec<Example<'_>> {
            ($help.examples)()
        }
    };
}

/// `sandbox task` / `sandbox term`: prints the help, which lists the subcommands.
pub struct HeldGroup<K>(pub K);

impl<K: HeldCommands> PluginCommand for HeldGroup<K> {
    type Plugin = SandboxPlugin;

    help_parts!(K::GROUP);

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn run(
        &self,
        _plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        Ok(PipelineData::value(Value::string(engine.get_help()?, call.head), None))
    }
}

/// `sandbox task list` / `sandbox term list`: one row per process, oldest first.
pub struct HeldList<K>(pub K);

impl<K: HeldCommands> PluginCommand for HeldList<K> {
    type Plugin = SandboxPlugin;

    help_parts!(K::LIST);

    fn signature(&self) -> Signature {
        super::session_signature(self.name()).input_output_type(Type::Nothing, Type::table())
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let infos = ctx.on_session(plugin, engine, call, self.name(), interrupt::CANCELLED, K::list)?;
        let rows = infos.iter().map(|info| K::row(info, call.head)).collect();
        Ok(PipelineData::value(Value::list(rows, call.head), None))
    }
}

/// The session argument (0) and the process id argument (1) of `call`, blamed in errors:
/// how every command on one task or terminal starts.
pub(crate) fn target<K: HeldCommands>(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
) -> Result<(CallContext, String), LabeledError> {
    let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
    let id = arguments::handle_id(&call.req::<Value>(1)?, K::ARG)?;
    ctx.errors.blame(K::ARG, id.span);
    Ok((ctx, id.item))
}

/// The signature of the command `name` on one process of kind `K`: the session, then the
/// process id (the arguments [`target`] reads).
pub(crate) fn target_signature<K: HeldCommands>(name: &str) -> Signature {
    super::session_signature(name).required(K::ARG, SyntaxShape::Any, K::ARG_HELP)
}

/// What `sandbox task spawn` and `sandbox term open` take after the program and its
/// arguments: --cwd, --env, and the flag that bounds the output kept (`keep`: its name
/// and help); other words go to the program, and the command returns the new record.
pub(crate) fn start_options(signature: Signature, keep: (&str, &str)) -> Signature {
    signature
        .rest("args", SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Any]), "Its arguments.")
        .named("cwd", SyntaxShape::String, "Working directory inside the session.", None)
        .named(
            "env",
            SyntaxShape::Record(Default::default()),
            "Extra environment variables, e.g. { RUST_LOG: debug }.",
            None,
        )
        .named(keep.0, SyntaxShape::Filesize, keep.1, None)
        .allows_unknown_args()
        .input_output_type(Type::Nothing, Type::record())
}

/// The info a handle was made with (a spawn or an open returns one), else asked for.
pub(crate) async fn started<K: ProcessKind>(held: Held<K>) -> sandbox_core::Result<K::Info> {
    match held.initial_info() {
        Some(info) => Ok(info.clone()),
        None => held.info().await,
    }
}

/// `sandbox task wait` / `sandbox term wait`: the record once the process has ended.
pub struct HeldWait<K>(pub K);

impl<K: HeldCommands> PluginCommand for HeldWait<K> {
    type Plugin = SandboxPlugin;

    help_parts!(K::WAIT);

    fn signature(&self) -> Signature {
        target_signature::<K>(self.name())
            .named(
                "timeout",
                SyntaxShape::Duration,
                "Give up (with an error) after this long (0sec: only check).",
                None,
            )
            .input_output_type(Type::Nothing, Type::record())
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (mut ctx, id) = target::<K>(plugin, engine, call)?;
        let timeout = ctx.flag(call, "timeout", "timeout", |v, _| arguments::duration(v, "timeout"))?;
        ctx.errors.help(ErrorKind::Timeout, K::still_running(ctx.session_id(), &id));
        let info = ctx.on_session(plugin, engine, call, self.name(), K::WAIT_INTERRUPTED, |s| async move {
            K::handle(&s, &id).wait(timeout).await
        })?;
        Ok(PipelineData::value(K::row(&info, call.head), None))
    }
}

/// `sandbox task kill` / `sandbox term kill`: signals the process's group.
pub struct HeldKill<K>(pub K);

impl<K: HeldCommands> PluginCommand for HeldKill<K> {
    type Plugin = SandboxPlugin;

    help_parts!(K::KILL);

    fn signature(&self) -> Signature {
        let default = crate::signal_name::signal_name(K::DEFAULT_SIGNAL);
        target_signature::<K>(self.name())
            .named(
                "signal",
                SyntaxShape::OneOf(vec![SyntaxShape::Int, SyntaxShape::String]),
                format!("Signal name or number (default {default})."),
                None,
            )
            .input_output_type(Type::Nothing, Type::Nothing)
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (mut ctx, id) = target::<K>(plugin, engine, call)?;
        let signal = ctx.flag(call, "signal", "signal", signal_number)?.unwrap_or(K::DEFAULT_SIGNAL);
        ctx.on_session(plugin, engine, call, self.name(), interrupt::CANCELLED, |s| async move {
            K::handle(&s, &id).kill(signal).await
        })?;
        Ok(PipelineData::empty())
    }
}
