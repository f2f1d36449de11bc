use super::*;
use proptest::prelude::*;
use serde_json::json;

const RECEIVED: &str = "2026-11-26T12:00:00Z";

fn received() -> Timestamp {
    RECEIVED.parse().unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/generic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn spec(value: Value) -> IngesterSpec {
    serde_json::from_value(value).unwrap()
}

fn mapping(value: Value) -> GenericMapping {
    GenericMapping::compile("ops", "my-ingester", &spec(value)).unwrap()
}

fn webhook(extra: Value) -> GenericMapping {
    let mut base =
        json!({"source": "alerts", "ingester": "webhook", "webhook": {"path": "/hooks/a"}});
    merge(&mut base, extra);
    mapping(base)
}

fn informer(extra: Value) -> GenericMapping {
    let mut base = json!({
        "source": "argo-rollouts",
        "ingester": "informer",
        "informer": {"gvr": {"group": "argoproj.io", "version": "v1alpha1", "resource": "rollouts"}}
    });
    merge(&mut base, extra);
    mapping(base)
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(base), Value::Object(extra)) = (base, extra) {
        base.extend(extra);
    }
}

fn compile_error(value: Value) -> String {
    GenericMapping::compile("ops", "x", &spec(value))
        .unwrap_err()
        .to_string()
}

fn one_payload(m: &GenericMapping, body: &[u8]) -> Event {
    let mut events = m.events_from_payload(body, received()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn payload_error(m: &GenericMapping, body: &[u8]) -> String {
    m.events_from_payload(body, received())
        .unwrap_err()
        .to_string()
}

fn resource(e: &Event) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    let r = e.resource.as_ref().unwrap();
    (
        r.api_version.as_deref(),
        r.kind.as_deref(),
        r.name.as_deref(),
        r.namespace.as_deref(),
    )
}

// --- compile ---------------------------------------------------------------------------------

#[test]
fn compile_defaults() {
    let m = webhook(json!({}));
    assert_eq!(m.category, Category::Operations);
    assert_eq!(m.event_type, "alerts_event");
    assert_eq!(m.ttl, None);
    let m = informer(json!({"ttl": "12h"}));
    assert_eq!(m.event_type, "argo-rollouts_event");
    assert_eq!(m.ttl, Some(Duration::from_secs(12 * 3600)));
}

#[test]
fn ttl_units() {
    assert_eq!(
        crate::units::parse_duration("45s"),
        Ok(Duration::from_secs(45))
    );
    assert_eq!(
        crate::units::parse_duration("30m"),
        Ok(Duration::from_secs(1800))
    );
    assert_eq!(
        crate::units::parse_duration("7d"),
        Ok(Duration::from_secs(7 * 86_400))
    );
    for bad in [
        "",
        "d",
        "7",
        "7w",
        "-1d",
        "7 d",
        "99999999999999999999d",
        "é",
    ] {
        assert!(crate::units::parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn bad_ttl_names_spec_ttl() {
    let err = compile_error(json!({"source": "a", "ingester": "webhook", "ttl": "7w"}));
    assert!(err.starts_with("spec.ttl: "), "{err}");
    assert!(err.contains("\"7w\""), "{err}");
}

#[test]
fn uppercase_event_type_is_rejected() {
    let err = compile_error(json!({
        "source": "a", "ingester": "webhook",
        "normalization": {"eventType": "Deploy_Failed"}
    }));
    assert!(err.starts_with("spec.normalization.eventType: "), "{err}");
    assert!(err.contains("Deploy_Failed"), "{err}");
}

#[test]
fn invalid_source_is_rejected() {
    let err = compile_error(json!({"source": "Bad Source", "ingester": "webhook"}));
    assert!(err.starts_with("spec.source: "), "{err}");
}

#[test]
fn severity_map_keys_differing_only_in_case_must_agree() {
    let err = compile_error(json!({
        "source": "a", "ingester": "webhook",
        "normalization": {"severityMap": {"Warn": "low", "WARN": "high"}}
    }));
    assert!(err.starts_with("spec.normalization.severityMap: "), "{err}");
    assert!(
        GenericMapping::compile(
            "ops",
            "x",
            &spec(json!({
                "source": "a", "ingester": "webhook",
                "normalization": {"severityMap": {"Warn": "low", "WARN": "low"}}
            }))
        )
        .is_ok()
    );
}

// --- informer objects ------------------------------------------------------------------------

#[test]
fn rollout_object_defaults() {
    let m = informer(json!({"ttl": "7d"}));
    let e = m
        .event_from_object(&fixture_json("rollout.json"), received())
        .unwrap();
    assert_eq!(e.source, "argo-rollouts");
    assert_eq!(e.event_type, "argo-rollouts_event");
    assert_eq!(e.category, Category::Operations);
    assert_eq!(e.severity, Severity::Info);
    assert_eq!(e.details["severitySource"], json!("default"));
    assert_eq!(
        resource(&e),
        (
            Some("argoproj.io/v1alpha1"),
            Some("Rollout"),
            Some("checkout"),
            Some("shop")
        )
    );
    assert_eq!(e.title.as_deref(), Some("Rollout shop/checkout"));
    assert_eq!(e.detected_at, "2026-11-20T08:30:00Z".parse().unwrap());
    assert_eq!(
        e.kind,
        EventKind::Finding {
            origin: Origin {
                uid: "6f1c2d3e-0000-4a5b-9c8d-7e6f5a4b3c2d".into(),
                resource_version: Some("48213".into()),
                watch: m.ingester().id().to_string(),
            }
        }
    );
    assert_eq!(
        e.fingerprint,
        fingerprint(&[
            "argo-rollouts",
            "ops",
            "my-ingester",
            "6f1c2d3e-0000-4a5b-9c8d-7e6f5a4b3c2d"
        ])
    );
    assert_eq!(e.ttl, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(e.ingester, Some(IngesterRef::new("ops", "my-ingester")));
    assert_eq!(e.facts, Facts::default());
}

#[test]
fn rollout_details_drop_status_managed_fields_and_last_applied() {
    let e = informer(json!({}))
        .event_from_object(&fixture_json("rollout.json"), received())
        .unwrap();
    assert!(!e.details.contains_key("status"));
    let metadata = e.details["metadata"].as_object().unwrap();
    let keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, ["annotations", "labels", "name", "namespace"]);
    assert_eq!(
        e.details["metadata"]["annotations"],
        json!({"rollout.argoproj.io/revision": "12"})
    );
    assert_eq!(e.details["spec"]["replicas"], json!(4));
    assert_eq!(e.details["kind"], json!("Rollout"));
}

#[test]
fn rollout_with_field_mapping_severity_and_resource_paths() {
    let m = informer(json!({"normalization": {
        "category": "performance",
        "eventType": "rollout_degraded",
        "severityField": "metadata.labels.severity",
        "fieldMapping": [
            {"from": "status.phase", "to": "phase"},
            {"from": "status.nope", "to": "missing"},
            {"from": "metadata.annotations.rollout.argoproj.io/revision", "to": "revision"}
        ],
        "resource": {
            "apiVersion": "spec.workloadRef.apiVersion",
            "kind": "spec.workloadRef.kind",
            "name": "spec.workloadRef.name"
        }
    }}));
    let e = m
        .event_from_object(&fixture_json("rollout.json"), received())
        .unwrap();
    assert_eq!(e.category, Category::Performance);
    assert_eq!(e.event_type, "rollout_degraded");
    assert_eq!(e.severity, Severity::Medium);
    assert_eq!(e.details["severitySource"], json!("field"));
    assert_eq!(
        e.details,
        json!({"phase": "Degraded", "revision": "12", "severitySource": "field"})
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(
        resource(&e),
        (
            Some("apps/v1"),
            Some("Deployment"),
            Some("checkout-base"),
            Some("shop")
        )
    );
    // The title names the watched object, not the overridden resource.
    assert_eq!(e.title.as_deref(), Some("Rollout shop/checkout"));
}

#[test]
fn object_without_uid_is_an_error() {
    let mut object = fixture_json("rollout.json");
    object["metadata"].as_object_mut().unwrap().remove("uid");
    let err = informer(json!({}))
        .event_from_object(&object, received())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("metadata.uid: "), "{err}");
    let err = informer(json!({}))
        .event_from_object(&json!([1]), received())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected an object"), "{err}");
}

#[test]
fn object_with_bad_creation_timestamp_uses_received_at() {
    let object =
        json!({"kind": "Thing", "metadata": {"uid": "u1", "creationTimestamp": "yesterday"}});
    let e = informer(json!({}))
        .event_from_object(&object, received())
        .unwrap();
    assert_eq!(e.detected_at, received());
    assert_eq!(e.title, None);
    assert_eq!(resource(&e), (None, Some("Thing"), None, None));
    assert_eq!(
        e.kind,
        EventKind::Finding {
            origin: Origin {
                uid: "u1".into(),
                resource_version: None,
                watch: crate::event::IngesterRef::new("ops", "my-ingester")
                    .id()
                    .to_string(),
            }
        }
    );
}

#[test]
fn object_dedup_fields_fingerprint() {
    let m = informer(
        json!({"deduplication": {"fields": ["spec.workloadRef.name", "status.phase", "nope"]}}),
    );
    let e = m
        .event_from_object(&fixture_json("rollout.json"), received())
        .unwrap();
    assert_eq!(
        e.fingerprint,
        fingerprint(&[
            "argo-rollouts",
            "ops",
            "my-ingester",
            "checkout-base",
            "Degraded",
            ""
        ])
    );
}

// --- webhook payloads ------------------------------------------------------------------------

#[test]
fn alertmanager_payload_is_one_event() {
    let m = webhook(json!({"normalization": {"severityField": "commonLabels.severity"}}));
    let e = one_payload(&m, &fixture("alertmanager.json"));
    assert_eq!(
        e.kind,
        EventKind::delivered(crate::event::DeliveryId::of_payload(&fixture(
            "alertmanager.json"
        )))
    );
    assert_eq!(e.severity, Severity::Medium);
    assert_eq!(e.details["severitySource"], json!("field"));
    assert_eq!(e.details["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(e.details["receiver"], json!("zen-watcher"));
    assert_eq!(e.detected_at, received());
    assert_eq!(e.resource, None);
    assert_eq!(e.title, None);
    assert_eq!(e.event_type, "alerts_event");
    assert_eq!(e.fingerprint.len(), 64);
    assert!(e.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn top_level_array_gives_one_event_each() {
    let m = webhook(json!({"normalization": {"severityField": "labels.severity"}}));
    let events = m
        .events_from_payload(&fixture("batch.json"), received())
        .unwrap();
    let got: Vec<(Severity, Option<&str>)> = events
        .iter()
        .map(|e| (e.severity, e.title.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Severity::Critical, Some("disk almost full")),
            (Severity::Medium, Some("backup slow")),
            (Severity::Low, Some("cert renewed")),
        ]
    );
    assert_ne!(events[0].fingerprint, events[1].fingerprint);
    assert!(m.events_from_payload(b"[]", received()).unwrap().is_empty());
}

#[test]
fn nested_severity_aliases_and_numbers() {
    let m = webhook(json!({"normalization": {"severityField": "labels.severity"}}));
    let cases = [
        (json!("Error"), Severity::High, "field"),
        (json!("FATAL"), Severity::Critical, "field"),
        (json!("emergency"), Severity::Critical, "field"),
        (json!("alert"), Severity::Critical, "field"),
        (json!("warning"), Severity::Medium, "field"),
        (json!("notice"), Severity::Low, "field"),
        (json!("informational"), Severity::Info, "field"),
        (json!("debug"), Severity::Info, "field"),
        (json!(" High "), Severity::High, "field"),
        (json!("catastrophic"), Severity::Info, "unmapped"),
        (json!(7), Severity::Info, "unmapped"),
        (json!({"x": 1}), Severity::Info, "default"),
        (Value::Null, Severity::Info, "default"),
    ];
    for (value, severity, source) in cases {
        let body = json!({"labels": {"severity": value.clone()}}).to_string();
        let e = one_payload(&m, body.as_bytes());
        assert_eq!(e.severity, severity, "{value}");
        assert_eq!(e.details["severitySource"], json!(source), "{value}");
    }
    let e = one_payload(&m, &fixture("nested-severity.json"));
    assert_eq!(e.severity, Severity::High);
    assert_eq!(e.title.as_deref(), Some("Image pull backoff"));
    let e = one_payload(&m, br#"{"other": 1}"#);
    assert_eq!(
        (e.severity, &e.details["severitySource"]),
        (Severity::Info, &json!("default"))
    );
}

#[test]
fn no_severity_field_is_info_by_default() {
    let e = one_payload(&webhook(json!({})), br#"{"severity": "critical"}"#);
    assert_eq!(e.severity, Severity::Info);
    assert_eq!(e.details["severitySource"], json!("default"));
}

#[test]
fn severity_map_wins_any_case_and_numbers_are_looked_up() {
    let m = webhook(json!({"normalization": {
        "severityField": "level",
        "severityMap": {"P1": "critical", "Warning": "low", "3": "high"}
    }}));
    let cases = [
        (json!("p1"), Severity::Critical, "map"),
        (json!("WARNING"), Severity::Low, "map"),
        (json!(3), Severity::High, "map"),
        (json!("error"), Severity::High, "field"),
        (json!("p2"), Severity::Info, "unmapped"),
    ];
    for (value, severity, source) in cases {
        let body = json!({ "level": value.clone() }).to_string();
        let e = one_payload(&m, body.as_bytes());
        assert_eq!(
            (e.severity, &e.details["severitySource"]),
            (severity, &json!(source)),
            "{value}"
        );
    }
}

#[test]
fn field_mapping_nested_missing_and_dotted_keys() {
    let m = webhook(json!({"normalization": {"fieldMapping": [
        {"from": "output_fields.k8s.pod.name", "to": "pod"},
        {"from": "labels.team", "to": "team.name"},
        {"from": "tags.1", "to": "secondTag"},
        {"from": "labels.nope", "to": "gone"},
        {"from": "target", "to": "target"}
    ]}}));
    let e = one_payload(&m, &fixture("nested-severity.json"));
    let expected = json!({
        "pod": "web-1",
        "team.name": "payments",
        "secondTag": "image",
        "target": {"kind": "Pod", "name": "web-1", "namespace": "shop", "apiVersion": "v1"},
        "severitySource": "default"
    });
    assert_eq!(Value::Object(e.details), expected);
}

#[test]
fn payload_resource_paths() {
    let m = webhook(json!({"normalization": {"resource": {
        "apiVersion": "target.apiVersion",
        "kind": "target.kind",
        "name": "output_fields.k8s.pod.name",
        "namespace": "target.namespace"
    }}}));
    let e = one_payload(&m, &fixture("nested-severity.json"));
    assert_eq!(
        resource(&e),
        (Some("v1"), Some("Pod"), Some("web-1"), Some("shop"))
    );
    let e = one_payload(&m, br#"{"unrelated": true}"#);
    assert_eq!(e.resource, None);
}

#[test]
fn payload_dedup_fields_fingerprint() {
    let m = webhook(
        json!({"deduplication": {"fields": ["labels.node", "labels.severity", "missing"]}}),
    );
    let events = m
        .events_from_payload(&fixture("batch.json"), received())
        .unwrap();
    assert_eq!(
        events[0].fingerprint,
        fingerprint(&["alerts", "ops", "my-ingester", "n1", "CRITICAL", ""])
    );
}

#[test]
fn content_fingerprint_ignores_timestamps_only() {
    let m = webhook(json!({"normalization": {"severityField": "labels.severity"}}));
    let fp = |body: Value| one_payload(&m, body.to_string().as_bytes()).fingerprint;
    let alert = |message: &str, severity: &str, timestamp: &str| {
        let labels = json!({ "severity": severity });
        json!({ "message": message, "labels": labels, "timestamp": timestamp })
    };
    let base = fp(alert("x", "high", "2026-01-01T00:00:00Z"));
    assert_eq!(base, fp(alert("x", "high", "2026-02-02T00:00:00Z")));
    let mut every_timestamp_key = alert("x", "high", "t");
    for key in ["ts", "@timestamp", "eventTime", "receivedAt", "time"] {
        every_timestamp_key[key] = json!(key);
    }
    assert_eq!(base, fp(every_timestamp_key));
    assert_ne!(base, fp(alert("y", "high", "2026-01-01T00:00:00Z")));
    assert_ne!(base, fp(alert("x", "low", "2026-01-01T00:00:00Z")));
    // Nested timestamps are content.
    assert_ne!(
        fp(json!({"labels": {"time": "1"}})),
        fp(json!({"labels": {"time": "2"}}))
    );
    // A different Ingester source never shares a content fingerprint.
    let other = mapping(json!({"source": "other", "ingester": "webhook"}));
    let alerts = webhook(json!({}));
    assert_ne!(
        one_payload(&other, b"{}").fingerprint,
        one_payload(&alerts, b"{}").fingerprint
    );
}

#[test]
fn malformed_payloads_are_errors() {
    let m = webhook(json!({}));
    assert!(payload_error(&m, b"not json").starts_with("malformed JSON"));
    assert!(payload_error(&m, b"").starts_with("malformed JSON"));
    let err = payload_error(&m, br#""just a string""#);
    assert!(
        err.starts_with("body: ") && err.contains("found a string"),
        "{err}"
    );
    let err = payload_error(&m, b"null");
    assert!(err.contains("found null"), "{err}");
    let err = payload_error(&m, &fixture("mixed-array.json"));
    assert_eq!(err, "[2]: expected an object, found a number");
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let m = webhook(json!({
            "normalization": {
                "severityField": "a.b",
                "severityMap": {"x": "high"},
                "fieldMapping": [{"from": "a.0.b", "to": "t"}],
                "resource": {"name": "a", "namespace": "b.c"}
            }
        }));
        let plain = webhook(json!({"deduplication": {"fields": ["a", "b.0"]}}));
        let body = value.to_string();
        let _ = m.events_from_payload(body.as_bytes(), received());
        let _ = plain.events_from_payload(body.as_bytes(), received());
        let _ = informer(json!({})).event_from_object(&value, received());
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = webhook(json!({})).events_from_payload(&body, received());
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just("0".to_string()),
        Just("b.c".to_string()),
        "[a-z.]{0,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        Just(Value::from("x")),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
