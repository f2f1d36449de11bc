//! The watch loop every source of findings runs (report kinds, informer Ingesters): findings are
//! level-triggered (docs/architecture.md, "Findings").
//!
//! - Every applied object's findings are written; those that no longer pass the filter, or
//!   left the object, are resolved.
//! - A (re)list (a new leader's start, a relist after 410) checks every finding against the
//!   apiserver, and when it is complete resolves every open finding of this watch whose object
//!   (or finding) the list no longer has: deleted during a failover or while no leader ran.
//! - An object whose findings could not all be written (or resolved) is read again and applied
//!   again with backoff, until it is written, refused for good, changed or deleted.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use super::findings::Findings;
use crate::admission::IngesterRules;
use crate::event::Event;
use crate::writer::WriteError;

/// First wait before an object whose findings were not written is applied again.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// A source of findings: what is watched and how an object becomes findings.
pub trait Watched: Send + Sync {
    type Object: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static;

    /// The `zen.kube-zen.io/origin-watch` label of this watch's findings.
    fn watch_id(&self) -> &str;

    /// The object kind, for spans and logs.
    fn kind(&self) -> &str;

    /// The object's findings (all of them: the filter decides which are present).
    fn findings(&self, object: &Self::Object) -> Vec<Event>;

    /// The Ingester's own filter and dedup settings, if any.
    fn rules(&self) -> Option<&IngesterRules> {
        None
    }

    /// A complete list was processed.
    fn listed(&self, _objects: usize) {}

    /// The watch failed (it is retried with backoff by the watcher).
    fn failed(&self, err: &watcher::Error) {
        tracing::warn!(kind = %self.kind(), error = %err, "watch error");
    }
}

/// Where one object is, to read it again.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    namespace: Option<String>,
    name: String,
}

impl ObjectKey {
    fn of<K: Resource>(object: &K) -> Self {
        Self {
            namespace: object.namespace(),
            name: object.name_any(),
        }
    }
}

/// Objects to apply again, each with its next attempt and backoff.
#[derive(Default)]
struct Retries {
    due: BTreeMap<ObjectKey, (Instant, Duration)>,
}

impl Retries {
    /// Schedules `key` again: after [`RETRY_FIRST`], doubling up to [`RETRY_MAX`].
    fn schedule(&mut self, key: ObjectKey, now: Instant) {
        let backoff = self
            .due
            .get(&key)
            .map_or(RETRY_FIRST, |(_, b)| (*b * 2).min(RETRY_MAX));
        self.due.insert(key, (now + backoff, backoff));
    }

    fn clear(&mut self, key: &ObjectKey) {
        self.due.remove(key);
    }

    fn next(&self) -> Option<Instant> {
        self.due.values().map(|(at, _)| *at).min()
    }

    /// The keys due at `now`; they keep their backoff until cleared.
    fn take_due(&self, now: Instant) -> Vec<ObjectKey> {
        self.due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// Runs one watch until its stream ends (never, in practice: the caller cancels it). `api`
/// lists and watches, and reads an object again for a retry.
pub async fn run<W: Watched>(
    watched: &W,
    api: Api<W::Object>,
    config: watcher::Config,
    findings: &Findings,
) {
    let mut events = watcher::watcher(api.clone(), config)
        .default_backoff()
        .boxed();
    let mut listing: Option<(HashSet<String>, usize)> = None;
    let mut retries = Retries::default();
    loop {
        let next_retry = retries.next();
        let event = tokio::select! {
            event = events.next() => event,
            _ = sleep_until(next_retry) => {
                retry_due(watched, &api, findings, &mut retries).await;
                continue;
            }
        };
        let Some(event) = event else {
            return;
        };
        match event {
            Ok(WatchEvent::Init) => listing = Some((HashSet::new(), 0)),
            Ok(WatchEvent::InitApply(object)) => {
                let span = root_span(watched, &object);
                let present = apply(watched, findings, &object, true, &mut retries)
                    .instrument(span)
                    .await;
                if let Some((names, count)) = listing.as_mut() {
                    names.extend(present);
                    *count += 1;
                }
            }
            Ok(WatchEvent::InitDone) => {
                if let Some((present, objects)) = listing.take() {
                    resolve_unlisted(watched, findings, &present, objects).await;
                    watched.listed(objects);
                }
            }
            Ok(WatchEvent::Apply(object)) => {
                let span = root_span(watched, &object);
                apply(watched, findings, &object, false, &mut retries)
                    .instrument(span)
                    .await;
            }
            Ok(WatchEvent::Delete(object)) => {
                retries.clear(&ObjectKey::of(&object));
                let span = root_span(watched, &object);
                deleted(watched, findings, &object).instrument(span).await;
            }
            Err(err) => watched.failed(&err),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes `object`'s findings and, outside a list, resolves those it no longer has; schedules
/// it again if anything was not written. Returns its present findings.
async fn apply<W: Watched>(
    watched: &W,
    findings: &Findings,
    object: &W::Object,
    listing: bool,
    retries: &mut Retries,
) -> BTreeSet<String> {
    let key = ObjectKey::of(object);
    if !findings.is_leader() {
        return BTreeSet::new();
    }
    let applied = findings
        .write(watched.findings(object), watched.rules(), listing)
        .await;
    // During a list, what vanished is resolved once the list is complete.
    let resolved = match (listing, object.uid()) {
        (false, Some(uid)) => findings.resolve_vanished(&uid, &applied.present).await,
        _ => Ok(0),
    };
    let failed = match resolved {
        Ok(_) | Err(WriteError::Fenced) => false,
        Err(err) => {
            tracing::warn!(kind = %watched.kind(), object = %key.name, error = %err, "resolving vanished findings failed; retried");
            err.is_transient()
        }
    };
    if applied.unwritten || failed {
        tracing::warn!(kind = %watched.kind(), object = %key.name, "some findings were not written; retried with backoff");
        retries.schedule(key, Instant::now());
    } else {
        retries.clear(&key);
    }
    applied.present
}

/// A deleted object: all its findings are resolved.
async fn deleted<W: Watched>(watched: &W, findings: &Findings, object: &W::Object) {
    let Some(uid) = object.uid() else {
        return;
    };
    match findings.resolve_vanished(&uid, &BTreeSet::new()).await {
        Ok(_) | Err(WriteError::Fenced) => {}
        // The next list resolves it (its object is gone from it).
        Err(err) => {
            tracing::warn!(kind = %watched.kind(), object = %object.name_any(), error = %err, "resolving a deleted object's findings failed")
        }
    }
}

async fn resolve_unlisted<W: Watched>(
    watched: &W,
    findings: &Findings,
    present: &HashSet<String>,
    objects: usize,
) {
    match findings.resolve_unlisted(watched.watch_id(), present).await {
        Ok(resolved) => tracing::info!(
            kind = %watched.kind(),
            objects,
            present = present.len(),
            resolved,
            "listed: findings no longer present resolved"
        ),
        Err(WriteError::Fenced) => {}
        // Tried again at the next list.
        Err(err) => {
            tracing::warn!(kind = %watched.kind(), error = %err, "resolving findings missing from the list failed")
        }
    }
}

/// Reads every object due for another attempt and applies it again.
async fn retry_due<W: Watched>(
    watched: &W,
    api: &Api<W::Object>,
    findings: &Findings,
    retries: &mut Retries,
) {
    for key in retries.take_due(Instant::now()) {
        // By field selector: the same call for namespaced and cluster-scoped kinds.
        let mut fields = format!("metadata.name={}", key.name);
        if let Some(namespace) = &key.namespace {
            fields.push_str(&format!(",metadata.namespace={namespace}"));
        }
        let found = api
            .list(&ListParams::default().fields(&fields))
            .await
            .map(|list| list.items.into_iter().next());
        match found {
            Ok(Some(object)) => {
                let span = root_span(watched, &object);
                apply(watched, findings, &object, false, retries)
                    .instrument(span)
                    .await;
            }
            // Deleted: its Delete event resolves it.
            Ok(None) => retries.clear(&key),
            Err(err) => {
                tracing::debug!(kind = %watched.kind(), object = %key.name, error = %err, "reading an object again failed");
                retries.schedule(key, Instant::now());
            }
        }
    }
}

/// A root span per watched object event (watch events have no upstream trace).
fn root_span<W: Watched>(watched: &W, object: &W::Object) -> tracing::Span {
    crate::spans::informer(
        watched.kind(),
        &object.uid().unwrap_or_default(),
        &object.resource_version().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests;
