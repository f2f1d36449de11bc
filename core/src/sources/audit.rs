//! Kubernetes audit events, as the kube-apiserver's audit webhook backend POSTs them: an
//! `audit.k8s.io/v1` `EventList` (a single `Event` is accepted too), unpacked per item.
//!
//! Each item is matched against the rules below (first match wins). Items that match no rule,
//! that the watcher itself caused, or that touch zen-watcher's own resources are skipped with a
//! reason, so nothing disappears uncounted.

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{SourceError, fingerprint, parse_time};
use crate::crd::{Category, GROUP, ResourceRef, Severity};
use crate::event::{Delivery, Event, EventKind, Facts};

pub const SOURCE: &str = "audit";

/// What one audit item becomes when it matches a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub event_type: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub description: &'static str,
}

/// The rules, in the order they are tried. The README's audit table is checked against it.
pub const RULES: [Rule; 11] = [
    Rule {
        event_type: "authentication_failed",
        category: Category::Security,
        severity: Severity::High,
        description: "a request failed authentication (401)",
    },
    Rule {
        event_type: "authorization_denied",
        category: Category::Security,
        severity: Severity::Medium,
        description: "a request was refused by authorization (403)",
    },
    Rule {
        event_type: "privileged_pod_created",
        category: Category::Security,
        severity: Severity::Critical,
        description: "a Pod with a privileged container was created",
    },
    Rule {
        event_type: "pod_exec",
        category: Category::Security,
        severity: Severity::High,
        description: "a shell or command was run in a Pod (exec)",
    },
    Rule {
        event_type: "pod_attach",
        category: Category::Security,
        severity: Severity::High,
        description: "a client attached to a running container",
    },
    Rule {
        event_type: "rbac_changed",
        category: Category::Compliance,
        severity: Severity::High,
        description: "a Role, ClusterRole or binding was created, changed or deleted",
    },
    Rule {
        event_type: "secret_modified",
        category: Category::Security,
        severity: Severity::High,
        description: "a Secret was created, changed or deleted",
    },
    Rule {
        event_type: "secret_read",
        category: Category::Security,
        severity: Severity::Medium,
        description: "a Secret was read (get, list or watch)",
    },
    Rule {
        event_type: "observation_tampered",
        category: Category::Security,
        severity: Severity::High,
        description: "an Observation was changed or deleted by someone other than zen-watcher",
    },
    Rule {
        event_type: "configmap_modified",
        category: Category::Operations,
        severity: Severity::Low,
        description: "a ConfigMap was created, changed or deleted",
    },
    Rule {
        event_type: "resource_deleted",
        category: Category::Operations,
        severity: Severity::Medium,
        description: "any other object was deleted",
    },
];

/// Why an audit item produced no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// It matches none of the rules.
    NoRule,
    /// The watcher's own ServiceAccount made the request (no feedback loop).
    OwnRequest,
    /// It concerns a `zen.kube-zen.io` resource (Observations, Ingesters) and is not an
    /// Observation changed or deleted by someone else (or the watcher's own user is unknown).
    OwnResource,
    /// It cannot be read as an audit event (a field of the wrong type, no `auditID` or time):
    /// skipped alone, the rest of the batch is still read.
    Unreadable,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NoRule => "audit_no_rule",
            Skip::OwnRequest => "audit_own_request",
            Skip::OwnResource => "audit_own_resource",
            Skip::Unreadable => "audit_unreadable",
        }
    }
}

/// The outcome of one audit POST.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub skipped: Vec<Skip>,
    /// Why each unreadable item was (index, problem), for the log.
    pub unreadable: Vec<(usize, String)>,
}

/// Who the watcher is, so the rules can skip its own requests: its user (`system:serviceaccount:<ns>:<name>`).
#[derive(Clone, Debug, Default)]
pub struct SelfIdentity {
    pub own_username: Option<String>,
}

/// The envelope: `kind`, and `items` left unparsed (each item is read on its own).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    kind: Option<Value>,
    #[serde(default, borrow)]
    items: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Item<'a> {
    #[serde(rename = "auditID")]
    audit_id: Option<String>,
    stage: Option<String>,
    level: Option<String>,
    #[serde(rename = "requestURI")]
    request_uri: Option<String>,
    verb: Option<String>,
    user: UserInfo,
    impersonated_user: Option<UserInfo>,
    #[serde(rename = "sourceIPs")]
    source_ips: Vec<String>,
    user_agent: Option<String>,
    object_ref: Option<ObjectRef>,
    response_status: Option<ResponseStatus>,
    /// Left unparsed: only the privileged-pod rule looks into it, and whatever it holds (a
    /// JSON patch's array, any other type, any depth) is at worst "not a privileged pod".
    #[serde(borrow)]
    request_object: Option<&'a RawValue>,
    request_received_timestamp: Option<String>,
    stage_timestamp: Option<String>,
    annotations: Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct UserInfo {
    username: Option<String>,
    groups: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ObjectRef {
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    api_group: Option<String>,
    api_version: Option<String>,
    subresource: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseStatus {
    code: Option<i64>,
    reason: Option<String>,
    message: Option<String>,
}

/// Only what the privileged-pod rule reads from a request body.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RequestObject {
    spec: Option<PodSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PodSpec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    ephemeral_containers: Vec<Container>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Container {
    security_context: Option<SecurityContext>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecurityContext {
    privileged: Option<bool>,
}

/// Parses an `EventList` (or a single `Event`). Only a body that is not an audit envelope is an
/// error (400): every item is read on its own, and one that cannot be read is skipped with
/// [`Skip::Unreadable`], so the apiserver's batch is never refused for one odd item. The body
/// is not copied: items are read in place.
pub fn parse(body: &[u8], context: &SelfIdentity) -> Result<Batch, SourceError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Not an object: malformed JSON says so, valid JSON of another shape is named.
        let _: serde::de::IgnoredAny = serde_json::from_slice(body)?;
        return Err(SourceError::invalid(
            "body",
            "expected an audit.k8s.io/v1 EventList or Event object",
        ));
    }
    let envelope: Envelope = serde_json::from_slice(body)?;
    let kind = match &envelope.kind {
        None | Some(Value::Null) => None,
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(other) => {
            return Err(SourceError::invalid(
                "kind",
                format!(
                    "expected a string, found {}",
                    super::falco::json_kind(other)
                ),
            ));
        }
    };
    let items: Vec<&RawValue> = match kind {
        Some("Event") => vec![serde_json::from_slice(body)?],
        Some("EventList") | None => match envelope.items {
            None => return Err(SourceError::invalid("items", "is required in an EventList")),
            Some(raw) if raw.get() == "null" => {
                return Err(SourceError::invalid("items", "is required in an EventList"));
            }
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
                let found = serde_json::from_str::<Value>(raw.get())
                    .map(|v| super::falco::json_kind(&v))
                    .unwrap_or("something else");
                SourceError::invalid("items", format!("expected an array, found {found}"))
            })?,
        },
        Some(other) => {
            return Err(SourceError::invalid(
                "kind",
                format!("expected EventList or Event, found {other:?}"),
            ));
        }
    };
    let mut batch = Batch::default();
    for (index, raw) in items.into_iter().enumerate() {
        let read = serde_json::from_str::<Item>(raw.get())
            .map_err(|e| SourceError::invalid(format!("items[{index}]"), e.to_string()))
            .and_then(|item| item_event(&item, context).map_err(|e| prefix(index, e)));
        match read {
            Ok(Ok(event)) => batch.events.push(event),
            Ok(Err(skip)) => batch.skipped.push(skip),
            Err(err) => {
                batch.skipped.push(Skip::Unreadable);
                batch.unreadable.push((index, err.to_string()));
            }
        }
    }
    Ok(batch)
}

fn item_event(item: &Item, context: &SelfIdentity) -> Result<Result<Event, Skip>, SourceError> {
    let object = item.object_ref.as_ref();
    if let (Some(own), Some(user)) = (&context.own_username, &item.user.username)
        && own == user
    {
        return Ok(Err(Skip::OwnRequest));
    }
    let rule = if object.and_then(|o| o.api_group.as_deref()) == Some(GROUP) {
        // Without its own user the watcher cannot tell its own Observation writes from
        // someone else's: reporting them would feed on itself.
        if context.own_username.is_none() || !observation_tampered(item) {
            return Ok(Err(Skip::OwnResource));
        }
        rule("observation_tampered")
    } else {
        match_rule(item)
    };
    let Some(rule) = rule else {
        return Ok(Err(Skip::NoRule));
    };
    let audit_id = item
        .audit_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SourceError::invalid("auditID", "is required"))?;
    let stage = item.stage.as_deref().unwrap_or("");
    let detected_at = detected_at(item)?;
    Ok(Ok(Event {
        source: SOURCE.into(),
        category: rule.category,
        severity: rule.severity,
        event_type: rule.event_type.into(),
        resource: object.map(resource),
        details: details(item),
        detected_at,
        fingerprint: fingerprint(&[SOURCE, audit_id, stage]),
        title: Some(title(item, rule)),
        description: Some(rule.description.into()),
        ttl: None,
        ingester: None,
        kind: EventKind::Occurrence {
            delivery: Delivery::Identity,
        },
        facts: Facts {
            rule: Some(rule.event_type.into()),
            result: None,
            stage: item.stage.clone(),
        },
    }))
}

fn rule(event_type: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.event_type == event_type)
}

/// A successful change or deletion of an Observation (its status included).
fn observation_tampered(item: &Item) -> bool {
    let resource = item.object_ref.as_ref().and_then(|o| o.resource.as_deref());
    let code = item.response_status.as_ref().and_then(|s| s.code);
    resource == Some("observations")
        && matches!(
            item.verb.as_deref(),
            Some("update" | "patch" | "delete" | "deletecollection")
        )
        && code.is_some_and(|c| (200..300).contains(&c))
}

fn match_rule(item: &Item) -> Option<&'static Rule> {
    let code = item.response_status.as_ref().and_then(|s| s.code);
    let verb = item.verb.as_deref().unwrap_or("");
    let object = item.object_ref.as_ref();
    let resource = object.and_then(|o| o.resource.as_deref()).unwrap_or("");
    let subresource = object.and_then(|o| o.subresource.as_deref()).unwrap_or("");
    let group = object.and_then(|o| o.api_group.as_deref()).unwrap_or("");
    let core = group.is_empty();
    let writes = matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );

    let event_type = match () {
        _ if code == Some(401) => "authentication_failed",
        _ if code == Some(403) => "authorization_denied",
        _ if core
            && resource == "pods"
            && subresource.is_empty()
            && verb == "create"
            && privileged(item) =>
        {
            "privileged_pod_created"
        }
        _ if core && resource == "pods" && subresource == "exec" => "pod_exec",
        _ if core && resource == "pods" && subresource == "attach" => "pod_attach",
        _ if group == "rbac.authorization.k8s.io" && writes => "rbac_changed",
        _ if core && resource == "secrets" && writes => "secret_modified",
        _ if core && resource == "secrets" && matches!(verb, "get" | "list" | "watch") => {
            "secret_read"
        }
        _ if core && resource == "configmaps" && writes => "configmap_modified",
        _ if matches!(verb, "delete" | "deletecollection") => "resource_deleted",
        _ => return None,
    };
    rule(event_type)
}

fn privileged(item: &Item) -> bool {
    let Some(raw) = item.request_object else {
        return false;
    };
    // Anything that is not a Pod-shaped object (a JSON patch, a wrong type) is not privileged.
    let Ok(RequestObject { spec: Some(spec) }) = serde_json::from_str(raw.get()) else {
        return false;
    };
    spec.containers
        .iter()
        .chain(&spec.init_containers)
        .chain(&spec.ephemeral_containers)
        .any(|c| c.security_context.as_ref().and_then(|s| s.privileged) == Some(true))
}

fn detected_at(item: &Item) -> Result<Timestamp, SourceError> {
    match (&item.stage_timestamp, &item.request_received_timestamp) {
        (Some(t), _) if !t.is_empty() => parse_time("stageTimestamp", t),
        (_, Some(t)) if !t.is_empty() => parse_time("requestReceivedTimestamp", t),
        _ => Err(SourceError::invalid("stageTimestamp", "is required")),
    }
}

fn resource(object: &ObjectRef) -> ResourceRef {
    let api_version = match (object.api_group.as_deref(), object.api_version.as_deref()) {
        (Some(g), Some(v)) if !g.is_empty() => Some(format!("{g}/{v}")),
        (_, Some(v)) => Some(v.to_string()),
        _ => None,
    };
    ResourceRef {
        api_version,
        kind: object.resource.as_deref().map(kind_of),
        name: object.name.clone(),
        namespace: object.namespace.clone(),
    }
}

/// The kind of a well-known resource; other resources keep their plural name.
fn kind_of(resource: &str) -> String {
    const KINDS: [(&str, &str); 20] = [
        ("pods", "Pod"),
        ("secrets", "Secret"),
        ("configmaps", "ConfigMap"),
        ("serviceaccounts", "ServiceAccount"),
        ("services", "Service"),
        ("namespaces", "Namespace"),
        ("nodes", "Node"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ("persistentvolumes", "PersistentVolume"),
        ("deployments", "Deployment"),
        ("statefulsets", "StatefulSet"),
        ("daemonsets", "DaemonSet"),
        ("replicasets", "ReplicaSet"),
        ("jobs", "Job"),
        ("cronjobs", "CronJob"),
        ("roles", "Role"),
        ("rolebindings", "RoleBinding"),
        ("clusterroles", "ClusterRole"),
        ("clusterrolebindings", "ClusterRoleBinding"),
        ("networkpolicies", "NetworkPolicy"),
    ];
    KINDS
        .iter()
        .find(|(plural, _)| *plural == resource)
        .map(|(_, kind)| kind.to_string())
        .unwrap_or_else(|| resource.to_string())
}

fn title(item: &Item, rule: &Rule) -> String {
    let user = item
        .user
        .username
        .as_deref()
        .unwrap_or("an unauthenticated client");
    let object = item.object_ref.as_ref();
    let target = match object {
        Some(o) => {
            let mut t = o.resource.clone().unwrap_or_default();
            if let Some(sub) = &o.subresource {
                t = format!("{t}/{sub}");
            }
            if let Some(name) = &o.name {
                t = format!("{t} {name}");
            }
            if let Some(ns) = &o.namespace {
                t = format!("{t} in {ns}");
            }
            t
        }
        None => item.request_uri.clone().unwrap_or_default(),
    };
    format!(
        "{}: {user} {} {target}",
        rule.event_type,
        item.verb.as_deref().unwrap_or("?")
    )
}

fn details(item: &Item) -> Map<String, Value> {
    let mut d = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            d.insert(k.into(), v);
        }
    };
    put("auditID", item.audit_id.clone().map(Value::from));
    put("stage", item.stage.clone().map(Value::from));
    put("level", item.level.clone().map(Value::from));
    put("verb", item.verb.clone().map(Value::from));
    put("requestURI", item.request_uri.clone().map(Value::from));
    put("username", item.user.username.clone().map(Value::from));
    if !item.user.groups.is_empty() {
        put("groups", Some(item.user.groups.clone().into()));
    }
    put(
        "impersonatedUser",
        item.impersonated_user
            .as_ref()
            .and_then(|u| u.username.clone())
            .map(Value::from),
    );
    if !item.source_ips.is_empty() {
        put("sourceIPs", Some(item.source_ips.clone().into()));
    }
    put("userAgent", item.user_agent.clone().map(Value::from));
    if let Some(o) = &item.object_ref {
        let mut obj = Map::new();
        for (k, v) in [
            ("resource", &o.resource),
            ("subresource", &o.subresource),
            ("namespace", &o.namespace),
            ("name", &o.name),
            ("apiGroup", &o.api_group),
            ("apiVersion", &o.api_version),
        ] {
            if let Some(v) = v {
                obj.insert(k.into(), v.clone().into());
            }
        }
        put("objectRef", Some(Value::Object(obj)));
    }
    if let Some(s) = &item.response_status {
        put("responseCode", s.code.map(Value::from));
        put("responseReason", s.reason.clone().map(Value::from));
        put("responseMessage", s.message.clone().map(Value::from));
    }
    for key in [
        "authorization.k8s.io/decision",
        "authorization.k8s.io/reason",
    ] {
        put(key, item.annotations.get(key).cloned());
    }
    d
}

fn prefix(index: usize, err: SourceError) -> SourceError {
    match err {
        SourceError::Invalid { field, problem } => SourceError::Invalid {
            field: format!("items[{index}].{field}"),
            problem,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
