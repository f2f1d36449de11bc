//! zen-watcher processes against a real apiserver: readiness, webhooks written as
//! Observations, errors, metrics, leader election across three replicas and failover.

use std::time::Duration;

use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use zen_watcher::crd::Observation;
use zen_watcher_e2e::chart::Release;
use zen_watcher_e2e::http::{get, post};
use zen_watcher_e2e::replicas::{QUICK_FAILOVER_VALUES, falco_alert, log_dir, ready};
use zen_watcher_e2e::{
    ControlPlane, Signal, TestNamespace, WatcherProcess, admin_client, admin_kubeconfig_path,
    apply_crds, apply_report_crds, client_from_kubeconfig, wait_until,
};

const TOKEN: &str = "e2e-token";

fn env(ns: &str, identity: &str, election: bool) -> Vec<(String, String)> {
    [
        ("POD_NAME", identity),
        ("POD_NAMESPACE", ns),
        ("WATCHER_PORT", "0"),
        ("METRICS_PORT", "0"),
        ("WEBHOOK_AUTH_TOKEN", TOKEN),
        ("SHUTDOWN_DRAIN_DELAY", "3s"),
        (
            "ENABLE_LEADER_ELECTION",
            if election { "true" } else { "false" },
        ),
        ("LEADER_ELECTION_LEASE_DURATION", "4s"),
        ("LEADER_ELECTION_RENEW_DEADLINE", "3s"),
        ("LEADER_ELECTION_RETRY_PERIOD", "500ms"),
        ("LOG_LEVEL", "info,zen_watcher=debug"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn observations(ns: &TestNamespace) -> Vec<Observation> {
    ns.observations().await.unwrap()
}

/// A namespace for the events and one for the watchers themselves (their Lease, and the
/// fallback for findings without a namespace: their informers see every report in the cluster).
async fn setup(prefix: &str) -> (Client, TestNamespace, TestNamespace) {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    (client, ns, home)
}

#[tokio::test]
async fn a_single_watcher_serves_writes_and_stops_cleanly() {
    let (_client, ns, home) = setup("single").await;
    let mut w = WatcherProcess::start(
        "zen-0",
        &env(&home.name, "zen-0", false),
        &admin_kubeconfig_path(),
        &log_dir(&ns.name),
    )
    .unwrap();
    let (webhook, metrics) = w.addresses().unwrap();
    ready(metrics).await.unwrap();
    assert_eq!(get(metrics, "/healthz").await.unwrap().status, 200);
    assert_eq!(
        get(webhook, "/readyz").await.unwrap().status,
        200,
        "plain webhook port serves probes too"
    );

    let alert = falco_alert(&ns.name, "web-1");
    let reply = post(webhook, "/falco/webhook", &alert, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stored = observations(&ns).await;
    assert_eq!(stored.len(), 1, "written before the 2xx");
    assert_eq!(stored[0].spec.severity.to_string(), "critical");

    let unauthenticated = post(webhook, "/falco/webhook", &alert, None).await.unwrap();
    assert_eq!(unauthenticated.status, 401);
    let malformed = post(webhook, "/falco/webhook", b"{not json", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains("error"), "{}", malformed.body);
    let too_big = vec![b' '; 2 << 20];
    assert_eq!(
        post(webhook, "/falco/webhook", &too_big, Some(TOKEN))
            .await
            .unwrap()
            .status,
        413
    );
    assert_eq!(get(webhook, "/no/such/path").await.unwrap().status, 404);

    let text = get(metrics, "/metrics").await.unwrap().body;
    assert!(
        text.contains("zen_watcher_events_received_total{source=\"falco\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "zen_watcher_observations_written_total{source=\"falco\",outcome=\"created\"} 1"
        ),
        "{text}"
    );

    // SIGTERM: /readyz turns 503 at once while the replica keeps serving through the drain
    // delay, then it stops cleanly.
    w.signal(Signal::Term).unwrap();
    w.wait_for_log("shutting down", Duration::from_secs(10))
        .unwrap();
    assert_eq!(get(metrics, "/readyz").await.unwrap().status, 503);
    assert_eq!(get(metrics, "/healthz").await.unwrap().status, 200);
    let status = w.wait_exit(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}");
    assert!(w.log().contains("\"stopped\""), "{}", w.log());
    // Every background task and both write queues stopped within their bound.
    assert!(!w.log().contains("did not stop"), "{}", w.log());
}

/// A SIGTERM hands leadership over at once: the Lease moves while the old leader is still
/// draining its webhooks (docs/architecture.md, "Shutdown", and the graceful failover target), not after.
#[tokio::test]
async fn sigterm_hands_leadership_over_before_the_drain_ends() {
    let (client, ns, home) = setup("handover").await;
    apply_report_crds(&client).await.unwrap();
    let mut replicas: Vec<WatcherProcess> = ["zen-0", "zen-1"]
        .iter()
        .map(|name| {
            let mut env = env(&home.name, name, true);
            env.retain(|(k, _)| k != "SHUTDOWN_DRAIN_DELAY");
            env.push(("SHUTDOWN_DRAIN_DELAY".into(), "60s".into()));
            WatcherProcess::start(name, &env, &admin_kubeconfig_path(), &log_dir(&ns.name)).unwrap()
        })
        .collect();
    let first = wait_for_holder(&client, &home.name, &[]).await;
    let (leader, follower) = if first == "zen-0" { (0, 1) } else { (1, 0) };
    replicas[follower]
        .wait_for_log("\"ready\"", Duration::from_secs(30))
        .unwrap();

    replicas[leader].signal(Signal::Term).unwrap();
    replicas[leader]
        .wait_for_log("shutting down", Duration::from_secs(10))
        .unwrap();
    let second = wait_for_holder(&client, &home.name, &[&first]).await;
    assert_eq!(second, format!("zen-{follower}"));
    replicas[follower]
        .wait_for_log("watching reports", Duration::from_secs(30))
        .unwrap();
    assert!(
        replicas[leader].try_exit().unwrap().is_none(),
        "the old leader is still draining (60 s) when the new one leads"
    );
    assert!(
        replicas[leader].log().contains("released the Lease"),
        "{}",
        replicas[leader].log()
    );
    for replica in &mut replicas {
        replica.stop(Signal::Kill, Duration::from_secs(10)).unwrap();
    }
}

async fn wait_for_holder(client: &Client, ns: &str, not: &[&str]) -> String {
    wait_until("a leader", Duration::from_secs(60), || async move {
        Ok(zen_watcher_e2e::replicas::lease_holder(client, ns)
            .await
            .filter(|h| !not.contains(&h.as_str())))
    })
    .await
    .unwrap()
}

/// The chart installed into a control plane of its own, and its "pods" as local processes
/// with the rendered Deployment's env and the chart ServiceAccount's token (its RBAC).
struct Deployed {
    _cp: ControlPlane,
    client: Client,
    ns: TestNamespace,
    replicas: Vec<WatcherProcess>,
    /// (webhook, metrics) of each replica.
    addresses: Vec<(std::net::SocketAddr, std::net::SocketAddr)>,
    token: String,
}

async fn deploy(replicas: usize, prefix: &str) -> Deployed {
    let cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let release = Release::install(
        &client,
        &cp.kubeconfig,
        "zen-system",
        &QUICK_FAILOVER_VALUES,
    )
    .await
    .unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let mut processes = Vec::new();
    let mut addresses = Vec::new();
    let mut token = String::new();
    for i in 0..replicas {
        let name = format!("zen-{i}");
        let env = release
            .env(&name, &[("WATCHER_PORT", "0"), ("METRICS_PORT", "0")])
            .unwrap();
        token = env
            .iter()
            .find(|(k, _)| k == "WEBHOOK_AUTH_TOKEN")
            .map(|(_, v)| v.clone())
            .unwrap();
        let mut w =
            WatcherProcess::start(&name, &env, &release.kubeconfig, &log_dir(&ns.name)).unwrap();
        addresses.push(w.addresses().unwrap());
        processes.push(w);
    }
    for (_, metrics) in &addresses {
        ready(*metrics).await.unwrap();
    }
    Deployed {
        _cp: cp,
        client,
        ns,
        replicas: processes,
        addresses,
        token,
    }
}

#[tokio::test]
async fn three_replicas_elect_one_leader_serve_webhooks_and_fail_over() {
    let Deployed {
        _cp,
        client,
        ns,
        mut replicas,
        addresses,
        token,
    } = deploy(3, "replicas").await;
    let home = TestNamespace {
        name: "zen-system".into(),
        client: client.clone(),
    };
    let token = token.as_str();

    // Exactly one leader, named by its POD_NAME; the others follow.
    let leader = wait_for_holder(&client, &home.name, &[]).await;
    assert!(["zen-0", "zen-1", "zen-2"].contains(&leader.as_str()));
    for (i, (_, metrics)) in addresses.iter().enumerate() {
        let text = get(*metrics, "/metrics").await.unwrap().body;
        let expected = if format!("zen-{i}") == leader { 1 } else { 0 };
        // The sample line itself (the HELP text also starts with the metric's name).
        let sample = format!("zen_watcher_leader {expected}");
        assert!(text.lines().any(|l| l == sample), "zen-{i}: {text}");
    }

    // Every replica serves webhooks: one alert re-sent to all three is one Observation seen
    // once; three alerts of the same rule and pod (each its own time), one per replica, are
    // seen three times.
    let alert = falco_alert(&ns.name, "web-1");
    for (webhook, _) in &addresses {
        let reply = post(*webhook, "/falco/webhook", &alert, Some(token))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let stored = observations(&ns).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].status.as_ref().and_then(|s| s.occurrences),
        None,
        "a re-sent delivery counts once"
    );
    for (i, (webhook, _)) in addresses.iter().enumerate() {
        let mut again: serde_json::Value = serde_json::from_slice(&alert).unwrap();
        again["time"] = json!(format!("2026-12-01T10:00:0{i}.5Z"));
        let body = serde_json::to_vec(&again).unwrap();
        let reply = post(*webhook, "/falco/webhook", &body, Some(token))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // Suppressed by each replica's window, counted by its next flush (OCCURRENCE_FLUSH_INTERVAL).
    wait_until("occurrences 4", Duration::from_secs(30), || {
        let ns = &ns;
        async move {
            let stored = observations(ns).await;
            Ok((stored.len() == 1
                && stored[0].status.as_ref().and_then(|s| s.occurrences) == Some(4))
            .then_some(()))
        }
    })
    .await
    .unwrap();

    // The leader's informers turn a PolicyReport into a finding.
    let report: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "pod-web-2", "namespace": ns.name},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": "web-2", "namespace": ns.name, "uid": format!("uid-{}", ns.name)},
        "results": [{"policy": "require-limits", "rule": "check", "result": "fail", "severity": "medium"}],
    }))
    .unwrap();
    let gvk = kube::core::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let reports: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &kube::core::ApiResource::from_gvk_with_plural(&gvk, "policyreports"),
    );
    reports
        .create(&PostParams::default(), &report)
        .await
        .unwrap();
    let finding_count = |ns: &TestNamespace| {
        let api = ns.api::<Observation>();
        async move {
            let items = api.list(&Default::default()).await?.items;
            Ok::<_, anyhow::Error>(items.iter().filter(|o| o.spec.source == "kyverno").count())
        }
    };
    wait_until(
        "the leader writes the finding",
        Duration::from_secs(60),
        || async { Ok((finding_count(&ns).await? == 1).then_some(())) },
    )
    .await
    .unwrap();
    let finding_version = observations(&ns)
        .await
        .into_iter()
        .find(|o| o.spec.source == "kyverno")
        .and_then(|o| o.resource_version())
        .unwrap();
    // Only the leader writes informer findings.
    for (i, (_, metrics)) in addresses.iter().enumerate() {
        let text = get(*metrics, "/metrics").await.unwrap().body;
        let wrote = text.contains("zen_watcher_observations_written_total{source=\"kyverno\"");
        assert_eq!(
            wrote,
            format!("zen-{i}") == leader,
            "zen-{i} (leader {leader})"
        );
    }

    // SIGTERM to the leader: it releases the Lease and another replica takes over.
    let first = leader.clone();
    let index = |name: &str| name.trim_start_matches("zen-").parse::<usize>().unwrap();
    let status = replicas[index(&first)]
        .stop(Signal::Term, Duration::from_secs(30))
        .unwrap();
    assert!(status.success(), "{status}");
    // A leader's informers, Ingester sources and both write queues stop within their bound.
    let log = replicas[index(&first)].log();
    assert!(!log.contains("did not stop"), "{log}");
    let second = wait_for_holder(&client, &home.name, &[&first]).await;
    replicas[index(&second)]
        .wait_for_log("became leader", Duration::from_secs(30))
        .unwrap();

    // SIGKILL to the next leader: the last replica takes over once the Lease expires.
    replicas[index(&second)]
        .stop(Signal::Kill, Duration::from_secs(10))
        .unwrap();
    let third = wait_for_holder(&client, &home.name, &[&first, &second]).await;
    replicas[index(&third)]
        .wait_for_log("watching reports", Duration::from_secs(30))
        .unwrap();

    // The replayed report wrote nothing new: still one finding, unchanged.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(finding_count(&ns).await.unwrap(), 1);
    let after = observations(&ns)
        .await
        .into_iter()
        .find(|o| o.spec.source == "kyverno")
        .and_then(|o| o.resource_version())
        .unwrap();
    assert_eq!(
        after, finding_version,
        "a new leader's replay changes nothing"
    );
    // Webhooks still answer on the survivor.
    let reply = post(
        addresses[index(&third)].0,
        "/falco/webhook",
        &falco_alert(&ns.name, "web-9"),
        Some(token),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn webhook_ingester_paths_follow_the_ingester_on_every_replica() {
    let Deployed {
        _cp,
        client,
        ns,
        replicas: _replicas,
        addresses,
        token,
    } = deploy(3, "ingester").await;
    let ingesters: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "zen-system",
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("zen.kube-zen.io", "v1alpha1", "Ingester"),
            "ingesters",
        ),
    );
    let ingester = |path: &str| -> kube::api::DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
            "metadata": {"name": "argo"},
            "spec": {"source": "argo", "ingester": "webhook", "webhook": {"path": path},
                     "normalization": {"category": "operations", "eventType": "rollout",
                                       "severityField": "severity",
                                       "resource": {"namespace": "namespace", "name": "app"}}},
        }))
        .unwrap()
    };
    ingesters
        .create(&PostParams::default(), &ingester("/ingest/zen-system/argo"))
        .await
        .unwrap();
    let payload = serde_json::to_vec(&json!({"app": "checkout", "namespace": ns.name, "severity": "high", "message": "rollout degraded"})).unwrap();
    for (i, (webhook, _)) in addresses.iter().enumerate() {
        let webhook = *webhook;
        let body = payload.clone();
        let token = token.clone();
        wait_until(
            &format!("/ingest/zen-system/argo on zen-{i}"),
            Duration::from_secs(60),
            || {
                let body = body.clone();
                let token = token.clone();
                async move {
                    Ok(
                        (post(webhook, "/ingest/zen-system/argo", &body, Some(&token))
                            .await?
                            .status
                            == 200)
                            .then_some(()),
                    )
                }
            },
        )
        .await
        .unwrap();
    }
    let stored = observations(&ns).await;
    assert_eq!(
        stored.len(),
        1,
        "the same payload on three replicas is one Observation"
    );
    assert_eq!(stored[0].spec.source, "argo");
    assert_eq!(stored[0].spec.severity.to_string(), "high");
    assert_eq!(
        stored[0].status.as_ref().and_then(|s| s.occurrences),
        None,
        "one delivery, re-sent: counted once"
    );

    // The path moves.
    let patch = json!({"spec": {"webhook": {"path": "/ingest/zen-system/rollouts"}}});
    ingesters
        .patch(
            "argo",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    for (webhook, _) in &addresses {
        let webhook = *webhook;
        let token = token.clone();
        let body = payload.clone();
        wait_until("the path to move", Duration::from_secs(60), || {
            let token = token.clone();
            let body = body.clone();
            async move {
                let old = post(webhook, "/ingest/zen-system/argo", &body, Some(&token))
                    .await?
                    .status;
                let new = post(webhook, "/ingest/zen-system/rollouts", &body, Some(&token))
                    .await?
                    .status;
                Ok((old == 404 && new == 200).then_some(()))
            }
        })
        .await
        .unwrap();
    }

    // Deleted: its path answers 404 everywhere.
    ingesters.delete("argo", &Default::default()).await.unwrap();
    for (webhook, _) in &addresses {
        let webhook = *webhook;
        let token = token.clone();
        let body = payload.clone();
        wait_until("the path to go", Duration::from_secs(60), || {
            let token = token.clone();
            let body = body.clone();
            async move {
                Ok(
                    (post(webhook, "/ingest/zen-system/rollouts", &body, Some(&token))
                        .await?
                        .status
                        == 404)
                        .then_some(()),
                )
            }
        })
        .await
        .unwrap();
    }
}
