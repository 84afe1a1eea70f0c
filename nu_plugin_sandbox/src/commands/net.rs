//! `sandbox net`: the parent of the `sandbox net ...` commands (on its own it prints the
//! help, which lists them), and what they share: the session of the call, its policy
//! (or the error for a session not on the egress network), and adding or removing rules.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::{EgressPolicy, Error};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{arguments, interrupt, records};

/// `sandbox net`: prints help listing the subcommands.
pub struct NetCommand;

impl PluginCommand for NetCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox net"
    }

    fn description(&self) -> &str {
        "The egress network of a session: its connection log, its allow rules (changed live), its enforcer."
    }

    fn extra_description(&self) -> &str {
        "A session started with --allow-host (or --network egress) has no network but a proxy at \
http://127.0.0.1:3128 (HTTP_PROXY and friends point at it); a process on the host, the enforcer, lets through \
what the rules allow and logs every decision. Rules: a host (pypi.org), *.domain, an address or network \
(10.0.0.0/8), each optionally with :port. Names resolving to loopback, private or metadata addresses need an \
address rule too."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name()).input_output_type(Type::Nothing, Type::String).category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["network", "egress", "proxy", "firewall", "allow"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example { example: "sandbox net", description: "List the sandbox net subcommands", result: None }]
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

/// The context of a `sandbox net ...` call and its session id; a session not on the
/// egress network is blamed on the session argument.
pub(super) fn target(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
) -> Result<(CallContext, String), LabeledError> {
    let (mut ctx, id) = CallContext::for_session(plugin, engine, call)?;
    ctx.errors.blame("network", call.req::<Value>(0)?.span());
    Ok((ctx, id))
}

/// The policy of `session`, or an invalid-input error on `network` when it has none.
pub(super) fn policy_in_force(session: &sandbox_core::Session) -> sandbox_core::Result<EgressPolicy> {
    session.egress_policy()?.ok_or_else(|| {
        Error::invalid(
            "network",
            format!("session {} is not on the egress network: it has no egress policy", session.id()),
        )
    })
}

/// The signature of `sandbox net allow` and `deny`.
pub(super) fn change_signature(name: &str, what: &str) -> Signature {
    super::session_signature(name)
        .rest("rules", SyntaxShape::String, what)
        .input_output_type(Type::Nothing, Type::record())
}

/// Adds (`allow`) or removes the rules given after the session, each checked where it
/// was written (a rule to remove must be in the policy, so a removal never silently does
/// nothing); returns the policy as a record.
pub(super) fn change(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    allow: bool,
) -> Result<PipelineData, LabeledError> {
    let (mut ctx, id) = target(plugin, engine, call)?;
    let given = call.rest::<Value>(1)?;
    let Some(first) = given.first() else {
        return Err(LabeledError::new("no rule given")
            .with_label("give the rules after the session", call.head)
            .with_help(arguments::EGRESS_RULE_HELP));
    };
    ctx.errors.blame("egress rule", first.span());
    let rules =
        given.iter().map(|v| arguments::egress_rule(v).map(|r| (r, v.span()))).collect::<Result<Vec<_>, _>>()?;
    let what = if allow { "sandbox net allow" } else { "sandbox net deny" };
    let mut policy =
        ctx.on_session(plugin, engine, call, what, interrupt::CANCELLED, |s| async move { policy_in_force(&s) })?;
    for (rule, span) in rules {
        match policy.allow.iter().position(|r| *r == rule) {
            Some(_) if allow => {}
            None if allow => policy.allow.push(rule),
            Some(i) => {
                policy.allow.remove(i);
            }
            None => {
                let list: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
                return Err(LabeledError::new(format!("{rule} is not in the allow list of session {id}"))
                    .with_label("not an allow rule of this session", span)
                    .with_help(format!(
                        "nothing was changed; the rules are: {} (`sandbox net policy {id}`)",
                        if list.is_empty() { "none".to_string() } else { list.join(", ") }
                    )));
            }
        }
    }
    let (running, policy) = ctx.on_session(plugin, engine, call, what, interrupt::CANCELLED, |s| async move {
        s.set_egress(&policy)?;
        Ok((s.egress_enforcer_running(), policy))
    })?;
    Ok(PipelineData::value(records::egress_policy(&id, &policy, running, call.head), None))
}
