use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::json;

use kube_core::Resource;

use super::*;

const POLICY_REPORT: &str = include_str!("../../../../tests/fixtures/kyverno/policyreport.json");
const CLUSTER_POLICY_REPORT: &str =
    include_str!("../../../../tests/fixtures/kyverno/clusterpolicyreport.json");
const OPEN_REPORT: &str =
    include_str!("../../../../tests/fixtures/kyverno/openreports-report.json");

fn now() -> Timestamp {
    Timestamp::new(1_800_000_000, 0).unwrap()
}

fn parse<T: DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap()
}

fn policy_events() -> Vec<Event> {
    events_from_report(&parse::<PolicyReport>(POLICY_REPORT), now())
}

fn by_rule<'a>(events: &'a [Event], rule: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.facts.rule.as_deref() == Some(rule))
        .collect()
}

fn one<'a>(events: &'a [Event], rule: &str) -> &'a Event {
    let found = by_rule(events, rule);
    assert_eq!(found.len(), 1, "{rule}");
    found[0]
}

#[test]
fn every_fixture_deserialises() {
    let pr: PolicyReport = parse(POLICY_REPORT);
    assert_eq!(pr.results.len(), 7);
    let cpr: ClusterPolicyReport = parse(CLUSTER_POLICY_REPORT);
    assert_eq!(cpr.results.len(), 4);
    let or: OpenReport = parse(OPEN_REPORT);
    assert_eq!(or.results.len(), 4);
    let ocr: OpenClusterReport = parse(CLUSTER_POLICY_REPORT);
    assert!(ocr.scope.is_none());
}

#[test]
fn resource_identity_of_the_four_kinds() {
    assert_eq!(PolicyReport::api_version(&()), "wgpolicyk8s.io/v1alpha2");
    assert_eq!(PolicyReport::plural(&()), "policyreports");
    assert_eq!(ClusterPolicyReport::kind(&()), "ClusterPolicyReport");
    assert_eq!(OpenReport::api_version(&()), "openreports.io/v1alpha1");
    assert_eq!(OpenReport::plural(&()), "reports");
    assert_eq!(OpenClusterReport::plural(&()), "clusterreports");
    assert_eq!(
        PolicyReport::url_path(&(), Some("shop")),
        "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports"
    );
}

#[test]
fn one_event_per_result_including_non_failures() {
    let events = policy_events();
    assert_eq!(events.len(), 7);
    let mut types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "policy_error",
            "policy_pass",
            "policy_pass",
            "policy_skip",
            "policy_violation",
            "policy_violation",
            "policy_warn"
        ]
    );
    assert!(events.iter().all(|e| e.source == "kyverno"));
}

#[test]
fn scope_is_the_subject_when_results_list_no_resources() {
    for event in policy_events() {
        let resource = event.resource.as_ref().unwrap();
        assert_eq!(resource.kind.as_deref(), Some("Pod"));
        assert_eq!(resource.name.as_deref(), Some("web-7d9f8b6c5d-x2x8q"));
        assert_eq!(resource.namespace.as_deref(), Some("shop"));
        assert_eq!(resource.api_version.as_deref(), Some("v1"));
    }
}

#[test]
fn severity_from_result_in_any_case_else_from_outcome() {
    let events = policy_events();
    let sev = |rule| one(&events, rule).severity;
    assert_eq!(
        sev("disallow-privileged-containers/privileged-containers"),
        Severity::High
    );
    assert_eq!(sev("disallow-host-path/host-path"), Severity::Critical);
    assert_eq!(
        sev("require-requests-limits/validate-resources"),
        Severity::Low
    );
    // No declared severity: by outcome.
    assert_eq!(
        sev("check-image-signature/verify-signature"),
        Severity::Medium
    );
    assert_eq!(
        sev("restrict-image-registries/validate-registries"),
        Severity::Info
    );
    assert_eq!(severity(Some("bogus"), Some("fail")), Severity::Medium);
    assert_eq!(severity(None, Some("warn")), Severity::Low);
    assert_eq!(severity(None, Some("pass")), Severity::Info);
    assert_eq!(severity(None, None), Severity::Info);
}

#[test]
fn category_security_only_when_it_says_so() {
    let events = policy_events();
    let cat = |rule| one(&events, rule).category;
    assert_eq!(
        cat("disallow-privileged-containers/privileged-containers"),
        Category::Security
    );
    assert_eq!(cat("require-labels/check-team"), Category::Compliance);
    assert_eq!(
        cat("restrict-image-registries/validate-registries"),
        Category::Compliance
    );
    assert_eq!(category(Some("POD SECURITY")), Category::Security);
    assert_eq!(category(None), Category::Compliance);
}

#[test]
fn fail_event_carries_title_facts_details_and_origin() {
    let events = policy_events();
    let e = one(
        &events,
        "disallow-privileged-containers/privileged-containers",
    );
    assert_eq!(e.event_type, "policy_violation");
    assert_eq!(
        e.title.as_deref(),
        Some("disallow-privileged-containers/privileged-containers")
    );
    assert_eq!(e.facts.result.as_deref(), Some("fail"));
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .contains("Privileged mode")
    );
    assert_eq!(e.details["policy"], json!("disallow-privileged-containers"));
    assert_eq!(e.details["source"], json!("kyverno"));
    assert_eq!(e.details["result"], json!("fail"));
    assert_eq!(
        e.details["category"],
        json!("Pod Security Standards (Baseline)")
    );
    assert_eq!(e.details["properties"]["controls"], json!("privileged"));
    assert_eq!(
        e.details["report"],
        json!({"kind": "PolicyReport", "name": "5e0c1f7a-2b3d-4c4e-9f5a-6b7c8d9e0f1a",
               "namespace": "shop", "uid": "9b1c7f3e-0d2a-4b5c-8e6f-7a8b9c0d1e2f"})
    );
    assert_eq!(
        e.kind,
        EventKind::Finding {
            origin: Origin {
                uid: "9b1c7f3e-0d2a-4b5c-8e6f-7a8b9c0d1e2f".into(),
                resource_version: Some("48213".into()),
                watch: "policyreports.wgpolicyk8s.io".into(),
            }
        }
    );
    assert_eq!(e.detected_at, Timestamp::new(1_732_600_000, 0).unwrap());
}

#[test]
fn result_time_else_creation_time_else_fallback() {
    let events = policy_events();
    let no_ts = one(&events, "require-labels/check-team");
    assert_eq!(no_ts.detected_at, "2024-11-26T05:46:00Z".parse().unwrap());
    let nanos = one(&events, "disallow-host-path/host-path");
    assert_eq!(
        nanos.detected_at,
        Timestamp::new(1_732_600_005, 250_000_000).unwrap()
    );
    let out_of_range = one(&events, "require-probes/check-liveness");
    assert_eq!(
        out_of_range.detected_at,
        "2024-11-26T05:46:00Z".parse().unwrap()
    );

    let mut report: PolicyReport = parse(POLICY_REPORT);
    report.metadata.creation_timestamp = None;
    let events = events_from_report(&report, now());
    assert_eq!(one(&events, "require-labels/check-team").detected_at, now());
}

#[test]
fn fingerprints_are_unique_per_finding_and_stable() {
    for json in [POLICY_REPORT, OPEN_REPORT] {
        let report: OpenReport = parse(json);
        let first = events_from_report(&report, now());
        let again = events_from_report(&report, Timestamp::UNIX_EPOCH);
        let unique: HashSet<_> = first.iter().map(|e| &e.fingerprint).collect();
        assert_eq!(unique.len(), first.len());
        let fps = |es: &[Event]| es.iter().map(|e| e.fingerprint.clone()).collect::<Vec<_>>();
        assert_eq!(fps(&first), fps(&again));
    }
    let events = policy_events();
    assert_eq!(
        one(&events, "disallow-host-path/host-path").fingerprint,
        crate::sources::fingerprint(&[
            "kyverno",
            "disallow-host-path",
            "host-path",
            "5e0c1f7a-2b3d-4c4e-9f5a-6b7c8d9e0f1a",
            "Pod",
            "shop",
            "web-7d9f8b6c5d-x2x8q"
        ])
    );
}

#[test]
fn cluster_report_subjects_have_no_namespace() {
    let report: ClusterPolicyReport = parse(CLUSTER_POLICY_REPORT);
    let events = events_from_report(&report, now());
    assert_eq!(events.len(), 4);
    let e = one(&events, "require-ns-labels/check-owner");
    let resource = e.resource.as_ref().unwrap();
    assert_eq!(resource.kind.as_deref(), Some("Namespace"));
    assert_eq!(resource.namespace, None);
    assert_eq!(e.details["report"]["kind"], json!("ClusterPolicyReport"));
    assert!(e.details["report"].get("namespace").is_none());
}

#[test]
fn result_without_resources_in_scopeless_report_has_no_resource() {
    let report: ClusterPolicyReport = parse(CLUSTER_POLICY_REPORT);
    let events = events_from_report(&report, now());
    let e = one(&events, "cluster-config/check-audit-logging");
    assert_eq!(e.resource, None);
    assert_eq!(
        e.fingerprint,
        crate::sources::fingerprint(&[
            "kyverno",
            "cluster-config",
            "check-audit-logging",
            "",
            "",
            "",
            ""
        ])
    );
}

#[test]
fn openreports_one_event_per_listed_resource() {
    let report: OpenReport = parse(OPEN_REPORT);
    let events = events_from_report(&report, now());
    assert_eq!(events.len(), 5);
    let shared = by_rule(&events, "require-run-as-nonroot/run-as-non-root");
    let names: Vec<_> = shared
        .iter()
        .map(|e| e.resource.as_ref().unwrap().name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["api-5c8d7f9b4-abcde", "worker-6f4b8c7d9-fghij"]);
    // The listed resource omits its namespace: the report's is used.
    assert_eq!(shared[1].namespace(), Some("payments"));
    assert_ne!(shared[0].fingerprint, shared[1].fingerprint);
    let e = one(&events, "require-network-policy/check-default-deny");
    // The result's empty `source` falls back to the report's.
    assert_eq!(e.details["source"], json!("kyverno"));
    assert_eq!(e.resource, None);
    assert_eq!(e.details["report"]["kind"], json!("Report"));
}

#[test]
fn unknown_outcome_and_missing_fields() {
    let result = ReportResult {
        policy: Some("only-policy".into()),
        rule: Some(String::new()),
        result: Some("FAIL".into()),
        ..Default::default()
    };
    let report = OpenClusterReport::new(ObjectMeta::default(), None, vec![result]);
    let events = events_from_report(&report, now());
    let e = &events[0];
    assert_eq!(e.title.as_deref(), Some("only-policy"));
    assert_eq!(e.event_type, "policy_violation");
    assert_eq!(e.facts.result.as_deref(), Some("fail"));
    assert_eq!(e.detected_at, now());
    assert_eq!(e.severity, Severity::Medium);
    assert_eq!(
        e.kind,
        EventKind::Finding {
            origin: Origin {
                uid: String::new(),
                resource_version: None,
                watch: "clusterreports.openreports.io".into(),
            }
        }
    );
    assert_eq!(event_type(Some("maybe")), "policy_result");
    assert_eq!(event_type(None), "policy_result");
}

#[test]
fn empty_report_yields_nothing() {
    let report: PolicyReport = parse(
        r#"{"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport","metadata":{"name":"x"}}"#,
    );
    assert!(events_from_report(&report, now()).is_empty());
}

#[test]
fn malformed_reports_fail_with_a_clear_error() {
    let cases = [
        (
            r#"{"metadata":{},"results":{"policy":"p"}}"#,
            "expected a sequence",
        ),
        (
            r#"{"metadata":{},"results":[{"policy":42}]}"#,
            "expected a string",
        ),
        (
            r#"{"metadata":{},"results":[{"timestamp":"2024-01-01T00:00:00Z"}]}"#,
            "ResultTimestamp",
        ),
        (
            r#"{"metadata":{},"results":[{"properties":{"a":1}}]}"#,
            "expected a string",
        ),
        (r#"{"metadata":{},"scope":"Pod/x"}"#, "ObjectRef"),
        (r#"[1, 2]"#, "invalid type"),
    ];
    for (json, needle) in cases {
        let err = serde_json::from_str::<PolicyReport>(json).unwrap_err();
        assert!(err.to_string().contains(needle), "{json}: {err}");
    }
}
