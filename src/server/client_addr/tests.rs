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
