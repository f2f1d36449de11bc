use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use kube_core::Resource;

use super::*;

const REPORT: &str = include_str!("../../../../tests/fixtures/trivy/vulnerabilityreport.json");
const CLUSTER_REPORT: &str =
    include_str!("../../../../tests/fixtures/trivy/clustervulnerabilityreport.json");

fn now() -> Timestamp {
    Timestamp::new(1_800_000_000, 0).unwrap()
}

fn report() -> VulnerabilityReport {
    serde_json::from_str(REPORT).unwrap()
}

fn events() -> Vec<Event> {
    events_from_report(&report(), now())
}

fn find<'a>(events: &'a [Event], id: &str) -> &'a Event {
    let found: Vec<_> = events
        .iter()
        .filter(|e| e.facts.rule.as_deref() == Some(id))
        .collect();
    assert_eq!(found.len(), 1, "{id}");
    found[0]
}

#[test]
fn fixtures_deserialise() {
    let r = report();
    assert_eq!(r.report.vulnerabilities.len(), 20);
    assert_eq!(r.metadata.namespace.as_deref(), Some("shop"));
    let c: ClusterVulnerabilityReport = serde_json::from_str(CLUSTER_REPORT).unwrap();
    assert_eq!(c.report.vulnerabilities.len(), 3);
    assert_eq!(c.metadata.namespace, None);
}

#[test]
fn resource_identity_of_both_kinds() {
    assert_eq!(
        VulnerabilityReport::api_version(&()),
        "aquasecurity.github.io/v1alpha1"
    );
    assert_eq!(VulnerabilityReport::plural(&()), "vulnerabilityreports");
    assert_eq!(
        ClusterVulnerabilityReport::kind(&()),
        "ClusterVulnerabilityReport"
    );
    assert_eq!(
        ClusterVulnerabilityReport::url_path(&(), None),
        "/apis/aquasecurity.github.io/v1alpha1/clustervulnerabilityreports"
    );
}

#[test]
fn one_event_per_vulnerability_of_every_severity() {
    let events = events();
    assert_eq!(events.len(), 20);
    let mut counts = BTreeMap::new();
    for e in &events {
        *counts.entry(e.severity).or_insert(0) += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            (Severity::Info, 2),
            (Severity::Low, 5),
            (Severity::Medium, 6),
            (Severity::High, 4),
            (Severity::Critical, 3),
        ])
    );
    assert!(events.iter().all(|e| e.source == "trivy"
        && e.category == Category::Security
        && e.event_type == "vulnerability"));
}

#[test]
fn workload_from_labels() {
    for e in events() {
        assert_eq!(
            e.resource,
            Some(ResourceRef {
                api_version: None,
                kind: Some("ReplicaSet".into()),
                name: Some("web-7d9f8b6c5d".into()),
                namespace: Some("shop".into()),
            })
        );
        assert_eq!(e.details["container"], json!("web"));
        assert!(e.details.get("missingLabels").is_none());
    }
}

#[test]
fn event_fields_of_one_vulnerability() {
    let events = events();
    let e = find(&events, "CVE-2024-45337");
    assert_eq!(e.severity, Severity::Critical);
    assert_eq!(
        e.title.as_deref(),
        Some("CVE-2024-45337 in golang.org/x/crypto v0.21.0")
    );
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .contains("PublicKeyCallback")
    );
    assert_eq!(e.details["vulnerabilityID"], json!("CVE-2024-45337"));
    assert_eq!(e.details["package"], json!("golang.org/x/crypto"));
    assert_eq!(e.details["installedVersion"], json!("v0.21.0"));
    assert_eq!(e.details["fixedVersion"], json!("0.31.0"));
    assert_eq!(e.details["score"], json!(9.1));
    assert_eq!(
        e.details["primaryLink"],
        json!("https://avd.aquasec.com/nvd/cve-2024-45337")
    );
    assert_eq!(e.details["target"], json!("usr/local/bin/web"));
    assert_eq!(e.details["packageType"], json!("gobinary"));
    assert_eq!(e.details["artifact"], json!("acme/web:1.4.2"));
    assert_eq!(e.details["registry"], json!("ghcr.io"));
    assert_eq!(e.detected_at, "2024-11-26T05:47:12Z".parse().unwrap());
    assert_eq!(
        e.kind,
        EventKind::Finding {
            origin: Origin {
                uid: "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d".into(),
                resource_version: Some("48377".into()),
                watch: "vulnerabilityreports.aquasecurity.github.io".into(),
            }
        }
    );
    assert_eq!(
        e.fingerprint,
        crate::sources::fingerprint(&[
            "trivy",
            "CVE-2024-45337",
            "ReplicaSet",
            "shop",
            "web-7d9f8b6c5d",
            "web",
            "golang.org/x/crypto",
            "v0.21.0"
        ])
    );
}

#[test]
fn unknown_severity_and_missing_fix() {
    let events = events();
    let unknown = find(&events, "CVE-2023-7008");
    assert_eq!(unknown.severity, Severity::Info);
    assert!(unknown.details.get("fixedVersion").is_none());
    assert!(unknown.details.get("score").is_none());
    assert_eq!(severity(None), Severity::Info);
    assert_eq!(severity(Some("NONE")), Severity::Info);
    assert_eq!(severity(Some("HIGH")), Severity::High);
}

#[test]
fn fingerprints_are_unique_per_finding_and_stable() {
    let first = events();
    let again = events_from_report(&report(), Timestamp::UNIX_EPOCH);
    let unique: HashSet<_> = first.iter().map(|e| &e.fingerprint).collect();
    assert_eq!(unique.len(), 20);
    let fps = |es: &[Event]| es.iter().map(|e| e.fingerprint.clone()).collect::<Vec<_>>();
    assert_eq!(fps(&first), fps(&again));
}

#[test]
fn missing_workload_labels_still_yield_events_without_resource() {
    let mut r = report();
    if let Some(labels) = r.metadata.labels.as_mut() {
        labels.remove(KIND_LABEL);
    }
    let events = events_from_report(&r, now());
    assert_eq!(events.len(), 20);
    for e in &events {
        assert_eq!(e.resource, None);
        assert_eq!(e.details["missingLabels"], json!([KIND_LABEL]));
    }
    r.metadata.labels = None;
    let events = events_from_report(&r, now());
    assert_eq!(
        events[0].details["missingLabels"],
        json!([KIND_LABEL, NAME_LABEL])
    );
    assert!(events[0].details.get("container").is_none());
}

#[test]
fn empty_labels_and_fields_are_not_given() {
    let mut r = report();
    if let Some(labels) = r.metadata.labels.as_mut() {
        labels.insert(NAME_LABEL.into(), String::new());
        labels.insert(CONTAINER_LABEL.into(), String::new());
    }
    r.report.vulnerabilities.truncate(1);
    let vuln = &mut r.report.vulnerabilities[0];
    vuln.title = Some(String::new());
    vuln.installed_version = Some(String::new());
    let package = vuln.resource.clone().unwrap();
    let e = &events_from_report(&r, now())[0];
    assert_eq!(e.resource, None);
    assert_eq!(e.details["missingLabels"], json!([NAME_LABEL]));
    assert!(e.details.get("container").is_none());
    assert!(e.details.get("installedVersion").is_none());
    assert_eq!(e.description, None);
    let title = e.title.as_deref().unwrap();
    assert!(title.ends_with(&format!(" in {package}")), "{title}");
}

#[test]
fn namespace_label_falls_back_to_report_namespace() {
    let mut r = report();
    if let Some(labels) = r.metadata.labels.as_mut() {
        labels.remove(NAMESPACE_LABEL);
    }
    let events = events_from_report(&r, now());
    assert_eq!(events[0].namespace(), Some("shop"));
    if let Some(labels) = r.metadata.labels.as_mut() {
        labels.insert(NAMESPACE_LABEL.into(), String::new());
    }
    let events = events_from_report(&r, now());
    assert_eq!(
        events[0].namespace(),
        Some("shop"),
        "an empty label is no label"
    );
}

#[test]
fn unparseable_or_missing_update_time_uses_fallback() {
    let mut r = report();
    r.report.update_timestamp = Some("yesterday".into());
    assert_eq!(events_from_report(&r, now())[0].detected_at, now());
    r.report.update_timestamp = None;
    assert_eq!(events_from_report(&r, now())[0].detected_at, now());
}

#[test]
fn cluster_report_has_no_namespace() {
    let r: ClusterVulnerabilityReport = serde_json::from_str(CLUSTER_REPORT).unwrap();
    let events = events_from_report(&r, now());
    assert_eq!(events.len(), 3);
    let e = &events[0];
    let resource = e.resource.as_ref().unwrap();
    assert_eq!(resource.kind.as_deref(), Some("Node"));
    assert_eq!(resource.namespace, None);
    assert_eq!(
        e.details["artifact"],
        json!(
            "kindest/node@sha256:2d9b5a1f3e4c6d7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b"
        )
    );
    assert!(e.details.get("container").is_none());
}

#[test]
fn title_skips_missing_parts() {
    let vuln = Vulnerability {
        vulnerability_id: Some("CVE-1".into()),
        ..Default::default()
    };
    assert_eq!(title(&vuln), "CVE-1");
    let report = VulnerabilityReport::new(
        ObjectMeta::default(),
        ReportData {
            vulnerabilities: vec![vuln],
            ..Default::default()
        },
    );
    let events = events_from_report(&report, now());
    assert_eq!(events[0].resource, None);
    assert_eq!(events[0].facts.rule.as_deref(), Some("CVE-1"));
}

#[test]
fn empty_report_yields_nothing() {
    let r: VulnerabilityReport =
        serde_json::from_str(r#"{"metadata":{"name":"x"},"report":{}}"#).unwrap();
    assert!(events_from_report(&r, now()).is_empty());
}

#[test]
fn malformed_reports_fail_with_a_clear_error() {
    let cases = [
        (
            r#"{"report":{"vulnerabilities":{}}}"#,
            "expected a sequence",
        ),
        (
            r#"{"report":{"vulnerabilities":[{"score":"high"}]}}"#,
            "expected f64",
        ),
        (
            r#"{"report":{"vulnerabilities":[{"vulnerabilityID":7}]}}"#,
            "expected a string",
        ),
        (r#"{"report":{"artifact":"nginx"}}"#, "Artifact"),
        (r#"{"report":[]}"#, "ReportData"),
        (r#"{"metadata":{"labels":{"a":1}}}"#, "expected a string"),
    ];
    for (json, needle) in cases {
        let err = serde_json::from_str::<VulnerabilityReport>(json).unwrap_err();
        assert!(err.to_string().contains(needle), "{json}: {err}");
    }
}
