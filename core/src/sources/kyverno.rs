//! Policy reports: `wgpolicyk8s.io/v1alpha2` PolicyReport and ClusterPolicyReport (what Kyverno
//! writes) and `openreports.io/v1alpha1` Report and ClusterReport. One [`Event`] per result and
//! subject resource, whatever the result: dropping passes is the filter's job.
//!
//! The types deserialise only the fields read here; everything else in a report is skipped.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use super::ReportKind;
use super::{fingerprint, insert_text, non_empty};
use crate::crd::{Category, ResourceRef, Severity};
use crate::event::{Event, EventKind, Facts, Origin};

/// `spec.source` of every event from a policy report.
pub const SOURCE: &str = "kyverno";

macro_rules! report_kind {
    ($(#[$doc:meta])* $marker:ident => $alias:ident, $group:literal, $version:literal,
     $kind:literal, $plural:literal, $scope:ty) => {
        #[doc = concat!("Marker for `", $group, "/", $version, "` ", $kind, ".")]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $marker;

        impl ReportKind for $marker {
            const GROUP: &'static str = $group;
            const VERSION: &'static str = $version;
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            type Scope = $scope;
        }

        $(#[$doc])*
        pub type $alias = Report<$marker>;
    };
}

report_kind!(
    /// `wgpolicyk8s.io/v1alpha2` PolicyReport (namespaced), as Kyverno writes it.
    PolicyReportKind => PolicyReport, "wgpolicyk8s.io", "v1alpha2", "PolicyReport",
    "policyreports", NamespaceResourceScope
);
report_kind!(
    /// `wgpolicyk8s.io/v1alpha2` ClusterPolicyReport (cluster-scoped).
    ClusterPolicyReportKind => ClusterPolicyReport, "wgpolicyk8s.io", "v1alpha2",
    "ClusterPolicyReport", "clusterpolicyreports", ClusterResourceScope
);
report_kind!(
    /// `openreports.io/v1alpha1` Report (namespaced).
    OpenReportKind => OpenReport, "openreports.io", "v1alpha1", "Report", "reports",
    NamespaceResourceScope
);
report_kind!(
    /// `openreports.io/v1alpha1` ClusterReport (cluster-scoped).
    OpenClusterReportKind => OpenClusterReport, "openreports.io", "v1alpha1", "ClusterReport",
    "clusterreports", ClusterResourceScope
);

/// A policy report of kind `K`. The four kinds share these fields; `Api::<PolicyReport>` etc.
/// work through the [`Resource`] impl.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound = "")]
pub struct Report<K> {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// openreports only: the engine behind every result that does not name its own.
    #[serde(default)]
    pub source: Option<String>,
    /// The object every result is about, unless a result lists its own `resources`.
    #[serde(default)]
    pub scope: Option<ObjectRef>,
    #[serde(default)]
    pub results: Vec<ReportResult>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Report<K> {
    pub fn new(metadata: ObjectMeta, scope: Option<ObjectRef>, results: Vec<ReportResult>) -> Self {
        Report {
            metadata,
            source: None,
            scope,
            results,
            kind: PhantomData,
        }
    }
}

// Derives would demand `K: Clone + Debug` of every caller generic over the kind.
impl<K> Clone for Report<K> {
    fn clone(&self) -> Self {
        Report {
            source: self.source.clone(),
            ..Report::new(
                self.metadata.clone(),
                self.scope.clone(),
                self.results.clone(),
            )
        }
    }
}

impl<K: ReportKind> fmt::Debug for Report<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::KIND)
            .field("metadata", &self.metadata)
            .field("source", &self.source)
            .field("scope", &self.scope)
            .field("results", &self.results)
            .finish()
    }
}

super::report_resource!(Report);

/// The part of a `corev1.ObjectReference` read here.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
}

/// One `results[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    /// The engine that produced the result, e.g. `kyverno`.
    pub source: Option<String>,
    pub policy: Option<String>,
    pub rule: Option<String>,
    pub category: Option<String>,
    pub severity: Option<String>,
    /// `pass`, `fail`, `warn`, `error` or `skip`.
    pub result: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub resources: Vec<ObjectRef>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    pub timestamp: Option<ResultTimestamp>,
}

/// A `metav1.Timestamp`: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ResultTimestamp {
    #[serde(default)]
    pub seconds: i64,
    #[serde(default)]
    pub nanos: i32,
}

impl ResultTimestamp {
    /// `None` when out of range.
    pub fn to_timestamp(self) -> Option<Timestamp> {
        Timestamp::new(self.seconds, self.nanos).ok()
    }
}

/// One event per result and subject resource of `report`. A result's time is its `timestamp`,
/// else the report's `creationTimestamp`, else `fallback` (typically now).
pub fn events_from_report<K: ReportKind>(report: &Report<K>, fallback: Timestamp) -> Vec<Event> {
    let context = &ReportContext::new(K::KIND, super::report_watch::<K>(), report, fallback);
    report
        .results
        .iter()
        .flat_map(|result| {
            subjects(result, report.scope.as_ref())
                .into_iter()
                .map(move |subject| context.event(result, subject))
        })
        .collect()
}

/// The results' own `resources`, else the report's scope, else a single subject-less entry.
fn subjects<'a>(
    result: &'a ReportResult,
    scope: Option<&'a ObjectRef>,
) -> Vec<Option<&'a ObjectRef>> {
    if result.resources.is_empty() {
        vec![scope]
    } else {
        result.resources.iter().map(Some).collect()
    }
}

/// What every event of one report shares.
struct ReportContext<'a> {
    namespace: Option<&'a str>,
    source: Option<&'a str>,
    created: Timestamp,
    origin: Origin,
    report: Value,
}

impl<'a> ReportContext<'a> {
    fn new<K>(kind: &str, watch: String, report: &'a Report<K>, fallback: Timestamp) -> Self {
        let meta = &report.metadata;
        let mut summary = Map::new();
        insert_text(&mut summary, "kind", Some(kind));
        insert_text(&mut summary, "name", meta.name.as_deref());
        insert_text(&mut summary, "namespace", meta.namespace.as_deref());
        insert_text(&mut summary, "uid", meta.uid.as_deref());
        ReportContext {
            namespace: non_empty(meta.namespace.as_deref()),
            source: non_empty(report.source.as_deref()),
            created: meta.creation_timestamp.as_ref().map_or(fallback, |t| t.0),
            origin: Origin {
                uid: meta.uid.clone().unwrap_or_default(),
                resource_version: meta.resource_version.clone(),
                watch,
            },
            report: Value::Object(summary),
        }
    }

    fn event(&self, result: &ReportResult, subject: Option<&ObjectRef>) -> Event {
        let outcome = non_empty(result.result.as_deref()).map(|r| r.trim().to_ascii_lowercase());
        let resource = subject.map(|s| self.resource_ref(s));
        let rule = rule_name(result);
        Event {
            source: SOURCE.to_string(),
            category: category(non_empty(result.category.as_deref())),
            severity: severity(non_empty(result.severity.as_deref()), outcome.as_deref()),
            event_type: event_type(outcome.as_deref()),
            fingerprint: result_fingerprint(result, subject, resource.as_ref()),
            details: self.details(result, outcome.as_deref()),
            detected_at: result
                .timestamp
                .and_then(ResultTimestamp::to_timestamp)
                .unwrap_or(self.created),
            title: rule.clone(),
            description: non_empty(result.message.as_deref()).map(str::to_string),
            resource,
            ttl: None,
            ingester: None,
            kind: EventKind::Finding {
                origin: self.origin.clone(),
            },
            facts: Facts {
                rule,
                result: outcome,
                stage: None,
            },
        }
    }

    fn resource_ref(&self, subject: &ObjectRef) -> ResourceRef {
        let owned = |value: &Option<String>| non_empty(value.as_deref()).map(str::to_string);
        ResourceRef {
            api_version: owned(&subject.api_version),
            kind: owned(&subject.kind),
            name: owned(&subject.name),
            namespace: non_empty(subject.namespace.as_deref())
                .or(self.namespace)
                .map(str::to_string),
        }
    }

    fn details(&self, result: &ReportResult, outcome: Option<&str>) -> Map<String, Value> {
        let mut details = Map::new();
        insert_text(&mut details, "policy", result.policy.as_deref());
        insert_text(&mut details, "rule", result.rule.as_deref());
        insert_text(&mut details, "result", outcome);
        insert_text(&mut details, "message", result.message.as_deref());
        insert_text(&mut details, "category", result.category.as_deref());
        insert_text(
            &mut details,
            "source",
            non_empty(result.source.as_deref()).or(self.source),
        );
        if !result.properties.is_empty() {
            let properties = result
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            details.insert("properties".into(), Value::Object(properties));
        }
        details.insert("report".into(), self.report.clone());
        details
    }
}

/// `<policy>/<rule>`, or whichever of the two is present.
fn rule_name(result: &ReportResult) -> Option<String> {
    match (
        non_empty(result.policy.as_deref()),
        non_empty(result.rule.as_deref()),
    ) {
        (Some(policy), Some(rule)) => Some(format!("{policy}/{rule}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

fn category(category: Option<&str>) -> Category {
    match category {
        Some(c) if c.to_ascii_lowercase().contains("security") => Category::Security,
        _ => Category::Compliance,
    }
}

/// The result's own severity in any case; else one derived from the outcome.
fn severity(declared: Option<&str>, outcome: Option<&str>) -> Severity {
    declared
        .and_then(|s| s.parse().ok())
        .unwrap_or(match outcome {
            Some("fail" | "error") => Severity::Medium,
            Some("warn") => Severity::Low,
            _ => Severity::Info,
        })
}

fn event_type(outcome: Option<&str>) -> String {
    match outcome {
        Some("fail") => "policy_violation".to_string(),
        Some(known @ ("pass" | "warn" | "error" | "skip")) => format!("policy_{known}"),
        _ => "policy_result".to_string(),
    }
}

fn result_fingerprint(
    result: &ReportResult,
    subject: Option<&ObjectRef>,
    resource: Option<&ResourceRef>,
) -> String {
    fn field(value: Option<&Option<String>>) -> &str {
        value.and_then(Option::as_deref).unwrap_or("")
    }
    fingerprint(&[
        SOURCE,
        result.policy.as_deref().unwrap_or(""),
        result.rule.as_deref().unwrap_or(""),
        field(subject.map(|s| &s.uid)),
        field(resource.map(|r| &r.kind)),
        field(resource.map(|r| &r.namespace)),
        field(resource.map(|r| &r.name)),
    ])
}

#[cfg(test)]
mod tests;
