//! trivy-operator `aquasecurity.github.io/v1alpha1` VulnerabilityReport and
//! ClusterVulnerabilityReport: one [`Event`] per vulnerability, whatever its severity (dropping
//! low ones is the filter's job).
//!
//! Reports can be very large, so the types deserialise only the fields read here.

use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

pub use super::ReportKind;
use super::{fingerprint, parse_time};
use crate::crd::{Category, ResourceRef, Severity};
use crate::event::{Event, EventKind, Facts, Origin};

/// `spec.source` of every event from a vulnerability report.
pub const SOURCE: &str = "trivy";
/// The event type of every vulnerability.
pub const EVENT_TYPE: &str = "vulnerability";

pub const KIND_LABEL: &str = "trivy-operator.resource.kind";
pub const NAME_LABEL: &str = "trivy-operator.resource.name";
pub const NAMESPACE_LABEL: &str = "trivy-operator.resource.namespace";
pub const CONTAINER_LABEL: &str = "trivy-operator.container.name";

const GROUP: &str = "aquasecurity.github.io";
const VERSION: &str = "v1alpha1";

/// Marker for the namespaced VulnerabilityReport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VulnerabilityReportKind;

impl ReportKind for VulnerabilityReportKind {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "VulnerabilityReport";
    const PLURAL: &'static str = "vulnerabilityreports";
    type Scope = NamespaceResourceScope;
}

/// Marker for the cluster-scoped ClusterVulnerabilityReport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterVulnerabilityReportKind;

impl ReportKind for ClusterVulnerabilityReportKind {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "ClusterVulnerabilityReport";
    const PLURAL: &'static str = "clustervulnerabilityreports";
    type Scope = ClusterResourceScope;
}

/// `aquasecurity.github.io/v1alpha1` VulnerabilityReport (namespaced).
pub type VulnerabilityReport = VulnReport<VulnerabilityReportKind>;
/// `aquasecurity.github.io/v1alpha1` ClusterVulnerabilityReport (cluster-scoped).
pub type ClusterVulnerabilityReport = VulnReport<ClusterVulnerabilityReportKind>;

/// A vulnerability report of kind `K`; its data sits under the top-level `report`, not `spec`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound = "")]
pub struct VulnReport<K> {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub report: ReportData,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> VulnReport<K> {
    pub fn new(metadata: ObjectMeta, report: ReportData) -> Self {
        VulnReport {
            metadata,
            report,
            kind: PhantomData,
        }
    }
}

// Derives would demand `K: Clone + Debug` of every caller generic over the kind.
impl<K> Clone for VulnReport<K> {
    fn clone(&self) -> Self {
        VulnReport::new(self.metadata.clone(), self.report.clone())
    }
}

impl<K: ReportKind> fmt::Debug for VulnReport<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::KIND)
            .field("metadata", &self.metadata)
            .field("report", &self.report)
            .finish()
    }
}

super::report_resource!(VulnReport);

/// The part of the top-level `report` read here.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportData {
    pub artifact: Option<Artifact>,
    pub registry: Option<Registry>,
    /// RFC 3339.
    pub update_timestamp: Option<String>,
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Registry {
    pub server: Option<String>,
}

/// One `vulnerabilities[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Vulnerability {
    #[serde(rename = "vulnerabilityID")]
    pub vulnerability_id: Option<String>,
    /// The affected package.
    pub resource: Option<String>,
    pub installed_version: Option<String>,
    pub fixed_version: Option<String>,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `UNKNOWN`.
    pub severity: Option<String>,
    pub title: Option<String>,
    pub primary_link: Option<String>,
    pub score: Option<f64>,
    pub target: Option<String>,
    pub package_type: Option<String>,
}

/// One event per vulnerability of `report`. The time is `report.updateTimestamp`, else
/// `fallback` (typically now).
pub fn events_from_report<K: ReportKind>(
    report: &VulnReport<K>,
    fallback: Timestamp,
) -> Vec<Event> {
    let context = ReportContext::new(
        &report.metadata,
        &report.report,
        super::report_watch::<K>(),
        fallback,
    );
    report
        .report
        .vulnerabilities
        .iter()
        .map(|vuln| context.event(vuln))
        .collect()
}

/// The workload a report is about, from the trivy-operator labels.
#[derive(Debug, Default, PartialEq, Eq)]
struct Workload<'a> {
    kind: Option<&'a str>,
    name: Option<&'a str>,
    namespace: Option<&'a str>,
    container: Option<&'a str>,
}

impl<'a> Workload<'a> {
    fn from_meta(meta: &'a ObjectMeta) -> Self {
        let label = |key| {
            meta.labels
                .as_ref()
                .and_then(|l| l.get(key))
                .map(String::as_str)
        };
        Workload {
            kind: label(KIND_LABEL),
            name: label(NAME_LABEL),
            namespace: label(NAMESPACE_LABEL).or(meta.namespace.as_deref()),
            container: label(CONTAINER_LABEL),
        }
    }

    /// `None` unless both kind and name are known.
    fn resource(&self) -> Option<ResourceRef> {
        Some(ResourceRef {
            api_version: None,
            kind: Some(self.kind?.to_string()),
            name: Some(self.name?.to_string()),
            namespace: self.namespace.map(str::to_string),
        })
    }

    fn missing_labels(&self) -> Vec<Value> {
        [(KIND_LABEL, self.kind), (NAME_LABEL, self.name)]
            .into_iter()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| Value::String(key.to_string()))
            .collect()
    }
}

/// What every event of one report shares.
struct ReportContext<'a> {
    workload: Workload<'a>,
    resource: Option<ResourceRef>,
    detected_at: Timestamp,
    origin: Origin,
    shared_details: Map<String, Value>,
}

impl<'a> ReportContext<'a> {
    fn new(meta: &'a ObjectMeta, data: &ReportData, watch: String, fallback: Timestamp) -> Self {
        let workload = Workload::from_meta(meta);
        let resource = workload.resource();
        let shared_details = shared_details(&workload, data);
        ReportContext {
            workload,
            resource,
            detected_at: data
                .update_timestamp
                .as_deref()
                .and_then(|t| parse_time("report.updateTimestamp", t).ok())
                .unwrap_or(fallback),
            origin: Origin {
                uid: meta.uid.clone().unwrap_or_default(),
                resource_version: meta.resource_version.clone(),
                watch,
            },
            shared_details,
        }
    }

    fn event(&self, vuln: &Vulnerability) -> Event {
        let id = vuln.vulnerability_id.as_deref().unwrap_or("");
        Event {
            source: SOURCE.to_string(),
            category: Category::Security,
            severity: severity(vuln.severity.as_deref()),
            event_type: EVENT_TYPE.to_string(),
            resource: self.resource.clone(),
            details: self.details(vuln),
            detected_at: self.detected_at,
            fingerprint: self.fingerprint(vuln),
            title: Some(title(vuln)),
            description: vuln.title.clone(),
            ttl: None,
            ingester: None,
            kind: EventKind::Finding {
                origin: self.origin.clone(),
            },
            facts: Facts {
                rule: Some(id.to_string()),
                ..Default::default()
            },
        }
    }

    fn fingerprint(&self, vuln: &Vulnerability) -> String {
        let w = &self.workload;
        fingerprint(&[
            SOURCE,
            vuln.vulnerability_id.as_deref().unwrap_or(""),
            w.kind.unwrap_or(""),
            w.namespace.unwrap_or(""),
            w.name.unwrap_or(""),
            w.container.unwrap_or(""),
            vuln.resource.as_deref().unwrap_or(""),
            vuln.installed_version.as_deref().unwrap_or(""),
        ])
    }

    fn details(&self, vuln: &Vulnerability) -> Map<String, Value> {
        let mut details = Map::new();
        insert(
            &mut details,
            "vulnerabilityID",
            vuln.vulnerability_id.as_deref(),
        );
        insert(&mut details, "package", vuln.resource.as_deref());
        insert(
            &mut details,
            "installedVersion",
            vuln.installed_version.as_deref(),
        );
        insert(&mut details, "fixedVersion", vuln.fixed_version.as_deref());
        if let Some(score) = vuln.score.and_then(Number::from_f64) {
            details.insert("score".into(), Value::Number(score));
        }
        insert(&mut details, "primaryLink", vuln.primary_link.as_deref());
        insert(&mut details, "target", vuln.target.as_deref());
        insert(&mut details, "packageType", vuln.package_type.as_deref());
        details.extend(self.shared_details.clone());
        details
    }
}

/// The details every vulnerability of one report repeats.
fn shared_details(workload: &Workload<'_>, data: &ReportData) -> Map<String, Value> {
    let mut details = Map::new();
    insert(&mut details, "container", workload.container);
    insert(
        &mut details,
        "artifact",
        data.artifact.as_ref().and_then(artifact).as_deref(),
    );
    let server = data.registry.as_ref().and_then(|r| r.server.as_deref());
    insert(&mut details, "registry", server);
    let missing = workload.missing_labels();
    if !missing.is_empty() {
        details.insert("missingLabels".into(), Value::Array(missing));
    }
    details
}

fn insert(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// `repository:tag`, else `repository@digest`, else the repository alone.
fn artifact(artifact: &Artifact) -> Option<String> {
    let repository = artifact.repository.as_deref().filter(|r| !r.is_empty())?;
    let tag = artifact.tag.as_deref().filter(|t| !t.is_empty());
    let digest = artifact.digest.as_deref().filter(|d| !d.is_empty());
    Some(match (tag, digest) {
        (Some(tag), _) => format!("{repository}:{tag}"),
        (None, Some(digest)) => format!("{repository}@{digest}"),
        (None, None) => repository.to_string(),
    })
}

/// Trivy's upper-case severity; `UNKNOWN`, missing or anything else is info.
fn severity(severity: Option<&str>) -> Severity {
    severity
        .and_then(|s| s.parse().ok())
        .unwrap_or(Severity::Info)
}

/// `<vulnerabilityID> in <package> <installedVersion>`, skipping missing parts.
fn title(vuln: &Vulnerability) -> String {
    let mut title = vuln.vulnerability_id.clone().unwrap_or_default();
    if let Some(package) = vuln.resource.as_deref() {
        title.push_str(" in ");
        title.push_str(package);
        if let Some(version) = vuln.installed_version.as_deref() {
            title.push(' ');
            title.push_str(version);
        }
    }
    title
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use serde_json::json;

    use kube_core::Resource;

    use super::*;

    const REPORT: &str = include_str!("../../../tests/fixtures/trivy/vulnerabilityreport.json");
    const CLUSTER_REPORT: &str =
        include_str!("../../../tests/fixtures/trivy/clustervulnerabilityreport.json");

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
    fn namespace_label_falls_back_to_report_namespace() {
        let mut r = report();
        if let Some(labels) = r.metadata.labels.as_mut() {
            labels.remove(NAMESPACE_LABEL);
        }
        let events = events_from_report(&r, now());
        assert_eq!(events[0].namespace(), Some("shop"));
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
}
