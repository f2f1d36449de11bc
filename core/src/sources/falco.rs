//! Falco alerts, as Falco's `http_output` and falcosidekick's webhook output POST them: one
//! JSON object per request (an array of them is accepted too).

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{SourceError, fingerprint, insert_text, non_empty, parse_time};
use crate::crd::{Category, ResourceRef, Severity};
use crate::event::{DeliveryId, Event, EventKind, Facts};

pub const SOURCE: &str = "falco";

/// The fields of a Falco alert we read; anything else in the payload is ignored.
#[derive(Deserialize, Debug)]
struct Alert {
    priority: Option<String>,
    rule: Option<String>,
    output: Option<String>,
    time: Option<String>,
    #[serde(default)]
    output_fields: Map<String, Value>,
    source: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    hostname: Option<String>,
    uuid: Option<String>,
}

/// Turns a webhook body into one Event per alert. `received_at` stands in for an alert
/// without a `time`. Each alert's delivery id is the hash of its bytes as received.
pub fn parse(body: &[u8], received_at: Timestamp) -> Result<Vec<Event>, SourceError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        // The usual body, one object, is read straight into an Alert (no intermediate Value).
        Some(b'{') => Ok(vec![alert_event(
            serde_json::from_slice(body)?,
            received_at,
            DeliveryId::of_payload(body),
        )?]),
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body)?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, raw)| {
                    serde_json::from_str(raw.get())
                        .map_err(SourceError::from)
                        .and_then(|alert| {
                            alert_event(
                                alert,
                                received_at,
                                DeliveryId::of_payload(raw.get().as_bytes()),
                            )
                        })
                        .map_err(|e| at_index(i, e))
                })
                .collect()
        }
        _ => {
            let value: Value = serde_json::from_slice(body)?;
            Err(SourceError::invalid(
                "body",
                format!("expected a Falco alert object, found {}", json_kind(&value)),
            ))
        }
    }
}

/// Maps a Falco priority (any case) to a severity.
pub fn severity(priority: &str) -> Option<Severity> {
    let priority = priority.trim();
    match priority.to_ascii_lowercase().as_str() {
        "emergency" | "alert" => Some(Severity::Critical),
        "error" => Some(Severity::High),
        "warning" | "warn" => Some(Severity::Medium),
        "notice" => Some(Severity::Low),
        "informational" | "debug" => Some(Severity::Info),
        "critical" | "info" => Severity::from_name(priority),
        // High, Medium and Low are severity names but not Falco priorities.
        _ => None,
    }
}

fn alert_event(
    mut alert: Alert,
    received_at: Timestamp,
    delivery: DeliveryId,
) -> Result<Event, SourceError> {
    let rule = required(alert.rule, "rule")?;
    let priority = required(alert.priority, "priority")?;
    let severity = severity(&priority).ok_or_else(|| {
        SourceError::invalid(
            "priority",
            format!("unknown Falco priority {priority:?} (expected Emergency, Alert, Critical, Error, Warning, Notice, Informational or Debug)"),
        )
    })?;
    let detected_at = match non_empty(alert.time.as_deref()) {
        Some(time) => parse_time("time", time)?,
        None => received_at,
    };
    let field = |key: &str| non_empty(alert.output_fields.get(key).and_then(Value::as_str));
    let namespace = field("k8s.ns.name");
    let pod = field("k8s.pod.name");
    let container = field("container.name").or_else(|| field("container.id"));
    let falco_source = non_empty(alert.source.as_deref()).unwrap_or("syscall");
    let is_audit = falco_source == "k8s_audit";

    let mut fp_parts = vec![
        SOURCE,
        &rule,
        namespace.unwrap_or(""),
        pod.unwrap_or(""),
        container.unwrap_or(""),
    ];
    let audit_target: Vec<&str> = if is_audit {
        [
            "ka.target.resource",
            "ka.target.namespace",
            "ka.target.name",
            "ka.target.subresource",
        ]
        .iter()
        .map(|k| field(k).unwrap_or(""))
        .collect()
    } else {
        Vec::new()
    };
    fp_parts.extend(audit_target.iter().copied());

    let resource = if is_audit {
        audit_target_resource(&field)
    } else {
        pod_resource(namespace, pod)
    };

    let mut details = Map::new();
    details.insert("rule".into(), rule.clone().into());
    details.insert("priority".into(), priority.clone().into());
    insert_text(&mut details, "output", alert.output.as_deref());
    details.insert("source".into(), falco_source.into());
    if !alert.tags.is_empty() {
        details.insert("tags".into(), std::mem::take(&mut alert.tags).into());
    }
    insert_text(&mut details, "hostname", alert.hostname.as_deref());
    insert_text(&mut details, "uuid", alert.uuid.as_deref());
    insert_text(&mut details, "time", alert.time.as_deref());
    let fingerprint = fingerprint(&fp_parts);
    if !alert.output_fields.is_empty() {
        let fields = std::mem::take(&mut alert.output_fields);
        details.insert("output_fields".into(), Value::Object(fields));
    }

    Ok(Event {
        source: SOURCE.into(),
        category: Category::Security,
        severity,
        event_type: event_type(falco_source),
        resource,
        details,
        detected_at,
        fingerprint,
        title: Some(rule.clone()),
        description: non_empty(alert.output.as_deref()).map(str::to_string),
        ttl: None,
        ingester: None,
        kind: EventKind::delivered(delivery),
        facts: Facts {
            rule: Some(rule),
            ..Default::default()
        },
    })
}

fn pod_resource(namespace: Option<&str>, pod: Option<&str>) -> Option<ResourceRef> {
    match (namespace, pod) {
        (None, None) => None,
        (namespace, pod) => Some(ResourceRef {
            api_version: pod.map(|_| "v1".to_string()),
            kind: pod.map(|_| "Pod".to_string()),
            name: pod.map(str::to_string),
            namespace: namespace.map(str::to_string),
        }),
    }
}

fn audit_target_resource<'a>(field: &impl Fn(&str) -> Option<&'a str>) -> Option<ResourceRef> {
    let resource = field("ka.target.resource");
    let name = field("ka.target.name");
    let namespace = field("ka.target.namespace");
    if resource.is_none() && name.is_none() && namespace.is_none() {
        return None;
    }
    Some(ResourceRef {
        api_version: None,
        kind: resource.map(str::to_string),
        name: name.map(str::to_string),
        namespace: namespace.map(str::to_string),
    })
}

/// `runtime_alert` for syscall alerts, `k8s_audit_alert` for Falco's audit plugin, else
/// `<plugin source>_alert` reduced to the characters an eventType allows.
fn event_type(falco_source: &str) -> String {
    match falco_source {
        "syscall" => "runtime_alert".into(),
        other => {
            let cleaned: String = other
                .to_ascii_lowercase()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{cleaned}_alert")
        }
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, SourceError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| SourceError::invalid(field, "is required in a Falco alert"))
}

fn at_index(index: usize, err: SourceError) -> SourceError {
    match err {
        SourceError::Invalid { field, problem } => SourceError::Invalid {
            field: format!("[{index}].{field}"),
            problem,
        },
        SourceError::Json(e) => SourceError::invalid(format!("[{index}]"), e.to_string()),
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
