//! Report informers against a real apiserver: findings become Observations, replays change
//! nothing, a lost finding is resolved, a result that turns `pass` is resolved and re-opens
//! when it fails again, and a deleted report resolves the rest.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
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
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds, apply_report_crds};

/// The findings sink of a leader that stays leader.
fn findings(client: &Client, namespace: &str) -> Findings {
    let writer = Arc::new(Writer::new(
        client.clone(),
        ObservationSettings {
            fallback_namespace: namespace.to_string(),
            default_ttl_seconds: 86_400,
            details_max_bytes: 32 * 1024,
            cluster_ingester_namespaces: vec![],
        },
        RetryPolicy::default(),
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

fn result(policy: &str, result: &str) -> Value {
    json!({"policy": policy, "rule": "check", "result": result, "severity": "high",
           "message": format!("{policy} {result}"), "source": "kyverno"})
}

fn report(name: &str, results: Vec<Value>) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": name},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "pod-uid-1"},
        "results": results,
    }))
    .unwrap()
}

/// name -> (resourceVersion, resolved?) of the namespace's Observations.
fn versions(items: Vec<Observation>) -> BTreeMap<String, (String, bool)> {
    items
        .into_iter()
        .map(|o| {
            let resolved = o
                .status
                .as_ref()
                .and_then(|s| s.resolved_at.as_ref())
                .is_some();
            (
                o.name_any(),
                (o.resource_version().unwrap_or_default(), resolved),
            )
        })
        .collect()
}

async fn observations(ns: &TestNamespace) -> BTreeMap<String, (String, bool)> {
    versions(ns.observations().await.unwrap())
}

async fn wait_for<F>(what: &str, ns: &TestNamespace, check: F) -> BTreeMap<String, (String, bool)>
where
    F: Fn(&BTreeMap<String, (String, bool)>) -> bool,
{
    ns.wait_for_observations(what, Duration::from_secs(60), versions, check)
        .await
        .unwrap()
}

#[tokio::test]
async fn policy_report_findings_follow_the_report() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "informer").await.unwrap();
    let reports = policy_reports(&client, &ns.name);
    reports
        .create(
            &PostParams::default(),
            &report(
                "pod-web-1",
                vec![
                    result("a", "fail"),
                    result("b", "fail"),
                    result("c", "pass"),
                    result("d", "warn"),
                ],
            ),
        )
        .await
        .unwrap();

    // The informers see every report in the cluster; findings without a namespace go to a
    // fallback namespace of their own, so this test's namespace holds only its report's.
    let fallback = TestNamespace::create(&client, "fallback").await.unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&client, &fallback.name),
        cancel.clone(),
    ));
    let first = wait_for("two fail findings", &ns, |o| o.len() == 2).await;
    assert!(first.values().all(|(_, resolved)| !resolved));

    // A new leader replays every report: nothing is written again.
    cancel.cancel();
    run.await.unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&client, &fallback.name),
        cancel.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(observations(&ns).await, first, "a replay changes nothing");

    // The report loses finding b.
    let patch = json!({"results": [result("a", "fail"), result("c", "pass")]});
    reports
        .patch("pod-web-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let after = wait_for("finding b resolved", &ns, |o| {
        o.values().filter(|(_, r)| *r).count() == 1
    })
    .await;
    assert_eq!(after.len(), 2);

    // b comes back: re-opened.
    let patch = json!({"results": [result("a", "fail"), result("b", "fail")]});
    reports
        .patch("pod-web-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("finding b re-opened", &ns, |o| {
        o.len() == 2 && o.values().all(|(_, r)| !r)
    })
    .await;

    // a is fixed (the usual way a violation ends: its result turns pass): resolved...
    let patch = json!({"results": [result("a", "pass"), result("b", "fail")]});
    reports
        .patch("pod-web-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("finding a resolved by its pass", &ns, |o| {
        o.len() == 2 && o.values().filter(|(_, r)| *r).count() == 1
    })
    .await;
    // ...and fails again: re-opened.
    let patch = json!({"results": [result("a", "fail"), result("b", "fail")]});
    reports
        .patch("pod-web-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("finding a re-opened", &ns, |o| {
        o.len() == 2 && o.values().all(|(_, r)| !r)
    })
    .await;

    // The report is deleted: every finding resolves.
    reports
        .delete("pod-web-1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("all findings resolved", &ns, |o| {
        o.len() == 2 && o.values().all(|(_, r)| *r)
    })
    .await;
    cancel.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn vulnerability_reports_keep_high_and_critical() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "trivy").await.unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/trivy/vulnerabilityreport.json");
    let mut object: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let meta = object["metadata"].as_object_mut().unwrap();
    for key in ["uid", "resourceVersion", "creationTimestamp", "namespace"] {
        meta.remove(key);
    }
    meta["labels"]["trivy-operator.resource.namespace"] = json!(ns.name);
    let expected = object["report"]["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["severity"].as_str(), Some("CRITICAL" | "HIGH")))
        .count();
    assert!(expected > 0);
    let gvk = GroupVersionKind::gvk("aquasecurity.github.io", "v1alpha1", "VulnerabilityReport");
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(&gvk, "vulnerabilityreports"),
    );
    api.create(
        &PostParams::default(),
        &serde_json::from_value(object).unwrap(),
    )
    .await
    .unwrap();

    let fallback = TestNamespace::create(&client, "fallback").await.unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(informers::run(
        client.clone(),
        findings(&client, &fallback.name),
        cancel.clone(),
    ));
    let stored = wait_for("high and critical findings", &ns, |o| o.len() == expected).await;
    assert_eq!(stored.len(), expected);
    let severities: Vec<_> = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.spec.severity.to_string())
        .collect();
    assert!(
        severities.iter().all(|s| s == "high" || s == "critical"),
        "{severities:?}"
    );
    cancel.cancel();
    run.await.unwrap();
}
