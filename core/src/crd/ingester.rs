use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_derive::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Category, Severity};

/// Paths the watcher serves itself; no Ingester may take them.
pub const RESERVED_PATHS: [&str; 5] = [
    "/falco/webhook",
    "/audit/webhook",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// Declares a source of events: an informer on any resource, or a webhook path.
// Each `printcolumn(...)` repeats `type_ = "string"`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "zen.kube-zen.io",
    version = "v1alpha1",
    kind = "Ingester",
    namespaced,
    shortname = "ingester",
    status = "IngesterStatus",
    doc = "Declares a source of events (an informer or a webhook path) and how its events become Observations",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.ingester"),
    category = "zen",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the Ingester is or is not Ready"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "What to do about it (kubectl get -o wide)",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "self.ingester != 'informer' || (has(self.informer) && has(self.informer.gvr))"
).message("an informer Ingester needs spec.informer.gvr").reason(Reason::FieldValueRequired).field_path(".informer"))]
#[x_kube(validation = Rule::new(
    "self.ingester != 'webhook' || has(self.webhook)"
).message("a webhook Ingester needs spec.webhook.path").reason(Reason::FieldValueRequired).field_path(".webhook"))]
#[serde(rename_all = "camelCase")]
pub struct IngesterSpec {
    /// Name written to each Observation's `spec.source` and `source` label. `falco`, `audit`,
    /// `kyverno` and `trivy` are reserved for the built-in sources.
    #[x_kube(validation = Rule::new(
        "!(self in ['falco', 'audit', 'kyverno', 'trivy'])"
    ).message("source names falco, audit, kyverno and trivy are reserved for zen-watcher's built-in sources"))]
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub source: String,
    /// How events arrive.
    pub ingester: IngesterKind,
    /// Required when `ingester: informer`: the resource to watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informer: Option<InformerSource>,
    /// Required when `ingester: webhook`: the path to serve and its auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<Normalization>,
    /// Which events become Observations; everything else is counted as filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<IngesterFilters>,
    /// How repeats of one event are suppressed and counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<Deduplication>,
    /// How long Observations of this source live, e.g. `7d`, `12h` (clamped to 60s..1 year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = r"^[0-9]+(s|m|h|d)$"))]
    pub ttl: Option<String>,
    /// Where events go. Only Observations are supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub destinations: Vec<Destination>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IngesterKind {
    Informer,
    Webhook,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InformerSource {
    /// The resource to watch (required).
    pub gvr: Option<Gvr>,
    /// Namespace to watch; empty means the Ingester's own namespace, or all namespaces for an
    /// Ingester in one of `CLUSTER_INGESTER_NAMESPACES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// Label selector of the watched objects, e.g. `app=web,tier!=cache`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub label_selector: Option<String>,
    /// Field selector of the watched objects, e.g. `status.phase=Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub field_selector: Option<String>,
}

/// A group/version/resource; `group` is empty for the core API.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gvr {
    /// API group; empty for the core API (Pods, Events, ...).
    #[serde(default)]
    #[schemars(length(max = 253))]
    pub group: String,
    /// API version, e.g. `v1`.
    #[schemars(length(min = 1, max = 63))]
    pub version: String,
    /// Resource (plural, lower case), e.g. `deployments`.
    #[schemars(length(min = 1, max = 253))]
    pub resource: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct WebhookSource {
    /// HTTP path served on every replica, e.g. `/hooks/argo`.
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("webhook path must start with '/'"))]
    #[x_kube(validation = Rule::new(
        "!(self in ['/falco/webhook', '/audit/webhook', '/healthz', '/readyz', '/metrics'])"
    ).message("webhook path is reserved by zen-watcher"))]
    #[schemars(length(min = 1, max = 253))]
    pub path: String,
    /// Per-path credentials; without it the global webhook token applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[x_kube(validation = Rule::new(
    "self.type == 'none' || (has(self.secretName) && self.secretName != '')"
).message("bearer and basic auth need secretName").field_path(".secretName"))]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuth {
    /// `none`: the global webhook auth applies. `bearer`/`basic`: credentials from the Secret
    /// `secretName` in the Ingester's namespace replace the global token for this path.
    #[serde(rename = "type")]
    pub type_: WebhookAuthType,
    /// Secret in the Ingester's namespace with `token` (bearer) or `username` and `password` (basic); required unless `type: none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub secret_name: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookAuthType {
    #[default]
    None,
    Bearer,
    Basic,
}

/// How a payload or watched object becomes an Observation. Paths are dotted paths into the
/// payload or object, e.g. `metadata.name` or `alert.labels.severity`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Normalization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The Observation's `spec.eventType`, e.g. `deployment_failed` (lower case, digits, `_` and `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = r"^[a-z0-9_-]+$"))]
    pub event_type: Option<String>,
    /// Dotted path of the field holding the severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub severity_field: Option<String>,
    /// Source value (any case) to severity, e.g. `{"warning": "medium"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub severity_map: BTreeMap<String, Severity>,
    /// Copies payload fields into `details`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub field_mapping: Vec<FieldMapping>,
    /// Where the affected object's identity is in the payload or object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourcePaths>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct FieldMapping {
    /// Dotted path in the payload or object, e.g. `alert.labels.team`.
    #[schemars(length(min = 1, max = 256))]
    pub from: String,
    /// Key under the Observation's `details`.
    #[schemars(length(min = 1, max = 256))]
    pub to: String,
}

/// Dotted paths to the affected object's identity; each defaults to the watched object's own
/// metadata (informer Ingesters).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePaths {
    /// Dotted path of the object's apiVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub api_version: Option<String>,
    /// Dotted path of the object's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub kind: Option<String>,
    /// Dotted path of the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub name: Option<String>,
    /// Dotted path of the object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngesterFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Keep only events in these namespaces (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub include_namespaces: Vec<String>,
    /// Drop events in these namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub exclude_namespaces: Vec<String>,
    /// Keep only events about these kinds, e.g. `Deployment` (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 253)))]
    pub include_kinds: Vec<String>,
    /// Drop events about these kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 253)))]
    pub exclude_kinds: Vec<String>,
    /// Keep only these event types (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 128)))]
    pub include_event_types: Vec<String>,
    /// Drop these event types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 128)))]
    pub exclude_event_types: Vec<String>,
    /// Filter expression (grammar in the README), e.g. `severity >= "high" AND namespace != "dev"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub expression: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Deduplication {
    /// Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// In-memory suppression window, e.g. `60s`, `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = r"^[0-9]+(s|m|h|d)$"))]
    pub window: Option<String>,
    /// Dotted paths whose values make up the fingerprint; default: the normalised content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 256)))]
    pub fields: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// `crd`: the only destination type.
    #[serde(rename = "type")]
    pub type_: DestinationType,
    /// `observations`: Observation resources in the event's namespace.
    pub value: DestinationValue,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    Crd,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DestinationValue {
    Observations,
}

/// What the watcher made of an Ingester.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngesterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` with a reason and message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<IngesterState>,
    /// The last error of the source, if its state is Error or Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the source last delivered an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<Time>,
}

/// The state of an Ingester's source.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngesterState {
    /// Accepted, not yet running (e.g. waiting for leadership or the watched API).
    Pending,
    Active,
    /// Its spec cannot be served (see `lastError`).
    Error,
    /// Its webhook path is already taken by another Ingester.
    Conflict,
}
