//! Reading nu argument values into the plain types core takes. Each function rejects bad
//! input with a `LabeledError` on the offending value itself (a list item, a record
//! field), not just on the flag.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Span, Spanned, Value};
use sandbox_core::{EgressCredential, EgressRule, EventKind};

/// `--env`-style records: `{ NAME: value }`, values strings, numbers or bools.
pub(crate) fn env_pairs(value: &Value) -> Result<Vec<(String, String)>, LabeledError> {
    let record = value.as_record().map_err(|_| {
        LabeledError::new("environment must be a record")
            .with_label(format!("this is a {}", value.get_type()), value.span())
            .with_help("e.g. --env { RUST_LOG: debug, PORT: 8080 }")
    })?;
    let mut out = Vec::with_capacity(record.len());
    for (k, v) in record.iter() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(LabeledError::new(format!("invalid environment variable name {k:?}"))
                .with_label("names must be non-empty, without '=' or NUL", value.span()));
        }
        let text = match v {
            Value::String { val, .. } => val.clone(),
            Value::Int { val, .. } => val.to_string(),
            Value::Float { val, .. } => val.to_string(),
            Value::Bool { val, .. } => val.to_string(),
            other => {
                return Err(LabeledError::new(format!("environment variable {k} must be a string"))
                    .with_label(format!("this is a {}", other.get_type()), other.span())
                    .with_help("environment values are text; convert it first, e.g. with `to json` or `str join`"));
            }
        };
        if text.contains('\0') {
            return Err(LabeledError::new(format!("environment variable {k} contains a NUL byte"))
                .with_label("NUL bytes cannot be passed", v.span()));
        }
        out.push((k.clone(), text));
    }
    Ok(out)
}

/// A duration flag that must be greater than zero (where zero would mean nothing: an
/// exec timeout).
pub(crate) fn positive_duration(value: &Value, flag: &str) -> Result<Duration, LabeledError> {
    let nanos = duration_nanos(value, flag)?;
    if nanos <= 0 {
        return Err(LabeledError::new(format!("--{flag} must be greater than zero"))
            .with_label("zero or negative", value.span())
            .with_help("e.g. 10sec, 500ms, 2min; leave the flag out for no limit"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// A duration flag where zero means zero (a wait of `0sec` checks once without waiting);
/// negative durations are refused.
pub(crate) fn duration(value: &Value, flag: &str) -> Result<Duration, LabeledError> {
    let nanos = duration_nanos(value, flag)?;
    if nanos < 0 {
        return Err(LabeledError::new(format!("--{flag} must not be negative"))
            .with_label("negative", value.span())
            .with_help("e.g. 10sec, 500ms, 2min; 0sec does not wait"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

fn duration_nanos(value: &Value, flag: &str) -> Result<i64, LabeledError> {
    value.as_duration().map_err(|_| {
        LabeledError::new(format!("--{flag} must be a duration"))
            .with_label(format!("this is a {}", value.get_type()), value.span())
            .with_help("e.g. 10sec, 500ms, 2min")
    })
}

/// A list of ports, each checked where it was written.
pub(crate) fn ports(value: &Value) -> Result<Vec<u16>, LabeledError> {
    let items = match value {
        Value::List { vals, .. } => vals.to_vec(),
        Value::Int { .. } => vec![value.clone()],
        other => {
            return Err(LabeledError::new("--ports must be a list of port numbers")
                .with_label(format!("this is a {}", other.get_type()), other.span())
                .with_help("e.g. --ports [5173 8080]"));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let n = item.as_int().map_err(|_| {
            LabeledError::new("ports are whole numbers")
                .with_label(format!("this is a {}", item.get_type()), item.span())
                .with_help("e.g. --ports [5173 8080]")
        })?;
        let port = sandbox_core::validate::port_from_i64(n).map_err(|e| {
            LabeledError::new(e.to_string()).with_label("not a port", item.span()).with_help("use 1 to 65535")
        })?;
        if out.contains(&port) {
            return Err(LabeledError::new(format!("port {port} is listed twice"))
                .with_label("repeated here", item.span())
                .with_help("list each port once"));
        }
        out.push(port);
    }
    Ok(out)
}

/// A list of strings (e.g. post-create commands).
pub(crate) fn strings(value: &Value, flag: &str) -> Result<Vec<String>, LabeledError> {
    let items = match value {
        Value::List { vals, .. } => vals.to_vec(),
        Value::String { .. } => vec![value.clone()],
        other => {
            return Err(LabeledError::new(format!("--{flag} must be a list of strings"))
                .with_label(format!("this is a {}", other.get_type()), other.span()));
        }
    };
    items
        .iter()
        .map(|v| {
            v.as_str().map(str::to_string).map_err(|_| {
                LabeledError::new(format!("--{flag} must be a list of strings"))
                    .with_label(format!("this is a {}", v.get_type()), v.span())
            })
        })
        .collect()
}

/// A session given as its id, or as a record with an `id` column (what `sandbox start`
/// and `sandbox list` return), so `let s = sandbox start; sandbox exec $s ...` works.
pub(crate) fn session_id(value: &Value) -> Result<Spanned<String>, LabeledError> {
    let span = value.span();
    let id = match value {
        Value::String { val, .. } => val.clone(),
        Value::Record { val, .. } => match val.get("id") {
            Some(Value::String { val, .. }) => val.clone(),
            _ => {
                return Err(LabeledError::new("this record has no string `id` column")
                    .with_label("expected a session id or a session record", span)
                    .with_help("pass the id, or a record from `sandbox start` / `sandbox list`"));
            }
        },
        other => {
            return Err(LabeledError::new("a session is given by its id")
                .with_label(format!("this is a {}", other.get_type()), span)
                .with_help("pass the id, or a record from `sandbox start` / `sandbox list`"));
        }
    };
    sandbox_core::validate::session_id(&id).map_err(|e| {
        LabeledError::new(e.to_string())
            .with_label("invalid session id", span)
            .with_help("session ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    })?;
    Ok(Spanned { item: id, span })
}

/// One word of a command line. Words are parsed as strings, so `sleep 1.50` passes
/// `1.50` as written; values of other types (from variables) are turned into text.
pub(crate) fn command_word(value: &Value) -> Result<String, LabeledError> {
    Ok(match value {
        Value::String { val, .. } => val.clone(),
        Value::Glob { val, .. } => val.clone(),
        Value::Int { val, .. } => val.to_string(),
        Value::Float { val, .. } => val.to_string(),
        Value::Bool { val, .. } => val.to_string(),
        other => {
            return Err(LabeledError::new("command arguments must be text")
                .with_label(format!("this is a {}", other.get_type()), other.span())
                .with_help("convert it first, e.g. ($x | to json)"));
        }
    })
}

/// The value of flag `name` and the span of the value alone, if given.
///
/// nushell gives a flag's name and value one span covering both (`--id x`); errors
/// should point at what the user got wrong, the value, so `--id ` is cut off. (Value
/// flags here have no short forms, so the name is always written `--name`, followed by
/// one space or `=`.)
pub(crate) fn flag(call: &EvaluatedCall, name: &str) -> Option<(Value, Span)> {
    let (name_span, value) =
        call.named.iter().find(|(n, _)| n.item == name).and_then(|(n, v)| v.clone().map(|v| (n.span, v)))?;
    let whole = value.span();
    let prefix = name.len() + 3;
    let span = if whole == name_span && whole.end - whole.start > prefix {
        Span::new(whole.start + prefix, whole.end)
    } else {
        whole
    };
    Some((value.with_span(span), span))
}

/// The command line after the first `skip` positionals (the session, ...): its words and
/// the span of the program. A leading `--` (how a user ends this command's own flags) is
/// dropped. `usage` is an example for the error when there is no command.
pub(crate) fn command_line(
    call: &EvaluatedCall,
    skip: usize,
    usage: &str,
) -> Result<(Vec<String>, Span), LabeledError> {
    let mut words: Vec<&Value> = call.positional.iter().skip(skip).collect();
    if words.first().is_some_and(|v| v.as_str().is_ok_and(|s| s == "--")) {
        words.remove(0);
    }
    let Some(first) = words.first() else {
        return Err(LabeledError::new("no command given")
            .with_label("give the command to run after the session", call.head)
            .with_help(format!("e.g. {usage}")));
    };
    let span = first.span();
    let argv = words.iter().map(|v| command_word(v)).collect::<Result<Vec<String>, _>>()?;
    if argv[0].is_empty() {
        return Err(LabeledError::new("the command is empty")
            .with_label("empty program name", span)
            .with_help("give the program to run, e.g. sh"));
    }
    Ok((argv, span))
}

/// A `--cwd` value: a non-empty path inside the session.
pub(crate) fn cwd(value: &Value, span: Span) -> Result<String, LabeledError> {
    let cwd = value.as_str().map_err(|_| {
        LabeledError::new("--cwd must be a string").with_label(format!("this is a {}", value.get_type()), span)
    })?;
    if cwd.is_empty() {
        return Err(LabeledError::new("--cwd is empty")
            .with_label("empty path", span)
            .with_help("leave --cwd out to use the session's working directory"));
    }
    Ok(cwd.to_string())
}

/// A filesize flag that must be greater than zero, in bytes (where zero would mean
/// nothing: a spool cap, a scrollback, a read size).
/// A byte offset (`--offset`): an int, not negative; `from` says where bytes count from.
pub(crate) fn offset(value: &Value, span: Span, from: &str) -> Result<u64, LabeledError> {
    let n = value.as_int().map_err(|_| LabeledError::new("--offset must be an int").with_label("not an int", span))?;
    u64::try_from(n).map_err(|_| {
        LabeledError::new("--offset must not be negative")
            .with_label("negative", span)
            .with_help(format!("bytes count from {from}, at 0"))
    })
}

pub(crate) fn positive_filesize(value: &Value, flag: &str, example: &str) -> Result<u64, LabeledError> {
    let bytes = filesize(value, flag, example)?;
    if bytes == 0 {
        return Err(LabeledError::new(format!("--{flag} must be a positive size"))
            .with_label("not a positive filesize", value.span())
            .with_help(format!("e.g. --{flag} {example}")));
    }
    Ok(bytes)
}

/// A filesize flag where zero means zero (`--max-output 0B` captures nothing), in bytes;
/// negative sizes are refused.
pub(crate) fn filesize(value: &Value, flag: &str, example: &str) -> Result<u64, LabeledError> {
    let bytes = value.as_filesize().map(|f| f.get()).map_err(|_| {
        LabeledError::new(format!("--{flag} must be a filesize"))
            .with_label(format!("this is a {}", value.get_type()), value.span())
            .with_help(format!("e.g. --{flag} {example}"))
    })?;
    u64::try_from(bytes).map_err(|_| {
        LabeledError::new(format!("--{flag} must not be negative"))
            .with_label("negative", value.span())
            .with_help(format!("e.g. --{flag} {example}"))
    })
}

/// A task or terminal, given as its id or as a record with an `id` column (what `sandbox
/// task spawn` / `sandbox term open` and the lists return). `kind` is "task" or
/// "terminal"; ids are checked here so a typo is labelled before anything is sent.
pub(crate) fn handle_id(value: &Value, kind: &str) -> Result<Spanned<String>, LabeledError> {
    let span = value.span();
    let (list, prefix) = if kind == "task" { ("sandbox task list", "task-") } else { ("sandbox term list", "term-") };
    let id = match value {
        Value::String { val, .. } => val.clone(),
        Value::Record { val, .. } => match val.get("id") {
            Some(Value::String { val, .. }) => val.clone(),
            _ => {
                return Err(LabeledError::new("this record has no string `id` column")
                    .with_label(format!("expected a {kind} id or a {kind} record"), span)
                    .with_help(format!("pass the id, or a record from `{list} <session>`")));
            }
        },
        other => {
            return Err(LabeledError::new(format!("a {kind} is given by its id"))
                .with_label(format!("this is a {}", other.get_type()), span)
                .with_help(format!("pass the id, or a record from `{list} <session>`")));
        }
    };
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(LabeledError::new(format!("{id:?} is not a {kind} id"))
            .with_label(format!("invalid {kind} id"), span)
            .with_help(format!("{kind} ids look like {prefix}1a2b3c4d...; `{list} <session>` shows them")));
    }
    Ok(Spanned { item: id, span })
}

/// A terminal dimension (rows or columns): a whole number from 1 to 1000.
pub(crate) fn terminal_dimension(value: &Value, what: &str) -> Result<u16, LabeledError> {
    let span = value.span();
    let max = sandbox_core::MAX_TERMINAL_DIMENSION;
    let n = value.as_int().map_err(|_| {
        LabeledError::new(format!("{what} must be a whole number"))
            .with_label(format!("this is a {}", value.get_type()), span)
            .with_help(format!("terminal sizes are 1 to {max} rows and columns, e.g. 24 and 80"))
    })?;
    u16::try_from(n).ok().filter(|d| (1..=max).contains(d)).ok_or_else(|| {
        LabeledError::new(format!("{n} {what} is out of range"))
            .with_label(format!("not 1 to {max}"), span)
            .with_help(format!("terminal sizes are 1 to {max} rows and columns, e.g. 24 and 80"))
    })
}

/// A path inside the session (a string, not empty, no NUL byte).
pub(crate) fn sandbox_path(value: &Value) -> Result<Spanned<String>, LabeledError> {
    let span = value.span();
    let path = value
        .coerce_str()
        .map_err(|_| LabeledError::new("a path is text").with_label(format!("this is a {}", value.get_type()), span))?;
    if path.is_empty() {
        return Err(LabeledError::new("the path is empty")
            .with_label("empty path", span)
            .with_help("paths are resolved inside the session; relative ones against its working directory"));
    }
    if path.contains('\0') {
        return Err(LabeledError::new("the path contains a NUL byte").with_label("NUL byte in here", span));
    }
    Ok(Spanned { item: path.into_owned(), span })
}

/// `path` as the sandbox sees it: absolute paths as they are, relative ones joined to the
/// session's working directory (the same path inside and outside the container).
pub(crate) fn resolve_in(working_dir: &std::path::Path, path: &str) -> String {
    if path.starts_with('/') { path.to_string() } else { working_dir.join(path).display().to_string() }
}

/// What `--kind` takes, for the help of errors about it.
const EVENT_KINDS_HELP: &str = "kinds are file, process, port, resources, lifecycle and network (gap events, which count events the journal no longer has, always come), e.g. --kind [file port]";

/// `--kind`: one event kind or a list of them, each checked where it was written.
pub(crate) fn event_kinds(value: &Value) -> Result<Vec<EventKind>, LabeledError> {
    let items = match value {
        Value::List { vals, .. } => vals.to_vec(),
        other => vec![other.clone()],
    };
    if items.is_empty() {
        return Err(LabeledError::new("--kind is empty")
            .with_label("no kind given", value.span())
            .with_help(format!("leave --kind out for every kind; {EVENT_KINDS_HELP}")));
    }
    let mut kinds = Vec::with_capacity(items.len());
    for item in &items {
        let name = item.as_str().map_err(|_| {
            LabeledError::new("an event kind is a string")
                .with_label(format!("this is a {}", item.get_type()), item.span())
                .with_help(EVENT_KINDS_HELP)
        })?;
        let kind = EventKind::parse(name).ok_or_else(|| {
            LabeledError::new(format!("unknown event kind {name:?}"))
                .with_label("not an event kind", item.span())
                .with_help(EVENT_KINDS_HELP)
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// `--from`: a sequence number of the session's event journal (they start at 1).
pub(crate) fn event_seq(value: &Value, span: Span) -> Result<u64, LabeledError> {
    const HELP: &str =
        "sequence numbers start at 1 (the oldest event kept); to go on from an earlier read, pass its last seq + 1";
    let n = value.as_int().map_err(|_| {
        LabeledError::new("--from must be an int")
            .with_label(format!("this is a {}", value.get_type()), span)
            .with_help(HELP)
    })?;
    u64::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
        LabeledError::new("--from must be at least 1").with_label("not a sequence number", span).with_help(HELP)
    })
}

/// An absolute path inside the session (`--path` of `sandbox events`).
pub(crate) fn absolute_sandbox_path(value: &Value, flag: &str) -> Result<String, LabeledError> {
    let path = sandbox_path(value)?;
    if !path.item.starts_with('/') {
        return Err(LabeledError::new(format!("--{flag} must be an absolute path"))
            .with_label("relative path", path.span)
            .with_help("give the path inside the session from its root, e.g. the session's working dir or /tmp"));
    }
    Ok(path.item)
}

/// What an egress rule looks like, for the help of errors about one.
pub(crate) const EGRESS_RULE_HELP: &str = "a rule is a host (pypi.org), *.domain (*.example.com), an address or network (10.0.0.5, 10.0.0.0/8, fd00::/8), \
each optionally with :port (example.com:443, [fd00::1]:80)";

/// One egress rule, labelled on the value with the core's reason when it is not one.
pub(crate) fn egress_rule(value: &Value) -> Result<EgressRule, LabeledError> {
    let text = value.as_str().map_err(|_| {
        LabeledError::new("an egress rule is a string")
            .with_label(format!("this is a {}", value.get_type()), value.span())
            .with_help(EGRESS_RULE_HELP)
    })?;
    text.parse::<EgressRule>().map_err(|e| {
        LabeledError::new(e.to_string()).with_label("invalid egress rule", value.span()).with_help(EGRESS_RULE_HELP)
    })
}

/// `--allow-host`: one rule or a list of them, each checked where it was written.
pub(crate) fn egress_rules(value: &Value) -> Result<Vec<EgressRule>, LabeledError> {
    match value {
        Value::List { vals, .. } => vals.iter().map(egress_rule).collect(),
        other => Ok(vec![egress_rule(other)?]),
    }
}

/// `--pin-host`: a record `{ name: addr }` (or a list of addresses per name), or
/// `name=addr` strings (one or a list); several addresses of one name add up.
pub(crate) fn pinned_hosts(value: &Value) -> Result<BTreeMap<String, Vec<IpAddr>>, LabeledError> {
    const HELP: &str = "e.g. --pin-host { db.test: 10.0.0.5 } or --pin-host [db.test=10.0.0.5 db.test=10.0.0.6]";
    let address = |v: &Value| {
        v.as_str().ok().and_then(|t| t.trim().parse::<IpAddr>().ok()).ok_or_else(|| {
            LabeledError::new("a pinned host's address must be an IP address")
                .with_label("not an IP address", v.span())
                .with_help(HELP)
        })
    };
    let mut pins: Vec<(String, IpAddr)> = Vec::new();
    match value {
        Value::Record { val, .. } => {
            for (name, v) in val.iter() {
                match v {
                    Value::List { vals, .. } => {
                        for a in vals {
                            pins.push((name.clone(), address(a)?));
                        }
                    }
                    other => pins.push((name.clone(), address(other)?)),
                }
            }
        }
        Value::List { .. } | Value::String { .. } => {
            let items = match value {
                Value::List { vals, .. } => vals.to_vec(),
                other => vec![other.clone()],
            };
            for v in items {
                let pair = v.as_str().ok().and_then(|t| t.split_once('=')).filter(|(n, _)| !n.is_empty());
                let Some((name, addr)) = pair else {
                    return Err(LabeledError::new("a pinned host is name=address")
                        .with_label("expected name=address", v.span())
                        .with_help(HELP));
                };
                pins.push((name.to_string(), address(&Value::string(addr, v.span()))?));
            }
        }
        other => {
            return Err(LabeledError::new("--pin-host must be a record or a list of name=address")
                .with_label(format!("this is a {}", other.get_type()), other.span())
                .with_help(HELP));
        }
    }
    let mut hosts: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for (name, addr) in pins {
        let addrs = hosts.entry(name).or_default();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(hosts)
}

/// `--credential`: a record `{ host, header, env }` or `{ host, header, file }` (the
/// host environment variable or file holding the value), or a list of them. The shape
/// is checked here, each field where it was written; what core checks (the host allowed,
/// the header name, an absolute file) is blamed on the flag.
pub(crate) fn egress_credentials(value: &Value) -> Result<Vec<EgressCredential>, LabeledError> {
    const HELP: &str = "e.g. --credential { host: api.example.com, header: Authorization, env: API_TOKEN } or \
{ host: ..., header: ..., file: /run/secrets/token }";
    let one = |v: &Value| -> Result<EgressCredential, LabeledError> {
        let Value::Record { val, .. } = v else {
            return Err(LabeledError::new("an egress credential is a record")
                .with_label(format!("this is a {}", v.get_type()), v.span())
                .with_help(HELP));
        };
        let text = |key: &str| -> Result<Option<String>, LabeledError> {
            match val.get(key) {
                None => Ok(None),
                Some(f) => f.as_str().map(|t| Some(t.to_string())).map_err(|_| {
                    LabeledError::new(format!("an egress credential's {key} must be a string"))
                        .with_label(format!("this is a {}", f.get_type()), f.span())
                        .with_help(HELP)
                }),
            }
        };
        if let Some((key, f)) = val.iter().find(|(k, _)| !["host", "header", "env", "file"].contains(&k.as_str())) {
            return Err(LabeledError::new(format!("an egress credential has no field {key:?}"))
                .with_label("unknown field", f.span())
                .with_help(HELP));
        }
        let required = |key: &str| {
            text(key)?.ok_or_else(|| {
                LabeledError::new(format!("an egress credential needs a {key}"))
                    .with_label(format!("no {key}"), v.span())
                    .with_help(HELP)
            })
        };
        Ok(EgressCredential {
            host: required("host")?,
            header: required("header")?,
            from_env: text("env")?,
            from_file: text("file")?.map(std::path::PathBuf::from),
        })
    };
    match value {
        Value::List { vals, .. } => vals.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// `--upstream-ca`: one path or a list of them.
pub(crate) fn upstream_cas(value: &Value) -> Result<Vec<std::path::PathBuf>, LabeledError> {
    let one = |v: &Value| {
        v.as_str().map(std::path::PathBuf::from).map_err(|_| {
            LabeledError::new("an upstream CA is a path")
                .with_label(format!("this is a {}", v.get_type()), v.span())
                .with_help("e.g. --upstream-ca /etc/ssl/private-ca.pem or --upstream-ca [a.pem b.pem]")
        })
    };
    match value {
        Value::List { vals, .. } => vals.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}
