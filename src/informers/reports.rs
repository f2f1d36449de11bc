//! The report kinds the leader watches: Kyverno PolicyReports and ClusterPolicyReports,
//! openreports Reports and ClusterReports, Trivy (Cluster)VulnerabilityReports.
//!
//! Each kind is watched only once discovery shows its API (polled, so an API installed later
//! is picked up; no CRD read rights needed). Watches list in small pages and deserialise only
//! the fields the sources read; no report is kept in memory after it is processed.

use std::fmt::Debug;
use std::marker::PhantomData;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::discovery::{DISCOVERY_INTERVAL, Discovered, discover};
use super::findings::Findings;
use super::watch::{self, Watched};
use crate::crd::Gvr;
use crate::event::Event;
use crate::sources::{kyverno, trivy};

/// List page size: small, so a cluster with thousands of large reports never sits in memory.
pub const REPORT_LIST_PAGE_SIZE: u32 = 50;

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

/// The watch of one report kind.
struct Reports<R> {
    watch_id: String,
    kind: String,
    report: PhantomData<fn() -> R>,
}

impl<R: FindingReport> Watched for Reports<R> {
    type Object = R;

    fn watch_id(&self) -> &str {
        &self.watch_id
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn findings(&self, report: &R) -> Vec<Event> {
        report.findings(Timestamp::now())
    }
}

/// Watches every report kind until `cancel` fires (leadership lost or shutdown).
pub async fn run(client: Client, findings: Findings, cancel: CancellationToken) {
    let tasks = vec![
        tokio::spawn(watch_when_served::<kyverno::PolicyReport>(
            client.clone(),
            findings.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::ClusterPolicyReport>(
            client.clone(),
            findings.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::OpenReport>(
            client.clone(),
            findings.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<kyverno::OpenClusterReport>(
            client.clone(),
            findings.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<trivy::VulnerabilityReport>(
            client.clone(),
            findings.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch_when_served::<trivy::ClusterVulnerabilityReport>(
            client, findings, cancel,
        )),
    ];
    for task in tasks {
        if let Err(err) = task.await {
            tracing::error!(error = %err, "a report watcher task failed");
        }
    }
}

async fn watch_when_served<R: FindingReport>(
    client: Client,
    findings: Findings,
    cancel: CancellationToken,
) {
    let api_version = R::api_version(&());
    let plural = R::plural(&()).into_owned();
    let group = R::group(&()).into_owned();
    let gvr = Gvr {
        group: group.clone(),
        version: R::version(&()).into_owned(),
        resource: plural.clone(),
    };
    loop {
        match discover(&client, &gvr).await {
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
    let reports = Reports::<R> {
        watch_id: format!("{plural}.{group}"),
        kind: R::kind(&()).into_owned(),
        report: PhantomData,
    };
    let config = watcher::Config::default().page_size(REPORT_LIST_PAGE_SIZE);
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = watch::run(&reports, Api::all(client), config, &findings) => {}
    }
}

#[cfg(test)]
mod tests;
