//! The egress network as nu values: a session's policy (`sandbox net policy`, `allow`,
//! `deny`), one connection decision (`sandbox net log`), and the egress part of a start
//! report.

use std::time::{Duration, UNIX_EPOCH};

use nu_protocol::{Record, Span, Value};
use sandbox_core::{EgressDecision, EgressPolicy, EgressReport};

use super::{datetime, filesize, opt_string};

fn strings<S: ToString>(xs: impl IntoIterator<Item = S>, span: Span) -> Value {
    Value::list(xs.into_iter().map(|x| Value::string(x.to_string(), span)).collect(), span)
}

/// A session's policy: `session`, `allow` (the rules), `hosts` (name: addresses),
/// `credentials` (a table of host, header and from: `env:VAR` or `file:/path`, where the
/// value is, never the value), `upstream_ca` (paths), `enforcer_running`.
pub(crate) fn egress_policy(session: &str, p: &EgressPolicy, enforcer_running: bool, span: Span) -> Value {
    let mut hosts = Record::new();
    for (name, addrs) in &p.hosts {
        hosts.push(name, strings(addrs, span));
    }
    let mut r = Record::new();
    r.push("session", Value::string(session, span));
    r.push("allow", strings(&p.allow, span));
    r.push("hosts", Value::record(hosts, span));
    let credentials = p.credentials.iter().map(|c| {
        let mut row = Record::new();
        row.push("host", Value::string(&c.host, span));
        row.push("header", Value::string(&c.header, span));
        let from = match (&c.from_env, &c.from_file) {
            (Some(var), _) => format!("env:{var}"),
            (None, Some(file)) => format!("file:{}", file.display()),
            (None, None) => String::new(),
        };
        row.push("from", Value::string(from, span));
        Value::record(row, span)
    });
    r.push("credentials", Value::list(credentials.collect(), span));
    r.push("upstream_ca", strings(p.upstream_ca_files.iter().map(|f| f.display()), span));
    r.push("enforcer_running", Value::bool(enforcer_running, span));
    Value::record(r, span)
}

/// One decision as a row of `sandbox net log`.
pub(crate) fn egress_decision(d: &EgressDecision, span: Span) -> Value {
    let mut r = Record::new();
    r.push("time", datetime(UNIX_EPOCH + Duration::from_millis(d.time_ms), span));
    r.push("host", Value::string(&d.host, span));
    r.push("port", Value::int(i64::from(d.port), span));
    r.push("address", opt_string(d.address.map(|a| a.to_string()).as_deref(), span));
    r.push("via", Value::string(&d.via, span));
    r.push("process", opt_string(d.process.as_deref(), span));
    r.push("allowed", Value::bool(d.allowed, span));
    r.push("reason", opt_string(d.reason.as_deref(), span));
    r.push("injected", opt_string(d.injected.as_deref(), span));
    r.push("bytes_out", filesize(d.bytes_out, span));
    r.push("bytes_in", filesize(d.bytes_in, span));
    Value::record(r, span)
}

/// The egress column of a start report: `rules`, `pinned`, `proxy`, `enforcer_pid`.
pub(crate) fn egress_report(e: &EgressReport, span: Span) -> Value {
    let mut r = Record::new();
    r.push("rules", strings(&e.rules, span));
    r.push("pinned", strings(&e.pinned, span));
    r.push("proxy", Value::string(&e.proxy, span));
    r.push("enforcer_pid", Value::int(i64::from(e.enforcer_pid), span));
    Value::record(r, span)
}
