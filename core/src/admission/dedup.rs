//! The in-memory dedup window: an identity seen again within its window costs no apiserver
//! round-trip. Bounded by `DEDUP_MAX_SIZE` (least recently used entries are evicted); O(1) per
//! event. The apiserver (deterministic Observation names) is what makes dedup correct across
//! replicas; this cache only saves work, and it never answers for a write that has not
//! succeeded (docs/architecture.md, "Acknowledgement"):
//!
//! - an entry is *pending* from admission until its write settles; a repeat meanwhile is told
//!   to wait for that write (`Dedup::Pending` hands it the waiter `W` the first event left);
//! - a write that succeeded turns its entry *written*: repeats within the window are
//!   suppressed, and the deliveries they carry are kept for the next flush of occurrence
//!   counts ([`Recurrences`]);
//! - a write that failed removes its entry, so a retry goes through.
//!
//! `W` is whatever a waiting repeat needs (the stateful pipeline uses a notification
//! channel), so this module stays pure.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use lru::LruCache;

use crate::event::DeliveryId;

/// Deliveries remembered per Observation: on the Observation itself (`status.deliveries`) and,
/// between flushes, per written entry here. A re-send is recognised while its delivery is
/// among them.
pub const RECENT_DELIVERIES: usize = 128;

/// Where an identity's Observation was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationRef {
    pub namespace: String,
    pub name: String,
}

/// Recurrences of a written occurrence suppressed since its last flush: counted into the
/// Observation's `status.occurrences` by the next flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recurrences {
    /// Distinct deliveries, oldest first (at most [`RECENT_DELIVERIES`]).
    pub deliveries: Vec<DeliveryId>,
    /// Deliveries beyond that bound, counted without their ids.
    pub uncounted_ids: u64,
    /// The latest `detectedAt` among them.
    pub last_seen: Option<Timestamp>,
}

impl Recurrences {
    /// Adds one delivery; false when it is already here (a re-send).
    pub fn add(&mut self, delivery: DeliveryId, seen_at: Timestamp) -> bool {
        if self.deliveries.contains(&delivery) {
            return false;
        }
        if self.deliveries.len() < RECENT_DELIVERIES {
            self.deliveries.push(delivery);
        } else {
            self.uncounted_ids += 1;
        }
        self.last_seen = Some(self.last_seen.map_or(seen_at, |t| t.max(seen_at)));
        true
    }

    /// Takes in `other` (a flush that failed, given back).
    pub fn merge(&mut self, other: Recurrences) {
        let last_seen = other.last_seen;
        for delivery in other.deliveries {
            if let Some(seen) = last_seen {
                self.add(delivery, seen);
            }
        }
        self.uncounted_ids += other.uncounted_ids;
        if let Some(seen) = last_seen {
            self.last_seen = Some(self.last_seen.map_or(seen, |t| t.max(seen)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty() && self.uncounted_ids == 0
    }

    /// How many deliveries this counts, before the Observation says which it has already.
    pub fn len(&self) -> u64 {
        self.deliveries.len() as u64 + self.uncounted_ids
    }
}

/// A settled write: where its Observation is, and the delivery that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub observation: ObservationRef,
    pub delivery: Option<DeliveryId>,
}

/// What the cache says about an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Dedup<W> {
    /// Not written within its window: write it, then [`DedupCache::settle`] this ticket.
    New(u64),
    /// Written within its window: suppress it.
    Duplicate,
    /// A write of this identity is in flight: wait for it with `W`.
    Pending(W),
}

struct Entry<W> {
    first_seen: Instant,
    ticket: u64,
    state: State<W>,
}

enum State<W> {
    Pending(W),
    Written {
        settled: Settled,
        recurrences: Recurrences,
    },
}

pub struct DedupCache<W> {
    entries: LruCache<String, Entry<W>>,
    next_ticket: u64,
    /// Keys whose written entry holds recurrences not flushed yet.
    dirty: Vec<String>,
    /// Recurrences whose entry was evicted, or whose flush failed and was given back.
    orphans: Vec<(ObservationRef, Recurrences)>,
}

impl<W: Clone> DedupCache<W> {
    pub fn new(max_size: NonZeroUsize) -> Self {
        Self {
            entries: LruCache::new(max_size),
            next_ticket: 1,
            dirty: Vec::new(),
            orphans: Vec::new(),
        }
    }

    /// Looks `key` up at `now` within `window`. A new (or expired) identity gets a pending
    /// entry whose waiter `waiter()` makes; `fresh` treats a written entry as expired (a
    /// relist re-checks every finding against the apiserver). A zero window disables the
    /// cache for this event: it is always new and nothing is recorded (ticket 0).
    pub fn check(
        &mut self,
        key: &str,
        window: Duration,
        now: Instant,
        fresh: bool,
        waiter: impl FnOnce() -> W,
    ) -> Dedup<W> {
        if window.is_zero() {
            return Dedup::New(0);
        }
        let ticket = self.next_ticket;
        if let Some(entry) = self.entries.get_mut(key) {
            match &mut entry.state {
                State::Pending(w) => return Dedup::Pending(w.clone()),
                State::Written { .. }
                    if !fresh && now.saturating_duration_since(entry.first_seen) < window =>
                {
                    return Dedup::Duplicate;
                }
                State::Written { .. } => {
                    self.next_ticket += 1;
                    let old = std::mem::replace(
                        entry,
                        Entry {
                            first_seen: now,
                            ticket,
                            state: State::Pending(waiter()),
                        },
                    );
                    self.keep_recurrences(old);
                    return Dedup::New(ticket);
                }
            }
        }
        self.next_ticket += 1;
        let entry = Entry {
            first_seen: now,
            ticket,
            state: State::Pending(waiter()),
        };
        if let Some((_, evicted)) = self.entries.push(key.to_string(), entry) {
            self.keep_recurrences(evicted);
        }
        Dedup::New(ticket)
    }

    /// Settles `ticket`'s write of `key`: `Some` (it succeeded, here) turns the entry written;
    /// `None` (it failed) removes it. A ticket that no longer owns the entry (evicted, or
    /// replaced after its window) changes nothing.
    pub fn settle(&mut self, key: &str, ticket: u64, outcome: Option<Settled>) {
        if ticket == 0 || self.entries.peek(key).is_none_or(|e| e.ticket != ticket) {
            return;
        }
        match outcome {
            Some(settled) => {
                if let Some(entry) = self.entries.peek_mut(key) {
                    entry.state = State::Written {
                        settled,
                        recurrences: Recurrences::default(),
                    };
                }
            }
            None => {
                self.entries.pop(key);
            }
        }
    }

    /// Records a suppressed recurrence of the written `key`: `false` when it adds nothing (the
    /// delivery that wrote it, or one already recorded: a re-send).
    pub fn recur(&mut self, key: &str, delivery: DeliveryId, seen_at: Timestamp) -> bool {
        let Some(Entry {
            state:
                State::Written {
                    settled,
                    recurrences,
                },
            ..
        }) = self.entries.peek_mut(key)
        else {
            return false;
        };
        if settled.delivery == Some(delivery) {
            return false;
        }
        let was_empty = recurrences.is_empty();
        let added = recurrences.add(delivery, seen_at);
        if added && was_empty {
            self.dirty.push(key.to_string());
        }
        added
    }

    /// [`DedupCache::recur`] for a delivery that waited on `key`'s write, which settled at
    /// `observation`: when the entry is gone meanwhile (evicted, expired), the recurrence is
    /// kept for the next flush all the same.
    pub fn recur_at(
        &mut self,
        key: &str,
        observation: &ObservationRef,
        delivery: DeliveryId,
        seen_at: Timestamp,
    ) -> bool {
        if matches!(
            self.entries.peek(key),
            Some(Entry {
                state: State::Written { .. },
                ..
            })
        ) {
            return self.recur(key, delivery, seen_at);
        }
        match self.orphans.iter_mut().find(|(o, _)| o == observation) {
            Some((_, recurrences)) => recurrences.add(delivery, seen_at),
            None => {
                let mut recurrences = Recurrences::default();
                recurrences.add(delivery, seen_at);
                self.orphans.push((observation.clone(), recurrences));
                true
            }
        }
    }

    /// Takes every recurrence not flushed yet, by Observation.
    pub fn take_recurrences(&mut self) -> Vec<(ObservationRef, Recurrences)> {
        let mut taken = std::mem::take(&mut self.orphans);
        for key in std::mem::take(&mut self.dirty) {
            if let Some(Entry {
                state:
                    State::Written {
                        settled,
                        recurrences,
                    },
                ..
            }) = self.entries.peek_mut(&key)
                && !recurrences.is_empty()
            {
                taken.push((settled.observation.clone(), std::mem::take(recurrences)));
            }
        }
        taken
    }

    /// Gives back recurrences a flush could not write, for the next flush. At most `limit`
    /// Observations wait this way; the count of those beyond is returned (lost, to be counted).
    pub fn restore_recurrences(
        &mut self,
        failed: Vec<(ObservationRef, Recurrences)>,
        limit: usize,
    ) -> u64 {
        let mut lost = 0;
        for (observation, recurrences) in failed {
            if let Some((_, waiting)) = self.orphans.iter_mut().find(|(o, _)| *o == observation) {
                waiting.merge(recurrences);
            } else if self.orphans.len() < limit {
                self.orphans.push((observation, recurrences));
            } else {
                lost += recurrences.len();
            }
        }
        lost
    }

    /// Forgets `key` (a finding just resolved, whose return must reach the apiserver).
    pub fn forget(&mut self, key: &str) {
        if let Some(entry) = self.entries.pop(key) {
            self.keep_recurrences(entry);
        }
    }

    fn keep_recurrences(&mut self, entry: Entry<W>) {
        if let State::Written {
            settled,
            recurrences,
        } = entry.state
            && !recurrences.is_empty()
        {
            self.orphans.push((settled.observation, recurrences));
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests;
