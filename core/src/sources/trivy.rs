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
use super::{fingerprint, insert_text, non_empty, parse_time};
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
        let label = |key: &str| non_empty(meta.labels.as_ref()?.get(key).map(String::as_str));
        Workload {
            kind: label(KIND_LABEL),
            name: label(NAME_LABEL),
            namespace: label(NAMESPACE_LABEL).or(non_empty(meta.namespace.as_deref())),
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
            description: non_empty(vuln.title.as_deref()).map(str::to_string),
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
        insert_text(
            &mut details,
            "vulnerabilityID",
            vuln.vulnerability_id.as_deref(),
        );
        insert_text(&mut details, "package", vuln.resource.as_deref());
        insert_text(
            &mut details,
            "installedVersion",
            vuln.installed_version.as_deref(),
        );
        insert_text(&mut details, "fixedVersion", vuln.fixed_version.as_deref());
        if let Some(score) = vuln.score.and_then(Number::from_f64) {
            details.insert("score".into(), Value::Number(score));
        }
        insert_text(&mut details, "primaryLink", vuln.primary_link.as_deref());
        insert_text(&mut details, "target", vuln.target.as_deref());
        insert_text(&mut details, "packageType", vuln.package_type.as_deref());
        details.extend(self.shared_details.clone());
        details
    }
}

/// The details every vulnerability of one report repeats.
fn shared_details(workload: &Workload<'_>, data: &ReportData) -> Map<String, Value> {
    let mut details = Map::new();
    insert_text(&mut details, "container", workload.container);
    insert_text(
        &mut details,
        "artifact",
        data.artifact.as_ref().and_then(artifact).as_deref(),
    );
    let server = data.registry.as_ref().and_then(|r| r.server.as_deref());
    insert_text(&mut details, "registry", server);
    let missing = workload.missing_labels();
    if !missing.is_empty() {
        details.insert("missingLabels".into(), Value::Array(missing));
    }
    details
}

/// `repository:tag`, else `repository@digest`, else the repository alone.
fn artifact(artifact: &Artifact) -> Option<String> {
    let repository = non_empty(artifact.repository.as_deref())?;
    let tag = non_empty(artifact.tag.as_deref());
    let digest = non_empty(artifact.digest.as_deref());
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
    if let Some(package) = non_empty(vuln.resource.as_deref()) {
        title.push_str(" in ");
        title.push_str(package);
        if let Some(version) = non_empty(vuln.installed_version.as_deref()) {
            title.push(' ');
            title.push_str(version);
        }
    }
    title
}

#[cfg(test)]
mod tests;
