use super::*;
use serde_json::json;

const RECEIVED: &str = "2026-11-26T12:00:00Z";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/falco/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn one(name: &str) -> Event {
    let mut events = parse(&fixture(name), RECEIVED.parse().unwrap()).unwrap();
    assert_eq!(events.len(), 1, "{name}");
    events.remove(0)
}

#[test]
fn every_priority_maps_to_a_severity() {
    let expected = [
        ("emergency", Severity::Critical),
        ("alert", Severity::Critical),
        ("critical", Severity::Critical),
        ("error", Severity::High),
        ("warning", Severity::Medium),
        ("notice", Severity::Low),
        ("informational", Severity::Info),
        ("debug", Severity::Info),
    ];
    for (priority, severity) in expected {
        let event = one(&format!("alert-{priority}.json"));
        assert_eq!(event.severity, severity, "{priority}");
    }
}

#[test]
fn severity_names_are_priorities_only_where_falco_has_them() {
    assert_eq!(severity(" CRITICAL "), Some(Severity::Critical));
    assert_eq!(severity("Info"), Some(Severity::Info));
    assert_eq!(severity("Warn"), Some(Severity::Medium));
    for name in ["High", "medium", "LOW", "fatal", ""] {
        assert_eq!(severity(name), None, "{name:?}");
    }
}

#[test]
fn empty_strings_are_not_given() {
    let body = json!({
        "priority": "Notice", "rule": "r", "output": "", "hostname": "", "uuid": "",
        "time": "", "source": "", "output_fields": {"k8s.ns.name": "", "k8s.pod.name": "web-1"}
    })
    .to_string();
    let e = parse(body.as_bytes(), RECEIVED.parse().unwrap())
        .unwrap()
        .remove(0);
    assert_eq!(e.description, None);
    for key in ["output", "hostname", "uuid", "time"] {
        assert!(!e.details.contains_key(key), "{key}");
    }
    assert_eq!(e.details["source"], "syscall");
    assert_eq!(e.event_type, "runtime_alert");
    assert_eq!(e.detected_at, RECEIVED.parse().unwrap());
    let r = e.resource.unwrap();
    assert_eq!((r.name.as_deref(), r.namespace), (Some("web-1"), None));
}

#[test]
fn pod_namespace_and_container_come_from_output_fields() {
    let e = one("alert-critical.json");
    assert_eq!(e.source, "falco");
    assert_eq!(e.category, Category::Security);
    assert_eq!(e.event_type, "runtime_alert");
    let r = e.resource.clone().unwrap();
    assert_eq!(
        (
            r.kind.as_deref(),
            r.name.as_deref(),
            r.namespace.as_deref(),
            r.api_version.as_deref()
        ),
        (Some("Pod"), Some("web-1"), Some("shop"), Some("v1"))
    );
    assert_eq!(e.namespace(), Some("shop"));
    assert_eq!(e.title.as_deref(), Some("Terminal shell in container"));
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .contains("A shell was spawned")
    );
    assert_eq!(
        e.detected_at,
        "2026-11-26T10:00:00.123456789Z".parse().unwrap()
    );
    assert_eq!(e.facts.rule.as_deref(), Some("Terminal shell in container"));
    assert_eq!(
        e.kind,
        EventKind::delivered(DeliveryId::of_payload(&fixture("alert-critical.json"))),
        "the delivery is the alert as received"
    );
    assert_eq!(e.details["rule"], "Terminal shell in container");
    assert_eq!(e.details["priority"], "Critical");
    assert_eq!(
        e.details["tags"],
        json!(["container", "mitre_execution", "shell"])
    );
    assert_eq!(e.details["output_fields"]["proc.cmdline"], "bash");
    assert_eq!(
        e.fingerprint,
        fingerprint(&[
            "falco",
            "Terminal shell in container",
            "shop",
            "web-1",
            "web"
        ])
    );
}

#[test]
fn the_same_rule_on_the_same_container_has_one_fingerprint() {
    // Two priorities of the same rule/pod/container are the same occurrence identity.
    assert_eq!(
        one("alert-critical.json").fingerprint,
        one("alert-warning.json").fingerprint
    );
    assert_ne!(
        one("alert-critical.json").fingerprint,
        one("sidekick-warning.json").fingerprint
    );
}

#[test]
fn falcosidekick_shape_is_accepted() {
    let e = one("sidekick-warning.json");
    assert_eq!(e.severity, Severity::Medium);
    assert_eq!(e.details["uuid"], "5d8b3f2e-6a35-4a52-9f2c-2a6f1c1d9e11");
    assert_eq!(e.details["hostname"], "falcosidekick-0");
    assert_eq!(e.namespace(), Some("payments"));
}

#[test]
fn k8s_audit_alerts_use_the_target_in_resource_and_fingerprint() {
    let e = one("k8s-audit-exec.json");
    assert_eq!(e.event_type, "k8s_audit_alert");
    assert_eq!(e.severity, Severity::Low);
    let r = e.resource.clone().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref(), r.namespace.as_deref()),
        (Some("pods"), Some("db-0"), Some("data"))
    );
    assert_eq!(
        e.fingerprint,
        fingerprint(&[
            "falco",
            "Attach/Exec Pod",
            "",
            "",
            "",
            "pods",
            "data",
            "db-0",
            "exec"
        ])
    );
}

#[test]
fn host_alerts_have_no_resource() {
    let e = one("host-no-pod.json");
    assert_eq!(e.severity, Severity::Critical, "priority in upper case");
    assert_eq!(e.resource, None);
    assert_eq!(e.namespace(), None);
}

#[test]
fn a_missing_time_means_received_now() {
    let e = one("missing-time.json");
    assert_eq!(e.detected_at, RECEIVED.parse().unwrap());
    assert_eq!(e.severity, Severity::High);
    assert!(!e.details.contains_key("tags"));
}

#[test]
fn an_array_of_alerts_gives_one_event_each() {
    let events = parse(&fixture("batch.json"), RECEIVED.parse().unwrap()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_type, "k8s_audit_alert");
}

#[test]
fn plugin_sources_get_their_own_event_type() {
    let body = json!({"priority": "Warning", "rule": "r", "source": "aws.CloudTrail"}).to_string();
    let e = parse(body.as_bytes(), RECEIVED.parse().unwrap())
        .unwrap()
        .remove(0);
    assert_eq!(e.event_type, "aws_cloudtrail_alert");
}

fn error(body: &str) -> String {
    parse(body.as_bytes(), RECEIVED.parse().unwrap())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_input_is_an_error_naming_the_problem() {
    assert!(error("{").starts_with("malformed JSON"), "{}", error("{"));
    assert_eq!(
        error("42"),
        "body: expected a Falco alert object, found a number"
    );
    assert_eq!(
        error(r#"{"priority": "Warning"}"#),
        "rule: is required in a Falco alert"
    );
    assert_eq!(
        error(r#"{"rule": "r"}"#),
        "priority: is required in a Falco alert"
    );
    assert!(
        error(r#"{"rule": "r", "priority": "Loud"}"#)
            .starts_with("priority: unknown Falco priority \"Loud\"")
    );
    assert!(
        error(r#"{"rule": "r", "priority": "Error", "time": "noon"}"#)
            .starts_with("time: \"noon\" is not an RFC 3339 time")
    );
    assert!(error(r#"{"rule": 5, "priority": "Error"}"#).contains("malformed JSON"));
    // An object is read straight into its fields: the error says where the bad value is.
    assert!(
        error(" \n {\"rule\": 5, \"priority\": \"Error\"}").contains("line 2 column"),
        "{}",
        error(" \n {\"rule\": 5}")
    );
    assert!(error(r#"[{"rule": 5, "priority": "Error"}]"#).starts_with("[0]"));
    assert!(
        error(r#"[{"rule": "r", "priority": "Error"}, {"rule": "r"}]"#).starts_with("[1].priority")
    );
}

#[test]
fn each_alert_of_an_array_is_its_own_delivery() {
    let first = r#"{"rule":"Shell","priority":"Error","time":"2026-11-26T10:00:00.1Z"}"#;
    let second = r#"{"rule":"Shell","priority":"Error","time":"2026-11-26T10:00:00.2Z"}"#;
    let body = format!("[{first}, {second}]");
    let events = parse(body.as_bytes(), RECEIVED.parse().unwrap()).unwrap();
    assert_eq!(events[0].fingerprint, events[1].fingerprint, "one identity");
    assert_eq!(
        events[0].kind,
        EventKind::delivered(DeliveryId::of_payload(first.as_bytes()))
    );
    assert_eq!(
        events[1].kind,
        EventKind::delivered(DeliveryId::of_payload(second.as_bytes()))
    );
    let resent = parse(first.as_bytes(), RECEIVED.parse().unwrap()).unwrap();
    assert_eq!(
        resent[0].kind, events[0].kind,
        "a re-send is the same delivery"
    );
}
