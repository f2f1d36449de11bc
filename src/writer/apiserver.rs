//! Writes Observations: create, and on AlreadyExists do what the event's kind asks (DESIGN §4):
//! an occurrence counts up `status.occurrences`; a finding is left alone unless it was resolved,
//! which re-opens it. Findings that vanished from their report get `status.resolvedAt`.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::observation::{ORIGIN_UID_LABEL, ObservationSettings, build, whole_seconds};
use crate::crd::Observation;
use crate::event::{Event, EventKind};

/// The trace that created an Observation (when tracing is on), to find it in a tracing UI.
pub const TRACE_ID_ANNOTATION: &str = "zen.kube-zen.io/trace-id";

/// What a successful write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    /// An occurrence seen again: `status.occurrences` is now this.
    Recurred {
        occurrences: i64,
    },
    /// A finding that already exists and is open.
    Unchanged,
    /// A resolved finding that came back.
    Reopened,
}

impl Written {
    pub fn as_str(self) -> &'static str {
        match self {
            Written::Created => "created",
            Written::Recurred { .. } => "recurred",
            Written::Unchanged => "unchanged",
            Written::Reopened => "reopened",
        }
    }
}

/// A failed write. Transient failures (the apiserver unreachable, overloaded or failing) make a
/// webhook answer 503 so the sender retries; a permanent failure concerns this one event
/// (counted and logged) and the rest of its batch is still acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing Observation {namespace}/{name} failed ({reason}), will be retried: {source}")]
    Transient {
        namespace: String,
        name: String,
        reason: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("Observation {namespace}/{name} cannot be written ({reason}): {source}")]
    Permanent {
        namespace: String,
        name: String,
        reason: &'static str,
        #[source]
        source: kube::Error,
    },
}

impl WriteError {
    pub fn is_transient(&self) -> bool {
        matches!(self, WriteError::Transient { .. })
    }

    /// A stable metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            WriteError::Transient { reason, .. } | WriteError::Permanent { reason, .. } => reason,
        }
    }
}

/// How often a transient failure is retried inside one write, and how long to wait.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// How many times an optimistic (resourceVersion-guarded) status update is retried when
/// another writer got there first.
const CONFLICT_RETRIES: u32 = 10;

#[derive(Clone)]
pub struct Writer {
    client: Client,
    settings: ObservationSettings,
    retry: RetryPolicy,
}

impl Writer {
    pub fn new(client: Client, settings: ObservationSettings, retry: RetryPolicy) -> Self {
        Self {
            client,
            settings,
            retry,
        }
    }

    pub fn settings(&self) -> &ObservationSettings {
        &self.settings
    }

    /// Writes one event, retrying transient failures with backoff.
    pub async fn write(&self, event: &Event) -> Result<Written, WriteError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            match self.write_once(event).await {
                Err(err) if err.is_transient() && attempt < self.retry.attempts => {
                    tracing::debug!(error = %err, attempt, "retrying Observation write");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn write_once(&self, event: &Event) -> Result<Written, WriteError> {
        let mut observation = build(event, &self.settings);
        if let Some(trace_id) = crate::spans::current_trace_id() {
            observation
                .annotations_mut()
                .insert(TRACE_ID_ANNOTATION.to_string(), trace_id);
        }
        let namespace = observation.namespace().unwrap_or_default();
        let span = tracing::Span::current();
        span.record("k8s.namespace.name", namespace.as_str());
        span.record("zen.observation", observation.name_any().as_str());
        match self.create_or_update(event, &observation, &namespace).await {
            // The event's namespace is gone (or never existed): keep the event, in ours.
            Err(WriteError::Permanent {
                reason: "namespace_not_found",
                ..
            }) if namespace != self.settings.fallback_namespace => {
                observation.metadata.namespace = Some(self.settings.fallback_namespace.clone());
                let fallback = self.settings.fallback_namespace.clone();
                self.create_or_update(event, &observation, &fallback).await
            }
            other => other,
        }
    }

    async fn create_or_update(
        &self,
        event: &Event,
        observation: &Observation,
        namespace: &str,
    ) -> Result<Written, WriteError> {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), namespace);
        let name = observation.name_any();
        let fail = |source: kube::Error| classify(namespace, &name, source);
        match api.create(&PostParams::default(), observation).await {
            Ok(_) => Ok(Written::Created),
            Err(kube::Error::Api(status)) if status.is_already_exists() => match &event.kind {
                EventKind::Occurrence => recur(&api, &name, event.detected_at).await.map_err(fail),
                EventKind::Finding { .. } => reopen(&api, &name).await.map_err(fail),
            },
            Err(err) => Err(fail(err)),
        }
    }

    /// Marks as resolved every open finding Observation of `origin_uid` whose name is not in
    /// `present` (names derive from the finding's identity, so they are unique per finding).
    /// Returns the `(source, fingerprint)` of each one resolved, so the dedup window can forget
    /// them: a finding that comes back must reach the apiserver to be re-opened.
    pub async fn resolve_vanished(
        &self,
        origin_uid: &str,
        present: &BTreeSet<String>,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>, WriteError> {
        let all: Api<Observation> = Api::all(self.client.clone());
        let selector = format!("{ORIGIN_UID_LABEL}={origin_uid}");
        let list = all
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| classify("", &selector, e))?;
        let mut resolved = Vec::new();
        for observation in list {
            let namespace = observation.namespace().unwrap_or_default();
            let name = observation.name_any();
            let open = observation
                .status
                .as_ref()
                .and_then(|s| s.resolved_at.as_ref())
                .is_none();
            if !open || present.contains(&name) {
                continue;
            }
            let identity = (
                observation.spec.source.clone(),
                observation.spec.fingerprint.clone().unwrap_or_default(),
            );
            let api: Api<Observation> = Api::namespaced(self.client.clone(), &namespace);
            // The listed object is current enough for the first attempt (a conflict re-reads).
            let patched = update_status(&api, &name, Some(observation), |current| {
                let already = current.status.as_ref().and_then(|s| s.resolved_at.as_ref());
                already
                    .is_none()
                    .then(|| json!({"resolvedAt": now.to_string()}))
            })
            .await
            .map_err(|e| classify(&namespace, &name, e))?;
            if patched {
                resolved.push(identity);
            }
        }
        Ok(resolved)
    }
}

async fn recur(
    api: &Api<Observation>,
    name: &str,
    seen_at: Timestamp,
) -> Result<Written, kube::Error> {
    let mut occurrences = 0;
    update_status(api, name, None, |current| {
        let status = current.status.clone().unwrap_or_default();
        occurrences = status.occurrences.unwrap_or(1) + 1;
        let seen_at = whole_seconds(seen_at);
        let last_seen = match status.last_seen_at {
            Some(previous) if previous.0 > seen_at => previous.0,
            _ => seen_at,
        };
        Some(json!({"occurrences": occurrences, "lastSeenAt": last_seen.to_string()}))
    })
    .await?;
    Ok(Written::Recurred { occurrences })
}

async fn reopen(api: &Api<Observation>, name: &str) -> Result<Written, kube::Error> {
    let reopened = update_status(api, name, None, |current| {
        let resolved = current.status.as_ref().and_then(|s| s.resolved_at.as_ref());
        resolved.map(|_| json!({"resolvedAt": null}))
    })
    .await?;
    Ok(if reopened {
        Written::Reopened
    } else {
        Written::Unchanged
    })
}

/// Reads the Observation (or starts from `known`, a copy just read) and, if `change` returns
/// a status patch, applies it as a merge patch guarded by that resourceVersion; re-reads and
/// retries on conflict. Returns whether it patched.
async fn update_status<F>(
    api: &Api<Observation>,
    name: &str,
    mut known: Option<Observation>,
    mut change: F,
) -> Result<bool, kube::Error>
where
    F: FnMut(&Observation) -> Option<serde_json::Value>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = match known.take() {
            Some(observation) => observation,
            None => api.get(name).await?,
        };
        let Some(status) = change(&current) else {
            return Ok(false);
        };
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version()},
            "status": status,
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() && attempt < CONFLICT_RETRIES => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Sorts an apiserver error into transient (retry, answer 503) or permanent (this event only).
fn classify(namespace: &str, name: &str, source: kube::Error) -> WriteError {
    let (transient, reason) = match &source {
        kube::Error::Api(status) => match status.code {
            404 if status
                .details
                .as_ref()
                .is_some_and(|d| d.kind == "namespaces") =>
            {
                (false, "namespace_not_found")
            }
            404 => (false, "not_found"),
            409 => (true, "conflict"),
            429 => (true, "throttled"),
            401 | 403 => (true, "unauthorized"),
            422 => (false, "invalid"),
            400 => (false, "bad_request"),
            code if code >= 500 => (true, "server_error"),
            _ => (false, "rejected"),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => (true, "connection"),
        _ => (true, "client"),
    };
    let namespace = namespace.to_string();
    let name = name.to_string();
    if transient {
        WriteError::Transient {
            namespace,
            name,
            reason,
            source,
        }
    } else {
        WriteError::Permanent {
            namespace,
            name,
            reason,
            source,
        }
    }
}
