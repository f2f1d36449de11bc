//! A rolling `helm upgrade` from 1 to 3 replicas under webhook traffic: the chart installed
//! into a control plane of its own, its "pods" as local processes. Alerts flow the whole time to
//! whichever replicas are alive and Ready (as a Service's endpoints would route them); none may
//! fail, none may be lost or doubled, the Lease ends with one new replica, the webhook token
//! survives the upgrade, and `helm uninstall` keeps the CRDs and the Observations.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use zen_watcher::crd::Observation;
use zen_watcher_e2e::chart::{Release, helm};
use zen_watcher_e2e::http::{get, post};
use zen_watcher_e2e::replicas::{QUICK_FAILOVER_VALUES, falco_alert, lease_holder, log_dir, ready};
use zen_watcher_e2e::{
    ControlPlane, Signal, TestNamespace, WatcherProcess, apply_report_crds, client_from_kubeconfig,
    wait_until,
};

const RELEASE_NS: &str = "zen-system";

/// The value of the webhook token Secret the Deployment's WEBHOOK_AUTH_TOKEN references.
async fn webhook_token_secret(client: &Client) -> (String, Vec<u8>) {
    let deployment: Deployment = Api::namespaced(client.clone(), RELEASE_NS)
        .get("zen-watcher")
        .await
        .unwrap();
    let reference = deployment
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.env)
        .into_iter()
        .flatten()
        .find(|v| v.name == "WEBHOOK_AUTH_TOKEN")
        .and_then(|v| v.value_from)
        .and_then(|f| f.secret_key_ref)
        .expect("WEBHOOK_AUTH_TOKEN comes from a Secret");
    let secret = Api::<Secret>::namespaced(client.clone(), RELEASE_NS)
        .get(&reference.name)
        .await
        .unwrap();
    let value = secret
        .data
        .and_then(|d| d.get(&reference.key).cloned())
        .expect("the token key")
        .0;
    (reference.name, value)
}

fn env_value(env: &[(String, String)], name: &str) -> String {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{name} not in the rendered env"))
}

/// Every reply of the background poster: (the alert's pod, the replica, status or error).
type Replies = Arc<Mutex<Vec<(String, SocketAddr, Result<u16, String>)>>>;

/// Posts one alert (a distinct pod each) every ~200 ms, round-robin over `live`.
fn post_continuously(
    live: Arc<Mutex<Vec<SocketAddr>>>,
    replies: Replies,
    ns: String,
    token: String,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0usize;
        while !stop.is_cancelled() {
            let target = {
                let live = live.lock().unwrap();
                (!live.is_empty()).then(|| live[i % live.len()])
            };
            if let Some(addr) = target {
                let pod = format!("web-{i}");
                let reply = post(
                    addr,
                    "/falco/webhook",
                    &falco_alert(&ns, &pod),
                    Some(&token),
                )
                .await;
                let outcome = match reply {
                    Ok(r) if (200..300).contains(&r.status) => Ok(r.status),
                    Ok(r) => Err(format!("{}: {}", r.status, r.body)),
                    Err(e) => Err(format!("{e:#}")),
                };
                replies.lock().unwrap().push((pod, addr, outcome));
                i += 1;
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
}

#[tokio::test]
async fn helm_upgrade_to_three_replicas_loses_no_webhook_and_keeps_one_leader() {
    let started = Instant::now();
    let cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let release = Release::install(
        &client,
        &cp.kubeconfig,
        RELEASE_NS,
        &[&["--set", "replicaCount=1"][..], &QUICK_FAILOVER_VALUES].concat(),
    )
    .await
    .unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "upgrade").await.unwrap();
    let logs = log_dir(&ns.name);
    let ports = [("WATCHER_PORT", "0"), ("METRICS_PORT", "0")];
    let (secret_name, token_before) = webhook_token_secret(&client).await;

    // Revision 1: one replica, which leads.
    let old_name = "zen-watcher-5d8f9c7b6-aaaaa";
    let old_env = release.env(old_name, &ports).unwrap();
    let token = env_value(&old_env, "WEBHOOK_AUTH_TOKEN");
    let mut old = WatcherProcess::start(old_name, &old_env, &release.kubeconfig, &logs).unwrap();
    let (old_webhook, old_metrics) = old.addresses().unwrap();
    ready(old_metrics).await.unwrap();
    wait_until("the old replica leads", Duration::from_secs(60), || async {
        Ok(lease_holder(&client, RELEASE_NS)
            .await
            .filter(|h| h == old_name)
            .map(|_| ()))
    })
    .await
    .unwrap();

    // Traffic from here to the end, to whatever is alive and Ready.
    let live = Arc::new(Mutex::new(vec![old_webhook]));
    let replies: Replies = Arc::default();
    let stop = CancellationToken::new();
    let poster = post_continuously(
        live.clone(),
        replies.clone(),
        ns.name.clone(),
        token.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Revision 2: three replicas; install-time values (election timings, drain) are reused.
    let upgraded = release
        .upgrade(&client, &cp.kubeconfig, &["--set", "replicaCount=3"])
        .await
        .unwrap();
    assert_eq!(
        upgraded.deployment().spec.as_ref().and_then(|s| s.replicas),
        Some(3)
    );
    let new_names = [
        "zen-watcher-7c4b8d9f5-bbbbb",
        "zen-watcher-7c4b8d9f5-ccccc",
        "zen-watcher-7c4b8d9f5-ddddd",
    ];
    let mut new = Vec::new();
    for name in new_names {
        let env = upgraded.env(name, &ports).unwrap();
        assert_eq!(env_value(&env, "LEADER_ELECTION_LEASE_DURATION"), "4s");
        assert_eq!(env_value(&env, "SHUTDOWN_DRAIN_DELAY"), "1s");
        assert_eq!(
            env_value(&env, "WEBHOOK_AUTH_TOKEN"),
            token,
            "the upgrade keeps the token"
        );
        let mut w = WatcherProcess::start(name, &env, &upgraded.kubeconfig, &logs).unwrap();
        let addresses = w.addresses().unwrap();
        new.push((w, addresses));
    }
    for (_, (webhook, metrics)) in &new {
        ready(*metrics).await.unwrap();
        live.lock().unwrap().push(*webhook);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The old pod leaves the endpoints, then gets SIGTERM; it drains and hands the Lease over.
    live.lock().unwrap().retain(|a| *a != old_webhook);
    let status = old.stop(Signal::Term, Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}: {}", old.log());
    let leader = wait_until("a new leader", Duration::from_secs(60), || async {
        Ok(lease_holder(&client, RELEASE_NS)
            .await
            .filter(|h| new_names.contains(&h.as_str())))
    })
    .await
    .unwrap();

    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    poster.await.unwrap();

    // Every POST answered 2xx, across the whole upgrade.
    let replies = replies.lock().unwrap().clone();
    let failures: Vec<_> = replies.iter().filter(|(_, _, r)| r.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} POSTs failed: {failures:?}",
        failures.len(),
        replies.len()
    );
    let served_by: HashSet<SocketAddr> = replies.iter().map(|(_, a, _)| *a).collect();
    assert!(served_by.contains(&old_webhook), "the old replica served");
    for (_, (webhook, _)) in &new {
        assert!(served_by.contains(webhook), "every new replica served");
    }

    // Exactly one leader, a new replica, and only it says so.
    assert_eq!(
        lease_holder(&client, RELEASE_NS).await.as_deref(),
        Some(leader.as_str())
    );
    let mut leaders = Vec::new();
    for (w, (_, metrics)) in &new {
        let text = get(*metrics, "/metrics").await.unwrap().body;
        // The sample line itself (the HELP text mentions "1" too).
        let sample = text
            .lines()
            .find_map(|l| l.strip_prefix("zen_watcher_leader "))
            .unwrap_or_else(|| panic!("no zen_watcher_leader sample: {text}"));
        match sample.trim() {
            "1" => leaders.push(w.pid()),
            "0" => {}
            other => panic!("zen_watcher_leader {other}"),
        }
    }
    assert_eq!(leaders.len(), 1, "exactly one replica leads");

    // The token Secret is unchanged.
    let (secret_after, token_after) = webhook_token_secret(&client).await;
    assert_eq!(secret_after, secret_name);
    assert_eq!(
        token_after, token_before,
        "helm upgrade keeps the webhook token"
    );

    // Every alert is exactly one Observation.
    let falco = |items: Vec<Observation>| -> Vec<Observation> {
        items
            .into_iter()
            .filter(|o| o.spec.source == "falco")
            .collect()
    };
    let stored = falco(
        ns.api::<Observation>()
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    );
    let posted: HashSet<&str> = replies.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(posted.len(), replies.len(), "a distinct pod per alert");
    assert_eq!(stored.len(), posted.len(), "one Observation per alert");
    let names: HashSet<String> = stored.iter().map(|o| o.name_any()).collect();
    assert_eq!(names.len(), stored.len());
    let pods: HashSet<String> = stored
        .iter()
        .filter_map(|o| o.spec.resource.as_ref().and_then(|r| r.name.clone()))
        .collect();
    assert_eq!(
        pods,
        posted.iter().map(|p| p.to_string()).collect::<HashSet<_>>()
    );
    for o in &stored {
        let occurrences = o.status.as_ref().and_then(|s| s.occurrences);
        assert!(
            matches!(occurrences, None | Some(1)),
            "{}: occurrences {occurrences:?}",
            o.name_any()
        );
    }

    // Uninstall (the pods go first): the CRDs and the Observations stay.
    for (w, _) in &mut new {
        let status = w.stop(Signal::Term, Duration::from_secs(30)).unwrap();
        assert!(status.success(), "{status}");
    }
    helm(
        &cp.kubeconfig,
        &["uninstall", "zen-watcher", "-n", RELEASE_NS],
    )
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in ["observations.zen.kube-zen.io", "ingesters.zen.kube-zen.io"] {
        let got = crds.get_opt(crd).await.unwrap();
        assert!(
            got.is_some_and(|c| c.metadata.deletion_timestamp.is_none()),
            "{crd} kept"
        );
    }
    assert!(
        Api::<Deployment>::namespaced(client.clone(), RELEASE_NS)
            .get_opt("zen-watcher")
            .await
            .unwrap()
            .is_none(),
        "the release is gone"
    );
    let after = falco(
        ns.api::<Observation>()
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    );
    assert_eq!(after.len(), stored.len(), "Observations survive uninstall");
    eprintln!(
        "{} alerts over the upgrade, all 2xx; leader {leader}; {:?}",
        replies.len(),
        started.elapsed()
    );
}
