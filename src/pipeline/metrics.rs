//! What the pipeline counts: events received, filtered and deduplicated by source, writes by
//! outcome and error, and recurrences that can no longer be counted.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::admission::Verdict;
use crate::writer::{Stored, WriteError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FilteredLabels {
    pub source: String,
    pub reason: String,
    /// `global` (filter ConfigMap and built-in defaults), `ingester` or `source`.
    pub scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WrittenLabels {
    pub source: String,
    /// `created`, `recurred`, `unchanged`, `reopened` or `resolved`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteErrorLabels {
    pub source: String,
    /// `transient` (the request is answered 503 and retried) or `permanent` (this event only).
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// Handles on the pipeline's families; clones count into the same series. `Default` gives
/// unregistered families (counted, never exposed), for tests.
#[derive(Clone, Debug, Default)]
pub struct PipelineMetrics {
    pub events_received: Family<SourceLabels, Counter>,
    pub events_filtered: Family<FilteredLabels, Counter>,
    pub events_deduplicated: Family<SourceLabels, Counter>,
    pub observations_written: Family<WrittenLabels, Counter>,
    pub write_errors: Family<WriteErrorLabels, Counter>,
    /// Suppressed deliveries that will never be counted into `status.occurrences`.
    pub occurrences_lost: Family<ReasonLabels, Counter>,
}

impl PipelineMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "events_received",
            "Events produced by sources",
            metrics.events_received.clone(),
        );
        registry.register(
            "events_filtered",
            "Events dropped by a filter rule, by reason",
            metrics.events_filtered.clone(),
        );
        registry.register(
            "events_deduplicated",
            "Events suppressed by the in-memory dedup window",
            metrics.events_deduplicated.clone(),
        );
        registry.register(
            "observations_written",
            "Observation writes that succeeded, by outcome",
            metrics.observations_written.clone(),
        );
        registry.register(
            "write_errors",
            "Observation writes that failed, by kind and reason",
            metrics.write_errors.clone(),
        );
        registry.register(
            "occurrences_lost",
            "Suppressed deliveries never counted into status.occurrences (Observation gone or not writable, or too many waiting), by reason",
            metrics.occurrences_lost.clone(),
        );
        metrics
    }

    pub fn received(&self, source: &str) {
        self.events_received
            .get_or_create(&source_labels(source))
            .inc();
    }

    /// Counts a verdict that ends an event's way (filtered or duplicate).
    pub fn verdict(&self, source: &str, verdict: &Verdict) {
        match verdict {
            Verdict::Write => {}
            Verdict::Filtered { reason, by } => {
                self.filtered(source, reason.as_str(), by.as_str());
            }
            Verdict::Duplicate => {
                self.events_deduplicated
                    .get_or_create(&source_labels(source))
                    .inc();
            }
        }
    }

    /// An item its source dropped while parsing (e.g. an audit item no rule matches): it was
    /// received and filtered, so both counters move together.
    pub fn dropped_by_source(&self, source: &str, reason: &str) {
        self.received(source);
        self.filtered(source, reason, "source");
    }

    pub fn filtered(&self, source: &str, reason: &str, scope: &str) {
        self.events_filtered
            .get_or_create(&FilteredLabels {
                source: source.into(),
                reason: reason.into(),
                scope: scope.into(),
            })
            .inc();
    }

    pub fn write(&self, source: &str, result: &Result<Stored, WriteError>) {
        match result {
            Ok(stored) => self.written(source, stored.written.as_str(), 1),
            Err(err) => {
                self.write_errors
                    .get_or_create(&WriteErrorLabels {
                        source: source.into(),
                        kind: if err.is_transient() {
                            "transient"
                        } else {
                            "permanent"
                        }
                        .into(),
                        reason: err.reason().into(),
                    })
                    .inc();
            }
        }
    }

    pub fn written(&self, source: &str, outcome: &str, count: u64) {
        self.observations_written
            .get_or_create(&WrittenLabels {
                source: source.into(),
                outcome: outcome.into(),
            })
            .inc_by(count);
    }

    pub fn occurrences_lost(&self, reason: &str, count: u64) {
        self.occurrences_lost
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc_by(count);
    }
}

fn source_labels(source: &str) -> SourceLabels {
    SourceLabels {
        source: source.into(),
    }
}
