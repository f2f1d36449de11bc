//! From normalised events to written Observations: filter and dedup (the pure pipeline), then
//! the write queue, with every step counted. Webhooks and informers both come through here;
//! what differs is the queue and what a full queue means (refuse vs wait).
//!
//! A 2xx means written (docs/architecture.md, "Acknowledgement"): an admitted event's dedup
//! entry is tentative until its write settles, and it settles in the write path through its
//! [`Ticket`], whatever happens to the request that admitted it. A repeat of a pending write
//! waits for that write and answers as it does. Suppressed recurrences of a written occurrence
//! are kept by delivery and counted into the Observation by [`Pipeline::flush_recurrences`].

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;
use tracing::Span;

use crate::admission::filter::FilterConfig;
use crate::admission::{
    Admission, Dedup, IdentityKey, IngesterRules, ObservationRef, Settled, Verdict,
};
use crate::event::{Delivery, DeliveryId, Event, EventKind};
use crate::spans;
use crate::writer::queue::Pending;
pub use metrics::PipelineMetrics;

mod metrics;
use crate::writer::{
    Fence, Settle, SourceCap, Stored, Submission, WriteError, WriteQueue, Writer, Written,
};

/// How events reach the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    /// Webhooks: a full queue refuses the request (the sender retries).
    Refuse,
    /// Informers: wait for room.
    Wait,
}

/// How one batch is ingested.
#[derive(Clone)]
pub struct Mode {
    pub submit: Submit,
    /// A written dedup entry does not suppress: a relist re-checks every finding.
    pub fresh: bool,
    /// Leader-only writes: checked by each write job when its turn comes.
    pub fence: Option<Fence>,
}

impl Mode {
    /// Webhook requests: refused when the queue is full, never fenced.
    pub fn webhook() -> Self {
        Self {
            submit: Submit::Refuse,
            fresh: false,
            fence: None,
        }
    }

    /// Watched objects (leader only): wait for room, fenced.
    pub fn watched(fence: Fence, fresh: bool) -> Self {
        Self {
            submit: Submit::Wait,
            fresh,
            fence: Some(fence),
        }
    }
}

/// What happened to a batch of events (one webhook request, one watched object).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub received: usize,
    pub written: usize,
    pub filtered: usize,
    pub duplicates: usize,
    /// Events that can never be written (counted and logged; the batch is still acknowledged).
    pub rejected: usize,
    /// Events not written for a reason that may pass: the sender must retry (503).
    pub retry: usize,
    /// The write queue was full.
    pub queue_full: bool,
    /// Per event, in order: whether it passed the filter (a finding that did is present).
    pub passed: Vec<bool>,
}

impl Outcome {
    /// Whether the request can be acknowledged with a 2xx: everything written or suppressed.
    pub fn acknowledged(&self) -> bool {
        self.retry == 0 && !self.queue_full
    }
}

/// What a pending write's waiters learn when it settles.
#[derive(Clone, Debug)]
enum Settlement {
    Written(Settled),
    /// Refused for good: a repeat answers the same (counted, acknowledged).
    Rejected,
    /// Not written (a transient failure, or never sent): a repeat must be retried.
    Failed,
}

type Waiter = watch::Receiver<Option<Settlement>>;

/// The state every ticket settles into.
struct Shared {
    admission: Mutex<Admission<Waiter>>,
    metrics: PipelineMetrics,
    cap: Option<Arc<SourceCap>>,
}

impl Shared {
    fn admission(&self) -> MutexGuard<'_, Admission<Waiter>> {
        self.admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, cap_key: &str) {
        if let Some(cap) = &self.cap {
            cap.release(cap_key);
        }
    }
}

/// The shared, swappable state of the pipeline.
pub struct Pipeline {
    filter: RwLock<Arc<FilterConfig>>,
    shared: Arc<Shared>,
    pub metrics: PipelineMetrics,
}

/// An admitted event's claim on its dedup entry (and cap reservation). Settled by the write
/// job with the write's result; dropped unsettled (never written: queue full, shutdown, a
/// request abandoned before submitting), it settles as not written.
pub struct Ticket {
    shared: Arc<Shared>,
    key: IdentityKey,
    ticket: u64,
    delivery: Option<DeliveryId>,
    /// The cap key reserved for ([`Event::cap_key`]), given back unless the write created.
    reserved: Option<String>,
    notify: watch::Sender<Option<Settlement>>,
    settled: bool,
}

impl Ticket {
    fn finish(&mut self, settlement: Settlement, created: bool) {
        self.settled = true;
        if let Some(cap_key) = self.reserved.take().filter(|_| !created) {
            self.shared.release(&cap_key);
        }
        let written = match &settlement {
            Settlement::Written(settled) => Some(settled.clone()),
            _ => None,
        };
        self.shared
            .admission()
            .settle(&self.key, self.ticket, written);
        self.notify.send_replace(Some(settlement));
    }
}

impl Settle for Ticket {
    fn settle(mut self: Box<Self>, result: &Result<Stored, WriteError>) {
        let source = self.key.source().to_string();
        self.shared.metrics.write(&source, result);
        let (settlement, created) = match result {
            Ok(stored) => (
                Settlement::Written(Settled {
                    observation: stored.observation.clone(),
                    delivery: self.delivery,
                }),
                stored.written == Written::Created,
            ),
            Err(err) if err.is_transient() => {
                tracing::warn!(%source, error = %err, "Observation write failed; the sender will retry");
                (Settlement::Failed, false)
            }
            Err(err) => {
                tracing::error!(%source, error = %err, "dropping an event that cannot be written");
                (Settlement::Rejected, false)
            }
        };
        self.finish(settlement, created);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.finish(Settlement::Failed, false);
        }
    }
}

/// The events to write, each with its span and ticket.
type Writes = Vec<(Event, Span, Ticket)>;

/// A repeat of a pending write, waiting for it.
struct Waiting {
    key: IdentityKey,
    delivery: Option<DeliveryId>,
    seen_at: Timestamp,
    waiter: Waiter,
}

/// What one flush of suppressed recurrences did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Observations whose count went up.
    pub patched: usize,
    /// Observations that had counted every delivery already (re-sends).
    pub unchanged: usize,
    /// Observations whose flush failed for now: kept for the next flush.
    pub retried: usize,
    /// Deliveries that will never be counted (their Observation is gone, or too many waited).
    pub lost: u64,
}

impl Pipeline {
    /// `dedup_max_size` and `dedup_window`: `DEDUP_MAX_SIZE` and `DEDUP_WINDOW_SECONDS`.
    pub fn new(
        filter: FilterConfig,
        dedup_max_size: NonZeroUsize,
        dedup_window: Duration,
        metrics: PipelineMetrics,
    ) -> Self {
        Self {
            filter: RwLock::new(Arc::new(filter)),
            shared: Arc::new(Shared {
                admission: Mutex::new(Admission::new(dedup_max_size, dedup_window)),
                metrics: metrics.clone(),
                cap: None,
            }),
            metrics,
        }
    }

    /// Drops new events of a source at `MAX_OBSERVATIONS_PER_SOURCE` (reason `cap`).
    pub fn with_cap(mut self, cap: Arc<SourceCap>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.cap = Some(cap);
        }
        self
    }

    /// Replaces the filter rules (a valid ConfigMap update).
    pub fn set_filter(&self, filter: FilterConfig) {
        *self.filter.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(filter);
    }

    pub fn filter(&self) -> Arc<FilterConfig> {
        self.filter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Filters, deduplicates and writes `events`; waits until every one is settled (written,
    /// suppressed behind a written one, refused, or failed).
    pub async fn ingest(
        &self,
        events: Vec<Event>,
        rules: Option<&IngesterRules>,
        queue: &WriteQueue,
        mode: Mode,
    ) -> Outcome {
        let mut outcome = Outcome {
            received: events.len(),
            ..Default::default()
        };
        let (writes, waits) = self.admit(events, rules, mode.fresh, &mut outcome);
        let mut pending: Vec<Pending> = Vec::with_capacity(writes.len());
        for (event, span, ticket) in writes {
            if outcome.queue_full {
                // Dropped unwritten: the ticket settles as not written.
                drop(ticket);
                outcome.retry += 1;
                continue;
            }
            let submission = Submission {
                event,
                settle: Box::new(ticket),
                span,
                fence: mode.fence.clone(),
            };
            let submitted = match mode.submit {
                Submit::Refuse => queue.try_submit(submission),
                Submit::Wait => queue.submit(submission).await,
            };
            match submitted {
                Ok(p) => pending.push(p),
                Err(_) => {
                    outcome.queue_full = true;
                    outcome.retry += 1;
                }
            }
        }
        for p in pending {
            match p.await {
                Ok(Ok(_)) => outcome.written += 1,
                Ok(Err(err)) if err.is_transient() => outcome.retry += 1,
                Ok(Err(_)) => outcome.rejected += 1,
                // The queue's worker went away (shutdown): the sender must retry.
                Err(_) => outcome.retry += 1,
            }
        }
        for waiting in waits {
            self.wait(waiting, &mut outcome).await;
        }
        outcome
    }

    fn admit(
        &self,
        events: Vec<Event>,
        rules: Option<&IngesterRules>,
        fresh: bool,
        outcome: &mut Outcome,
    ) -> (Writes, Vec<Waiting>) {
        let filter = self.filter();
        let now = Instant::now();
        let mut admission = self.shared.admission();
        let mut writes = Vec::with_capacity(events.len());
        let mut waits = Vec::new();
        outcome.passed.reserve(events.len());
        for event in events {
            let span = spans::event(&event.source, &event.fingerprint, event.ingester.as_ref());
            let entered = span.enter();
            self.metrics.received(&event.source);
            let verdict = filter_one(&filter, &event, rules);
            self.metrics.verdict(&event.source, &verdict);
            outcome.passed.push(verdict == Verdict::Write);
            if verdict != Verdict::Write {
                outcome.filtered += 1;
                continue;
            }
            let key = IdentityKey::of(&event);
            let mut notify = None;
            let dedup = dedup_one(&mut admission, &key, rules, now, fresh, || {
                let (tx, rx) = watch::channel(None);
                notify = Some(tx);
                rx
            });
            let delivery = delivery_of(&event);
            match dedup {
                Dedup::New(ticket) => {
                    let mut reserved = None;
                    if let Some(cap) = &self.shared.cap {
                        let cap_key = event.cap_key();
                        if cap.reserve(&cap_key) {
                            reserved = Some(cap_key.into_owned());
                        }
                    }
                    if self.shared.cap.is_some() && reserved.is_none() {
                        admission.settle(&key, ticket, None);
                        self.metrics.filtered(&event.source, "cap", "global");
                        tracing::debug!(
                            zen.decision = "filtered",
                            zen.reason = "cap",
                            "event dropped"
                        );
                        outcome.filtered += 1;
                        continue;
                    }
                    drop(entered);
                    let ticket = Ticket {
                        shared: self.shared.clone(),
                        key,
                        ticket,
                        delivery,
                        reserved,
                        notify: notify.unwrap_or_else(|| watch::channel(None).0),
                        settled: false,
                    };
                    writes.push((event, span, ticket));
                }
                Dedup::Duplicate => {
                    self.metrics.verdict(&event.source, &Verdict::Duplicate);
                    if let Some(delivery) = delivery {
                        admission.recur(&key, delivery, event.detected_at);
                    }
                    outcome.duplicates += 1;
                }
                Dedup::Pending(waiter) => waits.push(Waiting {
                    key,
                    delivery,
                    seen_at: event.detected_at,
                    waiter,
                }),
            }
        }
        (writes, waits)
    }

    /// A repeat of a pending write: answers as that write does.
    async fn wait(&self, waiting: Waiting, outcome: &mut Outcome) {
        let Waiting {
            key,
            delivery,
            seen_at,
            mut waiter,
        } = waiting;
        let settlement = match waiter.wait_for(Option::is_some).await {
            Ok(settled) => settled.clone().unwrap_or(Settlement::Failed),
            Err(_) => Settlement::Failed,
        };
        match settlement {
            Settlement::Written(settled) => {
                self.metrics.verdict(key.source(), &Verdict::Duplicate);
                if let Some(delivery) = delivery
                    && settled.delivery != Some(delivery)
                {
                    self.shared
                        .admission()
                        .recur_at(&key, &settled.observation, delivery, seen_at);
                }
                outcome.duplicates += 1;
            }
            Settlement::Rejected => outcome.rejected += 1,
            Settlement::Failed => outcome.retry += 1,
        }
    }

    /// Counts every suppressed recurrence into its Observation: one status write per
    /// Observation, `concurrency` at a time. What fails for now is kept for the next flush (at
    /// most `keep` Observations wait; deliveries beyond are lost and counted).
    pub async fn flush_recurrences(
        &self,
        writer: &Writer,
        concurrency: usize,
        keep: usize,
    ) -> Flushed {
        let taken = self.shared.admission().take_recurrences();
        if taken.is_empty() {
            return Flushed::default();
        }
        let results: Vec<_> = futures::stream::iter(taken)
            .map(|(observation, recurrences)| async move {
                let result = writer.count_recurrences(&observation, &recurrences).await;
                (observation, recurrences, result)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut flushed = Flushed::default();
        let mut failed = Vec::new();
        for (observation, recurrences, result) in results {
            let source = source_of(&observation);
            match result {
                Ok(Some(_)) => {
                    self.metrics.written(source, "recurred", 1);
                    flushed.patched += 1;
                }
                Ok(None) => flushed.unchanged += 1,
                Err(WriteError::Transient {
                    reason: "not_found",
                    ..
                })
                | Err(WriteError::Permanent { .. }) => {
                    tracing::warn!(namespace = %observation.namespace, name = %observation.name,
                        deliveries = recurrences.len(), "recurrences not counted: the Observation cannot be updated");
                    self.metrics
                        .occurrences_lost("not_writable", recurrences.len());
                    flushed.lost += recurrences.len();
                }
                Err(err) => {
                    tracing::debug!(error = %err, "counting recurrences failed; retried at the next flush");
                    flushed.retried += 1;
                    failed.push((observation, recurrences));
                }
            }
        }
        if !failed.is_empty() {
            let lost = self.shared.admission().restore_recurrences(failed, keep);
            if lost > 0 {
                tracing::warn!(
                    deliveries = lost,
                    "recurrences not counted: too many Observations waiting"
                );
                self.metrics.occurrences_lost("backlog", lost);
                flushed.lost += lost;
            }
        }
        flushed
    }

    /// Records Observations just resolved (`Writer::resolve_vanished`'s `(source, fingerprint)`
    /// pairs): counted per source, and their identities forgotten by dedup so a finding that
    /// comes back reaches the apiserver.
    pub fn resolved(&self, identities: &[(String, String)]) {
        let mut admission = self.shared.admission();
        for (source, fingerprint) in identities {
            admission.forget(&IdentityKey::new(source, fingerprint));
            self.metrics.written(source, "resolved", 1);
        }
    }
}

/// Flushes suppressed recurrences every `interval` until `cancel` fires (the last flush, at
/// shutdown, is the caller's: after the webhooks have drained).
pub async fn flush_loop(
    pipeline: Arc<Pipeline>,
    writer: Arc<Writer>,
    interval: Duration,
    concurrency: usize,
    keep: usize,
    cancel: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let flushed = pipeline.flush_recurrences(&writer, concurrency, keep).await;
        if flushed != Flushed::default() {
            tracing::debug!(?flushed, "recurrences counted");
        }
    }
}

/// The source part of an Observation name (`<source>-<16 hex>`).
fn source_of(observation: &ObservationRef) -> &str {
    observation
        .name
        .rsplit_once('-')
        .map_or(observation.name.as_str(), |(source, _)| source)
}

fn delivery_of(event: &Event) -> Option<DeliveryId> {
    match event.kind {
        EventKind::Occurrence {
            delivery: Delivery::Id(id),
        } => Some(id),
        _ => None,
    }
}

/// The filter step, in its own span under the event's.
fn filter_one(filter: &FilterConfig, event: &Event, rules: Option<&IngesterRules>) -> Verdict {
    tracing::debug_span!(
        "filter",
        zen.decision = tracing::field::Empty,
        zen.reason = tracing::field::Empty
    )
    .in_scope(|| {
        let verdict = Admission::<Waiter>::filter(filter, event, rules);
        let span = Span::current();
        match verdict {
            Verdict::Filtered { reason, by } => {
                span.record("zen.decision", "drop");
                span.record("zen.reason", format!("{}:{}", by.as_str(), reason.as_str()));
            }
            _ => {
                span.record("zen.decision", "keep");
            }
        }
        verdict
    })
}

/// The dedup step, in its own span under the event's.
fn dedup_one(
    admission: &mut Admission<Waiter>,
    key: &IdentityKey,
    rules: Option<&IngesterRules>,
    now: Instant,
    fresh: bool,
    waiter: impl FnOnce() -> Waiter,
) -> Dedup<Waiter> {
    tracing::debug_span!("dedup", zen.decision = tracing::field::Empty).in_scope(|| {
        let dedup = admission.deduplicate(key, rules, now, fresh, waiter);
        let decision = match dedup {
            Dedup::New(_) => "new",
            Dedup::Duplicate => "duplicate",
            Dedup::Pending(_) => "pending",
        };
        Span::current().record("zen.decision", decision);
        dedup
    })
}

#[cfg(test)]
mod tests;
