//! The record `sandbox start` returns.

use nu_protocol::{Record, Span, Value};
use sandbox_core::{DevcontainerItem, DevcontainerReport, ImageReason, PostCreateOutcome, Provisioning, StartReport};

use super::{duration, opt_int, opt_string};

fn reason_word(r: ImageReason) -> &'static str {
    match r {
        ImageReason::Default => "default",
        ImageReason::Trusted => "trusted",
        ImageReason::UntrustedAllowed => "untrusted_allowed",
        ImageReason::UntrustedReplaced => "untrusted_replaced",
        ImageReason::Built => "built",
        ImageReason::Snapshot => "snapshot",
    }
}

/// Provisioning with the same columns whatever happened (nothing where not applicable),
/// so tables of several starts line up.
fn provisioning(p: &Provisioning, span: Span) -> Value {
    let (status, manager, reason, exit_code, timed_out, tail) = match p {
        Provisioning::Disabled => ("disabled", None, None, None, false, None),
        Provisioning::Skipped { reason } => ("skipped", None, Some(reason.as_str()), None, false, None),
        Provisioning::Installed { manager } => ("installed", Some(manager.as_str()), None, None, false, None),
        Provisioning::Failed { exit_code, timed_out, output_tail } => {
            ("failed", None, None, *exit_code, *timed_out, Some(output_tail.as_str()))
        }
    };
    let mut r = Record::new();
    r.push("status", Value::string(status, span));
    r.push("manager", opt_string(manager, span));
    r.push("reason", opt_string(reason, span));
    r.push("exit_code", opt_int(exit_code, span));
    r.push("timed_out", Value::bool(timed_out, span));
    r.push("output_tail", opt_string(tail, span));
    Value::record(r, span)
}

fn post_create(o: &PostCreateOutcome, span: Span) -> Value {
    let mut r = Record::new();
    r.push("command", Value::string(&o.command, span));
    r.push("ran", Value::bool(o.ran, span));
    r.push("exit_code", opt_int(o.exit_code, span));
    r.push("signal", opt_int(o.signal, span));
    r.push("timed_out", Value::bool(o.timed_out, span));
    r.push("output_tail", Value::string(&o.output_tail, span));
    r.push("duration", duration(o.duration, span));
    Value::record(r, span)
}

/// A table of devcontainer items: property, value, reason.
fn devcontainer_items(items: &[DevcontainerItem], span: Span) -> Value {
    Value::list(
        items
            .iter()
            .map(|i| {
                let mut row = Record::new();
                row.push("property", Value::string(&i.property, span));
                row.push("value", Value::string(&i.value, span));
                row.push("reason", Value::string(&i.reason, span));
                Value::record(row, span)
            })
            .collect(),
        span,
    )
}

/// What the start did with the working dir's `devcontainer.json`.
fn devcontainer(d: &DevcontainerReport, span: Span) -> Value {
    let strings = |xs: &[String]| Value::list(xs.iter().map(|x| Value::string(x, span)).collect(), span);
    let mut r = Record::new();
    r.push("file", Value::string(&d.file, span));
    r.push("applied", devcontainer_items(&d.applied, span));
    r.push("refused", devcontainer_items(&d.refused, span));
    r.push("not_used", devcontainer_items(&d.not_used, span));
    r.push("unknown", strings(&d.unknown));
    r.push("repeated_keys", strings(&d.repeated_keys));
    r.push("built_image", opt_string(d.built_image.as_deref(), span));
    Value::record(r, span)
}

/// The session (id, container, working dir, image) and what its start did (`snapshot`:
/// the snapshot it started from, `{name, copy}`, or nothing).
pub(crate) fn start_report(s: &StartReport, span: Span) -> Value {
    let mut limits = Record::new();
    limits.push("enforced", Value::bool(s.limits.enforced, span));
    limits.push("memory", Value::filesize(i64::try_from(s.limits.requested.memory_bytes).unwrap_or(i64::MAX), span));
    limits.push("cpus", Value::float(s.limits.requested.cpus, span));
    limits.push("pids", Value::int(i64::from(s.limits.requested.pids), span));
    limits.push("reason", opt_string(s.limits.reason.as_deref(), span));

    let mut r = Record::new();
    r.push("id", Value::string(&s.session_id, span));
    r.push("container", Value::string(&s.container, span));
    r.push("working_dir", Value::string(&s.working_dir, span));
    r.push("image", Value::string(&s.image.used, span));
    r.push("image_requested", opt_string(s.image.requested.as_deref(), span));
    r.push("image_reason", Value::string(reason_word(s.image.reason), span));
    r.push(
        "snapshot",
        s.snapshot.as_ref().map_or(Value::nothing(span), |from| {
            let mut snap = Record::new();
            snap.push("name", Value::string(&from.name, span));
            snap.push("copy", Value::string(from.copy.name(), span));
            Value::record(snap, span)
        }),
    );
    r.push("network", Value::string(s.network.to_string(), span));
    r.push("egress", s.egress.as_ref().map_or(Value::nothing(span), |e| super::egress_report(e, span)));
    r.push("ports", Value::list(s.ports_published.iter().map(|p| Value::int(i64::from(*p), span)).collect(), span));
    r.push(
        "ports_dropped",
        Value::list(
            s.ports_dropped
                .iter()
                .map(|d| {
                    let mut row = Record::new();
                    row.push("port", Value::int(i64::from(d.port), span));
                    row.push("reason", Value::string(&d.reason, span));
                    Value::record(row, span)
                })
                .collect(),
            span,
        ),
    );
    r.push("limits", Value::record(limits, span));
    r.push("protected_paths", Value::list(s.protected_paths.iter().map(|p| Value::string(p, span)).collect(), span));
    r.push("provisioning", provisioning(&s.provisioning, span));
    r.push("post_create", Value::list(s.post_create.iter().map(|o| post_create(o, span)).collect(), span));
    r.push("devcontainer", s.devcontainer.as_ref().map_or(Value::nothing(span), |d| devcontainer(d, span)));
    r.push("warnings", Value::list(s.warnings.iter().map(|w| Value::string(w, span)).collect(), span));
    r.push("duration", duration(s.duration, span));
    Value::record(r, span)
}
