use super::*;
use serde_json::json;

fn event() -> Event {
    let mut e = Event::about_pod_for_tests(
        "falco",
        Severity::High,
        json!({"rule": "Shell", "output_fields": {"k8s.pod.name": "web-1", "n": [1, {"x": 2}]}}),
    );
    e.facts.rule = Some("Shell".into());
    e
}

#[test]
fn fields_and_aliases() {
    let e = event();
    assert_eq!(e.field("severity"), Some(json!("high")));
    assert_eq!(e.field("spec.severity"), Some(json!("high")));
    assert_eq!(e.field("metadata.namespace"), Some(json!("shop")));
    assert_eq!(e.field("spec.resource.kind"), Some(json!("Pod")));
    assert_eq!(e.field("rule"), Some(json!("Shell")));
    assert_eq!(e.field("stage"), None);
    assert_eq!(e.field("nonsense"), None);
}

#[test]
fn an_ingester_watch_id_is_a_label_value_of_its_own() {
    let id = |ns: &str, name: &str| IngesterRef::new(ns, name).id().to_string();
    let long = id(&"n".repeat(63), &"x".repeat(253));
    assert_eq!(long.len(), "ingester-".len() + 16, "fits a label: {long}");
    assert_ne!(id("a", "b-c"), id("a-b", "c"));
    assert_eq!(id("a", "b"), id("a", "b"));
}

#[test]
fn delivery_ids_round_trip_through_their_text() {
    let id = DeliveryId::of_payload(br#"{"rule":"x"}"#);
    let text = id.to_string();
    assert_eq!(text.len(), 16);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(DeliveryId::parse(&text), Some(id));
    assert_ne!(id, DeliveryId::of_payload(br#"{"rule":"y"}"#));
    for bad in [
        "",
        "0123",
        "0123456789abcdeg",
        "0123456789abcdef0",
        "é123456789abcde",
    ] {
        assert_eq!(DeliveryId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn details_paths_handle_dotted_keys_and_arrays() {
    let e = event();
    assert_eq!(
        e.field("details.output_fields.k8s.pod.name"),
        Some(json!("web-1"))
    );
    assert_eq!(e.field("spec.details.output_fields.n.1.x"), Some(json!(2)));
    assert_eq!(e.field("details.output_fields.n.9"), None);
    assert_eq!(e.field("details.missing.deeper"), None);
    assert_eq!(e.field("details."), None);
}
