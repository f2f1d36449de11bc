//! Findings are level-triggered, against a real apiserver: a report deleted while no leader
//! runs is resolved by the next leader's list; a finding whose write failed is written later
//! without its report changing; a watch that has to list again (its resourceVersion expired
//! while the watcher was cut off) resolves what the new list no longer has.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use zen_watcher::admission::filter::FilterConfig;
use zen_watcher::crd::Observation;
use zen_watcher::informers::{self, Findings};
use zen_watcher::observation::ObservationSettings;
use zen_watcher::pipeline::{Pipeline, PipelineMetrics};
use zen_watcher::writer::{RetryPolicy, WriteQueue, Writer};
use zen_watcher_e2e::proxy::Proxy;
use zen_watcher_e2e::replicas::log_dir;
use zen_watcher_e2e::{
    ControlPlane, TestNamespace, WatcherProcess, admin_client, admin_kubeconfig_path, apply_crds,
    apply_report_crds, client_from_kubeconfig, wait_until,
};

/// The findings sink of a leader that stays leader, writing with `writes`.
fn findings(writes: &Client, fallback: &str) -> Findings {
    let writer = Arc::new(Writer::new(
        writes.clone(),
        ObservationSettings {
            fallback_namespace: fallback.to_string(),
            default_ttl_seconds: 86_400,
            details_max_bytes: 32 * 1024,
            cluster_ingester_namespaces: vec![],
        },
        RetryPolicy {
            attempts: 2,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
        },
    ));
    let (queue, _) = WriteQueue::start(writer.clone(), 100, 4);
    let pipeline = Arc::new(Pipeline::new(
        FilterConfig::default(),
        NonZeroUsize::new(1000).unwrap(),
        Duration::from_secs(60),
        PipelineMetrics::default(),
    ));
    Findings::new(pipeline, queue, writer, Arc::new(|| true))
}

fn policy_reports(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "policyreports"),
    )
}

fn report(name: &str, pod: &str, policies: &[&str]) -> DynamicObject {
    let results: Vec<Value> = policies
        .iter()
        .map(|p| {
            json!({"policy": p, "rule": "check", "result": "fail", "severity": "high",
                   "message": format!("{p} fails"), "source": "kyverno"})
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": name},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": format!("uid-{pod}")},
        "results": results,
    }))
    .unwrap()
}

/// name -> resolved? of the namespace's Observations.
fn resolved_by_name(items: Vec<Observation>) -> BTreeMap<String, bool> {
    items
        .into_iter()
        .map(|o| {
            let resolved = o.status.as_ref().is_some_and(|s| s.resolved_at.is_some());
            (o.name_any(), resolved)
        })
        .collect()
}

async fn findings_in(ns: &TestNamespace) -> BTreeMap<String, bool> {
    resolved_by_name(ns.observations().await.unwrap())
}

async fn wait_for<F>(what: &str, ns: &TestNamespace, check: F) -> BTreeMap<String, bool>
where
    F: Fn(&BTreeMap<String, bool>) -> bool,
{
    ns.wait_for_observations(what, Duration::from_secs(60), resolved_by_name, check)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_report_deleted_while_no_leader_runs_is_resolved_by_the_next_leader() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "no-leader").await.unwrap();
    let fallback = TestNamespace::create(&client, "fallback").await.unwrap();
    let reports = policy_reports(&client, &ns.name);
    let pp = PostParams::default();
    reports
        .create(&pp, &report("pod-a", "a", &["p1", "p2"]))
        .await
        .unwrap();
    reports
        .create(&pp, &report("pod-b", "b", &["p1"]))
        .await
        .unwrap();

    let leader = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&client, &fallback.name),
        leader.clone(),
    ));
    wait_for("three open findings", &ns, |f| {
        f.len() == 3 && f.values().all(|r| !r)
    })
    .await;
    // The leader goes; while no leader runs, a report is deleted.
    leader.cancel();
    run.await.unwrap();
    reports
        .delete("pod-a", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        findings_in(&ns).await.values().filter(|r| **r).count(),
        0,
        "nobody watched the deletion"
    );

    // The next leader's list no longer has it: its two findings are resolved, pod-b's not.
    let leader = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&client, &fallback.name),
        leader.clone(),
    ));
    let after = wait_for("pod-a's findings resolved", &ns, |f| {
        f.values().filter(|r| **r).count() == 2
    })
    .await;
    assert_eq!(after.len(), 3);
    leader.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn a_finding_whose_write_failed_is_written_without_its_report_changing() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "retry").await.unwrap();
    let fallback = TestNamespace::create(&client, "fallback").await.unwrap();
    // Writes go through a link the test cuts; the watch does not.
    let proxy = Proxy::to(&admin_kubeconfig_path()).await.unwrap();
    let dir = log_dir(&ns.name);
    std::fs::create_dir_all(&dir).unwrap();
    let writes = client_from_kubeconfig(&proxy.kubeconfig(&admin_kubeconfig_path(), &dir).unwrap())
        .await
        .unwrap();
    let leader = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&writes, &fallback.name),
        leader.clone(),
    ));
    // The informers list (and write nothing of this namespace yet).
    tokio::time::sleep(Duration::from_secs(2)).await;

    proxy.cut();
    policy_reports(&client, &ns.name)
        .create(&PostParams::default(), &report("pod-c", "c", &["p1"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        findings_in(&ns).await.is_empty(),
        "the write could not happen"
    );
    proxy.mend();
    // The report never changes again: only the retry can write it.
    let written = wait_for("the finding written by a retry", &ns, |f| f.len() == 1).await;
    assert!(written.values().all(|r| !r));
    leader.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn a_relist_resolves_what_the_new_list_no_longer_has() {
    let mut cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "relist").await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    let reports = policy_reports(&client, &ns.name);
    let pp = PostParams::default();
    reports
        .create(&pp, &report("pod-d", "d", &["p1"]))
        .await
        .unwrap();
    reports
        .create(&pp, &report("pod-e", "e", &["p1"]))
        .await
        .unwrap();

    // The watcher reaches the apiserver through a link the test cuts.
    let proxy = Proxy::to(&cp.kubeconfig).await.unwrap();
    let dir = log_dir(&ns.name);
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = proxy.kubeconfig(&cp.kubeconfig, &dir).unwrap();
    let env: Vec<(String, String)> = [
        ("POD_NAME", "zen-0"),
        ("POD_NAMESPACE", home.name.as_str()),
        ("WATCHER_PORT", "0"),
        ("METRICS_PORT", "0"),
        ("WEBHOOK_AUTH_TOKEN", "t"),
        ("SHUTDOWN_DRAIN_DELAY", "0s"),
        ("LOG_LEVEL", "info,zen_watcher=debug"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut zen = WatcherProcess::start("zen-0", &env, &kubeconfig, &dir).unwrap();
    wait_for("two open findings", &ns, |f| {
        f.len() == 2 && f.values().all(|r| !r)
    })
    .await;
    zen.wait_for_log(
        "listed: findings no longer present resolved",
        Duration::from_secs(30),
    )
    .unwrap();

    // Cut off, the watcher misses a deletion; the apiserver restarts meanwhile, so the
    // watcher's resourceVersion is older than anything it can resume from (410): it must list
    // again, and the list no longer has pod-d.
    proxy.cut();
    reports
        .delete("pod-d", &DeleteParams::default())
        .await
        .unwrap();
    cp.restart().unwrap();
    proxy.mend();
    let after = wait_for("pod-d's finding resolved", &ns, |f| {
        f.values().filter(|r| **r).count() == 1
    })
    .await;
    assert_eq!(after.len(), 2);
    let relisted = wait_until("the relist's log line", Duration::from_secs(30), || {
        let log = zen.log();
        async move {
            Ok(log
                .lines()
                .filter(|l| l.contains("listed: findings no longer present resolved"))
                .find(|l| l.contains("\"kind\":\"PolicyReport\"") && l.contains("\"resolved\":1"))
                .map(str::to_string))
        }
    })
    .await
    .unwrap();
    assert!(relisted.contains("\"objects\":1"), "{relisted}");
    assert!(zen.try_exit().unwrap().is_none());
}
