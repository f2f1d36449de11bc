//! The leader's part: one source per informer Ingester, and status writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Orchestrator;
use super::events::{IngesterEvents, ready_event};
use super::plan::{IngesterKey, Plan, PlannedIngester, Revision};
use super::source::{Source, SourceReport};
use super::status::{ReadyCondition, next_status, status_patch};
use crate::crd::{Ingester, IngesterStatus};

/// How often statuses are compared again, so a failed write is retried.
const STATUS_RETRY: Duration = Duration::from_secs(30);

struct Running {
    revision: Revision,
    cancel: CancellationToken,
}

struct Leader {
    orchestrator: Arc<Orchestrator>,
    term: CancellationToken,
    tasks: TaskTracker,
    reports: mpsc::UnboundedSender<SourceReport>,
    sources: BTreeMap<IngesterKey, Running>,
    /// The latest readiness each running source reported.
    reported: BTreeMap<IngesterKey, ReadyCondition>,
    /// What this term wrote last, until the Ingester watch brings it back.
    written: BTreeMap<IngesterKey, (Revision, IngesterStatus)>,
    events: IngesterEvents,
}

pub(super) async fn run(orchestrator: Arc<Orchestrator>, term: CancellationToken) {
    let mut plans = orchestrator.plan.subscribe();
    let (reports, mut incoming) = mpsc::unbounded_channel();
    let events = IngesterEvents::new(orchestrator.client.clone(), &orchestrator.settings.identity);
    let mut leader = Leader {
        orchestrator,
        term: term.clone(),
        tasks: TaskTracker::new(),
        reports,
        sources: BTreeMap::new(),
        reported: BTreeMap::new(),
        written: BTreeMap::new(),
        events,
    };
    let mut retry = tokio::time::interval(STATUS_RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let plan = plans.borrow_and_update().clone();
        if let Some(plan) = plan {
            leader.reconcile_sources(&plan);
            leader.write_statuses(&plan).await;
        }
        tokio::select! {
            _ = term.cancelled() => break,
            changed = plans.changed() => if changed.is_err() { break },
            Some(report) = incoming.recv() => {
                leader.record(report);
                while let Ok(report) = incoming.try_recv() {
                    leader.record(report);
                }
            }
            _ = retry.tick() => {}
        }
    }
    leader.stop().await;
}

/// Which sources to stop (gone, or their Ingester changed) and which to start.
pub(super) fn diff_sources(
    running: &BTreeMap<IngesterKey, Revision>,
    wanted: &BTreeMap<IngesterKey, Revision>,
) -> (Vec<IngesterKey>, Vec<IngesterKey>) {
    let stop: Vec<IngesterKey> = running
        .iter()
        .filter(|(key, revision)| wanted.get(*key) != Some(*revision))
        .map(|(key, _)| key.clone())
        .collect();
    let start = wanted
        .iter()
        .filter(|(key, revision)| running.get(*key) != Some(*revision))
        .map(|(key, _)| key.clone())
        .collect();
    (stop, start)
}

impl Leader {
    fn reconcile_sources(&mut self, plan: &Plan) {
        let running = self
            .sources
            .iter()
            .map(|(key, r)| (key.clone(), r.revision.clone()))
            .collect();
        let wanted = plan
            .ingesters
            .iter()
            .filter(|(_, p)| p.informer.is_some())
            .map(|(key, p)| (key.clone(), p.revision.clone()))
            .collect();
        let (stop, start) = diff_sources(&running, &wanted);
        for key in stop {
            if let Some(source) = self.sources.remove(&key) {
                tracing::info!(ingester = %key, "stopping Ingester informer");
                source.cancel.cancel();
            }
            self.reported.remove(&key);
        }
        for key in start {
            if let Some(planned) = plan.ingesters.get(&key) {
                self.start(key, planned);
            }
        }
    }

    fn start(&mut self, key: IngesterKey, planned: &PlannedIngester) {
        let Some(informer) = planned.informer.clone() else {
            return;
        };
        tracing::info!(ingester = %key, "starting Ingester informer");
        let cancel = self.term.child_token();
        let source = Source {
            key: key.clone(),
            revision: planned.revision.clone(),
            plan: informer,
            client: self.orchestrator.client.clone(),
            findings: self.orchestrator.findings.clone(),
            reports: self.reports.clone(),
        };
        self.tasks.spawn(source.run(cancel.clone()));
        let revision = planned.revision.clone();
        self.sources.insert(key, Running { revision, cancel });
    }

    /// Keeps a report of a source still running with the same revision.
    fn record(&mut self, report: SourceReport) {
        let current = self
            .sources
            .get(&report.key)
            .is_some_and(|r| r.revision == report.revision);
        if current {
            self.reported.insert(report.key, report.readiness);
        }
    }

    /// The readiness to write; `None` for a source that has not reported yet.
    fn readiness<'a>(
        &'a self,
        key: &IngesterKey,
        planned: &'a PlannedIngester,
    ) -> Option<&'a ReadyCondition> {
        if planned.informer.is_some() {
            self.reported.get(key)
        } else {
            Some(&planned.readiness)
        }
    }

    async fn write_statuses(&mut self, plan: &Plan) {
        self.written
            .retain(|key, _| plan.ingesters.contains_key(key));
        for (key, planned) in &plan.ingesters {
            if self.term.is_cancelled() || !self.orchestrator.findings.is_leader() {
                return;
            }
            let Some(status) = self.status_to_write(key, planned) else {
                continue;
            };
            match patch_status(&self.orchestrator, key, &status).await {
                Ok(()) => {
                    let before = self
                        .written
                        .get(key)
                        .filter(|(revision, _)| revision.uid == planned.revision.uid)
                        .map_or(&planned.status, |(_, written)| written);
                    if let Some(event) = ready_event(before, &status) {
                        self.events.publish(key, &planned.revision, &event).await;
                    }
                    self.written
                        .insert(key.clone(), (planned.revision.clone(), status));
                }
                Err(err) => {
                    tracing::warn!(ingester = %key, error = %err, "writing the Ingester status failed; retried")
                }
            }
        }
    }

    fn status_to_write(
        &mut self,
        key: &IngesterKey,
        planned: &PlannedIngester,
    ) -> Option<IngesterStatus> {
        let caught_up = self.written.get(key).is_some_and(|(revision, status)| {
            *revision != planned.revision || *status == planned.status
        });
        if caught_up {
            self.written.remove(key);
        }
        let readiness = self.readiness(key, planned)?;
        let last_written = self.written.get(key).map(|(_, status)| status);
        next_status(
            &planned.status,
            last_written,
            readiness,
            planned.revision.generation,
            Timestamp::now(),
        )
    }

    async fn stop(self) {
        for source in self.sources.values() {
            source.cancel.cancel();
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn patch_status(
    orchestrator: &Orchestrator,
    key: &IngesterKey,
    status: &IngesterStatus,
) -> Result<(), kube::Error> {
    let api: Api<Ingester> = Api::namespaced(orchestrator.client.clone(), &key.namespace);
    let patch = status_patch(status);
    match api
        .patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(ingester = %key, state = ?status.state, "Ingester status written");
            Ok(())
        }
        // Deleted meanwhile: nothing to describe.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err),
    }
}
