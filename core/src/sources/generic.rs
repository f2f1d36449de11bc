//! Events from Ingester-declared sources: webhook payloads and informer-watched objects,
//! normalised by the Ingester's `spec.normalization`.
//!
//! A [`GenericMapping`] is compiled once per Ingester change and applied per payload/object:
//!
//! * **category** `normalization.category`, default `operations`; **eventType**
//!   `normalization.eventType`, default `<source>_event`.
//! * **severity**: the value at `severityField` (a string or number), looked up in
//!   `severityMap` (any case), else read as a severity name or common alias (`warning`,
//!   `error`, `fatal`, `notice`, ...). Anything else is `info`, never a guess.
//!   `details.severitySource` says which it was: `map`, `field`, `unmapped` (a value nothing
//!   recognised) or `default` (no field configured, or no value).
//! * **details**: with `fieldMapping`, only the mapped values (`details[to]` = value at `from`;
//!   a missing value is skipped). Without it, the whole payload for webhooks; for informer
//!   objects the object without `status`, with `metadata` reduced to `name`, `namespace`,
//!   `labels` and `annotations` (minus `kubectl.kubernetes.io/last-applied-configuration`).
//!   Map `status.*` paths explicitly to keep them. The writer caps details.
//! * **resource**: for objects, the object's own `apiVersion`, `kind`, `metadata.name` and
//!   `metadata.namespace`; each `normalization.resource.*` path, when set, replaces its field
//!   (a set path that finds nothing leaves the field empty). Webhook payloads have a resource
//!   only through those paths.
//! * **fingerprint**: with `deduplication.fields`, the source and the values at those paths.
//!   Otherwise the object's uid (objects) or a SHA-256 of the normalised content (payloads)
//!   ignoring top-level timestamp keys of details, so a resent payload keeps its identity.
//!   Every fingerprint includes the Ingester's namespace and name: two Ingesters (two tenants)
//!   with one source name never share a dedup entry or an Observation.
//!
//! Paths are dotted paths as read by [`lookup_value`].

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::falco::json_kind;
use super::{SourceError, fingerprint};
use crate::crd::{
    Category, FieldMapping, IngesterSpec, Normalization, ResourcePaths, ResourceRef, Severity,
};
use crate::event::{
    Delivery, DeliveryId, Event, EventKind, Facts, IngesterRef, Origin, lookup_value,
};

/// Top-level details keys left out of the content fingerprint: they differ between resends.
const TIMESTAMP_KEYS: [&str; 6] = [
    "time",
    "timestamp",
    "@timestamp",
    "ts",
    "eventTime",
    "receivedAt",
];

/// Payload keys whose string value becomes the title, in order of preference.
const TITLE_KEYS: [&str; 3] = ["title", "message", "summary"];

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An Ingester's normalisation, validated and ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct GenericMapping {
    source: String,
    category: Category,
    event_type: String,
    severity_field: Option<String>,
    /// Keys lowercased.
    severity_map: BTreeMap<String, Severity>,
    field_mapping: Vec<FieldMapping>,
    resource_paths: ResourcePaths,
    dedup_fields: Vec<String>,
    ttl: Option<Duration>,
    ingester: IngesterRef,
}

/// Where an event's severity came from, recorded as `details.severitySource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeveritySource {
    Map,
    Field,
    Unmapped,
    Default,
}

impl SeveritySource {
    fn as_str(self) -> &'static str {
        match self {
            SeveritySource::Map => "map",
            SeveritySource::Field => "field",
            SeveritySource::Unmapped => "unmapped",
            SeveritySource::Default => "default",
        }
    }
}

impl GenericMapping {
    /// Validates `spec` and compiles it. Errors name the offending spec field.
    pub fn compile(
        ingester_namespace: &str,
        ingester_name: &str,
        spec: &IngesterSpec,
    ) -> Result<GenericMapping, SourceError> {
        validate_source(&spec.source)?;
        let normalization = spec.normalization.clone().unwrap_or_default();
        let Normalization {
            category,
            event_type,
            severity_field,
            severity_map,
            field_mapping,
            resource,
        } = normalization;
        let event_type = match event_type {
            Some(t) => validate_event_type("spec.normalization.eventType", t)?,
            None => validate_event_type("spec.source", format!("{}_event", spec.source))?,
        };
        let ttl = spec
            .ttl
            .as_deref()
            .map(|t| {
                crate::units::parse_duration(t).map_err(|p| SourceError::invalid("spec.ttl", p))
            })
            .transpose()?;
        Ok(GenericMapping {
            source: spec.source.clone(),
            category: category.unwrap_or(Category::Operations),
            event_type,
            severity_field: severity_field.filter(|f| !f.trim().is_empty()),
            severity_map: lowercase_keys(severity_map)?,
            field_mapping,
            resource_paths: resource.unwrap_or_default(),
            dedup_fields: spec
                .deduplication
                .as_ref()
                .map(|d| d.fields.clone())
                .unwrap_or_default(),
            ttl,
            ingester: IngesterRef::new(ingester_namespace, ingester_name),
        })
    }

    /// The Ingester this mapping belongs to.
    pub fn ingester(&self) -> &IngesterRef {
        &self.ingester
    }

    /// A webhook body: a JSON object gives one event, an array of objects one per element.
    /// Each event's delivery id is the hash of its payload item's bytes as received.
    pub fn events_from_payload(
        &self,
        body: &[u8],
        received_at: Timestamp,
    ) -> Result<Vec<Event>, SourceError> {
        let payload_event = |raw: &[u8]| -> Result<Event, SourceError> {
            match serde_json::from_slice(raw)? {
                Value::Object(payload) => {
                    self.payload_event(payload, received_at, DeliveryId::of_payload(raw))
                }
                other => Err(SourceError::invalid(
                    "body",
                    format!("expected an object, found {}", json_kind(&other)),
                )),
            }
        };
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(vec![payload_event(body)?]),
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_slice(body)?;
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, raw)| {
                        payload_event(raw.get().as_bytes()).map_err(|e| match e {
                            SourceError::Invalid { field, problem } if field == "body" => {
                                SourceError::invalid(format!("[{i}]"), problem)
                            }
                            SourceError::Invalid { field, problem } => {
                                SourceError::invalid(format!("[{i}].{field}"), problem)
                            }
                            other => other,
                        })
                    })
                    .collect()
            }
            _ => {
                let other: Value = serde_json::from_slice(body)?;
                Err(SourceError::invalid(
                    "body",
                    format!(
                        "expected a JSON object or an array of objects, found {}",
                        json_kind(&other)
                    ),
                ))
            }
        }
    }

    /// An informer's watched object (as JSON). It must have a `metadata.uid`.
    pub fn event_from_object(
        &self,
        object: &Value,
        received_at: Timestamp,
    ) -> Result<Event, SourceError> {
        let Value::Object(fields) = object else {
            return Err(SourceError::invalid(
                "object",
                format!("expected an object, found {}", json_kind(object)),
            ));
        };
        let uid = text_at(object, "metadata.uid")
            .ok_or_else(|| SourceError::invalid("metadata.uid", "is required"))?;
        let own = ResourceRef {
            api_version: text_at(object, "apiVersion"),
            kind: text_at(object, "kind"),
            name: text_at(object, "metadata.name"),
            namespace: text_at(object, "metadata.namespace"),
        };
        let (severity, severity_source) = self.severity(object);
        let mut details = if self.field_mapping.is_empty() {
            object_details(fields)
        } else {
            self.mapped_details(object)
        };
        details.insert("severitySource".into(), severity_source.as_str().into());
        let fingerprint = if self.dedup_fields.is_empty() {
            fingerprint(&[
                &self.source,
                &self.ingester.namespace,
                &self.ingester.name,
                &uid,
            ])
        } else {
            self.field_fingerprint(object)
        };
        let detected_at = text_at(object, "metadata.creationTimestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or(received_at);
        Ok(Event {
            title: object_title(&own),
            resource: non_empty(self.resolve_resource(object, own)),
            kind: EventKind::Finding {
                origin: Origin {
                    uid,
                    resource_version: text_at(object, "metadata.resourceVersion"),
                    watch: self.ingester.id().to_string(),
                },
            },
            ..self.event(severity, details, detected_at, fingerprint)
        })
    }

    fn payload_event(
        &self,
        payload: Map<String, Value>,
        received_at: Timestamp,
        delivery: DeliveryId,
    ) -> Result<Event, SourceError> {
        let payload = Value::Object(payload);
        let (severity, severity_source) = self.severity(&payload);
        let resource = non_empty(self.resolve_resource(&payload, ResourceRef::default()));
        let title = payload_title(&payload);
        let dedup_fingerprint =
            (!self.dedup_fields.is_empty()).then(|| self.field_fingerprint(&payload));
        let mut details = match (self.field_mapping.is_empty(), payload) {
            (true, Value::Object(map)) => map,
            (_, payload) => self.mapped_details(&payload),
        };
        details.insert("severitySource".into(), severity_source.as_str().into());
        let fingerprint = match dedup_fingerprint {
            Some(fp) => fp,
            None => self.content_fingerprint(severity, resource.as_ref(), &details)?,
        };
        Ok(Event {
            title,
            resource,
            kind: EventKind::delivered(delivery),
            ..self.event(severity, details, received_at, fingerprint)
        })
    }

    /// The parts every event of this Ingester shares; callers fill in the rest.
    fn event(
        &self,
        severity: Severity,
        details: Map<String, Value>,
        detected_at: Timestamp,
        fingerprint: String,
    ) -> Event {
        Event {
            source: self.source.clone(),
            category: self.category,
            severity,
            event_type: self.event_type.clone(),
            resource: None,
            details,
            detected_at,
            fingerprint,
            title: None,
            description: None,
            ttl: self.ttl,
            ingester: Some(self.ingester.clone()),
            kind: EventKind::Occurrence {
                delivery: Delivery::Identity,
            },
            facts: Facts::default(),
        }
    }

    fn severity(&self, value: &Value) -> (Severity, SeveritySource) {
        let Some(raw) = self
            .severity_field
            .as_deref()
            .and_then(|path| lookup_value(value, path))
            .and_then(scalar_text)
        else {
            return (Severity::Info, SeveritySource::Default);
        };
        let key = raw.trim().to_ascii_lowercase();
        if let Some(severity) = self.severity_map.get(&key) {
            return (*severity, SeveritySource::Map);
        }
        match severity_name(&key) {
            Some(severity) => (severity, SeveritySource::Field),
            None => (Severity::Info, SeveritySource::Unmapped),
        }
    }

    fn mapped_details(&self, value: &Value) -> Map<String, Value> {
        self.field_mapping
            .iter()
            .filter_map(|m| Some((m.to.clone(), lookup_value(value, &m.from)?.clone())))
            .collect()
    }

    /// Each field of `base` is replaced by its `normalization.resource` path's value, if set.
    fn resolve_resource(&self, value: &Value, base: ResourceRef) -> ResourceRef {
        let paths = &self.resource_paths;
        let pick = |path: &Option<String>, own: Option<String>| match path {
            Some(path) => text_at(value, path),
            None => own,
        };
        ResourceRef {
            api_version: pick(&paths.api_version, base.api_version),
            kind: pick(&paths.kind, base.kind),
            name: pick(&paths.name, base.name),
            namespace: pick(&paths.namespace, base.namespace),
        }
    }

    fn field_fingerprint(&self, value: &Value) -> String {
        let rendered: Vec<String> = self
            .dedup_fields
            .iter()
            .map(|path| lookup_value(value, path).map(render).unwrap_or_default())
            .collect();
        let mut parts = vec![
            self.source.as_str(),
            &self.ingester.namespace,
            &self.ingester.name,
        ];
        parts.extend(rendered.iter().map(String::as_str));
        fingerprint(&parts)
    }

    fn content_fingerprint(
        &self,
        severity: Severity,
        resource: Option<&ResourceRef>,
        details: &Map<String, Value>,
    ) -> Result<String, SourceError> {
        let mut details = details.clone();
        for key in TIMESTAMP_KEYS {
            details.remove(key);
        }
        let mut content = Map::new();
        content.insert("source".into(), self.source.clone().into());
        content.insert(
            "ingester".into(),
            format!("{}/{}", self.ingester.namespace, self.ingester.name).into(),
        );
        content.insert("category".into(), self.category.as_str().into());
        content.insert("eventType".into(), self.event_type.clone().into());
        content.insert("severity".into(), severity.as_str().into());
        content.insert("resource".into(), serde_json::to_value(resource)?);
        content.insert("details".into(), Value::Object(details));
        // serde_json's Map is sorted (no `preserve_order`), so this serialisation is canonical.
        let digest = Sha256::digest(serde_json::to_vec(&content)?);
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn validate_source(source: &str) -> Result<(), SourceError> {
    let valid = !source.is_empty()
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(SourceError::invalid(
            "spec.source",
            format!("{source:?} must be lowercase letters, digits and '-'"),
        ))
    }
}

fn validate_event_type(field: &str, event_type: String) -> Result<String, SourceError> {
    let valid = !event_type.is_empty()
        && event_type.len() <= 128
        && event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(event_type)
    } else {
        Err(SourceError::invalid(
            field,
            format!("eventType {event_type:?} must match ^[a-z0-9_-]+$ (at most 128 characters)"),
        ))
    }
}

fn lowercase_keys(
    map: BTreeMap<String, Severity>,
) -> Result<BTreeMap<String, Severity>, SourceError> {
    let mut lowered = BTreeMap::new();
    for (key, severity) in map {
        let lower = key.trim().to_ascii_lowercase();
        if let Some(previous) = lowered.insert(lower, severity)
            && previous != severity
        {
            return Err(SourceError::invalid(
                "spec.normalization.severityMap",
                format!(
                    "{key:?} maps to {severity} but a key differing only in case maps to {previous}"
                ),
            ));
        }
    }
    Ok(lowered)
}

/// A severity name or a common alias; `name` is already lowercase.
fn severity_name(name: &str) -> Option<Severity> {
    if let Some(severity) = Severity::from_name(name) {
        return Some(severity);
    }
    match name {
        "fatal" | "emergency" | "alert" => Some(Severity::Critical),
        "error" => Some(Severity::High),
        "warning" | "warn" => Some(Severity::Medium),
        "notice" => Some(Severity::Low),
        "informational" | "debug" => Some(Severity::Info),
        _ => None,
    }
}

/// A string as is, a number or boolean as written; nothing for null, arrays and objects.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as a fingerprint part: scalars as text, null as empty, anything else as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
        scalar => scalar_text(scalar).unwrap_or_default(),
    }
}

/// The non-empty scalar at `path`, as text.
fn text_at(value: &Value, path: &str) -> Option<String> {
    lookup_value(value, path)
        .and_then(scalar_text)
        .filter(|s| !s.is_empty())
}

fn non_empty(resource: ResourceRef) -> Option<ResourceRef> {
    (resource != ResourceRef::default()).then_some(resource)
}

fn object_details(object: &Map<String, Value>) -> Map<String, Value> {
    let mut details = object.clone();
    details.remove("status");
    if let Some(Value::Object(metadata)) = details.get_mut("metadata") {
        metadata.retain(|key, _| {
            matches!(
                key.as_str(),
                "name" | "namespace" | "labels" | "annotations"
            )
        });
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(LAST_APPLIED);
        }
    }
    details
}

/// `<kind> <namespace>/<name>`, leaving out what is unknown; none without a name.
fn object_title(own: &ResourceRef) -> Option<String> {
    let name = own.name.as_deref()?;
    let qualified = match own.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    Some(match own.kind.as_deref() {
        Some(kind) => format!("{kind} {qualified}"),
        None => qualified,
    })
}

fn payload_title(payload: &Value) -> Option<String> {
    TITLE_KEYS.iter().find_map(|key| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests;
