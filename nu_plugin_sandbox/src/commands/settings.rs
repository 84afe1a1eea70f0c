//! The settings of a new session, the same flags for `sandbox start` and for the
//! children of `sandbox fork`: ports, network and egress policy, environment, limits,
//! post-create commands and provisioning.

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Signature, SyntaxShape, Value};
use sandbox_core::{EgressPolicy, Network, SessionSpec};

use crate::arguments::{self, flag};
use crate::call_context::CallContext;

/// `signature` with the settings' flags; `whom` names what they apply to ("session",
/// "child").
pub(super) fn signature(signature: Signature, whom: &str) -> Signature {
    signature
        .named("ports", SyntaxShape::List(Box::new(SyntaxShape::Int)), "Ports to publish on 127.0.0.1.", None)
        .named(
            "network",
            SyntaxShape::String,
            "Network mode: bridge, none, or egress (only through the session's proxy, to what --allow-host \
allows; the mode when --allow-host or --pin-host is given).",
            None,
        )
        .named(
            "allow-host",
            SyntaxShape::OneOf(vec![SyntaxShape::List(Box::new(SyntaxShape::String)), SyntaxShape::String]),
            "Egress rules: hosts (pypi.org), *.domain, addresses or networks (10.0.0.0/8), each optionally with \
:port, e.g. [pypi.org *.example.com:443].",
            None,
        )
        .named(
            "pin-host",
            SyntaxShape::OneOf(vec![
                SyntaxShape::Record(Default::default()),
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                SyntaxShape::String,
            ]),
            "Egress: names answered with these addresses instead of the resolver (still judged by the rules), \
e.g. { db.test: 10.0.0.5 } or [db.test=10.0.0.5].",
            None,
        )
        .named(
            "credential",
            SyntaxShape::OneOf(vec![
                SyntaxShape::Record(Default::default()),
                SyntaxShape::List(Box::new(SyntaxShape::Record(Default::default()))),
            ]),
            "Egress credentials: headers the enforcer adds, outside the session, to requests for a host \
--allow-host allows, the value read on the host at start (never seen inside), e.g. { host: api.example.com, \
header: Authorization, env: API_TOKEN } or { ..., file: /run/secrets/token }; a list for several.",
            None,
        )
        .named(
            "upstream-ca",
            SyntaxShape::OneOf(vec![SyntaxShape::List(Box::new(SyntaxShape::String)), SyntaxShape::String]),
            "Egress: CA files (PEM) the enforcer trusts, besides the host's store, for hosts with a credential.",
            None,
        )
        .named(
            "env",
            SyntaxShape::Record(Default::default()),
            format!("Environment of the {whom}, e.g. {{ RUST_LOG: debug }}."),
            None,
        )
        .named("memory", SyntaxShape::Filesize, "Memory limit, e.g. 1GiB.", None)
        .named("cpus", SyntaxShape::Number, "CPU limit in cores, e.g. 1.5.", None)
        .named("pids", SyntaxShape::Int, "Process limit.", None)
        .switch("require-limits", "Fail rather than start without enforceable limits.", None)
        .named(
            "post-create",
            SyntaxShape::List(Box::new(SyntaxShape::String)),
            "Commands (for sh -c) to run after the start; only run with --allow-post-create.",
            None,
        )
        .switch("allow-post-create", "Run the --post-create commands.", None)
        .switch("no-provision", format!("Do not try to install dev tools (apk/apt-get) in the {whom}."), None)
}

/// Sets on `spec` the settings the call gives, blaming each flag for the errors of its
/// setting.
pub(super) fn apply(ctx: &mut CallContext, call: &EvaluatedCall, spec: &mut SessionSpec) -> Result<(), LabeledError> {
    if let Some((v, span)) = flag(call, "ports") {
        spec.ports = arguments::ports(&v)?;
        ctx.errors.blame("port", span);
    }
    if let Some((v, span)) = flag(call, "network") {
        let text = v.as_str().map_err(|_| not_a_string("--network", &v))?;
        spec.network = Some(text.parse::<Network>().map_err(|e| {
            LabeledError::new(e.to_string()).with_label("unknown network mode", span).with_help(
                "use bridge (outbound access, ports on 127.0.0.1), none (no network) or egress (only what \
--allow-host allows, through a proxy); host networking is never allowed",
            )
        })?);
        ctx.errors.blame("network", span);
    }
    let rules = ctx.flag(call, "allow-host", "egress rule", |v, _| arguments::egress_rules(v))?;
    let pins = ctx.flag(call, "pin-host", "egress hosts entry", |v, _| arguments::pinned_hosts(v))?;
    let credentials = ctx.flag(call, "credential", "egress credential", |v, _| arguments::egress_credentials(v))?;
    let cas = ctx.flag(call, "upstream-ca", "egress upstream CA", |v, _| arguments::upstream_cas(v))?;
    if rules.is_some() || pins.is_some() || credentials.is_some() || cas.is_some() {
        spec.egress = Some(EgressPolicy {
            allow: rules.unwrap_or_default(),
            hosts: pins.unwrap_or_default(),
            credentials: credentials.unwrap_or_default(),
            upstream_ca_files: cas.unwrap_or_default(),
        });
        if let Some((_, span)) =
            ["allow-host", "pin-host", "credential", "upstream-ca"].iter().find_map(|f| flag(call, f))
        {
            // With --network bridge or none: the mode and the rules disagree.
            ctx.errors.blame("network", span);
        }
    }
    if let Some((v, span)) = flag(call, "env") {
        spec.env = arguments::env_pairs(&v)?;
        ctx.errors.blame("environment variable", span);
    }
    let mut limits = ctx.sandbox.config().policy.limits;
    let mut limits_given = false;
    if let Some((v, span)) = flag(call, "memory") {
        let bytes = v.as_filesize().map_err(|_| not_a_string("--memory", &v))?.get();
        limits.memory_bytes = u64::try_from(bytes)
            .map_err(|_| LabeledError::new("--memory must not be negative").with_label("negative", span))?;
        limits_given = true;
        ctx.errors.blame("memory limit", span);
    }
    if let Some((v, span)) = flag(call, "cpus") {
        limits.cpus = match &v {
            Value::Float { val, .. } => *val,
            Value::Int { val, .. } => *val as f64,
            other => {
                return Err(LabeledError::new("--cpus must be a number")
                    .with_label(format!("this is a {}", other.get_type()), span));
            }
        };
        limits_given = true;
        ctx.errors.blame("cpu limit", span);
    }
    if let Some((v, span)) = flag(call, "pids") {
        let n = v.as_int().map_err(|_| not_a_string("--pids", &v))?;
        limits.pids = u32::try_from(n).map_err(|_| {
            LabeledError::new(format!("--pids {n} is out of range")).with_label("not a process count", span)
        })?;
        limits_given = true;
        ctx.errors.blame("pids limit", span);
    }
    if limits_given {
        spec.limits = Some(limits);
    }
    if call.has_flag("require-limits")? {
        spec.require_resource_limits = Some(true);
        if let Some(span) = call.get_flag_span("require-limits") {
            ctx.errors.blame("limits", span);
        }
    }
    if let Some((v, span)) = flag(call, "post-create") {
        spec.post_create = arguments::strings(&v, "post-create")?;
        ctx.errors.blame("post-create command", span);
    }
    if call.has_flag("allow-post-create")? {
        spec.allow_post_create = Some(true);
    }
    if call.has_flag("no-provision")? {
        spec.provision = Some(false);
    }
    Ok(())
}

/// `flag` was not given a string (or what it takes).
pub(super) fn not_a_string(flag: &str, v: &Value) -> LabeledError {
    LabeledError::new(format!("{flag} has the wrong type")).with_label(format!("this is a {}", v.get_type()), v.span())
}
