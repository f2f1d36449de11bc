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
fn digit_and_length_caps_keep_every_accepted_value_in_range() {
    assert_eq!(
        parse_duration("999999999d"),
        Ok(Duration::from_secs(999_999_999 * 86_400))
    );
    assert!(parse_duration("1000000000s").is_err());
    let longest = "999999999d".repeat(6) + "1s1s";
    assert_eq!(longest.len(), DURATION_MAX_LENGTH);
    assert!(parse_duration(&longest).is_ok());
    let err = parse_duration(&(longest + " ")).unwrap_err();
    assert!(err.contains("longer than 64"), "{err}");
    assert_eq!(parse_bytes("9999999999GB"), Ok(9_999_999_999_000_000_000));
    assert_eq!(parse_bytes("9999999999Gi"), Ok(9_999_999_999 << 30));
    assert!(parse_bytes("10000000000").is_err());
}

#[test]
fn log_filters_are_levels_or_target_directives() {
    for good in [
        "info",
        "off",
        " debug\n",
        "info,kube=warn",
        "warn,zen_watcher::writer=debug,kube_client::client=trace",
        "_private=error",
    ] {
        assert_eq!(check_log_filter(good), Ok(()), "{good:?}");
    }
    for bad in [
        "",
        "verbose",
        "INFO",
        "info,",
        "kube=",
        "=info",
        "kube-client=info",
        "kube::=info",
        "info, kube=warn",
        "kube[span]=debug",
        "9lives=info",
    ] {
        let err = check_log_filter(bad).unwrap_err();
        assert!(err.contains("info,kube=warn"), "{bad:?} -> {err}");
    }
}

/// Every string of up to `len` symbols from `alphabet`.
fn strings(alphabet: &[&str], len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|prefix| alphabet.iter().map(move |s| format!("{prefix}{s}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

fn assert_pattern_is_the_parser(pattern: &str, accepts: impl Fn(&str) -> bool, inputs: &[String]) {
    let regex = regex::Regex::new(pattern).unwrap();
    let mut accepted = 0;
    for input in inputs {
        let parsed = accepts(input);
        assert_eq!(
            regex.is_match(input),
            parsed,
            "{input:?}: pattern {pattern} and parser disagree"
        );
        accepted += usize::from(parsed);
    }
    assert!(
        accepted > 0 && accepted < inputs.len(),
        "cases test both sides"
    );
}

#[test]
fn the_duration_pattern_accepts_exactly_what_parse_duration_accepts() {
    let mut inputs = strings(&["0", "7", "m", "s", "h", "d", "w", ".", " ", "\t", "-"], 5);
    inputs.extend(strings(&["1", "ms", "h", "us", "µs", "ns", "\u{a0}"], 4));
    inputs.extend(
        [
            "123456789s",
            "1234567890s",
            "5m0123456789s",
            "1.5h",
            "500us",
        ]
        .map(String::from),
    );
    // The length cap is the schema's maxLength, not part of the pattern.
    let within_length = |s: &str| s.chars().count() <= DURATION_MAX_LENGTH;
    inputs.retain(|s| within_length(s));
    assert_pattern_is_the_parser(DURATION_PATTERN, |s| parse_duration(s).is_ok(), &inputs);
}

#[test]
fn the_bytes_pattern_accepts_exactly_what_parse_bytes_accepts() {
    let mut inputs = strings(
        &["0", "9", "K", "i", "B", "M", "G", "k", "b", "T", " ", "."],
        4,
    );
    inputs.extend(strings(&["1", "MiB", "kB", "mb", "TiB", "Gi"], 3));
    inputs.extend(["9999999999", "99999999999", "1.5MiB", "2mb", "1TiB"].map(String::from));
    assert_pattern_is_the_parser(BYTES_PATTERN, |s| parse_bytes(s).is_ok(), &inputs);
}

#[test]
fn the_log_filter_pattern_accepts_exactly_what_check_log_filter_accepts() {
    let inputs = strings(
        &[
            "info", "trace", "kube", "=", ",", "::", "_", "9", " ", "verbose", "INFO", "a-b",
        ],
        4,
    );
    assert_pattern_is_the_parser(LOG_FILTER_PATTERN, |s| check_log_filter(s).is_ok(), &inputs);
}

#[test]
fn the_config_map_key_pattern_accepts_exactly_what_is_config_map_key_accepts() {
    let inputs = strings(&[".", "a", "Z", "9", "-", "_", "/", " ", "ü"], 4);
    assert_pattern_is_the_parser(CONFIG_MAP_KEY_PATTERN, is_config_map_key, &inputs);
    assert!(is_config_map_key(&"a".repeat(CONFIG_MAP_KEY_MAX_LENGTH)));
    assert!(!is_config_map_key(
        &"a".repeat(CONFIG_MAP_KEY_MAX_LENGTH + 1)
    ));
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
