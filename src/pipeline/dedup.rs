//! The in-memory dedup window: a fingerprint seen again within its window is suppressed before
//! it costs an apiserver round-trip. Bounded by `DEDUP_MAX_SIZE` (least recently used entries
//! are evicted); O(1) per event. The apiserver (deterministic Observation names) is what makes
//! dedup correct across replicas; this cache only saves work.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

/// What the cache says about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// Not seen within its window: process it.
    New,
    /// Seen within its window: suppress it.
    Duplicate,
}

pub struct DedupCache {
    first_seen: LruCache<String, Instant>,
}

impl DedupCache {
    pub fn new(max_size: NonZeroUsize) -> Self {
        Self {
            first_seen: LruCache::new(max_size),
        }
    }

    /// Records `key` at `now` and says whether it is a duplicate within `window`. A zero
    /// window disables suppression for this event (and records nothing).
    pub fn check(&mut self, key: String, window: Duration, now: Instant) -> Dedup {
        if window.is_zero() {
            return Dedup::New;
        }
        if let Some(first) = self.first_seen.get_mut(&key) {
            if now.saturating_duration_since(*first) < window {
                return Dedup::Duplicate;
            }
            *first = now;
            return Dedup::New;
        }
        self.first_seen.put(key, now);
        Dedup::New
    }

    /// Forgets `key`, so a retry after a failed write is not suppressed.
    pub fn forget(&mut self, key: &str) {
        self.first_seen.pop(key);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.first_seen.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.first_seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn cache(size: usize) -> DedupCache {
        DedupCache::new(NonZeroUsize::new(size).unwrap())
    }

    #[test]
    fn repeats_within_the_window_are_duplicates() {
        let mut c = cache(10);
        let t0 = Instant::now();
        assert_eq!(c.check("a".into(), MINUTE, t0), Dedup::New);
        assert_eq!(
            c.check("a".into(), MINUTE, t0 + Duration::from_secs(59)),
            Dedup::Duplicate
        );
        assert_eq!(
            c.check("b".into(), MINUTE, t0 + Duration::from_secs(1)),
            Dedup::New
        );
    }

    #[test]
    fn the_window_expires_and_restarts() {
        let mut c = cache(10);
        let t0 = Instant::now();
        c.check("a".into(), MINUTE, t0);
        assert_eq!(
            c.check("a".into(), MINUTE, t0 + MINUTE),
            Dedup::New,
            "expired at exactly the window"
        );
        assert_eq!(
            c.check("a".into(), MINUTE, t0 + MINUTE + Duration::from_secs(30)),
            Dedup::Duplicate
        );
    }

    #[test]
    fn windows_can_differ_per_event() {
        let mut c = cache(10);
        let t0 = Instant::now();
        c.check("a".into(), Duration::from_secs(5), t0);
        assert_eq!(
            c.check(
                "a".into(),
                Duration::from_secs(5),
                t0 + Duration::from_secs(6)
            ),
            Dedup::New
        );
        c.check("b".into(), Duration::from_secs(3600), t0);
        assert_eq!(
            c.check(
                "b".into(),
                Duration::from_secs(3600),
                t0 + Duration::from_secs(600)
            ),
            Dedup::Duplicate
        );
    }

    #[test]
    fn a_zero_window_disables_suppression() {
        let mut c = cache(10);
        let t0 = Instant::now();
        assert_eq!(c.check("a".into(), Duration::ZERO, t0), Dedup::New);
        assert_eq!(c.check("a".into(), Duration::ZERO, t0), Dedup::New);
        assert!(c.is_empty());
    }

    #[test]
    fn least_recently_used_entries_are_evicted_at_the_bound() {
        let mut c = cache(2);
        let t0 = Instant::now();
        c.check("a".into(), MINUTE, t0);
        c.check("b".into(), MINUTE, t0);
        c.check("a".into(), MINUTE, t0); // a is now the most recently used
        c.check("c".into(), MINUTE, t0); // evicts b
        assert_eq!(c.len(), 2);
        assert_eq!(c.check("a".into(), MINUTE, t0), Dedup::Duplicate);
        assert_eq!(c.check("b".into(), MINUTE, t0), Dedup::New, "b was evicted");
    }

    #[test]
    fn forgetting_lets_a_retry_through() {
        let mut c = cache(10);
        let t0 = Instant::now();
        c.check("a".into(), MINUTE, t0);
        c.forget("a");
        assert_eq!(c.check("a".into(), MINUTE, t0), Dedup::New);
    }

    #[test]
    fn the_bound_holds_under_many_keys() {
        let mut c = cache(100);
        let t0 = Instant::now();
        for i in 0..10_000 {
            c.check(format!("k{i}"), MINUTE, t0);
        }
        assert_eq!(c.len(), 100);
    }
}
