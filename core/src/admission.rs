//! The pure, synchronous stages between a source and the writer: filter (with its expression
//! language) and dedup. No I/O.

pub mod dedup;
pub mod expr;
pub mod filter;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::event::{DeliveryId, Event};
pub use dedup::{Dedup, DedupCache, ObservationRef, Recurrences, Settled};
use filter::{Decision, DropReason, FilterConfig, IngesterFilter, RuleScope};

/// What an Ingester adds to the global rules for its events.
#[derive(Clone, Debug, Default)]
pub struct IngesterRules {
    pub filter: Option<IngesterFilter>,
    /// `deduplication.enabled: false` turns the in-memory window off for this Ingester.
    pub dedup_enabled: bool,
    /// `deduplication.window`; `None` means `DEDUP_WINDOW_SECONDS`.
    pub dedup_window: Option<Duration>,
}

/// The pipeline's verdict on one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the writer.
    Write,
    Filtered {
        reason: DropReason,
        by: RuleScope,
    },
    /// Seen within its dedup window.
    Duplicate,
}

/// Filter, then dedup: the order that keeps dropped events out of the dedup cache. `W` is
/// what a repeat of a pending write waits on (see [`dedup`]).
pub struct Admission<W> {
    dedup: DedupCache<W>,
    default_window: Duration,
}

impl<W: Clone> Admission<W> {
    pub fn new(dedup_max_size: NonZeroUsize, default_window: Duration) -> Self {
        Self {
            dedup: DedupCache::new(dedup_max_size),
            default_window,
        }
    }

    /// The filter step alone: `Write` (kept) or `Filtered`.
    pub fn filter(filter: &FilterConfig, event: &Event, rules: Option<&IngesterRules>) -> Verdict {
        match filter.decide(event, rules.and_then(|r| r.filter.as_ref())) {
            Decision::Drop { reason, by } => Verdict::Filtered { reason, by },
            Decision::Keep => Verdict::Write,
        }
    }

    /// The dedup step alone (for an event the filter kept). `fresh`: a written entry does not
    /// suppress (a relist re-checks findings). `waiter` makes what later repeats wait on
    /// while this event's write is pending.
    pub fn deduplicate(
        &mut self,
        key: &IdentityKey,
        rules: Option<&IngesterRules>,
        now: Instant,
        fresh: bool,
        waiter: impl FnOnce() -> W,
    ) -> Dedup<W> {
        let window = match rules {
            Some(r) if !r.dedup_enabled => Duration::ZERO,
            Some(r) => r.dedup_window.unwrap_or(self.default_window),
            None => self.default_window,
        };
        self.dedup.check(&key.0, window, now, fresh, waiter)
    }

    /// Filter then dedup, for callers that need no waiting (benchmarks, tests).
    pub fn admit(
        &mut self,
        filter: &FilterConfig,
        event: &Event,
        rules: Option<&IngesterRules>,
        now: Instant,
        waiter: impl FnOnce() -> W,
    ) -> Result<Dedup<W>, Verdict> {
        match Self::filter(filter, event, rules) {
            Verdict::Write => {
                Ok(self.deduplicate(&IdentityKey::of(event), rules, now, false, waiter))
            }
            dropped => Err(dropped),
        }
    }

    /// Settles the write `ticket` admitted: `Some` where it was written, `None` if it failed.
    pub fn settle(&mut self, key: &IdentityKey, ticket: u64, outcome: Option<Settled>) {
        self.dedup.settle(&key.0, ticket, outcome);
    }

    /// Records a suppressed recurrence (see [`DedupCache::recur`]).
    pub fn recur(&mut self, key: &IdentityKey, delivery: DeliveryId, seen_at: Timestamp) -> bool {
        self.dedup.recur(&key.0, delivery, seen_at)
    }

    /// Records a recurrence that waited for `key`'s write, which settled at `observation`.
    pub fn recur_at(
        &mut self,
        key: &IdentityKey,
        observation: &ObservationRef,
        delivery: DeliveryId,
        seen_at: Timestamp,
    ) -> bool {
        self.dedup.recur_at(&key.0, observation, delivery, seen_at)
    }

    /// Every suppressed recurrence not flushed yet.
    pub fn take_recurrences(&mut self) -> Vec<(ObservationRef, Recurrences)> {
        self.dedup.take_recurrences()
    }

    /// Gives back recurrences a flush could not write; returns how many were lost beyond `limit`
    /// Observations waiting.
    pub fn restore_recurrences(
        &mut self,
        failed: Vec<(ObservationRef, Recurrences)>,
        limit: usize,
    ) -> u64 {
        self.dedup.restore_recurrences(failed, limit)
    }

    /// Forgets an identity, e.g. a finding just resolved, whose return must be written.
    pub fn forget(&mut self, key: &IdentityKey) {
        self.dedup.forget(&key.0);
    }
}

/// Source and fingerprint: what the Observation name is derived from, as the dedup key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdentityKey(String);

impl IdentityKey {
    pub fn of(event: &Event) -> Self {
        Self::new(&event.source, &event.fingerprint)
    }

    pub fn new(source: &str, fingerprint: &str) -> Self {
        let mut key = String::with_capacity(source.len() + 1 + fingerprint.len());
        key.push_str(source);
        key.push('\u{1f}');
        key.push_str(fingerprint);
        IdentityKey(key)
    }

    /// The source part.
    pub fn source(&self) -> &str {
        self.0.split('\u{1f}').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
