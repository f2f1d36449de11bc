//! The normalised Event every source produces and the pipeline filters, deduplicates and writes.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

use crate::crd::{Category, ResourceRef, Severity};

/// One event, normalised. Sources build it; the filter reads it; dedup and the writer key it
/// by `fingerprint`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `spec.source` of the Observation: `falco`, `audit`, `kyverno`, `trivy` or an Ingester's.
    pub source: String,
    pub category: Category,
    pub severity: Severity,
    /// `^[a-z0-9_-]+$`, e.g. `runtime_alert`, `policy_violation`, `vulnerability`.
    pub event_type: String,
    /// The object the event is about. Its namespace is where the Observation lives.
    pub resource: Option<ResourceRef>,
    /// Source-specific data kept on the Observation (capped by the writer).
    pub details: Map<String, Value>,
    pub detected_at: Timestamp,
    /// The source-specific identity; the Observation name derives from it.
    pub fingerprint: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Per-Ingester TTL; `None` means the global setting.
    pub ttl: Option<Duration>,
    /// The Ingester (namespace, name) the event came through, if any.
    pub ingester: Option<IngesterRef>,
    pub kind: EventKind,
    /// Source facts the filter rules match on but that are not part of the Observation spec.
    pub facts: Facts,
}

/// Which Ingester an event came through.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IngesterRef {
    pub namespace: String,
    pub name: String,
    /// Derived once here rather than hashed again for every event (see [`IngesterRef::id`]).
    id: String,
}

impl IngesterRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        use sha2::{Digest, Sha256};
        let (namespace, name) = (namespace.into(), name.into());
        let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            namespace,
            name,
            id: format!("ingester-{hex}"),
        }
    }

    /// The Ingester's id, `ingester-<16 hex>` of sha256 of `namespace/name` (a label value,
    /// whatever the lengths of the names): the `zen.kube-zen.io/ingester` label of its
    /// Observations, its informer's `zen.kube-zen.io/origin-watch` label, and its key in the
    /// per-source cap.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The two kinds of Observation (docs/architecture.md, "Two kinds of Observation").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Webhook sources: each distinct delivery of the same identity counts once in
    /// `status.occurrences`.
    Occurrence { delivery: Delivery },
    /// Report and informer sources: the Observation mirrors a finding of the object `origin`.
    Finding { origin: Origin },
}

impl EventKind {
    /// An occurrence told apart from re-sends by `id`.
    pub fn delivered(id: DeliveryId) -> Self {
        EventKind::Occurrence {
            delivery: Delivery::Id(id),
        }
    }
}

/// What tells one delivery of an occurrence from a re-send of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The event's identity is its delivery (an audit item: auditID + stage). Seeing it again
    /// is a re-send, which counts nothing.
    Identity,
    /// One delivery of a recurring event (a Falco alert, a webhook Ingester's payload item):
    /// a re-send carries the same id, a recurrence another.
    Id(DeliveryId),
}

/// A delivery's identity: the first 8 bytes of the SHA-256 of the payload item as received
/// (its own timestamp, and falcosidekick's `uuid`, included), written as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId([u8; 8]);

impl DeliveryId {
    /// The id of a payload item (its bytes exactly as received).
    pub fn of_payload(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(bytes);
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        DeliveryId(id)
    }

    /// Reads the 16-hex-digit form written on Observations.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 {
            return None;
        }
        let mut id = [0; 8];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(DeliveryId(id))
    }
}

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The watched object a finding comes from (a report, or an Ingester's watched object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub uid: String,
    pub resource_version: Option<String>,
    /// The watch the object comes from (a label value): `<plural>.<group>` of a report kind,
    /// `ingester-<16 hex>` of an informer Ingester.
    pub watch: String,
}

/// Source facts rules can match on: `rule` (Falco rule, Kyverno policy/rule), `result`
/// (Kyverno/openreports result) and `stage` (audit stage).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub rule: Option<String>,
    pub result: Option<String>,
    pub stage: Option<String>,
}

impl Event {
    /// The namespace of the object the event is about, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.resource.as_ref().and_then(|r| r.namespace.as_deref())
    }

    /// What the per-source cap counts this event under: its Ingester's id for an Ingester's
    /// events (two tenants with one source name never share a cap, and none can fill a
    /// built-in source's), else its source.
    pub fn cap_key(&self) -> std::borrow::Cow<'_, str> {
        match &self.ingester {
            Some(ingester) => std::borrow::Cow::Borrowed(ingester.id()),
            None => std::borrow::Cow::Borrowed(&self.source),
        }
    }

    /// The kind of the object the event is about, if any.
    pub fn resource_kind(&self) -> Option<&str> {
        self.resource.as_ref().and_then(|r| r.kind.as_deref())
    }

    /// The value at a dotted path, for filter expressions: `source`, `category`, `severity`,
    /// `eventType`, `namespace`, `kind`, `name`, `rule`, `result`, `stage`, `fingerprint`,
    /// `details.<path>`, and the Observation-shaped aliases `spec.<field>`,
    /// `spec.resource.<field>`, `spec.details.<path>` and `metadata.namespace`.
    pub fn field(&self, path: &str) -> Option<Value> {
        let path = path.strip_prefix("spec.").unwrap_or(path);
        let text = |s: Option<&str>| s.map(|s| Value::String(s.to_string()));
        let resource = self.resource.as_ref();
        match path {
            "source" => text(Some(&self.source)),
            "category" => text(Some(self.category.as_str())),
            "severity" => text(Some(self.severity.as_str())),
            "eventType" | "event_type" => text(Some(&self.event_type)),
            "namespace" | "metadata.namespace" | "resource.namespace" => text(self.namespace()),
            "kind" | "resource.kind" => text(self.resource_kind()),
            "name" | "resource.name" => text(resource.and_then(|r| r.name.as_deref())),
            "apiVersion" | "resource.apiVersion" => {
                text(resource.and_then(|r| r.api_version.as_deref()))
            }
            "rule" => text(self.facts.rule.as_deref()),
            "result" => text(self.facts.result.as_deref()),
            "stage" => text(self.facts.stage.as_deref()),
            "fingerprint" => text(Some(&self.fingerprint)),
            "title" => text(self.title.as_deref()),
            _ => {
                let rest = path.strip_prefix("details.")?;
                lookup_path(&self.details, rest).cloned()
            }
        }
    }
}

/// Follows a dotted path (`a.b.c`) through nested JSON objects. A segment that is a number
/// indexes an array. A key that itself contains dots (`k8s.pod.name`) is found when the
/// longest matching prefix of the remaining path is an existing key.
pub fn lookup_path<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    // Try the longest key first so `output_fields.k8s.pod.name` finds "k8s.pod.name".
    let mut split_points: Vec<usize> = path.match_indices('.').map(|(i, _)| i).collect();
    split_points.reverse();
    for i in split_points {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        if let Some(child) = object.get(head)
            && let Some(found) = lookup_value(child, rest)
        {
            return Some(found);
        }
    }
    None
}

/// [`lookup_path`] starting from any JSON value.
pub fn lookup_value<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => lookup_path(map, path),
        Value::Array(items) => {
            let (index, rest) = path.split_once('.').unwrap_or((path, ""));
            let item = items.get(index.parse::<usize>().ok()?)?;
            if rest.is_empty() {
                Some(item)
            } else {
                lookup_value(item, rest)
            }
        }
        _ => None,
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Event {
    /// A test event about Pod `shop/web-1`: a runtime security occurrence of `source` with
    /// `severity` and `details` (a JSON object), fingerprint `fp`, detected at the epoch.
    pub fn about_pod_for_tests(
        source: &str,
        severity: Severity,
        details: serde_json::Value,
    ) -> Event {
        Event {
            source: source.into(),
            category: Category::Security,
            severity,
            event_type: "runtime_alert".into(),
            resource: Some(ResourceRef {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some("web-1".into()),
                namespace: Some("shop".into()),
            }),
            details: details.as_object().cloned().unwrap_or_default(),
            detected_at: Timestamp::UNIX_EPOCH,
            fingerprint: "fp".into(),
            title: None,
            description: None,
            ttl: None,
            ingester: None,
            kind: EventKind::delivered(DeliveryId::of_payload(b"test")),
            facts: Facts::default(),
        }
    }
}

#[cfg(test)]
mod tests;
