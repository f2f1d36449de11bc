//! From normalised events to written Observations: filter and dedup (the pure pipeline), then
//! the write queue, with every step counted. Webhooks and informers both come through here;
//! what differs is the queue and what a full queue means (refuse vs wait).

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use tracing::Span;

use crate::event::Event;
use crate::metrics::Metrics;
use crate::pipeline::filter::FilterConfig;
use crate::pipeline::{Admission, IngesterRules, Verdict};
use crate::spans;
use crate::writer::queue::Pending;
use crate::writer::{SourceCap, WriteQueue, Written};

/// How events reach the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Webhooks: a full queue refuses the request (the sender retries).
    Refuse,
    /// Informers: wait for room.
    Wait,
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
}

impl Outcome {
    /// Whether the request can be acknowledged with a 2xx: everything written or suppressed.
    pub fn acknowledged(&self) -> bool {
        self.retry == 0 && !self.queue_full
    }
}

/// The shared, swappable state of the pipeline.
pub struct Pipeline {
    filter: RwLock<Arc<FilterConfig>>,
    admission: Mutex<Admission>,
    pub metrics: Arc<Metrics>,
    cap: Option<Arc<SourceCap>>,
}

impl Pipeline {
    pub fn new(filter: FilterConfig, admission: Admission, metrics: Arc<Metrics>) -> Self {
        Self {
            filter: RwLock::new(Arc::new(filter)),
            admission: Mutex::new(admission),
            metrics,
            cap: None,
        }
    }

    /// Drops new events of a source at `MAX_OBSERVATIONS_PER_SOURCE` (reason `cap`).
    pub fn with_cap(mut self, cap: Arc<SourceCap>) -> Self {
        self.cap = Some(cap);
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

    /// Filters, deduplicates and writes `events`; waits for every write to finish.
    pub async fn ingest(
        &self,
        events: Vec<Event>,
        rules: Option<&IngesterRules>,
        queue: &WriteQueue,
        delivery: Delivery,
    ) -> Outcome {
        let mut outcome = Outcome {
            received: events.len(),
            ..Default::default()
        };
        let admitted = self.admit(events, rules, &mut outcome);
        let mut pending: Vec<(Identity, Pending)> = Vec::with_capacity(admitted.len());
        let mut unsent = admitted.into_iter();
        for (event, span) in unsent.by_ref() {
            // The queue takes the event (and its span, for the write's span); only its identity
            // is kept here for the bookkeeping.
            let identity = Identity::of(&event);
            let submitted = match delivery {
                Delivery::Refuse => queue.try_submit_in(event, span),
                Delivery::Wait => queue.submit_in(event, span).await,
            };
            match submitted {
                Ok(p) => pending.push((identity, p)),
                Err(_) => {
                    outcome.queue_full = true;
                    self.forget(&identity);
                    outcome.retry += 1;
                    break;
                }
            }
        }
        for (event, _) in unsent {
            self.forget(&Identity::of(&event));
            outcome.retry += 1;
        }
        for (identity, p) in pending {
            self.settle(identity, p, &mut outcome).await;
        }
        outcome
    }

    fn admit(
        &self,
        events: Vec<Event>,
        rules: Option<&IngesterRules>,
        outcome: &mut Outcome,
    ) -> Vec<(Event, Span)> {
        let filter = self.filter();
        let now = Instant::now();
        let mut admission = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut admitted = Vec::with_capacity(events.len());
        for event in events {
            let span = spans::event(&event.source, &event.fingerprint, event.ingester.as_ref());
            let _entered = span.enter();
            self.metrics.received(&event.source);
            let verdict = admit_one(&mut admission, &filter, &event, rules, now);
            self.metrics.verdict(&event.source, &verdict);
            match verdict {
                Verdict::Write if self.cap.as_ref().is_some_and(|c| !c.reserve(&event.source)) => {
                    admission.forget(&event);
                    self.metrics.filtered(&event.source, "cap", "global");
                    tracing::debug!(
                        zen.decision = "filtered",
                        zen.reason = "cap",
                        "event dropped"
                    );
                    outcome.filtered += 1;
                }
                Verdict::Write => {
                    drop(_entered);
                    admitted.push((event, span));
                }
                Verdict::Filtered { .. } => outcome.filtered += 1,
                Verdict::Duplicate => outcome.duplicates += 1,
            }
        }
        admitted
    }

    async fn settle(&self, event: Identity, pending: Pending, outcome: &mut Outcome) {
        let Ok(result) = pending.await else {
            // The queue's worker went away (shutdown): the sender must retry.
            self.forget(&event);
            outcome.retry += 1;
            return;
        };
        self.metrics.write(&event.source, &result);
        match result {
            Ok(written) => {
                if written != Written::Created {
                    self.release(&event);
                }
                outcome.written += 1;
            }
            Err(err) if err.is_transient() => {
                tracing::warn!(source = %event.source, error = %err, "Observation write failed; the sender will retry");
                self.forget(&event);
                outcome.retry += 1;
            }
            Err(err) => {
                tracing::error!(source = %event.source, error = %err, "dropping an event that cannot be written");
                self.release(&event);
                outcome.rejected += 1;
            }
        }
    }

    /// Records Observations just resolved (`Writer::resolve_vanished`'s `(source, fingerprint)`
    /// pairs): counted per source, and their identities forgotten by dedup (see
    /// `Admission::forget_identity`) so a finding that comes back reaches the apiserver.
    pub fn resolved(&self, identities: &[(String, String)]) {
        let mut admission = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (source, fingerprint) in identities {
            admission.forget_identity(source, fingerprint);
            self.metrics.written(source, "resolved", 1);
        }
    }

    /// Gives back the cap reservation of an event that created nothing.
    fn release(&self, event: &Identity) {
        if let Some(cap) = &self.cap {
            cap.release(&event.source);
        }
    }

    /// Undoes admission for an event that was not written: forgets it in the dedup window
    /// (so a retry goes through) and gives back its cap reservation.
    fn forget(&self, event: &Identity) {
        self.release(event);
        self.admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .forget_identity(&event.source, &event.fingerprint);
    }
}

/// Filter then dedup, each in its own span under the event's.
fn admit_one(
    admission: &mut Admission,
    filter: &FilterConfig,
    event: &Event,
    rules: Option<&IngesterRules>,
    now: Instant,
) -> Verdict {
    let verdict = tracing::debug_span!(
        "filter",
        zen.decision = tracing::field::Empty,
        zen.reason = tracing::field::Empty
    )
    .in_scope(|| {
        let verdict = Admission::filter(filter, event, rules);
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
    });
    if verdict != Verdict::Write {
        return verdict;
    }
    tracing::debug_span!("dedup", zen.decision = tracing::field::Empty).in_scope(|| {
        let verdict = admission.deduplicate(event, rules, now);
        let decision = if verdict == Verdict::Duplicate {
            "duplicate"
        } else {
            "new"
        };
        Span::current().record("zen.decision", decision);
        verdict
    })
}

/// What the bookkeeping after a write needs of an event.
struct Identity {
    source: String,
    fingerprint: String,
}

impl Identity {
    fn of(event: &Event) -> Self {
        Self {
            source: event.source.clone(),
            fingerprint: event.fingerprint.clone(),
        }
    }
}
