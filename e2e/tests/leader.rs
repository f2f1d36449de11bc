//! Leader election against a real apiserver: three in-process electors (own clients, identities
//! zen-0/1/2) per test namespace. Deadlines are generous; no test depends on tight timing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;
use zen_watcher::app::AppMetrics;
use zen_watcher::leader::LeaderMetrics;
use zen_watcher::leader::{self, ElectionConfig, LEASE_NAME, Leadership, Term};
use zen_watcher::metrics::Exposition;
use zen_watcher_e2e::{
    ControlPlane, TestNamespace, admin_client, admin_kubeconfig_path, client_from_kubeconfig,
    wait_until,
};

/// (lease duration, renew deadline, retry period)
type Timings = (Duration, Duration, Duration);

const SHORT: Timings = (
    Duration::from_secs(3),
    Duration::from_secs(2),
    Duration::from_millis(500),
);
/// Long enough that a takeover well before expiry can only come from a release.
const LONG_LEASE: Timings = (
    Duration::from_secs(60),
    Duration::from_secs(40),
    Duration::from_millis(500),
);

struct Candidate {
    identity: String,
    leadership: Leadership,
    metrics: LeaderMetrics,
    exposition: Arc<Exposition>,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

async fn candidate(kubeconfig: &Path, namespace: &str, identity: &str, t: Timings) -> Candidate {
    let client = client_from_kubeconfig(kubeconfig).await.unwrap();
    let config = ElectionConfig {
        namespace: namespace.into(),
        lease_name: LEASE_NAME.into(),
        identity: identity.into(),
        lease_duration: t.0,
        renew_deadline: t.1,
        retry_period: t.2,
    };
    let (metrics, exposition) = AppMetrics::register();
    let metrics = metrics.leader;
    let shutdown = CancellationToken::new();
    let (leadership, handle) = leader::start(client, config, metrics.clone(), shutdown.clone());
    Candidate {
        identity: identity.into(),
        leadership,
        metrics,
        exposition,
        shutdown,
        handle,
    }
}

async fn three(namespace: &str, t: Timings) -> Vec<Candidate> {
    let mut all = Vec::new();
    for identity in ["zen-0", "zen-1", "zen-2"] {
        all.push(candidate(&admin_kubeconfig_path(), namespace, identity, t).await);
    }
    all
}

fn leaders(all: &[Candidate]) -> Vec<usize> {
    (0..all.len())
        .filter(|&i| all[i].leadership.is_leader())
        .collect()
}

/// Waits until exactly one candidate among `all` leads; its index.
async fn single_leader(all: &[Candidate], within: Duration) -> usize {
    wait_until("exactly one leader", within, || async move {
        match leaders(all).as_slice() {
            [one] => Ok(Some(*one)),
            many => Err(anyhow::anyhow!("leaders: {many:?}")),
        }
    })
    .await
    .unwrap()
}

async fn holder(api: &Api<Lease>) -> Option<String> {
    let lease = api.get_opt(LEASE_NAME).await.unwrap()?;
    lease
        .spec?
        .holder_identity
        .filter(|holder| !holder.is_empty())
}

async fn term_of(leadership: &Leadership) -> Term {
    timeout(Duration::from_secs(30), leadership.clone().wait_for_term())
        .await
        .expect("a term within 30 s")
        .expect("the elector is running")
}

fn stop_all(all: &[Candidate]) {
    for c in all {
        c.shutdown.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_replica_leads_and_holds_the_lease() {
    let client = admin_client().await.unwrap();
    let ns = TestNamespace::create(&client, "leader").await.unwrap();
    let all = three(&ns.name, SHORT).await;

    // From the start on, never two leaders at once.
    let sampling_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < sampling_until {
        let now = leaders(&all);
        assert!(now.len() <= 1, "two leaders at once: {now:?}");
        sleep(Duration::from_millis(50)).await;
    }
    let leader = single_leader(&all, Duration::from_secs(30)).await;
    let lease: Api<Lease> = ns.api();
    assert_eq!(
        holder(&lease).await.as_deref(),
        Some(&*all[leader].identity)
    );
    let term = term_of(&all[leader].leadership).await;
    assert!(!term.token().is_cancelled());
    for (i, c) in all.iter().enumerate() {
        let expected = i64::from(i == leader);
        assert_eq!(c.metrics.leader.get(), expected, "{}", c.identity);
    }
    assert!(all[leader].metrics.leader_transitions.get() >= 1);
    assert!(
        all[leader]
            .exposition
            .encode()
            .contains("zen_watcher_leader 1")
    );
    stop_all(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_the_lease_for_a_quick_takeover() {
    let client = admin_client().await.unwrap();
    let ns = TestNamespace::create(&client, "leader").await.unwrap();
    let mut all = three(&ns.name, LONG_LEASE).await;
    let leader = single_leader(&all, Duration::from_secs(30)).await;
    let term = term_of(&all[leader].leadership).await;

    let old = all.remove(leader);
    old.shutdown.cancel();
    timeout(Duration::from_secs(20), old.handle)
        .await
        .expect("the elector returns after its release")
        .unwrap();
    assert!(term.token().is_cancelled(), "the term ends at shutdown");
    assert!(!old.leadership.is_leader());
    assert_eq!(old.metrics.leader.get(), 0);

    // The lease lasts 60 s: a takeover within 15 s can only follow a release.
    let next = single_leader(&all, Duration::from_secs(15)).await;
    let lease: Api<Lease> = ns.api();
    let new_holder = holder(&lease).await;
    assert_eq!(new_holder.as_deref(), Some(&*all[next].identity));
    assert_ne!(new_holder.as_deref(), Some(&*old.identity));
    stop_all(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_takes_over_after_an_abrupt_end() {
    let client = admin_client().await.unwrap();
    let ns = TestNamespace::create(&client, "leader").await.unwrap();
    let mut all = three(&ns.name, SHORT).await;
    let leader = single_leader(&all, Duration::from_secs(30)).await;
    let lease: Api<Lease> = ns.api();
    let transitions_before = lease_transitions(&lease).await;

    let old = all.remove(leader);
    old.handle.abort(); // no release, like SIGKILL
    assert!(old.handle.await.unwrap_err().is_cancelled());

    let next = single_leader(&all, Duration::from_secs(30)).await;
    wait_until(
        "the Lease names the new leader",
        Duration::from_secs(10),
        || {
            let (lease, expected) = (&lease, all[next].identity.clone());
            async move { Ok((holder(lease).await == Some(expected)).then_some(())) }
        },
    )
    .await
    .unwrap();
    assert_eq!(lease_transitions(&lease).await, transitions_before + 1);
    stop_all(&all);
}

async fn lease_transitions(api: &Api<Lease>) -> i32 {
    let lease = api.get(LEASE_NAME).await.unwrap();
    lease.spec.and_then(|s| s.lease_transitions).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_apiserver_demotes_the_leader_until_it_is_back() {
    let cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let ns = TestNamespace::create(&client, "leader").await.unwrap();
    let only = candidate(&cp.kubeconfig, &ns.name, "zen-0", SHORT).await;
    single_leader(std::slice::from_ref(&only), Duration::from_secs(30)).await;
    let first = term_of(&only.leadership).await;

    let cp = blocking(cp, ControlPlane::stop).await;
    wait_until("demotion", Duration::from_secs(15), || async {
        Ok((!only.leadership.is_leader() && first.token().is_cancelled()).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(only.metrics.leader.get(), 0);

    let _cp = blocking(cp, ControlPlane::restart).await;
    single_leader(std::slice::from_ref(&only), Duration::from_secs(30)).await;
    let second = term_of(&only.leadership).await;
    assert!(second.number() > first.number());
    assert!(!second.token().is_cancelled());
    only.shutdown.cancel();
    timeout(Duration::from_secs(20), only.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(second.token().is_cancelled());
}

/// Runs a blocking control-plane operation off the runtime, so the elector keeps running.
async fn blocking(
    mut cp: ControlPlane,
    op: fn(&mut ControlPlane) -> anyhow::Result<()>,
) -> ControlPlane {
    tokio::task::spawn_blocking(move || op(&mut cp).map(|()| cp))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn without_election_the_replica_leads_until_shutdown() {
    let shutdown = CancellationToken::new();
    let leadership = Leadership::always(shutdown.clone());
    assert!(leadership.is_leader());
    let term = term_of(&leadership).await;
    let (started, ended) = (CancellationToken::new(), CancellationToken::new());
    let tasks = tokio::spawn(leader::run_leader_tasks(leadership.clone(), {
        let (started, ended) = (started.clone(), ended.clone());
        move |token: CancellationToken| {
            let (started, ended) = (started.clone(), ended.clone());
            async move {
                started.cancel();
                token.cancelled().await;
                ended.cancel();
            }
        }
    }));
    timeout(Duration::from_secs(10), started.cancelled())
        .await
        .unwrap();
    sleep(Duration::from_millis(300)).await;
    assert!(!term.token().is_cancelled() && !ended.is_cancelled());
    assert!(leadership.is_leader());

    shutdown.cancel();
    assert!(term.token().is_cancelled());
    timeout(Duration::from_secs(10), tasks)
        .await
        .expect("the leader tasks end at shutdown")
        .unwrap();
    assert!(ended.is_cancelled());
    assert!(!leadership.is_leader());
}
