use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::task::TaskTracker;

use super::*;

fn lease_fence() -> Arc<Fence> {
    Arc::new(Fence::Lease(Mutex::new(None)))
}

fn term(number: u64) -> Term {
    Term {
        number,
        token: CancellationToken::new(),
        _running: None,
    }
}

#[test]
fn the_fence_holds_only_until_its_deadline() {
    let fence = lease_fence();
    assert!(!fence.is_leader());
    fence.set(Some(Instant::now() + Duration::from_secs(60)));
    assert!(fence.is_leader());
    fence.set(Some(Instant::now()));
    assert!(!fence.is_leader(), "at the deadline leadership is over");
    fence.set(Some(Instant::now() + Duration::from_secs(60)));
    fence.set(None);
    assert!(!fence.is_leader(), "demoted");
}

#[tokio::test]
async fn always_is_leader_with_one_term_until_shutdown() {
    let shutdown = CancellationToken::new();
    let mut leadership = Leadership::always(shutdown.clone());
    assert!(leadership.is_leader());
    let term = leadership.wait_for_term().await.unwrap();
    assert_eq!(term.number(), 1);
    assert!(!term.token().is_cancelled());
    shutdown.cancel();
    assert!(term.token().is_cancelled());
    assert!(!leadership.is_leader());
    assert!(leadership.wait_for_term().await.is_none());
}

#[tokio::test]
async fn each_handle_sees_each_live_term_once() {
    let (terms, receiver) = watch::channel(State::Following);
    let mut leadership = Leadership::new(lease_fence(), receiver);
    let first = term(1);
    terms.send_replace(State::Leading(first.clone()));
    assert_eq!(leadership.wait_for_term().await.unwrap().number(), 1);

    let mut clone = leadership.clone();
    first.token.cancel();
    terms.send_replace(State::Leading(term(2)));
    assert_eq!(clone.wait_for_term().await.unwrap().number(), 2);
    assert_eq!(leadership.wait_for_term().await.unwrap().number(), 2);

    terms.send_replace(State::Stopped);
    assert!(leadership.wait_for_term().await.is_none());
}

#[tokio::test]
async fn a_cancelled_term_is_skipped() {
    let (terms, receiver) = watch::channel(State::Following);
    let mut leadership = Leadership::new(lease_fence(), receiver);
    let ended = term(1);
    ended.token.cancel();
    terms.send_replace(State::Leading(ended));
    let waiting = tokio::spawn(async move { leadership.wait_for_term().await });
    tokio::task::yield_now().await;
    terms.send_replace(State::Leading(term(2)));
    assert_eq!(waiting.await.unwrap().unwrap().number(), 2);
}

#[tokio::test]
async fn a_vanished_elector_ends_the_wait() {
    let (terms, receiver) = watch::channel(State::Following);
    let mut leadership = Leadership::new(lease_fence(), receiver);
    drop(terms);
    assert!(leadership.wait_for_term().await.is_none());
}

#[tokio::test]
async fn leader_tasks_run_once_per_term_and_release_the_term_when_done() {
    let (terms, receiver) = watch::channel(State::Following);
    let leadership = Leadership::new(lease_fence(), receiver);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let tasks = tokio::spawn(run_leader_tasks(leadership, move |token| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { token.cancelled().await }
    }));

    for number in 1..=2 {
        let tracker = TaskTracker::new();
        let current = Term {
            number,
            token: CancellationToken::new(),
            _running: Some(tracker.token()),
        };
        tracker.close();
        terms.send_replace(State::Leading(current.clone()));
        tokio::time::timeout(Duration::from_secs(5), async {
            while runs.load(Ordering::SeqCst) < number as usize {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        current.token.cancel();
        terms.send_replace(State::Following);
        drop(current);
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("the tasks' end releases the term");
    }
    terms.send_replace(State::Stopped);
    tasks.await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[test]
fn the_election_config_follows_the_config() {
    let args = [
        "zen-watcher",
        "--enable-leader-election",
        "--pod-namespace",
        "zen-system",
        "--pod-name",
        "zen-0",
        "--leader-election-lease-duration",
        "3s",
        "--leader-election-renew-deadline",
        "2s",
        "--leader-election-retry-period",
        "500ms",
    ];
    let crate::config::LoadOutcome::Run(config) =
        crate::config::Config::load_from(args, None).unwrap()
    else {
        panic!("expected a config");
    };
    assert_eq!(
        ElectionConfig::from_config(&config),
        Some(ElectionConfig {
            namespace: "zen-system".into(),
            lease_name: LEASE_NAME.into(),
            identity: "zen-0".into(),
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(500),
        })
    );
    let off = crate::config::Config {
        leader_election: None,
        ..*config
    };
    assert_eq!(ElectionConfig::from_config(&off), None);
}
