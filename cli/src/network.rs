//! `net ...`: the egress network of a session (its log, its policy changed live, its
//! enforcer), the egress part of `start`'s flags, and what a narrower rule is (the MCP
//! server lets a model choose rules only within the user's).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use sandbox_core::{EgressCredential, EgressDecision, EgressPolicy, EgressRule, Error, Sandbox, Session};
use sandbox_proto::egress::NamePattern;
use serde_json::{Value, json};

use crate::Done;
use crate::args::NetCommand;
use crate::output::{Out, time, to_json};

/// The policy of `--allow-host`, `--pin-host` (several addresses of one name add up),
/// `--credential` and `--upstream-ca`, `None` when none is given.
pub fn policy_of(
    rules: &[EgressRule],
    pins: &[(String, IpAddr)],
    credentials: &[EgressCredential],
    upstream_cas: &[PathBuf],
) -> Option<EgressPolicy> {
    if rules.is_empty() && pins.is_empty() && credentials.is_empty() && upstream_cas.is_empty() {
        return None;
    }
    let mut hosts: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for (name, addr) in pins {
        let addrs = hosts.entry(name.clone()).or_default();
        if !addrs.contains(addr) {
            addrs.push(*addr);
        }
    }
    Some(EgressPolicy {
        allow: rules.to_vec(),
        hosts,
        credentials: credentials.to_vec(),
        upstream_ca_files: upstream_cas.to_vec(),
    })
}

/// A decision as a row of `net log` (and of the MCP server's `network_log`).
pub fn decision_row(d: &EgressDecision) -> Value {
    json!({
        "time": time(UNIX_EPOCH + Duration::from_millis(d.time_ms)),
        "host": d.host,
        "port": d.port,
        "address": d.address,
        "via": d.via,
        "process": d.process,
        "allowed": d.allowed,
        "reason": d.reason,
        "injected": d.injected,
        "bytes_out": d.bytes_out,
        "bytes_in": d.bytes_in,
    })
}

/// The policy of `session` as a record: its rules, its pinned names, its credentials
/// (where each value is on the host, never the value) and upstream CAs when it has any,
/// whether its enforcer runs.
fn policy_record(session: &Session, policy: &EgressPolicy) -> Result<Value, Error> {
    let mut v = to_json(policy)?;
    if let Value::Object(m) = &mut v {
        m.insert("session".into(), json!(session.id()));
        m.insert("enforcer_running".into(), json!(session.egress_enforcer_running()));
    }
    Ok(v)
}

/// The session's policy, or an invalid-input error on `network` for a session without one.
fn policy_in_force(session: &Session) -> Result<EgressPolicy, Error> {
    session.egress_policy()?.ok_or_else(|| {
        Error::invalid(
            "network",
            format!(
                "session {} is not on the egress network: start one with --allow-host (or --network egress)",
                session.id()
            ),
        )
    })
}

/// `rules` added to (`allow`) or removed from the session's policy; a rule to remove must
/// be in it as written (after normalization), so a removal never silently does nothing.
pub fn change(session: &Session, rules: &[EgressRule], allow: bool) -> Result<EgressPolicy, Error> {
    let mut policy = policy_in_force(session)?;
    for rule in rules {
        match policy.allow.iter().position(|r| r == rule) {
            Some(_) if allow => {}
            None if allow => policy.allow.push(rule.clone()),
            Some(i) => {
                policy.allow.remove(i);
            }
            None => {
                let rules: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
                return Err(Error::invalid(
                    "egress rule",
                    format!("{rule} is not in the allow list ({}); nothing was changed", rules.join(", ")),
                ));
            }
        }
    }
    session.set_egress(&policy)?;
    Ok(policy)
}

/// `sandbox net ...`.
pub async fn net(sandbox: &Sandbox, c: NetCommand, out: Out) -> Result<Done, Error> {
    match c {
        NetCommand::Log { session } => {
            let s = sandbox.attach(&session).await?;
            policy_in_force(&s)?;
            let rows: Vec<Value> = s.network_log()?.iter().map(decision_row).collect();
            out.rows(
                &rows,
                &[
                    "time",
                    "allowed",
                    "via",
                    "process",
                    "host",
                    "port",
                    "address",
                    "bytes_out",
                    "bytes_in",
                    "injected",
                    "reason",
                ],
            );
        }
        NetCommand::Policy { session } => {
            let s = sandbox.attach(&session).await?;
            let policy = policy_in_force(&s)?;
            out.record(&policy_record(&s, &policy)?);
        }
        NetCommand::Allow { session, rules } => {
            let s = sandbox.attach(&session).await?;
            let policy = change(&s, &rules, true)?;
            out.record(&policy_record(&s, &policy)?);
        }
        NetCommand::Deny { session, rules } => {
            let s = sandbox.attach(&session).await?;
            let policy = change(&s, &rules, false)?;
            out.record(&policy_record(&s, &policy)?);
        }
        NetCommand::Restart { session } => {
            let s = sandbox.attach(&session).await?;
            let pid = s.restart_network().await?;
            out.made(&pid.to_string(), &json!({"session": s.id(), "enforcer_pid": pid}));
        }
    }
    Ok(Done::Ok)
}

/// Whether a name rule among `rules` allows `host` (an exact name): what an egress
/// credential for `host` needs.
pub fn allows_credential_host(rules: &[EgressRule], host: &str) -> bool {
    rules.iter().any(|r| matches!(r, EgressRule::Name { pattern, .. } if pattern.matches(host)))
}

/// Whether everything `narrow` lets through, `wide` lets through too (the same kind of
/// target, a pattern or network inside the other's, the same port or any).
pub fn covers(wide: &EgressRule, narrow: &EgressRule) -> bool {
    let port_ok = |w: &Option<u16>, n: &Option<u16>| w.is_none() || w == n;
    match (wide, narrow) {
        (EgressRule::Name { pattern: w, port: wp }, EgressRule::Name { pattern: n, port: np }) => {
            port_ok(wp, np)
                && match (w, n) {
                    (_, NamePattern::Exact(name)) => w.matches(name),
                    (NamePattern::Below(wd), NamePattern::Below(nd)) => {
                        nd == wd || nd.strip_suffix(wd.as_str()).is_some_and(|rest| rest.ends_with('.'))
                    }
                    (NamePattern::Exact(_), NamePattern::Below(_)) => false,
                }
        }
        (EgressRule::Address { net: w, port: wp }, EgressRule::Address { net: n, port: np }) => {
            port_ok(wp, np) && w.prefix <= n.prefix && w.contains(n.addr)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> EgressRule {
        s.parse().unwrap()
    }

    #[test]
    fn a_rule_covers_only_what_it_lets_through() {
        for (wide, narrow) in [
            ("example.com", "example.com"),
            ("example.com", "example.com:443"),
            ("example.com:443", "example.com:443"),
            ("*.example.com", "api.example.com"),
            ("*.example.com", "a.b.example.com:80"),
            ("*.example.com", "*.example.com:443"),
            ("*.example.com", "*.api.example.com"),
            ("10.0.0.0/8", "10.1.0.0/16:5432"),
            ("10.0.0.0/8", "10.0.0.5"),
            ("fd00::/8", "[fd00::1]:80"),
            ("127.0.0.1", "::ffff:127.0.0.1"),
        ] {
            assert!(covers(&rule(wide), &rule(narrow)), "{wide} covers {narrow}");
        }
        for (wide, narrow) in [
            ("example.com:443", "example.com"),
            ("example.com:443", "example.com:80"),
            ("example.com", "*.example.com"),
            ("example.com", "api.example.com"),
            ("*.example.com", "example.com"),
            ("*.example.com", "*.xexample.com"),
            ("*.example.com", "api.notexample.com"),
            ("*.api.example.com", "*.example.com"),
            ("10.0.0.0/16", "10.0.0.0/8"),
            ("10.0.0.0/8", "11.0.0.1"),
            ("10.0.0.5:5432", "10.0.0.5"),
            ("127.0.0.1", "localhost.test"),
            ("localhost.test", "127.0.0.1"),
            ("::1", "127.0.0.1"),
        ] {
            assert!(!covers(&rule(wide), &rule(narrow)), "{wide} does not cover {narrow}");
        }
    }

    #[test]
    fn pins_add_up_and_nothing_given_is_no_policy() {
        assert_eq!(policy_of(&[], &[], &[], &[]), None);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let pins = [("db.test".to_string(), a), ("db.test".to_string(), b), ("db.test".to_string(), a)];
        let p = policy_of(&[rule("db.test:5432")], &pins, &[], &[]).unwrap();
        assert_eq!(p.hosts["db.test"], vec![a, b]);
        assert_eq!(p.allow, vec![rule("db.test:5432")]);
    }
}
