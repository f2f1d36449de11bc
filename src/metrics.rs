//! Prometheus metrics (prefix `zen_watcher_`), exposed as text on `/metrics` through the
//! maintained prometheus-client crate.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
    /// `global` (filter ConfigMap and built-in defaults) or `ingester`.
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
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `webhook` or `informer`.
    pub queue: String,
}

/// Every metric of the pipeline, registered in one registry.
pub struct Metrics {
    registry: Registry,
    pub events_received: Family<SourceLabels, Counter>,
    pub events_filtered: Family<FilteredLabels, Counter>,
    pub events_deduplicated: Family<SourceLabels, Counter>,
    pub observations_written: Family<WrittenLabels, Counter>,
    pub write_errors: Family<WriteErrorLabels, Counter>,
    pub write_queue_depth: Family<QueueLabels, Gauge>,
    /// Suppressed deliveries that will never be counted into `status.occurrences`.
    pub occurrences_lost: Family<ReasonLabels, Counter>,
    /// Filter ConfigMap loads: `loaded`, `defaults` or `invalid` (last good rules kept).
    pub filter_reloads: Family<ResultLabels, Counter>,
    pub gc_runs: Family<ResultLabels, Counter>,
    pub gc_deleted: Counter,
    /// Counted by the HTTP server (`crate::server`).
    pub webhook_requests: Family<crate::server::RequestLabels, Counter>,
    /// 1 while this replica holds the leader Lease, else 0.
    pub leader: Gauge,
    /// Times this replica became or stopped being leader.
    pub leader_transitions: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zen_watcher");
        let metrics = Self {
            events_received: Family::default(),
            events_filtered: Family::default(),
            events_deduplicated: Family::default(),
            observations_written: Family::default(),
            write_errors: Family::default(),
            write_queue_depth: Family::default(),
            occurrences_lost: Family::default(),
            webhook_requests: Family::default(),
            filter_reloads: Family::default(),
            gc_runs: Family::default(),
            gc_deleted: Counter::default(),
            leader: Gauge::default(),
            leader_transitions: Counter::default(),
            registry: Registry::default(),
        };
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
            "write_queue_depth",
            "Events waiting to be written",
            metrics.write_queue_depth.clone(),
        );
        registry.register(
            "occurrences_lost",
            "Suppressed deliveries never counted into status.occurrences (Observation gone or not writable, or too many waiting), by reason",
            metrics.occurrences_lost.clone(),
        );
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
        registry.register(
            "filter_reloads",
            "Filter ConfigMap loads, by result",
            metrics.filter_reloads.clone(),
        );
        registry.register(
            "webhook_requests",
            "Webhook requests answered, by endpoint and status code",
            metrics.webhook_requests.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease, else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "leader_transitions",
            "Times this replica became or stopped being leader",
            metrics.leader_transitions.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn received(&self, source: &str) {
        self.events_received
            .get_or_create(&SourceLabels {
                source: source.into(),
            })
            .inc();
    }

    /// Counts a pipeline verdict that ends an event's way (filtered or duplicate).
    pub fn verdict(&self, source: &str, verdict: &Verdict) {
        match verdict {
            Verdict::Write => {}
            Verdict::Filtered { reason, by } => {
                self.filtered(source, reason.as_str(), by.as_str());
            }
            Verdict::Duplicate => {
                self.events_deduplicated
                    .get_or_create(&SourceLabels {
                        source: source.into(),
                    })
                    .inc();
            }
        }
    }

    /// Counts a drop decided outside the filter (e.g. an audit item no rule matches).
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

    /// One webhook request answered with `code` on `endpoint`.
    pub fn webhook_request(&self, endpoint: &str, code: u16) {
        self.webhook_requests
            .get_or_create(&crate::server::RequestLabels {
                endpoint: endpoint.to_string(),
                code,
            })
            .inc();
    }

    pub fn written(&self, source: &str, outcome: &str, count: u64) {
        self.observations_written
            .get_or_create(&WrittenLabels {
                source: source.into(),
                outcome: outcome.into(),
            })
            .inc_by(count);
    }

    /// Counts one GC run and what it deleted, and logs it.
    pub fn gc_run(&self, result: &Result<crate::gc::RunSummary, crate::gc::GcError>) {
        let outcome = match result {
            Ok(report) if report.interrupted => "interrupted",
            Ok(_) => "ok",
            Err(_) => "failed",
        };
        self.gc_runs
            .get_or_create(&ResultLabels {
                result: outcome.into(),
            })
            .inc();
        match result {
            Ok(report) => {
                self.gc_deleted.inc_by(report.deleted as u64);
                tracing::info!(
                    scanned = report.scanned,
                    deleted = report.deleted,
                    failed = report.failed,
                    interrupted = report.interrupted,
                    "GC run"
                );
            }
            Err(err) => tracing::warn!(error = %err, "GC run failed"),
        }
    }

    pub fn filter_reload(&self, result: &str) {
        self.filter_reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn occurrences_lost(&self, reason: &str, count: u64) {
        self.occurrences_lost
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc_by(count);
    }

    pub fn queue_depth(&self, queue: &str, depth: usize) {
        self.write_queue_depth
            .get_or_create(&QueueLabels {
                queue: queue.into(),
            })
            .set(depth as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::filter::{DropReason, RuleScope};

    #[test]
    fn every_stage_is_exposed_with_its_labels() {
        let m = Metrics::new();
        m.received("falco");
        m.received("falco");
        m.verdict(
            "falco",
            &Verdict::Filtered {
                reason: DropReason::MinSeverity,
                by: RuleScope::Global,
            },
        );
        m.verdict("falco", &Verdict::Duplicate);
        m.verdict("falco", &Verdict::Write);
        m.write(
            "falco",
            &Ok(Stored {
                written: crate::writer::Written::Recurred { occurrences: 2 },
                observation: crate::admission::ObservationRef {
                    namespace: "shop".into(),
                    name: "falco-0123456789abcdef".into(),
                },
            }),
        );
        m.written("kyverno", "resolved", 3);
        m.filtered("audit", "audit_no_rule", "source");
        m.queue_depth("webhook", 7);
        let text = m.encode();
        for line in [
            "# TYPE zen_watcher_events_received counter",
            "zen_watcher_events_received_total{source=\"falco\"} 2",
            "zen_watcher_events_filtered_total{source=\"falco\",reason=\"min_severity\",scope=\"global\"} 1",
            "zen_watcher_events_filtered_total{source=\"audit\",reason=\"audit_no_rule\",scope=\"source\"} 1",
            "zen_watcher_events_deduplicated_total{source=\"falco\"} 1",
            "zen_watcher_observations_written_total{source=\"falco\",outcome=\"recurred\"} 1",
            "zen_watcher_observations_written_total{source=\"kyverno\",outcome=\"resolved\"} 3",
            "zen_watcher_write_queue_depth{queue=\"webhook\"} 7",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_readme_documents_every_metric() {
        let readme = include_str!("../README.md");
        let m = Metrics::new();
        m.received("x");
        for line in m.encode().lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            let exposed = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            assert!(
                readme.contains(&format!("`{exposed}`")),
                "README lacks {exposed}"
            );
        }
    }
}
