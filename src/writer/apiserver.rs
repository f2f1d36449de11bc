//! Writes Observations: create, and on AlreadyExists do what the event's kind asks
//! (docs/architecture.md, "Two kinds of Observation"): an occurrence counts a delivery it has
//! not counted yet; a finding is left alone unless it was resolved, which re-opens it. Findings
//! that vanished get `status.resolvedAt`. Suppressed recurrences are counted in by
//! [`Writer::count_recurrences`].

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::admission::dedup::RECENT_DELIVERIES;
use crate::admission::{ObservationRef, Recurrences};
use crate::crd::{Observation, ObservationStatus};
use crate::event::{Delivery, Event, EventKind, Origin};
use crate::observation::{
    DELIVERY_ANNOTATION, ORIGIN_UID_LABEL, ORIGIN_WATCH_LABEL, ObservationSettings, build,
    whole_seconds,
};

/// The trace that created an Observation (when tracing is on), to find it in a tracing UI.
pub const TRACE_ID_ANNOTATION: &str = "zen.kube-zen.io/trace-id";

/// What a successful write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    /// An occurrence's new delivery counted: `status.occurrences` is now this.
    Recurred {
        occurrences: i64,
    },
    /// Already there and nothing to change: an open finding, or a delivery counted before (a
    /// re-send).
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

/// A successful write and where its Observation is (the event's namespace, or the watcher's
/// when the event's could not take it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub written: Written,
    pub observation: ObservationRef,
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
    /// A leader-only write whose replica is no longer leader: dropped unwritten (the new
    /// leader writes it from its own list).
    #[error("not written: this replica is no longer the leader")]
    Fenced,
}

impl WriteError {
    pub fn is_transient(&self) -> bool {
        matches!(self, WriteError::Transient { .. } | WriteError::Fenced)
    }

    /// A stable metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            WriteError::Transient { reason, .. } | WriteError::Permanent { reason, .. } => reason,
            WriteError::Fenced => "not_leader",
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
/// Page size when listing findings to resolve (whole objects: their status is needed).
const RESOLVE_PAGE_SIZE: u32 = 100;
/// Rounds of create-then-update: an Observation deleted between the two (GC) is created again.
const CREATE_ROUNDS: u32 = 3;

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
    pub async fn write(&self, event: &Event) -> Result<Stored, WriteError> {
        self.retrying(|| self.write_once(event)).await
    }

    /// Runs `attempt` until it succeeds, fails permanently or runs out of attempts.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, WriteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, WriteError>>,
    {
        let mut backoff = self.retry.first_backoff;
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(err) if err.is_transient() && tries < self.retry.attempts => {
                    tracing::debug!(error = %err, attempt = tries, "retrying an Observation write");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn write_once(&self, event: &Event) -> Result<Stored, WriteError> {
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
            // The event's namespace is gone, never existed or is being deleted: keep the
            // event, in ours.
            Err(WriteError::Permanent {
                reason: "namespace_not_found" | "namespace_terminating",
                ..
            }) if namespace != self.settings.fallback_namespace => {
                let fallback = self.settings.fallback_namespace.clone();
                observation.metadata.namespace = Some(fallback.clone());
                tracing::Span::current().record("k8s.namespace.name", fallback.as_str());
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
    ) -> Result<Stored, WriteError> {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), namespace);
        let name = observation.name_any();
        let fail = |source: kube::Error| classify(namespace, &name, source);
        let stored = |written| Stored {
            written,
            observation: ObservationRef {
                namespace: namespace.to_string(),
                name: name.clone(),
            },
        };
        let mut round = 1;
        loop {
            let exists = match api.create(&PostParams::default(), observation).await {
                Ok(_) => return Ok(stored(Written::Created)),
                Err(kube::Error::Api(status)) if status.is_already_exists() => true,
                Err(err) => return Err(fail(err)),
            };
            debug_assert!(exists);
            let updated = match &event.kind {
                EventKind::Occurrence {
                    delivery: Delivery::Identity,
                } => Ok(Written::Unchanged),
                EventKind::Occurrence {
                    delivery: Delivery::Id(id),
                } => {
                    let once = Recurrences {
                        deliveries: vec![*id],
                        uncounted_ids: 0,
                        last_seen: Some(event.detected_at),
                    };
                    count(&api, &name, &once)
                        .await
                        .map(|counted| match counted {
                            Some(occurrences) => Written::Recurred { occurrences },
                            None => Written::Unchanged,
                        })
                }
                EventKind::Finding { origin } => reopen(&api, &name, origin).await,
            };
            match updated {
                // Deleted between the create and the update (GC): create it again.
                Err(kube::Error::Api(status)) if status.code == 404 && round < CREATE_ROUNDS => {
                    round += 1;
                }
                other => return other.map(stored).map_err(fail),
            }
        }
    }

    /// Counts `recurrences` (suppressed deliveries of an occurrence) into the Observation: the
    /// deliveries it has not counted yet raise `status.occurrences` and join
    /// `status.deliveries`. Returns the new count, or `None` when every delivery was already
    /// counted (a re-send, or a flush whose response was lost and is retried).
    pub async fn count_recurrences(
        &self,
        observation: &ObservationRef,
        recurrences: &Recurrences,
    ) -> Result<Option<i64>, WriteError> {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), &observation.namespace);
        self.retrying(|| async {
            count(&api, &observation.name, recurrences)
                .await
                .map_err(|e| classify(&observation.namespace, &observation.name, e))
        })
        .await
    }

    /// Marks as resolved every open finding Observation of `origin_uid` whose name is not in
    /// `present` (names derive from the finding's identity, so they are unique per finding).
    /// `still_leader` is checked before each patch. Returns the `(source, fingerprint)` of each
    /// one resolved, so the dedup window can forget them: a finding that comes back must reach
    /// the apiserver to be re-opened.
    pub async fn resolve_vanished(
        &self,
        origin_uid: &str,
        present: &BTreeSet<String>,
        now: Timestamp,
        still_leader: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Vec<(String, String)>, WriteError> {
        let all: Api<Observation> = Api::all(self.client.clone());
        let selector = format!("{ORIGIN_UID_LABEL}={origin_uid}");
        let list = all
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| classify("", &selector, e))?;
        let mut resolved = Vec::new();
        for observation in list {
            let name = observation.name_any();
            if present.contains(&name) {
                continue;
            }
            if let Some(identity) = self.resolve(observation, now, still_leader).await? {
                resolved.push(identity);
            }
        }
        Ok(resolved)
    }

    /// Marks as resolved every open finding Observation written from the watch `watch` (label
    /// `zen.kube-zen.io/origin-watch`) whose name is not in `present`: after a full list, what
    /// the list no longer has. Listed in pages; `still_leader` is checked before each patch.
    pub async fn resolve_unlisted(
        &self,
        watch: &str,
        present: &HashSet<String>,
        now: Timestamp,
        still_leader: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Vec<(String, String)>, WriteError> {
        let all: Api<Observation> = Api::all(self.client.clone());
        let selector = format!("{ORIGIN_WATCH_LABEL}={watch}");
        let mut params = ListParams::default()
            .labels(&selector)
            .limit(RESOLVE_PAGE_SIZE);
        let mut resolved = Vec::new();
        loop {
            let page = all
                .list(&params)
                .await
                .map_err(|e| classify("", &selector, e))?;
            for observation in page.items {
                if present.contains(&observation.name_any()) {
                    continue;
                }
                if let Some(identity) = self.resolve(observation, now, still_leader).await? {
                    resolved.push(identity);
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(resolved),
            }
        }
    }

    /// Resolves one finding Observation (a copy just listed) unless it already is; returns its
    /// `(source, fingerprint)` when this call resolved it.
    pub async fn resolve(
        &self,
        observation: Observation,
        now: Timestamp,
        still_leader: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Option<(String, String)>, WriteError> {
        if is_resolved(&observation) {
            return Ok(None);
        }
        if !still_leader() {
            return Err(WriteError::Fenced);
        }
        let namespace = observation.namespace().unwrap_or_default();
        let name = observation.name_any();
        let identity = (
            observation.spec.source.clone(),
            observation.spec.fingerprint.clone().unwrap_or_default(),
        );
        let api: Api<Observation> = Api::namespaced(self.client.clone(), &namespace);
        // The listed object is current enough for the first attempt (a conflict re-reads).
        let patched = update_status(&api, &name, Some(observation), |current| {
            (!is_resolved(current)).then(|| json!({"resolvedAt": now.to_string()}))
        })
        .await
        .map_err(|e| classify(&namespace, &name, e))?;
        Ok(patched.is_some().then_some(identity))
    }
}

fn is_resolved(observation: &Observation) -> bool {
    observation
        .status
        .as_ref()
        .is_some_and(|s| s.resolved_at.is_some())
}

/// The deliveries the Observation has counted already.
fn counted_deliveries(observation: &Observation) -> BTreeSet<String> {
    let mut counted: BTreeSet<String> = observation
        .status
        .as_ref()
        .and_then(|s| s.deliveries.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    if let Some(first) = observation.annotations().get(DELIVERY_ANNOTATION) {
        counted.insert(first.clone());
    }
    counted
}

/// The status patch that counts `recurrences` into `current`, or `None` when it has counted
/// every one of them already. Pure: what to write follows from what was read.
pub fn occurrence_patch(
    current: &Observation,
    recurrences: &Recurrences,
) -> Option<(i64, serde_json::Value)> {
    let counted = counted_deliveries(current);
    let new: Vec<String> = recurrences
        .deliveries
        .iter()
        .map(|d| d.to_string())
        .filter(|d| !counted.contains(d))
        .collect();
    let added = new.len() as i64 + recurrences.uncounted_ids as i64;
    if added == 0 {
        return None;
    }
    let status = current.status.clone().unwrap_or_default();
    let occurrences = status.occurrences.unwrap_or(1) + added;
    let mut deliveries = status.deliveries.clone().unwrap_or_default();
    deliveries.extend(new);
    let excess = deliveries.len().saturating_sub(RECENT_DELIVERIES);
    deliveries.drain(..excess);
    let mut patch = json!({"occurrences": occurrences, "deliveries": deliveries});
    if let Some(seen) = recurrences.last_seen.map(whole_seconds) {
        let last_seen = latest(&status, seen);
        patch["lastSeenAt"] = json!(last_seen.to_string());
    }
    Some((occurrences, patch))
}

fn latest(status: &ObservationStatus, seen: Timestamp) -> Timestamp {
    match &status.last_seen_at {
        Some(previous) if previous.0 > seen => previous.0,
        _ => seen,
    }
}

async fn count(
    api: &Api<Observation>,
    name: &str,
    recurrences: &Recurrences,
) -> Result<Option<i64>, kube::Error> {
    let mut occurrences = None;
    update_status(api, name, None, |current| {
        let (count, patch) = occurrence_patch(current, recurrences)?;
        occurrences = Some(count);
        Some(patch)
    })
    .await?;
    Ok(occurrences)
}

/// A finding seen again: re-opened if it was resolved, and its origin labels moved to the
/// object it now comes from (a report re-created under a new uid; an Observation written
/// before it had them) so resolution follows the finding.
async fn reopen(
    api: &Api<Observation>,
    name: &str,
    origin: &Origin,
) -> Result<Written, kube::Error> {
    let mut stale_labels = false;
    let reopened = update_status(api, name, None, |current| {
        let labels = current.labels();
        stale_labels = labels.get(ORIGIN_UID_LABEL) != Some(&origin.uid)
            || labels.get(ORIGIN_WATCH_LABEL) != Some(&origin.watch);
        is_resolved(current).then(|| json!({"resolvedAt": null}))
    })
    .await?;
    if stale_labels {
        let patch = json!({"metadata": {"labels": {
            ORIGIN_UID_LABEL: origin.uid,
            ORIGIN_WATCH_LABEL: origin.watch,
        }}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(if reopened.is_some() {
        Written::Reopened
    } else {
        Written::Unchanged
    })
}

/// Reads the Observation (or starts from `known`, a copy just read) and, if `change` returns
/// a status patch, applies it as a merge patch guarded by that resourceVersion; re-reads and
/// retries on conflict. Returns the patched object, or `None` when there was nothing to change.
async fn update_status<F>(
    api: &Api<Observation>,
    name: &str,
    mut known: Option<Observation>,
    mut change: F,
) -> Result<Option<Observation>, kube::Error>
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
            return Ok(None);
        };
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version()},
            "status": status,
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(patched) => return Ok(Some(patched)),
            Err(kube::Error::Api(s)) if s.is_conflict() && attempt < CONFLICT_RETRIES => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Whether an apiserver error may pass (retry; a webhook answers 503) or concerns this event
/// for good (count it, log it, acknowledge the rest), and a stable reason for metrics. Every
/// case is decided here on purpose; docs/architecture.md ("Errors") has the table.
pub fn classify_error(source: &kube::Error) -> (bool, &'static str) {
    match source {
        kube::Error::Api(status) => match status.code {
            400 => (false, "bad_request"),
            401 => (true, "unauthorized"),
            403 if is_terminating(status) => (false, "namespace_terminating"),
            403 => (false, "forbidden"),
            404 if status
                .details
                .as_ref()
                .is_some_and(|d| d.kind == "namespaces") =>
            {
                (false, "namespace_not_found")
            }
            // The object vanished between reads (GC, a user's delete): retried.
            404 if status
                .details
                .as_ref()
                .is_some_and(|d| d.kind == "observations") =>
            {
                (true, "not_found")
            }
            // No such API: the Observation CRD is not installed (yet).
            404 => (true, "api_not_served"),
            405 => (false, "method_not_allowed"),
            409 => (true, "conflict"),
            410 => (true, "gone"),
            413 => (false, "too_large"),
            415 => (false, "unsupported_media_type"),
            422 => (false, "invalid"),
            429 => (true, "throttled"),
            code if code >= 500 => (true, "server_error"),
            _ => (false, "rejected"),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            (true, "connection")
        }
        kube::Error::Auth(_) => (true, "credentials"),
        // An unreadable answer (a proxy's error page): the write may have happened; a retry
        // finds out.
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => (true, "unreadable_response"),
        // The request itself could not be built from this event: retrying cannot help.
        kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => (false, "invalid_request"),
        _ => (true, "client"),
    }
}

/// A 403 because the namespace is being deleted ("unable to create new content in namespace
/// X because it is being terminated").
fn is_terminating(status: &kube::core::Status) -> bool {
    let cause = status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"));
    cause || status.message.contains("because it is being terminated")
}

fn classify(namespace: &str, name: &str, source: kube::Error) -> WriteError {
    let (transient, reason) = classify_error(&source);
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

#[cfg(test)]
mod tests;
