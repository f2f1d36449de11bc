//! The pure, synchronous stages between a source and the writer: filter (with its expression
//! language) and dedup. No I/O.

pub mod dedup;
pub mod expr;
pub mod filter;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::event::Event;
use dedup::{Dedup, DedupCache};
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

/// Filter, then dedup: the order that keeps dropped events out of the dedup cache.
pub struct Admission {
    dedup: DedupCache,
    default_window: Duration,
}

impl Admission {
    pub fn new(dedup_max_size: NonZeroUsize, default_window: Duration) -> Self {
        Self {
            dedup: DedupCache::new(dedup_max_size),
            default_window,
        }
    }

    pub fn admit(
        &mut self,
        filter: &FilterConfig,
        event: &Event,
        rules: Option<&IngesterRules>,
        now: Instant,
    ) -> Verdict {
        match Self::filter(filter, event, rules) {
            Verdict::Write => self.deduplicate(event, rules, now),
            dropped => dropped,
        }
    }

    /// The filter step alone: `Write` (kept) or `Filtered`.
    pub fn filter(filter: &FilterConfig, event: &Event, rules: Option<&IngesterRules>) -> Verdict {
        match filter.decide(event, rules.and_then(|r| r.filter.as_ref())) {
            Decision::Drop { reason, by } => Verdict::Filtered { reason, by },
            Decision::Keep => Verdict::Write,
        }
    }

    /// The dedup step alone (for an event the filter kept): `Write` or `Duplicate`.
    pub fn deduplicate(
        &mut self,
        event: &Event,
        rules: Option<&IngesterRules>,
        now: Instant,
    ) -> Verdict {
        let window = match rules {
            Some(r) if !r.dedup_enabled => Duration::ZERO,
            Some(r) => r.dedup_window.unwrap_or(self.default_window),
            None => self.default_window,
        };
        match self
            .dedup
            .check(identity_key(&event.source, &event.fingerprint), window, now)
        {
            Dedup::New => Verdict::Write,
            Dedup::Duplicate => Verdict::Duplicate,
        }
    }

    /// Forgets an admitted event whose write failed, so the sender's retry is not suppressed.
    pub fn forget(&mut self, event: &Event) {
        self.forget_identity(&event.source, &event.fingerprint);
    }

    /// Forgets an identity, e.g. a finding just resolved, whose return must be written.
    pub fn forget_identity(&mut self, source: &str, fingerprint: &str) {
        self.dedup.forget(&identity_key(source, fingerprint));
    }
}

/// Source and fingerprint: what the Observation name is derived from.
fn identity_key(source: &str, fingerprint: &str) -> String {
    let mut key = String::with_capacity(source.len() + 1 + fingerprint.len());
    key.push_str(source);
    key.push('\u{1f}');
    key.push_str(fingerprint);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Severity;

    fn falco(priority: &str) -> Event {
        let body = format!(
            r#"{{"rule":"Shell","priority":"{priority}","output_fields":{{"k8s.ns.name":"shop","k8s.pod.name":"web-1"}}}}"#
        );
        crate::sources::falco::parse(body.as_bytes(), "2026-11-26T10:00:00Z".parse().unwrap())
            .unwrap()
            .remove(0)
    }

    fn admission() -> Admission {
        Admission::new(NonZeroUsize::new(100).unwrap(), Duration::from_secs(60))
    }

    #[test]
    fn filtered_events_never_reach_the_dedup_cache() {
        let mut a = admission();
        let f = FilterConfig::default();
        let t = Instant::now();
        let low = falco("Notice");
        assert_eq!(low.severity, Severity::Low);
        assert_eq!(
            a.admit(&f, &low, None, t),
            Verdict::Filtered {
                reason: DropReason::MinSeverity,
                by: RuleScope::Global
            }
        );
        assert!(a.dedup.is_empty());
        assert_eq!(a.admit(&f, &falco("Critical"), None, t), Verdict::Write);
        assert_eq!(a.admit(&f, &falco("Critical"), None, t), Verdict::Duplicate);
    }

    #[test]
    fn ingester_rules_set_the_window() {
        let mut a = admission();
        let f = FilterConfig::default();
        let t = Instant::now();
        let e = falco("Error");
        let off = IngesterRules {
            dedup_enabled: false,
            ..Default::default()
        };
        assert_eq!(a.admit(&f, &e, Some(&off), t), Verdict::Write);
        assert_eq!(a.admit(&f, &e, Some(&off), t), Verdict::Write);
        let short = IngesterRules {
            dedup_enabled: true,
            dedup_window: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        assert_eq!(a.admit(&f, &e, Some(&short), t), Verdict::Write);
        assert_eq!(
            a.admit(&f, &e, Some(&short), t + Duration::from_millis(500)),
            Verdict::Duplicate
        );
        assert_eq!(
            a.admit(&f, &e, Some(&short), t + Duration::from_secs(2)),
            Verdict::Write
        );
    }

    #[test]
    fn a_failed_write_is_forgotten() {
        let mut a = admission();
        let f = FilterConfig::default();
        let t = Instant::now();
        let e = falco("Error");
        assert_eq!(a.admit(&f, &e, None, t), Verdict::Write);
        a.forget(&e);
        assert_eq!(a.admit(&f, &e, None, t), Verdict::Write);
    }
}
