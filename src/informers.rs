//! Leader-only watchers of report CRDs: Kyverno PolicyReports and ClusterPolicyReports,
//! openreports Reports and ClusterReports, Trivy (Cluster)VulnerabilityReports.
//!
//! Each kind is watched only once discovery shows its API (polled, so an API installed later
//! is picked up; no CRD read rights needed). Watches list in small pages and deserialise only
//! the fields the sources read; no report is kept in memory after it is processed. Every
//! applied report becomes findings (created, no-op on replay, re-opened when they return);
//! findings that vanished from their report, or whose report was deleted, are resolved.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::crd::Gvr;
use crate::discovery::{DISCOVERY_INTERVAL, Discovered, discover};
use crate::event::Event;
use crate::ingest::{Mode, Pipeline};
use crate::sources::{kyverno, trivy};
use crate::writer::{WriteQueue, Writer, name_of};

/// List page size: small, so a cluster with thousands of large reports never sits in memory.
pub const PAGE_SIZE: u32 = 50;

/// A report kind whose objects carry findings.
pub trait FindingReport:
    Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug + Send + Sync + 'static
{
    /// The report's findings as events; `fallback` stands in for missing timestamps.
    fn findings(&self, fallback: Timestamp) -> Vec<Event>;
}

impl<K: kyverno::ReportKind + Send + Sync + 'static> FindingReport for kyverno::Report<K>
where
    kyverno::Report<K>: Resource<DynamicType = ()>,
{
    fn findings(&self, fallback: Timestamp) -> Vec<Event> {
        kyverno::events_from_report(self, fallback)
    }
}

impl<K: trivy::ReportKind + Send + Sync + 'static> FindingReport for trivy::VulnReport<K>
where
    trivy::VulnReport<K>: Resource<DynamicType = ()>,
{
    fn findings(&self, fallback: Timestamp) -> Vec<Event> {
        trivy::events_from_report(self, fallback)
    }
}

/// What the report watchers share.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub pipeline: Arc<Pipeline>,
    pub queue: WriteQueue,
    pub writer: Arc<Writer>,
    /// The fenced leadership check; a watcher stops writing the moment it turns false.
    pub still_leader: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// Watches every report kind until `cancel` fires (leadership lost or shutdown).
pub async fn run(context: Context, cancel: CancellationToken) {
    let tasks = vec![
        tokio::spawn(watch_when_served::<kyverno::PolicyReport>(
            context.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::ClusterPolicyReport>(
            context.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::OpenReport>(
            context.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::OpenClusterReport>(
            context.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<trivy::VulnerabilityReport>(
            context.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<trivy::ClusterVulnerabilityReport>(
            context, cancel,
        )),
    ];
    for task in tasks {
        if let Err(err) = task.await {
            tracing::error!(error = %err, "a report watcher task failed");
        }
    }
}

async fn watch_when_served<R: FindingReport>(context: Context, cancel: CancellationToken) {
    let api_version = R::api_version(&());
    let plural = R::plural(&()).into_owned();
    let gvr = Gvr {
        group: R::group(&()).into_owned(),
        version: R::version(&()).into_owned(),
        resource: plural.clone(),
    };
    loop {
        match discover(&context.client, &gvr).await {
            Ok(Discovered::Found { .. }) => break,
            Ok(other) => {
                tracing::debug!(%api_version, %plural, ?other, "report API not served (or not watchable) yet")
            }
            Err(err) => tracing::warn!(%api_version, %plural, error = %err, "discovery failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(DISCOVERY_INTERVAL) => {}
        }
    }
    tracing::info!(%api_version, %plural, "watching reports");
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = watch::<R>(&context) => {}
    }
}

async fn watch<R: FindingReport>(context: &Context) {
    let api: Api<R> = Api::all(context.client.clone());
    let config = watcher::Config::default().page_size(PAGE_SIZE);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(WatchEvent::Apply(report) | WatchEvent::InitApply(report)) => {
                apply(context, &report).instrument(root_span(&report)).await;
            }
            Ok(WatchEvent::Delete(report)) => {
                resolve(context, &report, &BTreeSet::new())
                    .instrument(root_span(&report))
                    .await;
            }
            Ok(WatchEvent::Init | WatchEvent::InitDone) => {}
            Err(err) => tracing::warn!(kind = %R::kind(&()), error = %err, "report watch error"),
        }
    }
}

/// A root span per watched report event (informer events have no upstream trace).
fn root_span<R: FindingReport>(report: &R) -> tracing::Span {
    crate::spans::informer(
        &R::kind(&()),
        &report.uid().unwrap_or_default(),
        &report.resource_version().unwrap_or_default(),
    )
}

async fn apply<R: FindingReport>(context: &Context, report: &R) {
    if !(context.still_leader)() {
        return;
    }
    let events = report.findings(Timestamp::now());
    let present: BTreeSet<String> = events.iter().map(name_of).collect();
    let outcome = context
        .pipeline
        .ingest(
            events,
            None,
            &context.queue,
            Mode::watched(context.still_leader.clone(), false),
        )
        .await;
    tracing::debug!(
        kind = %R::kind(&()),
        report = %report.name_any(),
        findings = present.len(),
        written = outcome.written,
        filtered = outcome.filtered,
        duplicates = outcome.duplicates,
        rejected = outcome.rejected,
        "report processed"
    );
    if !outcome.acknowledged() {
        tracing::warn!(
            kind = %R::kind(&()),
            report = %report.name_any(),
            not_written = outcome.retry,
            "some findings could not be written; they are retried on the next change or resync"
        );
    }
    resolve(context, report, &present).await;
}

async fn resolve<R: FindingReport>(context: &Context, report: &R, present: &BTreeSet<String>) {
    let Some(uid) = report.uid() else {
        return;
    };
    if !(context.still_leader)() {
        return;
    }
    match context
        .writer
        .resolve_vanished(&uid, present, Timestamp::now(), &*context.still_leader)
        .await
    {
        Ok(resolved) => context.pipeline.resolved(&resolved),
        Err(err) => {
            tracing::warn!(report = %report.name_any(), error = %err, "resolving vanished findings failed")
        }
    }
}
