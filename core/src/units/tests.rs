use super::*;

#[test]
fn durations_in_every_unit() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
    assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
}

#[test]
fn bad_durations_name_the_accepted_form() {
    for bad in [
        "",
        "30",
        "s",
        "5 m",
        "1w",
        "-5s",
        "1.5h",
        "99999999999999999999d",
    ] {
        let err = parse_duration(bad).unwrap_err();
        assert!(err.contains("such as 500ms, 30s"), "{bad:?} -> {err}");
    }
}

#[test]
fn byte_sizes() {
    assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
    assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
    assert_eq!(parse_bytes("16Mi"), Ok(16 << 20));
    assert_eq!(parse_bytes("32KiB"), Ok(32 << 10));
    assert_eq!(parse_bytes("2MB"), Ok(2_000_000));
    for bad in ["", "MiB", "1 MiB", "1TiB", "-1", "1.5Mi"] {
        assert!(
            parse_bytes(bad).unwrap_err().contains("size in bytes"),
            "{bad:?}"
        );
    }
}

#[test]
fn cidrs_and_bare_addresses() {
    assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(
        parse_cidr("192.168.1.5").unwrap().to_string(),
        "192.168.1.5/32"
    );
    assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
    assert!(
        parse_cidr("10.0.0.0/33")
            .unwrap_err()
            .contains("not a CIDR")
    );
    assert!(parse_cidr("example.com").is_err());
}

#[test]
fn dns_labels() {
    assert!(is_dns_label("zen-system"));
    assert!(is_dns_label("a"));
    assert!(!is_dns_label(""));
    assert!(!is_dns_label("-a"));
    assert!(!is_dns_label("a-"));
    assert!(!is_dns_label("Zen"));
    assert!(!is_dns_label(&"a".repeat(64)));
}
