//! Garbage collection of expired Observations (leader only). An occurrence expires its TTL
//! after creation; a finding expires its TTL after it was resolved (an open finding is still
//! true and is kept). The leader lists the Observations it manages in pages of 500 and deletes
//! the expired ones with uid and resourceVersion preconditions, so an Observation re-created,
//! re-opened or counted again since the list survives. A run stops between pages and before
//! each deletion once it is cancelled or leadership is lost.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::crd::Observation;
use crate::observation::{MANAGED_BY, MANAGED_BY_LABEL, ORIGIN_UID_LABEL};

pub const GC_LIST_PAGE_SIZE: u32 = 500;

/// Why an Observation is due for deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// An occurrence older than its TTL.
    Occurrence,
    /// A finding resolved longer ago than its TTL.
    ResolvedFinding,
}

/// Whether `observation` has expired at `now`. `default_ttl` applies when the spec has none.
pub fn expired(observation: &Observation, now: Timestamp, default_ttl: Duration) -> Option<Expiry> {
    let ttl_seconds = observation
        .spec
        .ttl_seconds_after_creation
        .filter(|s| *s > 0)
        .unwrap_or(default_ttl.as_secs() as i64);
    let ttl = SignedDuration::from_secs(ttl_seconds);
    let is_finding = observation.labels().contains_key(ORIGIN_UID_LABEL);
    if is_finding {
        let resolved = observation.status.as_ref()?.resolved_at.as_ref()?.0;
        return (resolved.checked_add(ttl).ok()? <= now).then_some(Expiry::ResolvedFinding);
    }
    let created = observation.metadata.creation_timestamp.as_ref()?.0;
    (created.checked_add(ttl).ok()? <= now).then_some(Expiry::Occurrence)
}

/// What one GC run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub scanned: usize,
    pub deleted: usize,
    /// Deletions that found the object gone or replaced (precondition failed): not errors.
    pub skipped: usize,
    pub failed: usize,
    /// The run stopped early: leadership lost, cancelled or timed out.
    pub interrupted: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok`, `interrupted` or `failed`.
    pub result: String,
}

/// What GC exposes: runs by result and Observations deleted.
#[derive(Clone, Debug, Default)]
pub struct GcMetrics {
    pub gc_runs: Family<ResultLabels, Counter>,
    pub gc_deleted: Counter,
}

impl GcMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "gc_runs",
            "GC runs, by result (ok, interrupted, failed)",
            metrics.gc_runs.clone(),
        );
        registry.register(
            "gc_deleted",
            "Expired Observations deleted by GC",
            metrics.gc_deleted.clone(),
        );
        metrics
    }

    /// Counts one GC run and what it deleted, and logs it.
    pub fn run(&self, result: &Result<RunSummary, GcError>) {
        let outcome = match result {
            Ok(summary) if summary.interrupted => "interrupted",
            Ok(_) => "ok",
            Err(_) => "failed",
        };
        self.gc_runs
            .get_or_create(&ResultLabels {
                result: outcome.into(),
            })
            .inc();
        match result {
            Ok(summary) => {
                self.gc_deleted.inc_by(summary.deleted as u64);
                tracing::info!(
                    scanned = summary.scanned,
                    deleted = summary.deleted,
                    failed = summary.failed,
                    interrupted = summary.interrupted,
                    "GC run"
                );
            }
            Err(err) => tracing::warn!(error = %err, "GC run failed"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("listing Observations: {0}")]
    List(#[source] kube::Error),
    #[error("GC run exceeded GC_TIMEOUT ({0:?})")]
    Timeout(Duration),
}

/// One pass over every managed Observation. `still_leader` is checked before each deletion
/// (fencing: a replica that lost the Lease stops deleting at once).
pub async fn run_once(
    client: &Client,
    default_ttl: Duration,
    still_leader: &(dyn Fn() -> bool + Send + Sync),
    cancel: &CancellationToken,
) -> Result<RunSummary, GcError> {
    let all: Api<Observation> = Api::all(client.clone());
    let mut params = ListParams::default()
        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"))
        .limit(GC_LIST_PAGE_SIZE);
    let mut summary = RunSummary::default();
    loop {
        let page = all.list(&params).await.map_err(GcError::List)?;
        let now = Timestamp::now();
        for observation in &page.items {
            summary.scanned += 1;
            if expired(observation, now, default_ttl).is_none() {
                continue;
            }
            if cancel.is_cancelled() || !still_leader() {
                summary.interrupted = true;
                return Ok(summary);
            }
            delete(client, observation, &mut summary).await;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(_) if cancel.is_cancelled() || !still_leader() => {
                summary.interrupted = true;
                return Ok(summary);
            }
            Some(token) => params = params.continue_token(&token),
            None => return Ok(summary),
        }
    }
}

async fn delete(client: &Client, observation: &Observation, summary: &mut RunSummary) {
    let namespace = observation.namespace().unwrap_or_default();
    let name = observation.name_any();
    let api: Api<Observation> = Api::namespaced(client.clone(), &namespace);
    match api.delete(&name, &delete_params(observation)).await {
        Ok(_) => summary.deleted += 1,
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => summary.skipped += 1,
        Err(err) => {
            tracing::warn!(%namespace, %name, error = %err, "GC could not delete an expired Observation");
            summary.failed += 1;
        }
    }
}

/// Deletes exactly the listed object: not one re-created (uid), re-opened or counted again
/// (resourceVersion) since the list.
fn delete_params(observation: &Observation) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid: observation.uid(),
            resource_version: observation.resource_version(),
        }),
        ..Default::default()
    }
}

/// Runs GC now and then every `interval` until `cancel` fires, each run bounded by `timeout`.
/// `on_run` receives each run's outcome (for metrics and logs).
pub async fn run(
    client: Client,
    default_ttl: Duration,
    interval: Duration,
    timeout: Duration,
    still_leader: impl Fn() -> bool + Send + Sync,
    cancel: CancellationToken,
    on_run: impl Fn(&Result<RunSummary, GcError>),
) {
    loop {
        let result = match tokio::time::timeout(
            timeout,
            run_once(&client, default_ttl, &still_leader, &cancel),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(GcError::Timeout(timeout)),
        };
        on_run(&result);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests;
