use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Category, ResourceRef, Severity, free_form_object};

/// One signal from a security or operations tool, normalised.
///
/// Occurrences (webhook sources) count recurrences in `status.occurrences`; findings (report
/// sources) mirror a finding's presence and get `status.resolvedAt` when it disappears.
// Each `printcolumn(...)` repeats `type_ = "string"`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "zen.kube-zen.io",
    version = "v1alpha1",
    kind = "Observation",
    namespaced,
    shortname = "obs",
    shortname = "obsv",
    category = "zen",
    status = "ObservationStatus",
    doc = "A normalised signal from a security or operations tool",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source"),
    printcolumn(name = "Category", type_ = "string", json_path = ".spec.category"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.eventType"),
    printcolumn(
        name = "Resource",
        type_ = "string",
        json_path = ".spec.resource.name",
        description = "Name of the object the Observation is about"
    ),
    printcolumn(
        name = "Occurrences",
        type_ = "integer",
        json_path = ".status.occurrences",
        description = "Times seen; empty means once"
    ),
    printcolumn(name = "Resolved", type_ = "date", json_path = ".status.resolvedAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ObservationSpec {
    /// The tool or Ingester that produced the signal, e.g. `falco`, `kyverno`, `trivy`.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub source: String,
    pub category: Category,
    pub severity: Severity,
    /// Machine-readable kind of event, e.g. `runtime_alert`, `vulnerability`, `policy_violation`.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[a-z0-9_-]+$"))]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// Source-specific data, kept as received (capped in size by the writer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub details: Option<serde_json::Value>,
    /// When the source first saw the event.
    pub detected_at: Time,
    /// Seconds after creation (occurrences) or resolution (findings) when GC deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31_536_000))]
    pub ttl_seconds_after_creation: Option<i64>,
    /// One line about what happened, e.g. the Falco rule or `CVE-2024-1234 in openssl 3.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub title: Option<String>,
    /// The source's own text about it, e.g. Falco's output or the CVE's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32_768))]
    pub description: Option<String>,
    /// The identity the Observation's name is derived from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub fingerprint: Option<String>,
}

/// What happened after creation. An Observation without status was seen once, at
/// `spec.detectedAt` (the apiserver drops status on create).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservationStatus {
    /// How many times the event was seen; absent means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub occurrences: Option<i64>,
    /// When the event was last seen; absent means `spec.detectedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Time>,
    /// Set when a finding disappeared from its report; cleared if it comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
    /// The most recent deliveries counted in `occurrences` (16-hex-digit ids, oldest first),
    /// so a re-sent delivery is not counted again; the delivery that created the Observation is
    /// in the `zen.kube-zen.io/delivery` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 128),
        inner(length(min = 16, max = 16), regex(pattern = "^[0-9a-f]{16}$"))
    )]
    pub deliveries: Option<Vec<String>>,
}
