//! The egress policy of a session: which hosts and addresses the code inside may reach
//! through the session's proxy, and how a target is judged. Shared by the host library
//! (which validates a policy before anything starts) and the enforcer (which reads the
//! policy the library wrote and decides every connection), so both apply one grammar.
//!
//! A rule is one string:
//! - `example.com` (that name), `*.example.com` (any name below it, not the name
//!   itself), optionally with a port: `example.com:443`; without one, any port;
//! - an address or a network: `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`, with a port
//!   as `10.0.0.5:5432` or `[fd00::1]:80` (a network with a port: `10.0.0.0/8:5432`).
//!
//! A name is allowed by a name rule; whatever it resolves to must then be a public
//! address, unless an address rule allows that address (and port) explicitly: loopback,
//! link-local (cloud metadata), private, shared (CGNAT), multicast and unspecified
//! addresses, and the host's own addresses, are refused otherwise. An address given
//! directly (an IP literal target) needs an address rule.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::Invalid;

/// The port the session's proxy listens on inside the container (loopback only).
pub const PROXY_PORT: u16 = 3128;

/// The first line the agent's proxy sends the enforcer on each connection it relays:
/// this word, then the pid (in the session) and the name of the process that opened the
/// connection, or `-` for each when it could not tell: `SANDBOX-RELAY 42 curl\n`. The
/// enforcer reads it only from a peer that runs the agent binary.
pub const RELAY_PREAMBLE: &str = "SANDBOX-RELAY";

/// The first line the enforcer sends on the agent's forwarding socket to deliver its
/// decisions (instead of a port number): the agent answers `ok`, then reads one
/// [`Decision`] per JSON line and records each as a network event. The agent takes it
/// only from a peer outside the session's pid namespace (the host's enforcer).
pub const DECISIONS_LINE: &str = "decisions";

/// Longest JSON line of one decision the agent reads.
pub const MAX_DECISION_LINE: usize = 16 * 1024;

/// Most rules one policy may hold.
pub const MAX_RULES: usize = 4096;

/// An egress policy: the rules, and names pinned to addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressPolicy {
    /// What may be reached. Empty: nothing (the session has a proxy that refuses all).
    #[serde(default)]
    pub allow: Vec<Rule>,
    /// Names answered from here instead of the host's resolver (like an `/etc/hosts`
    /// of the enforcer's own): pinned names are still judged by the rules, and their
    /// addresses by the address checks.
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Headers the enforcer adds to requests for chosen hosts, with values from the
    /// host's environment or files: the secret never enters the session. HTTPS to such
    /// a host is terminated with the session's own CA (which the session trusts) and
    /// re-encrypted to the real host; all other hosts are spliced untouched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<Credential>,
    /// Extra CA certificate files (PEM) trusted, besides the host's store, when the
    /// enforcer connects to a host it adds credentials for (a private CA, a test CA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_ca_files: Vec<std::path::PathBuf>,
}

/// One injected header: for requests to `host`, header `header` gets the value of the
/// host environment variable `from_env` or the contents of the file `from_file` (one of
/// them; surrounding whitespace trimmed). A header of that name the session sends is
/// dropped first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The host (an exact name the policy allows).
    pub host: String,
    /// The header name, e.g. `Authorization`.
    pub header: String,
    /// The host environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// The host file holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<std::path::PathBuf>,
}

/// Headers a credential may not set: they frame or route the request.
const RESERVED_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "expect"];

impl Credential {
    /// Checks the credential against the policy that holds it.
    pub fn validate(&self, policy: &EgressPolicy) -> Result<(), Invalid> {
        let what = "egress credential";
        let host = host_name(&self.host).map_err(|e| invalid(what, e.reason))?;
        if host != self.host {
            return Err(invalid(what, format!("host {:?}: write it as {host:?}", self.host)));
        }
        if !policy.allow.iter().any(|r| matches!(r, Rule::Name { pattern, .. } if pattern.matches(&host))) {
            return Err(invalid(
                what,
                format!("{host} is not allowed by any rule: a credential needs its host allowed"),
            ));
        }
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if self.header.is_empty() || !self.header.bytes().all(tchar) {
            return Err(invalid(what, format!("{:?} is not a header name", self.header)));
        }
        if RESERVED_HEADERS.contains(&self.header.to_ascii_lowercase().as_str())
            || self.header.to_ascii_lowercase().starts_with("proxy-")
        {
            return Err(invalid(
                what,
                format!("{} frames or routes the request: it cannot carry a credential", self.header),
            ));
        }
        match (&self.from_env, &self.from_file) {
            (Some(v), None) if !v.is_empty() && !v.contains('=') && !v.contains('\0') => Ok(()),
            (None, Some(f)) if f.is_absolute() => Ok(()),
            (None, Some(f)) => Err(invalid(what, format!("{}: give the file as an absolute path", f.display()))),
            _ => Err(invalid(what, "give exactly one of from_env (a variable name) and from_file")),
        }
    }

    /// The key the enforcer receives the value under.
    pub fn key(&self) -> String {
        format!("{} {}", self.host, self.header.to_ascii_lowercase())
    }
}

impl EgressPolicy {
    /// A policy from rule strings (validated).
    pub fn from_rules<S: AsRef<str>>(rules: &[S]) -> Result<EgressPolicy, Invalid> {
        let allow = rules.iter().map(|r| r.as_ref().parse()).collect::<Result<Vec<Rule>, Invalid>>()?;
        let p = EgressPolicy { allow, ..Default::default() };
        p.validate()?;
        Ok(p)
    }

    /// Checks what parsing alone cannot: the number of rules and the pinned names.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.allow.len() > MAX_RULES {
            return Err(invalid("egress rule", format!("{} rules; at most {MAX_RULES}", self.allow.len())));
        }
        for (name, addrs) in &self.hosts {
            let normal = host_name(name).map_err(|e| Invalid { what: "egress hosts entry", reason: e.reason })?;
            if normal != *name {
                return Err(invalid("egress hosts entry", format!("{name:?}: write it as {normal:?}")));
            }
            if addrs.is_empty() {
                return Err(invalid("egress hosts entry", format!("{name:?} has no address")));
            }
        }
        for (i, c) in self.credentials.iter().enumerate() {
            c.validate(self)?;
            if self.credentials[..i].iter().any(|o| o.host == c.host) {
                return Err(invalid(
                    "egress credential",
                    format!("two credentials for {}: one header per host", c.host),
                ));
            }
        }
        for f in &self.upstream_ca_files {
            if !f.is_absolute() {
                return Err(invalid("egress upstream CA", format!("{}: give an absolute path", f.display())));
            }
        }
        Ok(())
    }

    /// Whether a name rule allows `host` (normalized, see [`host_name`]) on `port`.
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        self.allow.iter().any(|r| match r {
            Rule::Name { pattern, port: p } => pattern.matches(host) && p.is_none_or(|p| p == port),
            Rule::Address { .. } => false,
        })
    }

    /// Whether an address rule allows `addr` on `port`.
    pub fn allows_address(&self, addr: IpAddr, port: u16) -> bool {
        let addr = canonical(addr);
        self.allow.iter().any(|r| match r {
            Rule::Address { net, port: p } => net.contains(addr) && p.is_none_or(|p| p == port),
            Rule::Name { .. } => false,
        })
    }

    /// The pinned addresses of `host`, if it has any.
    pub fn pinned(&self, host: &str) -> Option<&[IpAddr]> {
        self.hosts.get(host).map(Vec::as_slice)
    }
}

fn invalid(what: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid { what, reason: reason.into() }
}

/// One rule of a policy (see the module docs for the grammar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rule {
    /// A name, or every name below a domain, on one port or any.
    Name {
        /// Which names.
        pattern: NamePattern,
        /// The only port allowed, or any.
        port: Option<u16>,
    },
    /// An address or network, on one port or any.
    Address {
        /// Which addresses.
        net: IpNet,
        /// The only port allowed, or any.
        port: Option<u16>,
    },
}

/// Which names a name rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    /// Exactly this name.
    Exact(String),
    /// Every name that ends in `.` + this domain (not the domain itself).
    Below(String),
}

impl NamePattern {
    /// Whether `host` (normalized) is covered.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            NamePattern::Exact(n) => host == n,
            NamePattern::Below(d) => {
                host.len() > d.len() + 1
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'
            }
        }
    }
}

impl FromStr for Rule {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Rule, Invalid> {
        let what = "egress rule";
        let raw = s.trim();
        if raw.is_empty() {
            return Err(invalid(what, "empty rule: give a host name, *.domain, an address or a network"));
        }
        // `[v6]` or `[v6]:port` or `[v6]/len...` — brackets only for IPv6 with a port.
        if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) =
                rest.split_once(']').ok_or_else(|| invalid(what, format!("{raw:?}: missing ']' after the address")))?;
            let net = IpNet::parse(inside).map_err(|r| invalid(what, format!("{raw:?}: {r}")))?;
            let port = match after {
                "" => None,
                p => Some(port_of(p.strip_prefix(':').unwrap_or(p), raw)?),
            };
            return Ok(Rule::Address { net, port });
        }
        // A bare IPv6 address or network (two or more colons): no port possible.
        if raw.matches(':').count() >= 2 {
            let net = IpNet::parse(raw)
                .map_err(|r| invalid(what, format!("{raw:?}: {r} (IPv6 with a port: [addr]:port)")))?;
            return Ok(Rule::Address { net, port: None });
        }
        let (target, port) = match raw.rsplit_once(':') {
            Some((t, p)) => (t, Some(port_of(p, raw)?)),
            None => (raw, None),
        };
        if looks_like_address(target) {
            let net = IpNet::parse(target).map_err(|r| invalid(what, format!("{raw:?}: {r}")))?;
            return Ok(Rule::Address { net, port });
        }
        let pattern = match target.strip_prefix("*.") {
            Some(domain) => {
                let d = host_name(domain).map_err(|e| invalid(what, format!("{raw:?}: {}", e.reason)))?;
                if !d.contains('.') {
                    return Err(invalid(
                        what,
                        format!(
                            "{raw:?}: a wildcard over a whole top-level domain is too broad; name a domain below it"
                        ),
                    ));
                }
                NamePattern::Below(d)
            }
            None if target.contains('*') => {
                return Err(invalid(
                    what,
                    format!("{raw:?}: '*' may only start a rule, as \"*.\" followed by a domain (\"*.example.com\")"),
                ));
            }
            None => NamePattern::Exact(host_name(target).map_err(|e| invalid(what, format!("{raw:?}: {}", e.reason)))?),
        };
        Ok(Rule::Name { pattern, port })
    }
}

fn port_of(p: &str, raw: &str) -> Result<u16, Invalid> {
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => Err(invalid("egress rule", format!("{raw:?}: port {n} is out of range (1 to 65535)"))),
        Err(_) => Err(invalid("egress rule", format!("{raw:?}: {p:?} is not a port number"))),
    }
}

/// Whether `s` is written as an IPv4 address or network (digits, dots and a slash):
/// such a string is never taken as a name (`10.0.0.300` is a bad address, not a host).
fn looks_like_address(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'/')
}

impl TryFrom<String> for Rule {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Rule, Invalid> {
        s.parse()
    }
}

impl From<Rule> for String {
    fn from(r: Rule) -> String {
        r.to_string()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = match self {
            Rule::Name { pattern: NamePattern::Exact(n), port } => {
                write!(f, "{n}")?;
                port
            }
            Rule::Name { pattern: NamePattern::Below(d), port } => {
                write!(f, "*.{d}")?;
                port
            }
            Rule::Address { net, port: Some(p) } if net.addr.is_ipv6() => return write!(f, "[{net}]:{p}"),
            Rule::Address { net, port } => {
                write!(f, "{net}")?;
                port
            }
        };
        match port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// An address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The address (its bits past the prefix are zero).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/len`; the address may not have bits set past the prefix.
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an IP address"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length {l:?} is not 0 to {max}")),
            },
        };
        if prefix == 0 {
            return Err("a network of prefix 0 is every address; allow names instead".into());
        }
        let net = IpNet { addr, prefix };
        if net.masked() != addr {
            return Err(format!("{addr}/{prefix} has bits set past the prefix (the network is {})", net.masked()));
        }
        Ok(net)
    }

    fn masked(&self) -> IpAddr {
        mask(self.addr, self.prefix)
    }

    /// Whether `addr` lies in this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.addr.is_ipv4() && mask(addr, self.prefix) == self.addr
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max { write!(f, "{}", self.addr) } else { write!(f, "{}/{}", self.addr, self.prefix) }
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// An IPv6 address that only carries an IPv4 one (mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`) is judged as that IPv4 address.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            addr
        }
        v4 => v4,
    }
}

/// Why an address is not a public one (and so needs an address rule), or `None` for a
/// public address. The host's own addresses are the enforcer's to add.
pub fn special(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_unspecified() || o[0] == 0 {
                Some("unspecified (this network)")
            } else if a.is_link_local() {
                Some("link-local (cloud metadata lives here)")
            } else if a.is_private() {
                Some("private")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared address space (CGNAT)")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol assignments")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking network")
            } else if a.is_multicast() || a.is_broadcast() || o[0] >= 240 {
                Some("multicast, broadcast or reserved")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_unspecified() {
                Some("unspecified")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique local (private)")
            } else if (s[0] & 0xffc0) == 0xfec0 {
                Some("site-local (private)")
            } else if a.is_multicast() {
                Some("multicast")
            } else if s[0] == 0x2002 {
                // 6to4 carries an IPv4 address in bits 16..48: judge that one.
                let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
                special(IpAddr::V4(v4))
            } else if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0 {
                Some("IPv4-compatible (deprecated)")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Some("discard-only")
            } else {
                None
            }
        }
    }
}

/// A target host as the enforcer judges it: lowercase, without a trailing dot, labels
/// of letters, digits, `-` and `_` (1 to 63 bytes, no `-` at either end), 253 bytes at
/// most, not all digits in the last label. Non-ASCII names must come in their IDNA
/// (`xn--`) form.
pub fn host_name(s: &str) -> Result<String, Invalid> {
    let what = "host name";
    let t = s.strip_suffix('.').unwrap_or(s);
    if t.is_empty() {
        return Err(invalid(what, "empty name"));
    }
    if !t.is_ascii() {
        return Err(invalid(what, format!("{s:?} is not ASCII: write it in its IDNA form (xn--...)")));
    }
    if t.len() > 253 {
        return Err(invalid(what, format!("{} bytes; a name has at most 253", t.len())));
    }
    let lower = t.to_ascii_lowercase();
    for label in lower.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid(what, format!("{s:?}: a label is empty or longer than 63 bytes")));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid(what, format!("{s:?}: a label holds a character other than a-z 0-9 - _")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(what, format!("{s:?}: a label starts or ends with '-'")));
        }
    }
    if lower.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid(what, format!("{s:?}: the last label is all digits (an address is not a name)")));
    }
    Ok(lower)
}

/// One connection decision, as the enforcer records it (a JSON line in the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// When it was decided (or, for an allowed connection, when it closed): Unix ms.
    pub time_ms: u64,
    /// The target as asked for (name or address).
    pub host: String,
    /// The target port.
    pub port: u16,
    /// The address connected to, when it got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// `connect` (a CONNECT tunnel) or `http` (a plain HTTP request).
    pub via: String,
    /// Whether the connection was let through.
    pub allowed: bool,
    /// Why it was refused (or how an allowed one ended, when not cleanly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The process that opened the connection, when known: `pid name` as the session's
    /// agent saw it (`direct: ...` for a process that used the enforcer's socket itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The header the enforcer added (its name only; the value is never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected: Option<String>,
    /// Bytes from the session to the target.
    #[serde(default)]
    pub bytes_out: u64,
    /// Bytes from the target to the session.
    #[serde(default)]
    pub bytes_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Rule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn rules_round_trip() {
        for s in [
            "example.com",
            "example.com:443",
            "*.example.com",
            "*.example.com:8443",
            "10.0.0.5",
            "10.0.0.5:5432",
            "10.0.0.0/8",
            "10.0.0.0/8:5432",
            "::1",
            "fd00::/8",
            "[fd00::1]:80",
        ] {
            assert_eq!(rule(s).to_string(), s);
            let json = serde_json::to_string(&rule(s)).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule(s));
        }
        assert_eq!(rule("Example.COM.").to_string(), "example.com");
        assert_eq!(rule("[::1]").to_string(), "::1");
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for (s, says) in [
            ("", "empty"),
            ("   ", "empty"),
            ("*", "'*' may only start"),
            ("**.example.com", "'*' may only start"),
            ("*example.com", "'*' may only start"),
            ("a.*.example.com", "'*' may only start"),
            ("*.com", "too broad"),
            ("example.com:0", "out of range"),
            ("example.com:65536", "out of range"),
            ("example.com:http", "not a port"),
            ("10.0.0.1:70000", "out of range"),
            ("[::1]:99999", "out of range"),
            ("10.0.0.300", "not an IP address"),
            ("10.0.0.1/33", "prefix length"),
            ("10.0.0.1/8", "bits set past the prefix"),
            ("0.0.0.0/0", "prefix 0"),
            ("bücher.example", "IDNA"),
            ("exa mple.com", "a-z 0-9"),
            ("-x.example.com", "starts or ends"),
            ("a..b", "empty or longer"),
            ("[::1", "missing ']'"),
            ("fe80::1:80:x", "not an IP address"),
        ] {
            let e = s.parse::<Rule>().expect_err(s);
            assert!(e.to_string().contains(says), "{s:?}: {e}");
            assert_eq!(e.what, "egress rule");
        }
    }

    #[test]
    fn name_patterns_match_names_and_subdomains() {
        let p = EgressPolicy::from_rules(&["example.com", "*.pkg.dev:443"]).unwrap();
        assert!(p.allows_name("example.com", 80));
        assert!(p.allows_name("example.com", 22), "no port: any port");
        assert!(!p.allows_name("www.example.com", 443), "an exact rule does not cover subdomains");
        assert!(!p.allows_name("badexample.com", 443));
        assert!(p.allows_name("a.pkg.dev", 443));
        assert!(p.allows_name("a.b.pkg.dev", 443));
        assert!(!p.allows_name("pkg.dev", 443), "*. covers names below, not the domain");
        assert!(!p.allows_name("xpkg.dev", 443));
        assert!(!p.allows_name("a.pkg.dev", 80), "the port is part of the rule");
    }

    #[test]
    fn address_rules_match_networks_ports_and_mapped_forms() {
        let p = EgressPolicy::from_rules(&["10.0.0.0/8:5432", "127.0.0.1:8080", "fd00::/8"]).unwrap();
        assert!(p.allows_address("10.1.2.3".parse().unwrap(), 5432));
        assert!(!p.allows_address("10.1.2.3".parse().unwrap(), 22));
        assert!(p.allows_address("::ffff:127.0.0.1".parse().unwrap(), 8080), "mapped IPv6 is the IPv4 address");
        assert!(!p.allows_address("127.0.0.2".parse().unwrap(), 8080));
        assert!(p.allows_address("fd12::1".parse().unwrap(), 1));
        assert!(!p.allows_address("fe80::1".parse().unwrap(), 1));
    }

    #[test]
    fn special_addresses_are_named() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "ff02::1",
            "::127.0.0.1",
        ] {
            assert!(special(a.parse().unwrap()).is_some(), "{a} should be special");
        }
        for a in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2002:5db8:d822::"] {
            assert_eq!(special(a.parse().unwrap()), None, "{a} is public");
        }
    }

    #[test]
    fn policies_parse_from_json_and_refuse_bad_pins() {
        let p: EgressPolicy =
            serde_json::from_str(r#"{"allow":["a.test:80"],"hosts":{"a.test":["127.0.0.1"]}}"#).unwrap();
        p.validate().unwrap();
        assert_eq!(p.pinned("a.test"), Some(&["127.0.0.1".parse().unwrap()][..]));
        assert!(serde_json::from_str::<EgressPolicy>(r#"{"allow":["*"]}"#).is_err());
        assert!(serde_json::from_str::<EgressPolicy>(r#"{"allow":[],"extra":1}"#).is_err());
        let bad: EgressPolicy = serde_json::from_str(r#"{"hosts":{"A.test":["127.0.0.1"]}}"#).unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("write it as"));
        let empty: EgressPolicy = serde_json::from_str(r#"{"hosts":{"a.test":[]}}"#).unwrap();
        assert!(empty.validate().is_err());
    }

    #[test]
    fn credentials_need_an_allowed_host_a_header_and_one_source() {
        let mut p = EgressPolicy::from_rules(&["api.example.com", "*.pkg.test"]).unwrap();
        let c = |host: &str, header: &str, env: Option<&str>, file: Option<&str>| Credential {
            host: host.into(),
            header: header.into(),
            from_env: env.map(Into::into),
            from_file: file.map(Into::into),
        };
        p.credentials = vec![
            c("api.example.com", "Authorization", Some("TOKEN"), None),
            c("a.pkg.test", "X-Key", None, Some("/k")),
        ];
        p.validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("upstream_ca_files"), "empty lists stay out of the file");
        assert_eq!(serde_json::from_str::<EgressPolicy>(&json).unwrap(), p);
        for (bad, says) in [
            (c("other.example.com", "Authorization", Some("T"), None), "not allowed"),
            (c("API.example.com", "Authorization", Some("T"), None), "write it as"),
            (c("api.example.com", "Host", Some("T"), None), "frames or routes"),
            (c("api.example.com", "Proxy-Authorization", Some("T"), None), "frames or routes"),
            (c("api.example.com", "Bad Header", Some("T"), None), "not a header name"),
            (c("api.example.com", "X", None, None), "exactly one"),
            (c("api.example.com", "X", Some("T"), Some("/f")), "exactly one"),
            (c("api.example.com", "X", Some("A=B"), None), "exactly one"),
            (c("api.example.com", "X", None, Some("rel/f")), "absolute"),
        ] {
            let mut q = p.clone();
            q.credentials = vec![bad];
            let e = q.validate().unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let mut twice = p.clone();
        twice.credentials.push(c("api.example.com", "X-Other", Some("U"), None));
        assert!(twice.validate().unwrap_err().to_string().contains("two credentials"));
    }

    #[test]
    fn host_names_are_normalized_or_refused() {
        assert_eq!(host_name("WWW.Example.com.").unwrap(), "www.example.com");
        assert_eq!(host_name("_dmarc.example.com").unwrap(), "_dmarc.example.com");
        for bad in ["", ".", "a..b", "1.2.3.4", "héllo.com", &"a".repeat(64), &format!("{}.com", "a.".repeat(130))] {
            assert!(host_name(bad).is_err(), "{bad:?}");
        }
    }
}
