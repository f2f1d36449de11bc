//! The node suite: the chart as it ships, `helm install`ed on a real kubelet (scripts/node-up.sh)
//! as real pods of the project's own image (scripts/node-image.sh). What only real pods show:
//! probes, the downward API, the restricted security context, the Service through kube-proxy,
//! rolling upgrades, pod deletion and container crashes, the apiserver's audit webhook through
//! the Service, `kubectl logs`. Run by `scripts/e2e-node.sh` (`make e2e-node`, part of `make test`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use zen_watcher::crd::Observation;
use zen_watcher_e2e::node::{
    Node, Release, is_ready, pod_name, proc_environ, proc_status, restarts, watcher_pid,
};
use zen_watcher_e2e::replicas::falco_alert;
use zen_watcher_e2e::{TestNamespace, apply_crds, apply_report_crds, http, wait_until};

const FALCO: &str = "/falco/webhook";

/// Names of the namespace's Observations -> occurrences.
fn occurrences(items: Vec<Observation>) -> BTreeMap<String, i64> {
    items
        .into_iter()
        .map(|o| {
            let n = o.status.as_ref().and_then(|s| s.occurrences).unwrap_or(1);
            (o.metadata.name.unwrap_or_default(), n)
        })
        .collect()
}

/// Sends one Falco alert about `pod` through the Service (a new connection per request, so
/// kube-proxy picks a replica for each).
async fn send_alert(release: &Release, token: &str, ns: &str, pod: &str) -> anyhow::Result<u16> {
    let addr = release.webhook_addr().await?;
    Ok(http::post(addr, FALCO, &falco_alert(ns, pod), Some(token))
        .await?
        .status)
}

/// Falco alerts sent one after another through the Service (each about a new pod), until
/// stopped; every response is kept.
struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Result<u16, String>>>,
}

impl Traffic {
    fn start(release: &Release, token: &str, prefix: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let release = Release {
            name: release.name.clone(),
            namespace: release.namespace.clone(),
            client: release.client.clone(),
        };
        let (token, prefix, flag) = (token.to_string(), prefix.to_string(), stop.clone());
        let task = tokio::spawn(async move {
            let mut results = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let pod = format!("{prefix}-{}", results.len());
                let outcome = send_alert(&release, &token, &release.namespace, &pod).await;
                results.push(outcome.map_err(|e| e.to_string()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            results
        });
        Self { stop, task }
    }

    /// Stops the traffic; fails unless every request was answered 200. Returns how many were sent.
    async fn stop_all_ok(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let results = self.task.await.unwrap();
        let failed: Vec<(usize, &Result<u16, String>)> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| !matches!(r, Ok(200)))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} requests failed: {failed:?}",
            failed.len(),
            results.len()
        );
        results.len()
    }
}

/// CRDs for releases installed with `crds.install=false` (one release per cluster owns them).
async fn ensure_crds(node: &Node) {
    apply_crds(&node.client).await.expect("CRDs applied");
}

#[tokio::test]
async fn the_chart_as_it_ships_runs_three_real_pods_and_uninstall_keeps_the_data() {
    let node = Node::connect().await.unwrap();
    // The chart installs the CRDs itself: start from a cluster without them, as a user does.
    let crds = Api::<CustomResourceDefinition>::all(node.client.clone());
    for crd in zen_watcher::crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        let _ = crds.delete(&name, &DeleteParams::default()).await;
        wait_until("the old CRD gone", Duration::from_secs(60), || async {
            Ok(crds.get_opt(&name).await?.is_none().then_some(()))
        })
        .await
        .unwrap();
    }
    let ns = node.namespace("ship", None).await.unwrap();
    let release = node
        .install(&ns.name, "zen-watcher-ship", &[])
        .await
        .unwrap();

    // 3 pods Ready (their readiness probe on the metrics port passed), no restarts, one leader.
    let pods = release
        .wait_ready(3, Duration::from_secs(60))
        .await
        .unwrap();
    let names: BTreeSet<String> = pods.iter().map(|p| pod_name(p).to_string()).collect();
    for pod in &pods {
        assert_eq!(restarts(pod), 0, "{} restarted", pod_name(pod));
        let spec = pod.spec.as_ref().unwrap();
        let container = &spec.containers[0];
        let probe = container
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref());
        assert_eq!(
            probe.map(|g| &g.port),
            Some(
                &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                    "metrics".into()
                )
            )
        );
    }
    let holder = wait_until("a Lease holder", Duration::from_secs(30), || async {
        release.lease_holder().await
    })
    .await
    .unwrap();
    assert!(
        names.contains(&holder),
        "the Lease holder {holder} is not one of {names:?}"
    );

    // The process in each pod: the downward API's identity, the restricted security context.
    for pod in &pods {
        let pid = watcher_pid(pod).unwrap();
        let env = proc_environ(pid).unwrap();
        assert_eq!(env.get("POD_NAME").map(String::as_str), Some(pod_name(pod)));
        assert_eq!(env.get("POD_NAMESPACE"), Some(&ns.name));
        let status = proc_status(pid).unwrap();
        assert!(
            status["Uid"].split_whitespace().all(|u| u == "65532"),
            "uid: {}",
            status["Uid"]
        );
        assert!(
            status["Gid"].split_whitespace().all(|g| g == "65532"),
            "gid: {}",
            status["Gid"]
        );
        assert_eq!(status["NoNewPrivs"], "1");
        assert_eq!(
            status["Seccomp"], "2",
            "seccomp RuntimeDefault filters the process"
        );
        assert_eq!(
            status["CapEff"], "0000000000000000",
            "every capability dropped"
        );
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mounts")).unwrap();
        let root = mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some("/"))
            .unwrap();
        assert!(
            root.split(' ')
                .nth(3)
                .unwrap()
                .split(',')
                .any(|o| o == "ro"),
            "root fs: {root}"
        );
    }

    // Webhooks through the Service's ClusterIP reach every replica and become Observations.
    let token = release.token().await.unwrap();
    let sent = 60;
    for i in 0..sent {
        let status = send_alert(&release, &token, &ns.name, &format!("web-{i}"))
            .await
            .unwrap();
        assert_eq!(status, 200, "alert {i}");
    }
    let per_pod = release.requests_by_pod(FALCO).await.unwrap();
    assert_eq!(per_pod.len(), 3, "{per_pod:?}");
    assert!(
        per_pod.values().all(|n| *n > 0),
        "every replica served some: {per_pod:?}"
    );
    assert_eq!(per_pod.values().sum::<u64>(), sent as u64, "{per_pod:?}");
    let seen = ns
        .wait_for_observations(
            "an Observation per alert",
            Duration::from_secs(30),
            occurrences,
            |o| o.len() >= sent,
        )
        .await
        .unwrap();
    assert_eq!(seen.len(), sent);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");

    // `kubectl logs` shows the pods' JSON log lines.
    let logs = release.logs(&node.kubeconfig, &holder).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() >= 3, "{logs}");
    for line in &lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    assert!(logs.contains("zen-watcher starting"), "{logs}");
    // `kubectl exec` reaches the container (the image has no shell: the binary itself).
    let exec = std::process::Command::new("kubectl")
        .env("KUBECONFIG", &node.kubeconfig)
        .args([
            "exec",
            "-n",
            &ns.name,
            &holder,
            "--",
            "/zen-watcher",
            "--version",
        ])
        .output()
        .unwrap();
    assert!(
        exec.status.success(),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert!(String::from_utf8_lossy(&exec.stdout).starts_with("zen-watcher "));

    // `helm uninstall` removes the pods and keeps the CRDs and the Observations.
    node.helm(&[
        "uninstall",
        &release.name,
        "-n",
        &ns.name,
        "--wait",
        "--timeout",
        "120s",
    ])
    .unwrap();
    wait_until("the pods gone", Duration::from_secs(60), || async {
        Ok(release.pods().await?.is_empty().then_some(()))
    })
    .await
    .unwrap();
    for crd in zen_watcher::crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        assert!(crds.get_opt(&name).await.unwrap().is_some(), "{name} kept");
    }
    assert_eq!(
        ns.observations().await.unwrap().len(),
        sent,
        "Observations kept"
    );
}

#[tokio::test]
async fn helm_upgrade_from_one_replica_to_three_under_traffic_fails_and_loses_nothing() {
    let node = Node::connect().await.unwrap();
    ensure_crds(&node).await;
    let ns = node.namespace("upgrade", None).await.unwrap();
    let release = node
        .install(
            &ns.name,
            "zen-watcher-upgrade",
            &["replicaCount=1", "crds.install=false"],
        )
        .await
        .unwrap();
    release
        .wait_ready(1, Duration::from_secs(60))
        .await
        .unwrap();
    let token_before = release.token_secret().await.unwrap().data;
    let token = release.token().await.unwrap();

    // Continuous traffic through the Service while the upgrade runs.
    let traffic = Traffic::start(&release, &token, "up");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The upgrade guide's command, as a user types it.
    let chart = zen_watcher_e2e::chart::chart_dir().display().to_string();
    node.helm(&[
        "upgrade",
        &release.name,
        &chart,
        "-n",
        &ns.name,
        "--reuse-values",
        "--set",
        "replicaCount=3",
        "--wait",
        "--timeout",
        "180s",
    ])
    .unwrap();
    release
        .wait_ready(3, Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent = traffic.stop_all_ok().await;
    assert!(sent > 100, "only {sent} requests were sent");
    let seen = ns
        .wait_for_observations(
            "an Observation per alert",
            Duration::from_secs(60),
            occurrences,
            |o| o.len() >= sent,
        )
        .await
        .unwrap();
    assert_eq!(seen.len(), sent, "nothing lost, nothing extra");
    assert!(
        seen.values().all(|n| *n == 1),
        "nothing counted twice: {seen:?}"
    );
    assert_eq!(
        release.token_secret().await.unwrap().data,
        token_before,
        "the token Secret survives"
    );
    let per_pod = release.requests_by_pod(FALCO).await.unwrap();
    assert!(
        per_pod.values().filter(|n| **n > 0).count() >= 2,
        "the new replicas serve: {per_pod:?}"
    );
}

fn policy_reports(ns: &TestNamespace) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(&gvk, "policyreports"),
    )
}

/// A PolicyReport with one failing result, which the leader's informer turns into a finding.
async fn create_failing_report(ns: &TestNamespace, name: &str) {
    let report: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": name},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": format!("uid-{name}")},
        "results": [{"policy": format!("policy-{name}"), "rule": "check", "result": "fail",
                     "severity": "high", "message": "fails", "source": "kyverno"}],
    }))
    .unwrap();
    policy_reports(ns)
        .create(&PostParams::default(), &report)
        .await
        .unwrap();
}

/// The Observations of PolicyReport results (not the Falco alerts of the traffic).
fn findings_of(items: Vec<Observation>) -> BTreeMap<String, i64> {
    occurrences(
        items
            .into_iter()
            .filter(|o| o.spec.source != "falco")
            .collect(),
    )
}

async fn wait_findings(ns: &TestNamespace, n: usize, what: &str) -> BTreeMap<String, i64> {
    ns.wait_for_observations(what, Duration::from_secs(90), findings_of, |o| o.len() >= n)
        .await
        .unwrap()
}

/// A new leader other than `old`, among the release's Ready pods.
async fn new_leader(release: &Release, old: &str) -> String {
    wait_until("a new leader", Duration::from_secs(60), || async {
        let ready: BTreeSet<String> = release
            .ready_pods()
            .await?
            .iter()
            .map(|p| pod_name(p).to_string())
            .collect();
        Ok(release
            .lease_holder()
            .await?
            .filter(|h| h != old && ready.contains(h)))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_deleted_or_crashed_leader_hands_over_and_duplicates_nothing() {
    let node = Node::connect().await.unwrap();
    ensure_crds(&node).await;
    apply_report_crds(&node.client).await.unwrap();
    let ns = node.namespace("leader", None).await.unwrap();
    let release = node
        .install(&ns.name, "zen-watcher-leader", &["crds.install=false"])
        .await
        .unwrap();
    release
        .wait_ready(3, Duration::from_secs(60))
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(node.client.clone(), &ns.name);

    create_failing_report(&ns, "before").await;
    wait_findings(&ns, 1, "the first leader's finding").await;

    // Graceful: `kubectl delete pod` of the leader.
    let first = release.lease_holder().await.unwrap().unwrap();
    pods.delete(&first, &DeleteParams::default()).await.unwrap();
    let second = new_leader(&release, &first).await;
    create_failing_report(&ns, "after-delete").await;
    wait_findings(&ns, 2, "the new leader's informers run").await;
    let joined = release
        .wait_ready(3, Duration::from_secs(90))
        .await
        .unwrap();
    assert!(
        !joined.iter().any(|p| pod_name(p) == first),
        "the deleted pod was replaced"
    );

    // Crash: SIGKILL of the leader container's process.
    let leader_pod = pods.get(&second).await.unwrap();
    let pid = watcher_pid(&leader_pod).unwrap();
    nix_kill(pid);
    // The kubelet restarts the container; a leader (the restarted pod or another) holds the Lease.
    let third = wait_until(
        "the crashed container restarted",
        Duration::from_secs(90),
        || async {
            let restarted = pods.get(&second).await?;
            let ready: BTreeSet<String> = release
                .ready_pods()
                .await?
                .iter()
                .map(|p| pod_name(p).to_string())
                .collect();
            let holder = release.lease_holder().await?.filter(|h| ready.contains(h));
            Ok(holder.filter(|_| restarts(&restarted) > 0 && is_ready(&restarted)))
        },
    )
    .await
    .unwrap();
    create_failing_report(&ns, "after-crash").await;
    let findings = wait_findings(&ns, 3, "the leader after the crash runs the informers").await;
    release
        .wait_ready(3, Duration::from_secs(60))
        .await
        .unwrap();

    // Each report is one Observation, whatever number of leaders relisted it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = findings_of(ns.observations().await.unwrap());
    assert_eq!(
        now.len(),
        3,
        "one Observation per failing result: {now:?} (leader now {third})"
    );
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        findings.keys().collect::<Vec<_>>()
    );
}

/// Each test removes its release (the chart's cluster-scoped RBAC is named after it).
fn uninstall(node: &Node, release: &Release) {
    node.helm(&[
        "uninstall",
        &release.name,
        "-n",
        &release.namespace,
        "--wait",
        "--timeout",
        "120s",
    ])
    .unwrap();
}

fn nix_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {pid}");
}

#[tokio::test]
async fn the_apiservers_audit_webhook_reaches_the_service_over_tls() {
    let node = Node::connect().await.unwrap();
    ensure_crds(&node).await;
    let ns_name = zen_watcher_e2e::required_env("ZEN_NODE_AUDIT_NAMESPACE");
    let ip = zen_watcher_e2e::required_env("ZEN_NODE_AUDIT_IP");
    let ns = node.namespace("audit", Some(&ns_name)).await.unwrap();
    let read = |f: &str| std::fs::read(node.inputs.join(f)).unwrap();
    let secrets = ns.api::<Secret>();
    let tls: Secret = serde_json::from_value(json!({
        "metadata": {"name": "zen-watcher-tls"}, "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": String::from_utf8(read("tls.crt")).unwrap(),
                       "tls.key": String::from_utf8(read("tls.key")).unwrap()},
    }))
    .unwrap();
    let token = String::from_utf8(read("token")).unwrap().trim().to_string();
    let token_secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "zen-watcher-audit-token"}, "stringData": {"token": token},
    }))
    .unwrap();
    for s in [tls, token_secret] {
        let _ = secrets
            .delete(
                s.metadata.name.as_deref().unwrap(),
                &DeleteParams::default(),
            )
            .await;
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    let cluster_ip = format!("service.clusterIP={ip}");
    let release = node
        .install(
            &ns.name,
            "zen-watcher-audit",
            &[
                "crds.install=false",
                &cluster_ip,
                "tls.secretName=zen-watcher-tls",
                "webhook.existingSecret=zen-watcher-audit-token",
            ],
        )
        .await
        .unwrap();
    release
        .wait_ready(3, Duration::from_secs(60))
        .await
        .unwrap();

    // Creating and deleting a Secret in the audited namespace: the apiserver's audit webhook (a
    // client on the host) sends both to the Service's ClusterIP over TLS with the token.
    let name = format!("audited-{}", zen_watcher_e2e::unique_suffix());
    let audited: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}}))
            .unwrap();
    secrets
        .create(&PostParams::default(), &audited)
        .await
        .unwrap();
    secrets
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let found = ns
        .wait_for_observations(
            "audit Observations for the Secret's create and delete",
            Duration::from_secs(90),
            |items| {
                items
                    .into_iter()
                    .filter(|o| o.spec.source == "audit")
                    .filter(|o| {
                        o.spec.resource.as_ref().and_then(|r| r.name.as_deref()) == Some(&name)
                    })
                    .count()
            },
            |n| *n >= 2,
        )
        .await
        .unwrap();
    assert_eq!(
        found, 2,
        "one Observation per audited write (create, delete)"
    );
    let per_pod = release.requests_by_pod("/audit/webhook").await.unwrap();
    assert!(per_pod.values().sum::<u64>() > 0, "{per_pod:?}");
    uninstall(&node, &release);
}
