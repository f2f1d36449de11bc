use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;
use crate::crd::ObservationStatus;

const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn observation(created: &str, ttl: Option<i64>) -> Observation {
    let mut obs: Observation = serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Observation",
        "metadata": {"name": "o", "namespace": "n", "creationTimestamp": created},
        "spec": {"source": "falco", "category": "security", "severity": "high",
                 "eventType": "runtime_alert", "detectedAt": created},
    }))
    .unwrap();
    obs.spec.ttl_seconds_after_creation = ttl;
    obs
}

fn at(t: &str) -> Timestamp {
    t.parse().unwrap()
}

#[test]
fn occurrences_expire_ttl_after_creation() {
    let obs = observation("2026-11-26T10:00:00Z", Some(3600));
    assert_eq!(expired(&obs, at("2026-11-26T10:59:59Z"), WEEK), None);
    assert_eq!(
        expired(&obs, at("2026-11-26T11:00:00Z"), WEEK),
        Some(Expiry::Occurrence)
    );
}

#[test]
fn without_a_ttl_the_default_applies() {
    let obs = observation("2026-11-19T10:00:00Z", None);
    assert_eq!(expired(&obs, at("2026-11-26T09:59:59Z"), WEEK), None);
    assert_eq!(
        expired(&obs, at("2026-11-26T10:00:00Z"), WEEK),
        Some(Expiry::Occurrence)
    );
}

fn finding(resolved: Option<&str>) -> Observation {
    let mut obs = observation("2026-01-01T00:00:00Z", Some(3600));
    obs.metadata.labels = Some(BTreeMap::from([(
        ORIGIN_UID_LABEL.to_string(),
        "u".to_string(),
    )]));
    obs.status = Some(ObservationStatus {
        resolved_at: resolved.map(|r| Time(at(r))),
        ..Default::default()
    });
    obs
}

#[test]
fn open_findings_are_kept_however_old() {
    assert_eq!(
        expired(&finding(None), at("2026-11-26T10:00:00Z"), WEEK),
        None
    );
}

#[test]
fn resolved_findings_expire_ttl_after_resolution() {
    let obs = finding(Some("2026-11-26T10:00:00Z"));
    assert_eq!(expired(&obs, at("2026-11-26T10:30:00Z"), WEEK), None);
    assert_eq!(
        expired(&obs, at("2026-11-26T11:00:00Z"), WEEK),
        Some(Expiry::ResolvedFinding)
    );
}

#[test]
fn a_deletion_is_guarded_by_uid_and_resource_version() {
    let mut obs = observation("2026-11-26T10:00:00Z", Some(1));
    obs.metadata.uid = Some("u1".into());
    obs.metadata.resource_version = Some("42".into());
    let preconditions = delete_params(&obs).preconditions.unwrap();
    assert_eq!(preconditions.uid.as_deref(), Some("u1"));
    assert_eq!(preconditions.resource_version.as_deref(), Some("42"));
}

#[test]
fn an_object_without_a_creation_time_is_kept() {
    let mut obs = observation("2026-11-26T10:00:00Z", Some(1));
    obs.metadata.creation_timestamp = None;
    assert_eq!(expired(&obs, at("2030-01-01T00:00:00Z"), WEEK), None);
}
