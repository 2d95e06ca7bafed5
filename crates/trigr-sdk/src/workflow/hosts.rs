//! [`HostPolicy`]: which hosts a plan's requests may reach, so that a plan cannot make the
//! runner call into its own network by accident (SSRF).
//!
//! Two checks, both needed. The URL's host must match the allowlist (or the policy allows any
//! host). Then every address the request connects to must be public — not loopback, private,
//! link-local, shared, multicast or otherwise special — unless private networks are allowed or
//! the allowlist names that very address. The address check happens in the DNS resolver of the
//! HTTP client ([`Resolver`]), at connection time, so a name that resolves to a public address
//! when checked and a private one when used (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which hosts a plan's requests may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    /// `None`: any host name (addresses still checked).
    hosts: Option<Vec<HostPattern>>,
    allow_private: bool,
}

/// One allowlist entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// An address, allowed even when it is private.
    Address(IpAddr),
    /// A host name, exactly.
    Name(String),
    /// `*.example.com`: any name under `example.com` (not `example.com` itself).
    Suffix(String),
}

/// Why a request may not go out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostRefused(pub String);

impl Default for HostPolicy {
    /// Any host with a public address: the default of [`PlanOptions`](super::PlanOptions).
    fn default() -> Self {
        HostPolicy::any_public()
    }
}

impl HostPolicy {
    /// Nothing allowed (the built-in runner's start): add hosts with [`HostPolicy::allow_host`].
    pub fn deny_all() -> HostPolicy {
        HostPolicy {
            hosts: Some(Vec::new()),
            allow_private: false,
        }
    }

    /// Any host name whose addresses are public.
    pub fn any_public() -> HostPolicy {
        HostPolicy {
            hosts: None,
            allow_private: false,
        }
    }

    /// Allows a host: a name (`api.example.com`), names under a domain (`*.example.com`), or
    /// an address (`10.0.0.7`, `::1` or `[::1]`), which is then allowed even if it is private.
    /// A policy that allowed any host is narrowed to the ones listed.
    pub fn allow_host(mut self, host: &str) -> Result<HostPolicy, HostRefused> {
        let pattern = parse_pattern(host)?;
        self.hosts.get_or_insert_with(Vec::new).push(pattern);
        Ok(self)
    }

    /// Allows addresses in private, loopback and other non-public ranges for every allowed host.
    pub fn allow_private_networks(mut self, allow: bool) -> HostPolicy {
        self.allow_private = allow;
        self
    }

    /// Whether a request to `url` may be sent (its host against the allowlist; an address in
    /// the URL against the address rules too).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), HostRefused> {
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => return self.check_address(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.check_address(IpAddr::V6(ip)),
            None => return Err(HostRefused(format!("{url} has no host"))),
        };
        let Some(hosts) = &self.hosts else {
            return Ok(());
        };
        let allowed = hosts.iter().any(|p| match p {
            HostPattern::Name(n) => *n == host,
            HostPattern::Suffix(s) => host.len() > s.len() + 1 && host.ends_with(&format!(".{s}")),
            HostPattern::Address(_) => false,
        });
        if allowed {
            Ok(())
        } else {
            Err(HostRefused(format!(
                "the host {host} is not in the allowlist of the plan runner"
            )))
        }
    }

    /// Whether a connection to `ip` may be made.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), HostRefused> {
        let listed = self.hosts.as_ref().is_some_and(|hosts| {
            hosts
                .iter()
                .any(|p| matches!(p, HostPattern::Address(a) if *a == ip))
        });
        if listed {
            return Ok(());
        }
        if self.hosts.as_ref().is_some_and(|h| h.is_empty()) {
            return Err(HostRefused(format!(
                "the address {ip} is not in the allowlist of the plan runner (it allows no host)"
            )));
        }
        if !self.allow_private && !is_public(ip) {
            return Err(HostRefused(format!(
                "the address {ip} is in a private or reserved range, which the plan runner does not call unless allowed"
            )));
        }
        Ok(())
    }

    /// The DNS resolver that applies the address rules at connection time.
    pub(crate) fn resolver(&self) -> Arc<Resolver> {
        Arc::new(Resolver {
            policy: self.clone(),
        })
    }
}

fn parse_pattern(host: &str) -> Result<HostPattern, HostRefused> {
    let host = host.trim().to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(HostPattern::Address(ip));
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if let Some(domain) = host.strip_prefix("*.") {
        if name_ok(domain) {
            return Ok(HostPattern::Suffix(domain.to_string()));
        }
    } else if name_ok(&host) {
        return Ok(HostPattern::Name(host));
    }
    Err(HostRefused(format!(
        "{host:?} is not a host name, *.domain or address"
    )))
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let special = ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b); // NAT64, maps to IPv4
    !special
}

/// The HTTP client's DNS resolver: resolves with the system, then keeps the allowed addresses.
#[derive(Debug)]
pub(crate) struct Resolver {
    policy: HostPolicy,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_address(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused
                    .unwrap_or_else(|| HostRefused(format!("{} has no address", name.as_str())));
                return Err(Box::new(why) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("a url")
    }

    #[test]
    fn deny_all_refuses_everything() {
        let p = HostPolicy::deny_all();
        assert!(p.check_url(&url("https://example.com/")).is_err());
        assert!(p.check_url(&url("http://93.184.216.34/")).is_err());
    }

    #[test]
    fn names_and_suffixes_match_exactly() {
        let p = HostPolicy::deny_all()
            .allow_host("api.example.com")
            .and_then(|p| p.allow_host("*.hooks.example.org"))
            .expect("patterns");
        assert!(p.check_url(&url("https://API.example.com/x")).is_ok());
        assert!(p.check_url(&url("https://a.hooks.example.org/")).is_ok());
        assert!(p.check_url(&url("https://hooks.example.org/")).is_err());
        assert!(p.check_url(&url("https://evilhooks.example.org/")).is_err());
        assert!(p.check_url(&url("https://example.com/")).is_err());
    }

    #[test]
    fn private_addresses_need_permission() {
        let any = HostPolicy::any_public();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(any.check_address(ip).is_err(), "{ip} must be refused");
            assert!(
                any.clone()
                    .allow_private_networks(true)
                    .check_address(ip)
                    .is_ok(),
                "{ip} allowed with private networks"
            );
        }
        assert!(any
            .check_address("93.184.216.34".parse().expect("ip"))
            .is_ok());
        let listed = HostPolicy::deny_all()
            .allow_host("127.0.0.1")
            .expect("an address");
        assert!(listed.check_url(&url("http://127.0.0.1:8080/")).is_ok());
        assert!(listed.check_url(&url("http://127.0.0.2:8080/")).is_err());
        assert!(HostPolicy::deny_all().allow_host("not a host").is_err());
    }
}
