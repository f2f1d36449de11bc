//! Event -> Observation object, before it meets the apiserver: name, namespace, labels, TTL,
//! and `details` within its byte cap. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::crd::{Observation, ObservationSpec};
use crate::event::{Delivery, Event, EventKind};
use crate::units::is_dns_label;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "zen-watcher";
/// On finding Observations: the uid of the report (or watched object) the finding came from.
pub const ORIGIN_UID_LABEL: &str = "zen.kube-zen.io/origin-uid";
/// On finding Observations: the watch that wrote it (a report kind, `<plural>.<group>`, or
/// an informer Ingester, `ingester-<hash>`), so a full list of that watch can resolve what it
/// no longer has.
pub const ORIGIN_WATCH_LABEL: &str = "zen.kube-zen.io/origin-watch";
/// On an Ingester's Observations: its id (`ingester-<hash>`, see `IngesterRef::id`), which the
/// per-source cap counts them under.
pub const INGESTER_LABEL: &str = "zen.kube-zen.io/ingester";
/// On occurrence Observations: the delivery that created it (see `status.deliveries`).
pub const DELIVERY_ANNOTATION: &str = "zen.kube-zen.io/delivery";
/// Marks `details` that were cut to fit `OBSERVATION_DETAILS_MAX_BYTES`.
pub const TRUNCATED_KEY: &str = "zenWatcherTruncated";

/// Bounds of any Observation TTL (60 s .. 1 year); values outside are clamped.
pub const TTL_MIN_SECONDS: u64 = 60;
pub const TTL_MAX_SECONDS: u64 = 31_536_000;

/// What building an Observation needs besides the event.
#[derive(Clone, Debug)]
pub struct ObservationSettings {
    /// Where events without a namespace go: the watcher's own namespace.
    pub fallback_namespace: String,
    /// `OBSERVATION_TTL_SECONDS` / `OBSERVATION_TTL_DAYS`, already resolved.
    pub default_ttl_seconds: u64,
    pub details_max_bytes: usize,
    /// `CLUSTER_INGESTER_NAMESPACES`: Ingesters elsewhere write only in their own namespace.
    pub cluster_ingester_namespaces: Vec<String>,
}

/// The name of `event`'s Observation (see [`observation_name`]).
pub fn name_of(event: &Event) -> String {
    observation_name(&event.source, &event.fingerprint)
}

/// `<source>-<first 16 hex of sha256(fingerprint)>`: the same event always gets the same name,
/// on every replica.
pub fn observation_name(source: &str, fingerprint: &str) -> String {
    let digest = Sha256::digest(fingerprint.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{source}-{hex}")
}

/// The namespace an event's Observation lives in: its resource's, else the watcher's (also
/// when the payload names something that cannot be a namespace, so it never becomes a request
/// the apiserver refuses). An event from an Ingester outside `CLUSTER_INGESTER_NAMESPACES`
/// stays in that Ingester's namespace (tenancy: an Ingester cannot write into other namespaces).
pub fn target_namespace<'a>(event: &'a Event, settings: &'a ObservationSettings) -> &'a str {
    if let Some(ingester) = &event.ingester
        && !settings
            .cluster_ingester_namespaces
            .contains(&ingester.namespace)
    {
        return &ingester.namespace;
    }
    event
        .namespace()
        .filter(|ns| is_dns_label(ns))
        .unwrap_or(&settings.fallback_namespace)
}

pub fn build(event: &Event, settings: &ObservationSettings) -> Observation {
    let mut labels = BTreeMap::from([
        ("source".to_string(), event.source.clone()),
        ("category".to_string(), event.category.to_string()),
        ("severity".to_string(), event.severity.to_string()),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
    ]);
    if let Some(ingester) = &event.ingester {
        labels.insert(INGESTER_LABEL.to_string(), ingester.id().to_string());
    }
    if let EventKind::Finding { origin } = &event.kind {
        labels.insert(ORIGIN_UID_LABEL.to_string(), origin.uid.clone());
        labels.insert(ORIGIN_WATCH_LABEL.to_string(), origin.watch.clone());
    }
    let ttl = event
        .ttl
        .map(|d| d.as_secs())
        .unwrap_or(settings.default_ttl_seconds)
        .clamp(TTL_MIN_SECONDS, TTL_MAX_SECONDS);
    let details = (!event.details.is_empty())
        .then(|| Value::Object(cap_details(&event.details, settings.details_max_bytes)));
    let annotations = match &event.kind {
        EventKind::Occurrence {
            delivery: Delivery::Id(id),
        } => Some(BTreeMap::from([(
            DELIVERY_ANNOTATION.to_string(),
            id.to_string(),
        )])),
        _ => None,
    };
    Observation {
        metadata: ObjectMeta {
            name: Some(name_of(event)),
            namespace: Some(target_namespace(event, settings).to_string()),
            labels: Some(labels),
            annotations,
            ..Default::default()
        },
        spec: ObservationSpec {
            source: event.source.clone(),
            category: event.category,
            severity: event.severity,
            event_type: event.event_type.clone(),
            resource: event.resource.clone(),
            details,
            detected_at: Time(whole_seconds(event.detected_at)),
            ttl_seconds_after_creation: Some(ttl as i64),
            title: event
                .title
                .as_deref()
                .map(|t| truncate_str(t, 1024).to_string()),
            description: event
                .description
                .as_deref()
                .map(|d| truncate_str(d, 32_768).to_string()),
            fingerprint: Some(truncate_str(&event.fingerprint, 4096).to_string()),
        },
        status: None,
    }
}

/// Keeps `details` within `max_bytes` of JSON: top-level fields are kept in order while they
/// fit; a string that does not fit is cut; anything else that does not fit is dropped. What
/// was cut is listed (as far as room allows) under [`TRUNCATED_KEY`]. The result is at most
/// `max_bytes` long once serialised, for any `max_bytes` of 128 or more.
pub fn cap_details(details: &Map<String, Value>, max_bytes: usize) -> Map<String, Value> {
    let full = json_len(details);
    if full <= max_bytes {
        return details.clone();
    }
    // Room for the marker without its field list.
    let budget = max_bytes.saturating_sub(MARKER_RESERVE);
    let mut kept = Map::new();
    let mut used = 2;
    let mut cut = Vec::new();
    for (key, value) in details {
        let key_len = json_len(key) + 2;
        let size = key_len + json_len(value);
        if used + size <= budget {
            used += size;
            kept.insert(key.clone(), value.clone());
            continue;
        }
        cut.push(key.as_str());
        if let Value::String(text) = value {
            // Half the room left, so the fields after it still have a chance.
            let room = budget.saturating_sub(used + key_len) / 2;
            if room >= 64 {
                let prefix = fit_json_prefix(text, room);
                used += key_len + json_len(prefix);
                kept.insert(key.clone(), Value::String(prefix.to_string()));
            }
        }
    }
    let mut marker = Map::new();
    marker.insert("originalBytes".into(), full.into());
    marker.insert("fields".into(), Value::Array(Vec::new()));
    kept.insert(TRUNCATED_KEY.into(), Value::Object(marker));
    let mut size = json_len(&kept);
    for key in cut {
        let name = Value::String(truncate_str(key, 64).to_string());
        let grows = json_len(&name) + 1;
        if size + grows > max_bytes {
            break;
        }
        if let Some(Value::Array(fields)) = kept
            .get_mut(TRUNCATED_KEY)
            .and_then(|m| m.get_mut("fields"))
        {
            fields.push(name);
            size += grows;
        }
    }
    kept
}

/// What the truncation marker needs besides its list of field names.
const MARKER_RESERVE: usize = 96;

/// The longest prefix of `text` (on a character boundary) whose JSON form fits `room` bytes.
fn fit_json_prefix(text: &str, room: usize) -> &str {
    // The JSON length of a prefix grows with the prefix: binary search the longest that fits.
    let (mut low, mut high) = (0, text.len().min(room));
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if json_len(truncate_str(text, mid)) <= room {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    truncate_str(text, low)
}

/// Kubernetes times have whole seconds; rounding here keeps what we write equal to what we
/// read back.
pub fn whole_seconds(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

/// The length of `value` serialised as JSON, counted without building the text.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX / 4,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
