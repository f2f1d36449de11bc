use std::time::Duration;

use serde_json::json;

use super::*;
use crate::crd::{Category, Severity};
use crate::event::{Facts, Origin};

fn settings() -> ObservationSettings {
    ObservationSettings {
        fallback_namespace: "zen-system".into(),
        default_ttl_seconds: 7 * 86_400,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec![],
    }
}

fn falco_event() -> Event {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/falco/alert-critical.json"
    ))
    .unwrap();
    crate::sources::falco::parse(&body, "2026-11-26T12:00:00Z".parse().unwrap())
        .unwrap()
        .remove(0)
}

#[test]
fn names_are_deterministic_valid_and_source_prefixed() {
    let a = observation_name("falco", "rule\u{1f}ns\u{1f}pod");
    assert_eq!(a, observation_name("falco", "rule\u{1f}ns\u{1f}pod"));
    assert_ne!(a, observation_name("falco", "rule\u{1f}ns\u{1f}pod2"));
    assert!(a.starts_with("falco-"));
    assert_eq!(a.len(), "falco-".len() + 16);
    assert!(
        a["falco-".len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let longest = observation_name(&"a".repeat(40), "x");
    assert!(longest.len() <= 63 && crate::units::is_dns_label(&longest));
}

#[test]
fn an_occurrence_becomes_an_observation_in_its_resource_namespace() {
    let event = falco_event();
    let obs = build(&event, &settings());
    assert_eq!(obs.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(
        obs.metadata.name,
        Some(observation_name("falco", &event.fingerprint))
    );
    let labels = obs.metadata.labels.unwrap();
    assert_eq!(labels["source"], "falco");
    assert_eq!(labels["category"], "security");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels[MANAGED_BY_LABEL], "zen-watcher");
    assert!(!labels.contains_key(ORIGIN_UID_LABEL));
    assert_eq!(obs.spec.severity, Severity::Critical);
    assert_eq!(obs.spec.category, Category::Security);
    assert_eq!(obs.spec.ttl_seconds_after_creation, Some(604_800));
    assert_eq!(
        obs.spec.fingerprint.as_deref(),
        Some(event.fingerprint.as_str())
    );
    assert_eq!(
        obs.spec.details.unwrap()["rule"],
        "Terminal shell in container"
    );
    assert_eq!(obs.status, None);
}

#[test]
fn events_without_a_namespace_go_to_the_watchers_namespace() {
    let mut event = falco_event();
    event.resource = None;
    assert_eq!(
        build(&event, &settings()).metadata.namespace.as_deref(),
        Some("zen-system")
    );
}

#[test]
fn findings_carry_their_origin() {
    let mut event = falco_event();
    event.kind = EventKind::Finding {
        origin: Origin {
            uid: "uid-1".into(),
            resource_version: None,
            watch: "policyreports.wgpolicyk8s.io".into(),
        },
    };
    let labels = build(&event, &settings()).metadata.labels.unwrap();
    assert_eq!(labels[ORIGIN_UID_LABEL], "uid-1");
}

#[test]
fn ttl_comes_from_the_ingester_else_the_default_and_is_clamped() {
    let mut event = falco_event();
    event.ttl = Some(Duration::from_secs(3600));
    assert_eq!(
        build(&event, &settings()).spec.ttl_seconds_after_creation,
        Some(3600)
    );
    event.ttl = Some(Duration::from_secs(5));
    assert_eq!(
        build(&event, &settings()).spec.ttl_seconds_after_creation,
        Some(60)
    );
    event.ttl = Some(Duration::from_secs(10 * 31_536_000));
    assert_eq!(
        build(&event, &settings()).spec.ttl_seconds_after_creation,
        Some(31_536_000)
    );
}

#[test]
fn small_details_are_untouched() {
    let details = json!({"a": 1, "b": "two"}).as_object().cloned().unwrap();
    assert_eq!(cap_details(&details, 1024), details);
}

#[test]
fn large_details_are_cut_to_the_cap_with_a_marker() {
    let details = json!({
        "rule": "r",
        "output": "é".repeat(40_000),
        "list": (0..10_000).collect::<Vec<_>>(),
        "after": "kept if it fits",
    })
    .as_object()
    .cloned()
    .unwrap();
    let max = 32 * 1024;
    let capped = cap_details(&details, max);
    let size = serde_json::to_vec(&capped).unwrap().len();
    assert!(size <= max, "{size} > {max}");
    assert_eq!(capped["rule"], "r");
    assert!(
        capped["output"].as_str().unwrap().starts_with("éé"),
        "a long string keeps a prefix"
    );
    assert!(!capped.contains_key("list"));
    let marker = &capped[TRUNCATED_KEY];
    assert_eq!(
        marker["fields"],
        json!(["list", "output"]),
        "fields in key order"
    );
    assert!(marker["originalBytes"].as_u64().unwrap() > max as u64);
}

#[test]
fn a_tiny_cap_still_yields_valid_bounded_details() {
    let details = json!({"output": "x".repeat(5000)})
        .as_object()
        .cloned()
        .unwrap();
    let capped = cap_details(&details, 1024);
    assert!(serde_json::to_vec(&capped).unwrap().len() <= 1024);
    assert!(capped.contains_key(TRUNCATED_KEY));
}

#[test]
fn facts_do_not_leak_into_the_observation() {
    let mut event = falco_event();
    event.facts = Facts {
        rule: Some("r".into()),
        result: Some("fail".into()),
        stage: Some("s".into()),
    };
    let json = serde_json::to_string(&build(&event, &settings())).unwrap();
    assert!(!json.contains("\"stage\":\"s\""));
}

/// Found by fuzzing: escaped characters and long key names used to overshoot the cap.
#[test]
fn the_cap_holds_for_escapes_and_long_keys() {
    let escapes = json!({"output": "\u{0}\"\\\n".repeat(400)})
        .as_object()
        .cloned()
        .unwrap();
    let long_key = json!({"k".repeat(1100): 1}).as_object().cloned().unwrap();
    let many_keys: Map<String, Value> = (0..200)
        .map(|i| (format!("{}{i}", "x".repeat(60)), json!(i)))
        .collect();
    for details in [escapes, long_key, many_keys] {
        for max in [128, 1024, 1500, 4096] {
            let capped = cap_details(&details, max);
            let size = serde_json::to_vec(&capped).unwrap().len();
            assert!(size <= max, "{size} > {max}");
            let fits = serde_json::to_vec(&details).unwrap().len() <= max;
            assert_eq!(capped.contains_key(TRUNCATED_KEY), !fits);
        }
    }
}

proptest::proptest! {
    #[test]
    fn the_cap_always_holds(entries in proptest::collection::btree_map(".{0,80}", ".{0,3000}", 0..20), max in 128usize..5000) {
        let details: Map<String, Value> = entries.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let capped = cap_details(&details, max);
        let size = serde_json::to_vec(&capped).unwrap().len();
        proptest::prop_assert!(size <= max || capped == details, "{} > {}", size, max);
    }
}

#[test]
fn tenant_ingesters_write_only_in_their_namespace() {
    use crate::event::IngesterRef;
    let mut event = falco_event();
    event.ingester = Some(IngesterRef::new("team-a", "hooks"));
    assert_eq!(
        build(&event, &settings()).metadata.namespace.as_deref(),
        Some("team-a")
    );
    let mut cluster = settings();
    cluster.cluster_ingester_namespaces = vec!["team-a".into()];
    assert_eq!(
        build(&event, &cluster).metadata.namespace.as_deref(),
        Some("shop")
    );
}
