//! The elector's loop: campaign (follow until the Lease can be taken), lead (renew until
//! shutdown, loss or the renew deadline), and release at shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::LeaderMetrics;
use super::decide::{Action, LeaseView, decide, next_attempt_in};
use super::{ElectionConfig, Fence, State, Term, record};

/// How long a term's tasks may take to stop before the elector campaigns again or releases.
const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound of the best-effort release at shutdown.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Elector {
    api: Api<Lease>,
    config: ElectionConfig,
    metrics: LeaderMetrics,
    shutdown: CancellationToken,
    fence: Arc<Fence>,
    terms: watch::Sender<State>,
    term_count: u64,
}

/// The Lease as we last wrote it, and when (locally) that write was sent.
struct Held {
    lease: Lease,
    renewed_at: Instant,
}

enum Attempt {
    Won(Box<Held>),
    Follow {
        holder: String,
        expires_at: Timestamp,
    },
    /// Another replica wrote the Lease between our read and our write.
    Raced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Shutdown,
    /// No successful renewal within the renew deadline.
    Demoted,
    /// The Lease names someone else (or is gone).
    Lost,
}

impl Ended {
    fn as_str(self) -> &'static str {
        match self {
            Ended::Shutdown => "shutdown",
            Ended::Demoted => "renew deadline passed",
            Ended::Lost => "lease taken by another replica",
        }
    }
}

/// Ends a term when dropped, also when the elector task is aborted.
struct TermGuard {
    token: CancellationToken,
    fence: Arc<Fence>,
    metrics: LeaderMetrics,
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        self.fence.set(None);
        self.token.cancel();
        self.metrics.leader.set(0);
    }
}

impl Elector {
    pub(super) fn new(
        client: kube::Client,
        config: ElectionConfig,
        metrics: LeaderMetrics,
        shutdown: CancellationToken,
        fence: Arc<Fence>,
        terms: watch::Sender<State>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            metrics,
            shutdown,
            fence,
            terms,
            term_count: 0,
        }
    }

    pub(super) async fn run(mut self) {
        while let Some(held) = self.campaign().await {
            if self.lead(held).await == Ended::Shutdown {
                self.release().await;
                break;
            }
        }
        self.terms.send_replace(State::Stopped);
    }

    /// Follows until the Lease is ours; `None` at shutdown.
    async fn campaign(&self) -> Option<Held> {
        let identity = &self.config.identity;
        let mut changes = lease_changes(self.api.clone(), &self.config.lease_name);
        let mut failures = 0u32;
        loop {
            let mut wait = self.config.retry_period;
            let attempt = tokio::select! {
                () = self.shutdown.cancelled() => return None,
                attempt = timeout(self.config.renew_deadline, self.try_acquire()) => attempt,
            };
            match attempt {
                Ok(Ok(Attempt::Won(held))) => return Some(*held),
                Ok(Ok(Attempt::Follow { holder, expires_at })) => {
                    failures = 0;
                    wait = next_attempt_in(expires_at, Timestamp::now(), wait);
                    debug!(%identity, %holder, %expires_at, "following the leader");
                }
                Ok(Ok(Attempt::Raced)) => debug!(%identity, "another replica took the Lease first"),
                Ok(Err(error)) => {
                    failures += 1;
                    warn!(%identity, %error, failures, "reading or taking the Lease failed");
                }
                Err(_) => {
                    failures += 1;
                    warn!(%identity, failures, "reading or taking the Lease timed out");
                }
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = sleep(wait) => {}
                () = next_change(&mut changes) => {}
            }
        }
    }

    async fn try_acquire(&self) -> Result<Attempt, kube::Error> {
        let current = self.api.get_opt(&self.config.lease_name).await?;
        let view = current.as_ref().map(LeaseView::of);
        // Both clocks are read before the write is sent: the fence may only start earlier.
        let started = Instant::now();
        let now = Timestamp::now();
        let action = decide(
            view.as_ref(),
            &self.config.identity,
            now,
            self.config.lease_duration,
        );
        let lease = match (action, &current) {
            (Action::Follow { holder, expires_at }, _) => {
                return Ok(Attempt::Follow { holder, expires_at });
            }
            (Action::Renew, Some(current)) => record::renewed(current, &self.config, now),
            _ => record::acquired(current.as_ref(), &self.config, now),
        };
        let written = match current {
            None => self.api.create(&PostParams::default(), &lease).await,
            Some(_) => self.replace(&lease).await,
        };
        match written {
            Ok(lease) => Ok(Attempt::Won(Box::new(Held {
                lease,
                renewed_at: started,
            }))),
            Err(kube::Error::Api(s))
                if s.is_conflict() || s.is_already_exists() || s.is_not_found() =>
            {
                Ok(Attempt::Raced)
            }
            Err(error) => Err(error),
        }
    }

    /// Runs one term: publishes it, renews until it ends, then waits (bounded) for its tasks.
    async fn lead(&mut self, held: Held) -> Ended {
        self.term_count += 1;
        let tracker = TaskTracker::new();
        let term = Term {
            number: self.term_count,
            token: CancellationToken::new(),
            _running: Some(tracker.token()),
        };
        tracker.close();
        let guard = TermGuard {
            token: term.token(),
            fence: self.fence.clone(),
            metrics: self.metrics.clone(),
        };
        self.fence
            .set(Some(held.renewed_at + self.config.renew_deadline));
        self.terms.send_replace(State::Leading(term));
        self.metrics.leader.set(1);
        self.metrics.leader_transitions.inc();
        info!(identity = %self.config.identity, term = self.term_count, "became leader");

        let ended = self.keep_renewing(held).await;

        drop(guard);
        self.terms.send_replace(State::Following);
        self.metrics.leader_transitions.inc();
        if ended == Ended::Shutdown {
            info!(identity = %self.config.identity, reason = ended.as_str(), "lost leadership");
        } else {
            warn!(identity = %self.config.identity, reason = ended.as_str(), "lost leadership");
        }
        self.await_tasks(tracker).await;
        ended
    }

    async fn keep_renewing(&self, mut held: Held) -> Ended {
        let identity = &self.config.identity;
        let mut failures = 0u32;
        loop {
            let deadline = held.renewed_at + self.config.renew_deadline;
            tokio::select! {
                () = self.shutdown.cancelled() => return Ended::Shutdown,
                () = sleep_until(deadline) => return Ended::Demoted,
                () = sleep(self.config.retry_period) => {}
            }
            let started = Instant::now();
            let renewal = tokio::select! {
                () = self.shutdown.cancelled() => return Ended::Shutdown,
                renewal = timeout_at(deadline, self.renew(&held.lease)) => renewal,
            };
            match renewal {
                Err(_) => return Ended::Demoted,
                Ok(Ok(Some(lease))) => {
                    held = Held {
                        lease,
                        renewed_at: started,
                    };
                    self.fence.set(Some(started + self.config.renew_deadline));
                    failures = 0;
                }
                Ok(Ok(None)) => return Ended::Lost,
                Ok(Err(error)) => {
                    failures += 1;
                    warn!(%identity, %error, failures, "renewing the Lease failed");
                }
            }
        }
    }

    /// The renewed Lease, or `None` when it no longer names us.
    async fn renew(&self, lease: &Lease) -> Result<Option<Lease>, kube::Error> {
        let now = Timestamp::now();
        match self
            .replace(&record::renewed(lease, &self.config, now))
            .await
        {
            Err(kube::Error::Api(s)) if s.is_conflict() => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(None),
            other => return other.map(Some),
        }
        // Someone wrote the Lease since our last write: it is still ours only if it names us.
        let Some(current) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(None);
        };
        if !self.names_us(&current) {
            return Ok(None);
        }
        self.replace(&record::renewed(&current, &self.config, now))
            .await
            .map(Some)
    }

    async fn await_tasks(&self, tracker: TaskTracker) {
        if timeout(TASK_STOP_TIMEOUT, tracker.wait()).await.is_err() {
            warn!(
                identity = %self.config.identity,
                "leader-only tasks did not stop within {TASK_STOP_TIMEOUT:?}; going on without them"
            );
        }
    }

    /// Best effort: clears the holder so another replica takes over at once.
    async fn release(&self) {
        let identity = &self.config.identity;
        match timeout(RELEASE_TIMEOUT, self.try_release()).await {
            Ok(Ok(true)) => info!(%identity, "released the Lease"),
            Ok(Ok(false)) => debug!(%identity, "the Lease no longer names us: nothing to release"),
            Ok(Err(error)) => {
                warn!(%identity, %error, "releasing the Lease failed; it expires on its own")
            }
            Err(_) => warn!(%identity, "releasing the Lease timed out; it expires on its own"),
        }
    }

    async fn try_release(&self) -> Result<bool, kube::Error> {
        let Some(current) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(false);
        };
        if !self.names_us(&current) {
            return Ok(false);
        }
        self.replace(&record::released(&current, Timestamp::now()))
            .await?;
        Ok(true)
    }

    fn names_us(&self, lease: &Lease) -> bool {
        LeaseView::of(lease).holder.as_deref() == Some(self.config.identity.as_str())
    }

    /// Replaces the Lease; the apiserver answers 409 if its resourceVersion moved on.
    async fn replace(&self, lease: &Lease) -> Result<Lease, kube::Error> {
        self.api
            .replace(&self.config.lease_name, &PostParams::default(), lease)
            .await
    }
}

/// Wakes a follower whenever the Lease changes (e.g. it was released).
fn lease_changes(api: Api<Lease>, name: &str) -> BoxStream<'static, ()> {
    watcher::watch_object(api, name)
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(_) => Some(()),
                Err(error) => {
                    debug!(%error, "watching the Lease failed; retrying");
                    None
                }
            }
        })
        .boxed()
}

async fn next_change(changes: &mut BoxStream<'static, ()>) {
    if changes.next().await.is_none() {
        // The watch never ends by itself; if it did, the retry period still applies.
        std::future::pending::<()>().await;
    }
}
