//! The client's IP address, the subject of the per-client send budget and lockout (issue
//! #14 §2). It is the socket peer, unless the peer is one of the operator's trusted
//! proxies (`TEXTID_TRUSTED_PROXIES`): then it is the right-most address of `Forwarded`
//! (RFC 7239) or, without it, `X-Forwarded-For`, that is not itself a trusted proxy. A
//! client can put anything at the left of those headers, so only what trusted hops
//! appended is believed, and a header from an untrusted peer is ignored entirely.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The operator's trusted proxies (CIDRs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs or addresses (`10.0.0.0/8, ::1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{s}' is not a CIDR (10.0.0.0/8) or an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client IP of a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else {
                // An address we cannot read (`unknown`, an obfuscated name): stop at the
                // last hop we could.
                return nearest;
            };
            if !self.trusts(*ip) {
                return *ip;
            }
            nearest = *ip;
        }
        nearest
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The addresses the proxies recorded, left (first) to right (nearest): `Forwarded`'s
/// `for=` values when there is a `Forwarded` header, else `X-Forwarded-For`'s.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| node_ip(v.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| node_ip(s.trim()))
        .collect()
}

/// An RFC 7239 node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`) as an address.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    node.rsplit_once(':')
        .and_then(|(host, _)| host.parse().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.8"),
        ]);
        assert_eq!(
            t.client_ip(peer("203.0.113.5"), &h).to_string(),
            "203.0.113.5"
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(peer("10.0.0.1"), &h).to_string(), "10.0.0.1");
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_counts() {
        let t = TrustedProxies::parse("10.0.0.0/8, 2001:db8::/32").unwrap();
        // The client forged the left-most entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            t.client_ip(peer("10.0.0.1"), &h).to_string(),
            "198.51.100.7"
        );
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db9::7]:4711\";proto=https, for=10.0.0.2",
        )]);
        assert_eq!(t.client_ip(peer("10.0.0.1"), &h).to_string(), "2001:db9::7");
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.2")]);
        assert_eq!(t.client_ip(peer("10.0.0.1"), &h).to_string(), "10.0.0.2");
        assert_eq!(
            t.client_ip(peer("::ffff:10.0.0.1"), &HeaderMap::new())
                .to_string(),
            "10.0.0.1"
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/8,nonsense").is_err());
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
    }
}
