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
use super::fingerprint;
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
        insert(&mut summary, "kind", Some(kind));
        insert(&mut summary, "name", text(&meta.name));
        insert(&mut summary, "namespace", text(&meta.namespace));
        insert(&mut summary, "uid", text(&meta.uid));
        ReportContext {
            namespace: text(&meta.namespace),
            source: text(&report.source),
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
        let outcome = text(&result.result).map(|r| r.trim().to_ascii_lowercase());
        let resource = subject.map(|s| self.resource_ref(s));
        let rule = rule_name(result);
        Event {
            source: SOURCE.to_string(),
            category: category(text(&result.category)),
            severity: severity(text(&result.severity), outcome.as_deref()),
            event_type: event_type(outcome.as_deref()),
            fingerprint: result_fingerprint(result, subject, resource.as_ref()),
            details: self.details(result, outcome.as_deref()),
            detected_at: result
                .timestamp
                .and_then(ResultTimestamp::to_timestamp)
                .unwrap_or(self.created),
            title: rule.clone(),
            description: text(&result.message).map(str::to_string),
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
        let owned = |value: &Option<String>| text(value).map(str::to_string);
        ResourceRef {
            api_version: owned(&subject.api_version),
            kind: owned(&subject.kind),
            name: owned(&subject.name),
            namespace: text(&subject.namespace)
                .or(self.namespace)
                .map(str::to_string),
        }
    }

    fn details(&self, result: &ReportResult, outcome: Option<&str>) -> Map<String, Value> {
        let mut details = Map::new();
        insert(&mut details, "policy", text(&result.policy));
        insert(&mut details, "rule", text(&result.rule));
        insert(&mut details, "result", outcome);
        insert(&mut details, "message", text(&result.message));
        insert(&mut details, "category", text(&result.category));
        insert(&mut details, "source", text(&result.source).or(self.source));
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

/// The value of an optional field, with Go's zero value "" read as absent.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn insert(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// `<policy>/<rule>`, or whichever of the two is present.
fn rule_name(result: &ReportResult) -> Option<String> {
    match (text(&result.policy), text(&result.rule)) {
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
        value.and_then(text).unwrap_or("")
    }
    fingerprint(&[
        SOURCE,
        text(&result.policy).unwrap_or(""),
        text(&result.rule).unwrap_or(""),
        field(subject.map(|s| &s.uid)),
        field(resource.map(|r| &r.kind)),
        field(resource.map(|r| &r.namespace)),
        field(resource.map(|r| &r.name)),
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde::de::DeserializeOwned;
    use serde_json::json;

    use kube_core::Resource;

    use super::*;

    const POLICY_REPORT: &str = include_str!("../../../tests/fixtures/kyverno/policyreport.json");
    const CLUSTER_POLICY_REPORT: &str =
        include_str!("../../../tests/fixtures/kyverno/clusterpolicyreport.json");
    const OPEN_REPORT: &str =
        include_str!("../../../tests/fixtures/kyverno/openreports-report.json");

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
}
