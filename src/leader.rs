//! Leader election on the Lease `zen-watcher-leader-election` (coordination.k8s.io/v1) in the
//! watcher's namespace: only the holder runs informers, Ingester orchestration and GC.
//!
//! - [`decide`] is the pure decision (acquire, renew, follow) from the Lease, our identity and
//!   the wall clock; every write is guarded by the `resourceVersion` read, so of two replicas
//!   racing for the Lease one gets 409 Conflict and follows.
//! - [`start`] runs the elector until the shutdown token is cancelled. Followers watch the Lease
//!   (a release is seen at once) and otherwise retry every retry period.
//! - Fencing: [`Leadership::is_leader`] is true only until the last successful renewal (its
//!   start, measured locally) plus the renew deadline. A leader that cannot renew by then is
//!   demoted: its [`Term`] is cancelled, the elector waits (bounded) for the term's tasks to
//!   stop, then campaigns again. Check `is_leader()` before each leader-only write.
//! - On shutdown the term is cancelled, its tasks are awaited (bounded) and the Lease is
//!   released (holder cleared, object kept) so another replica takes over within a retry period.
//! - [`Leadership::always`] (election off) is leader with one term that ends at shutdown.
//!
//! ```no_run
//! # async fn example(client: kube::Client, config: zen_watcher::config::Config,
//! #     metrics: zen_watcher::leader::LeaderMetrics,
//! #     shutdown: tokio_util::sync::CancellationToken) {
//! use zen_watcher::leader::{self, ElectionConfig, Leadership};
//! let (leadership, elector) = match ElectionConfig::from_config(&config) {
//!     Some(election) => { let (l, h) = leader::start(client, election, metrics, shutdown.clone()); (l, Some(h)) }
//!     None => (Leadership::always(shutdown.clone()), None),
//! };
//! let fenced = leadership.clone();
//! let tasks = tokio::spawn(leader::run_leader_tasks(leadership, move |term| {
//!     let still_leader = fenced.clone();
//!     async move { /* run informers and GC until `term` is cancelled, checking `still_leader.is_leader()` before writes */ }
//! }));
//! # }
//! ```

mod decide;
mod elector;
mod metrics;
mod record;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::task_tracker::TaskTrackerToken;

pub use decide::{Action, LeaseView, decide};
pub use metrics::LeaderMetrics;
pub use tokio_util::sync::CancellationToken;

/// Name of the Lease the replicas compete for.
pub const LEASE_NAME: &str = "zen-watcher-leader-election";

/// Who competes for which Lease, with which timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    pub namespace: String,
    pub lease_name: String,
    /// Holder identity written in the Lease (the pod name).
    pub identity: String,
    /// How long a Lease is valid after a renewal.
    pub lease_duration: Duration,
    /// A leader that cannot renew for this long steps down.
    pub renew_deadline: Duration,
    /// Interval between acquisition and renewal attempts.
    pub retry_period: Duration,
}

impl ElectionConfig {
    /// The election settings, or `None` when leader election is off.
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        let election = config.leader_election?;
        Some(Self {
            namespace: config.namespace.clone(),
            lease_name: LEASE_NAME.to_string(),
            identity: config.identity.clone(),
            lease_duration: election.lease_duration,
            renew_deadline: election.renew_deadline,
            retry_period: election.retry_period,
        })
    }
}

/// Starts the elector. It runs until `shutdown` is cancelled, then releases the Lease if it
/// holds it; the handle resolves after that.
pub fn start(
    client: kube::Client,
    config: ElectionConfig,
    metrics: LeaderMetrics,
    shutdown: CancellationToken,
) -> (Leadership, JoinHandle<()>) {
    let fence = Arc::new(Fence::Lease(Mutex::new(None)));
    let (terms, receiver) = watch::channel(State::Following);
    let elector = elector::Elector::new(client, config, metrics, shutdown, fence.clone(), terms);
    let handle = tokio::spawn(elector.run());
    (Leadership::new(fence, receiver), handle)
}

/// For each term, runs `make_tasks(term token)` to its end, then waits for the next term.
/// Returns when the elector stops (shutdown). The tasks must end soon after the token is
/// cancelled: the elector waits for them (a few seconds at most) before it campaigns again or
/// releases the Lease.
pub async fn run_leader_tasks<F, Fut>(mut leadership: Leadership, mut make_tasks: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(term) = leadership.wait_for_term().await {
        make_tasks(term.token()).await;
        // Dropping the term tells the elector that its tasks have stopped.
        drop(term);
    }
}

/// This replica's view of the election; cheap to clone and to query.
#[derive(Clone, Debug)]
pub struct Leadership {
    fence: Arc<Fence>,
    terms: watch::Receiver<State>,
    /// Number of the last term this handle returned: each handle sees a term once.
    seen: u64,
}

impl Leadership {
    fn new(fence: Arc<Fence>, terms: watch::Receiver<State>) -> Self {
        Self {
            fence,
            terms,
            seen: 0,
        }
    }

    /// Leadership without election (one replica): leader with a single term that is cancelled
    /// when `shutdown` is.
    pub fn always(shutdown: CancellationToken) -> Self {
        let term = Term {
            number: 1,
            token: shutdown.child_token(),
            _running: None,
        };
        // No sender: once the term is taken, `wait_for_term` answers None.
        let (_, terms) = watch::channel(State::Leading(term));
        Self::new(Arc::new(Fence::Always(shutdown)), terms)
    }

    /// The fenced check to make before each leader-only write.
    pub fn is_leader(&self) -> bool {
        self.fence.is_leader()
    }

    /// Waits for the next term this handle has not returned yet; `None` once the elector has
    /// stopped. Holding the returned [`Term`] (or a clone) tells the elector that leader-only
    /// tasks still run: drop it when they have stopped.
    pub async fn wait_for_term(&mut self) -> Option<Term> {
        loop {
            let next = match &*self.terms.borrow_and_update() {
                State::Stopped => return None,
                State::Leading(term) if term.number > self.seen && !term.token.is_cancelled() => {
                    Some(term.clone())
                }
                _ => None,
            };
            if let Some(term) = next {
                self.seen = term.number;
                return Some(term);
            }
            self.terms.changed().await.ok()?;
        }
    }
}

/// One period of leadership. Its token is cancelled when leadership is lost or at shutdown.
#[derive(Clone, Debug)]
pub struct Term {
    number: u64,
    token: CancellationToken,
    _running: Option<TaskTrackerToken>,
}

impl Term {
    /// 1 for this replica's first term, then counting up.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Cancelled when this term ends.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

#[derive(Clone, Debug)]
enum State {
    Following,
    Leading(Term),
    Stopped,
}

/// The local deadline `is_leader` checks.
#[derive(Debug)]
enum Fence {
    Always(CancellationToken),
    /// Leader until this instant (last renewal start + renew deadline); `None`: not leader.
    Lease(Mutex<Option<Instant>>),
}

impl Fence {
    fn is_leader(&self) -> bool {
        match self {
            Fence::Always(shutdown) => !shutdown.is_cancelled(),
            Fence::Lease(until) => lock(until).is_some_and(|until| Instant::now() < until),
        }
    }

    fn set(&self, until: Option<Instant>) {
        if let Fence::Lease(current) = self {
            *lock(current) = until;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded value is a plain Option<Instant>: a panic elsewhere cannot leave it torn.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
