//! Network isolation of sessions on the bridge network: packet filter rules installed in
//! the session's own network namespace, where the container (without `NET_ADMIN`) cannot
//! change them.
//!
//! A bridge session keeps the internet and the LAN, but cannot open a connection to:
//! this host's own addresses (services listening on `0.0.0.0`), the networks of the
//! host's containers (other sessions, other containers, the bridge gateway), link-local
//! addresses (cloud metadata services at 169.254.169.254); and nothing can open a
//! connection to it except through its published ports. DNS to the host's resolvers is
//! let through even when they sit in one of those ranges. The same rules serve rootful
//! sessions (bridge) and rootless ones (slirp4netns, whose user-mode stack would
//! otherwise connect to the host's addresses on the session's behalf).

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// An address with a prefix length (`10.88.0.0/16`, `192.0.2.2/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// The address alone (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr { addr, prefix: if addr.is_ipv4() { 32 } else { 128 } }
    }

    /// Parses `addr/prefix` (or a bare address).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() { max } else { p.trim().parse().ok()? };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What isolation keeps out, as found on the host when a session starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbourhood {
    /// The host's own addresses (every interface but loopback).
    pub host_addresses: Vec<Cidr>,
    /// Networks of the host's containers: subnets of bridge and veth interfaces and of
    /// every network the engine knows.
    pub container_networks: Vec<Cidr>,
    /// The host's DNS resolvers (the container gets the same).
    pub dns_servers: Vec<IpAddr>,
}

/// `iptables-restore` and `ip6tables-restore` inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// IPv4 rules.
    pub v4: String,
    /// IPv6 rules.
    pub v6: String,
}

/// Link-local ranges: cloud metadata services and neighbours on the host's links.
const LINK_LOCAL_V4: &str = "169.254.0.0/16";
const LINK_LOCAL_V6: &str = "fe80::/10";

/// The rules for a session publishing `ports` (TCP, same port inside).
pub fn rules(n: &Neighbourhood, ports: &[u16]) -> Rules {
    let build = |v6: bool| {
        let reject = if v6 { "icmp6-adm-prohibited" } else { "icmp-admin-prohibited" };
        let mut r = String::from("*filter\n");
        r.push_str("-A INPUT -i lo -j ACCEPT\n");
        r.push_str("-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
        for p in ports {
            r.push_str(&format!("-A INPUT -p tcp --dport {p} -j ACCEPT\n"));
        }
        r.push_str("-A INPUT -j DROP\n");
        r.push_str("-A OUTPUT -o lo -j ACCEPT\n");
        r.push_str("-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
        for dns in n.dns_servers.iter().filter(|a| a.is_ipv6() == v6) {
            for proto in ["udp", "tcp"] {
                r.push_str(&format!("-A OUTPUT -d {} -p {proto} --dport 53 -j ACCEPT\n", Cidr::host(*dns)));
            }
        }
        let mut blocked: Vec<String> = Vec::new();
        let link_local = if v6 { LINK_LOCAL_V6 } else { LINK_LOCAL_V4 };
        for c in n.host_addresses.iter().chain(&n.container_networks).filter(|c| c.addr.is_ipv6() == v6) {
            let c = c.to_string();
            if !blocked.contains(&c) {
                blocked.push(c);
            }
        }
        blocked.push(link_local.to_string());
        for b in blocked {
            r.push_str(&format!("-A OUTPUT -d {b} -j REJECT --reject-with {reject}\n"));
        }
        r.push_str("COMMIT\n");
        r
    };
    Rules { v4: build(false), v6: build(true) }
}

#[derive(Deserialize)]
struct IpLink {
    #[serde(default)]
    ifname: String,
    #[serde(default)]
    linkinfo: Option<LinkInfo>,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct LinkInfo {
    #[serde(default)]
    info_kind: String,
}

#[derive(Deserialize)]
struct AddrInfo {
    #[serde(default)]
    local: String,
    #[serde(default)]
    prefixlen: u8,
}

/// Interface kinds whose whole subnet belongs to containers (or VMs) on this host.
const CONTAINER_LINK_KINDS: &[&str] = &["bridge", "veth", "vxlan", "macvlan", "ipvlan"];

/// Reads `ip -j -d addr show`: the host's addresses, and the subnets of its container
/// bridges, into `n`.
pub fn add_ip_addr_json(n: &mut Neighbourhood, json: &[u8]) -> Result<()> {
    let links: Vec<IpLink> = serde_json::from_slice(json)
        .map_err(|e| Error::Protocol { detail: format!("unexpected `ip -j addr` output: {e}") })?;
    for link in links {
        if link.ifname == "lo" {
            continue;
        }
        let container_link =
            link.linkinfo.as_ref().is_some_and(|l| CONTAINER_LINK_KINDS.contains(&l.info_kind.as_str()));
        for a in link.addr_info {
            let Ok(addr) = a.local.parse::<IpAddr>() else { continue };
            if addr.is_loopback() {
                continue;
            }
            push_unique(&mut n.host_addresses, Cidr::host(addr));
            if container_link {
                push_unique(&mut n.container_networks, Cidr { addr, prefix: a.prefixlen });
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct EngineNetwork {
    #[serde(default)]
    subnets: Option<Vec<Subnet>>,
}

#[derive(Deserialize)]
struct Subnet {
    #[serde(default)]
    subnet: String,
}

/// Reads `podman network ls --format json`: every subnet the engine hands out.
pub fn add_network_ls_json(n: &mut Neighbourhood, json: &[u8]) -> Result<()> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let nets: Option<Vec<EngineNetwork>> = serde_json::from_slice(json)
        .map_err(|e| Error::Protocol { detail: format!("unexpected `podman network ls` output: {e}") })?;
    for net in nets.unwrap_or_default() {
        for s in net.subnets.unwrap_or_default() {
            if let Some(c) = Cidr::parse(&s.subnet) {
                push_unique(&mut n.container_networks, c);
            }
        }
    }
    Ok(())
}

/// Reads the `nameserver` lines of a resolv.conf.
pub fn add_resolv_conf(n: &mut Neighbourhood, text: &str) {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver")
            && let Some(addr) = words.next().and_then(|a| a.split('%').next()?.parse::<IpAddr>().ok())
            && !n.dns_servers.contains(&addr)
        {
            n.dns_servers.push(addr);
        }
    }
}

fn push_unique(v: &mut Vec<Cidr>, c: Cidr) {
    if !v.contains(&c) {
        v.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP_JSON: &str = r#"[
      {"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},
      {"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24},{"family":"inet6","local":"fd00::2","prefixlen":64}]},
      {"ifname":"cni-podman0","linkinfo":{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.88.0.1","prefixlen":16}]},
      {"ifname":"veth1","linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet6","local":"fe80::1","prefixlen":64}]},
      {"ifname":"ifb0","linkinfo":{"info_kind":"ifb"}}
    ]"#;

    fn hood() -> Neighbourhood {
        let mut n = Neighbourhood::default();
        add_ip_addr_json(&mut n, IP_JSON.as_bytes()).unwrap();
        add_network_ls_json(
            &mut n,
            br#"[{"name":"podman","subnets":[{"subnet":"10.88.0.0/16","gateway":"10.88.0.1"}]},{"name":"x","subnets":null}]"#,
        )
        .unwrap();
        add_resolv_conf(&mut n, "# c\nnameserver 10.88.0.1\nnameserver fe80::53%eth0\nsearch x\n");
        n
    }

    #[test]
    fn the_host_and_its_container_networks_are_found() {
        let n = hood();
        let shown = |v: &[Cidr]| v.iter().map(Cidr::to_string).collect::<Vec<_>>();
        assert_eq!(shown(&n.host_addresses), ["192.0.2.2/32", "fd00::2/128", "10.88.0.1/32", "fe80::1/128"]);
        assert_eq!(shown(&n.container_networks), ["10.88.0.1/16", "fe80::1/64", "10.88.0.0/16"]);
        assert_eq!(n.dns_servers, ["10.88.0.1".parse::<IpAddr>().unwrap(), "fe80::53".parse().unwrap()]);
        assert!(add_ip_addr_json(&mut Neighbourhood::default(), b"{").is_err());
        assert!(add_network_ls_json(&mut Neighbourhood::default(), b"\n").is_ok());
        assert!(add_network_ls_json(&mut Neighbourhood::default(), b"null").is_ok());
    }

    #[test]
    fn rules_block_the_neighbourhood_but_not_dns_or_published_ports() {
        let r = rules(&hood(), &[3000, 5173]);
        let v4: Vec<&str> = r.v4.lines().collect();
        let pos = |l: &str| v4.iter().position(|x| *x == l).unwrap_or_else(|| panic!("missing {l}\n{}", r.v4));
        assert_eq!(v4[0], "*filter");
        assert_eq!(*v4.last().unwrap(), "COMMIT");
        let drop_in = pos("-A INPUT -j DROP");
        assert!(pos("-A INPUT -p tcp --dport 3000 -j ACCEPT") < drop_in);
        assert!(pos("-A INPUT -p tcp --dport 5173 -j ACCEPT") < drop_in);
        assert!(pos("-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT") < drop_in);
        let dns = pos("-A OUTPUT -d 10.88.0.1/32 -p udp --dport 53 -j ACCEPT");
        pos("-A OUTPUT -d 10.88.0.1/32 -p tcp --dport 53 -j ACCEPT");
        for blocked in ["192.0.2.2/32", "10.88.0.1/32", "10.88.0.0/16", "169.254.0.0/16"] {
            let b = pos(&format!("-A OUTPUT -d {blocked} -j REJECT --reject-with icmp-admin-prohibited"));
            assert!(dns < b, "DNS is allowed before {blocked} is blocked");
        }
        assert!(!r.v4.contains("fd00") && !r.v4.contains("fe80"), "no v6 in v4 rules");
        for blocked in ["fd00::2/128", "fe80::1/64", "fe80::/10"] {
            assert!(
                r.v6.contains(&format!("-A OUTPUT -d {blocked} -j REJECT --reject-with icmp6-adm-prohibited")),
                "{}",
                r.v6
            );
        }
        assert!(r.v6.contains("-A OUTPUT -d fe80::53/128 -p udp --dport 53 -j ACCEPT"));
        assert!(!r.v6.contains("192.0.2.2"));
        let none = rules(&Neighbourhood::default(), &[]);
        assert!(!none.v4.contains("--dport") && none.v4.contains("-A INPUT -j DROP"));
    }

    #[test]
    fn cidrs_parse_and_print() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(Cidr::parse("::1").unwrap().prefix, 128);
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nope/8").is_none());
    }
}
