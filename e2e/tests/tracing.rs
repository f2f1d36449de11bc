//! Traces in a real OpenTelemetry Collector: a webhook event (continuing the caller's
//! traceparent) and a PolicyReport event each produce a complete trace, and the Observation's
//! `zen.kube-zen.io/trace-id` annotation names that trace.

use std::path::Path;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use zen_watcher::crd::Observation;
use zen_watcher_e2e::http::get;
use zen_watcher_e2e::otelcol::Collector;
use zen_watcher_e2e::{
    TestNamespace, WatcherProcess, admin_client, admin_kubeconfig_path, apply_crds,
    apply_report_crds, wait_until,
};

const TOKEN: &str = "trace-token";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn has_all(names: &[String], wanted: &[&str]) -> bool {
    wanted.iter().all(|w| names.iter().any(|n| n == w))
}

#[tokio::test]
async fn webhook_and_informer_events_produce_complete_traces() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_report_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "traced").await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    let collector = Collector::start().unwrap();
    let env: Vec<(String, String)> = [
        ("POD_NAME", "zen-0".to_string()),
        ("POD_NAMESPACE", home.name.clone()),
        ("WATCHER_PORT", "0".into()),
        ("METRICS_PORT", "0".into()),
        ("WEBHOOK_AUTH_TOKEN", TOKEN.into()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", collector.grpc_port),
        ),
        ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ("SHUTDOWN_DRAIN_DELAY", "0s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let logs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".run/logs")
        .join(&ns.name);
    let mut watcher =
        WatcherProcess::start("zen-0", &env, &admin_kubeconfig_path(), &logs).unwrap();
    let (webhook, metrics) = watcher.addresses().unwrap();
    wait_until("ready", Duration::from_secs(60), || async move {
        Ok((get(metrics, "/readyz").await?.status == 200).then_some(()))
    })
    .await
    .unwrap();

    // A webhook event with the caller's traceparent.
    let alert = json!({"rule": "Terminal shell", "priority": "Critical", "output_fields": {"k8s.ns.name": ns.name, "k8s.pod.name": "web-1"}});
    let body = serde_json::to_vec(&alert).unwrap();
    let reply = zen_watcher_e2e::http::request_with_headers(
        webhook,
        "POST",
        "/falco/webhook",
        Some(&body),
        &[
            ("authorization", format!("Bearer {TOKEN}")),
            ("traceparent", format!("00-{TRACE}-b7ad6b7169203331-01")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let observation = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        observation
            .annotations()
            .get("zen.kube-zen.io/trace-id")
            .map(String::as_str),
        Some(TRACE)
    );
    let names = wait_until(
        "the webhook trace in the collector",
        Duration::from_secs(60),
        || {
            let collector = &collector;
            async move {
                let names = collector.trace(TRACE);
                Ok(has_all(
                    &names,
                    &[
                        "POST /falco/webhook",
                        "normalise",
                        "event",
                        "filter",
                        "dedup",
                        "write",
                    ],
                )
                .then_some(names))
            }
        },
    )
    .await
    .unwrap();
    assert!(
        names.iter().any(|n| n == "create"),
        "the apiserver call is in the trace: {names:?}"
    );

    // An informer event: a root span per report event, down to the write.
    let gvk = GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let reports: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(&gvk, "policyreports"),
    );
    let report: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "pod-web-1"},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "namespace": ns.name, "uid": format!("uid-{}", ns.name)},
        "results": [{"policy": "require-limits", "rule": "check", "result": "fail", "severity": "high"}],
    }))
    .unwrap();
    reports
        .create(&PostParams::default(), &report)
        .await
        .unwrap();
    let finding = wait_until("the finding", Duration::from_secs(60), || {
        let api = ns.api::<Observation>();
        async move {
            Ok(api
                .list(&Default::default())
                .await?
                .items
                .into_iter()
                .find(|o| o.spec.source == "kyverno"))
        }
    })
    .await
    .unwrap();
    let trace = finding
        .annotations()
        .get("zen.kube-zen.io/trace-id")
        .cloned()
        .expect("the finding names its trace");
    assert_ne!(trace, TRACE);
    wait_until(
        "the informer trace in the collector",
        Duration::from_secs(60),
        || {
            let (collector, trace) = (&collector, trace.clone());
            async move {
                let names = collector.trace(&trace);
                Ok(has_all(
                    &names,
                    &["watch PolicyReport", "event", "filter", "dedup", "write"],
                )
                .then_some(()))
            }
        },
    )
    .await
    .unwrap();
    let resource = collector
        .spans()
        .into_iter()
        .find(|s| s["traceId"] == trace.as_str())
        .unwrap()["resource"]
        .clone();
    let attributes = resource["attributes"].to_string();
    for key in [
        "service.name",
        "service.version",
        "k8s.pod.name",
        "k8s.namespace.name",
    ] {
        assert!(
            attributes.contains(key),
            "resource lacks {key}: {attributes}"
        );
    }
    watcher
        .stop(zen_watcher_e2e::Signal::Term, Duration::from_secs(30))
        .unwrap();
}
