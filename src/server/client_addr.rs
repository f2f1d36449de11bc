//! The address a request comes from: the peer, or behind trusted proxies the right-most
//! untrusted address of `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// `None` when a trusted proxy forwarded an address that cannot be parsed: nothing can be
/// said about the client, so no allowlist can pass it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        for hop in value.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            hops.push(parse_hop(hop)?);
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop, trusted) {
            break;
        }
    }
    Some(client)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// A bare address, `[v6]`, or either with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn proxies() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = xff(&["192.0.2.7"]);
        assert_eq!(
            client_ip(ip("203.0.113.5"), &headers, &proxies()),
            Some(ip("203.0.113.5"))
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let headers = xff(&["198.51.100.1, 192.0.2.7", "10.1.1.1"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &proxies()),
            Some(ip("192.0.2.7"))
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies()),
            Some(ip("10.0.0.2"))
        );
        let all_trusted = xff(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &all_trusted, &proxies()),
            Some(ip("10.9.9.9"))
        );
    }

    #[test]
    fn forms_of_forwarded_addresses() {
        let headers = xff(&["[2001:db8::1]:443, 192.0.2.7:8080"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &proxies()),
            Some(ip("192.0.2.7"))
        );
        let v6 = xff(&["[2001:db8::1]"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &v6, &proxies()),
            Some(ip("2001:db8::1"))
        );
        let mapped = HeaderMap::new();
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.9"), &mapped, &proxies()),
            Some(ip("192.0.2.9"))
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &xff(&["not-an-ip"]), &proxies()),
            None
        );
    }
}
