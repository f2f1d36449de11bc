//! The apiserver goes away for 20 s: webhooks answer 503 with Retry-After, health stays green,
//! nothing crashes, and once it is back new events are written again.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zen_watcher::crd::Observation;
use zen_watcher_e2e::http::{get, post};
use zen_watcher_e2e::{
    ControlPlane, TestNamespace, WatcherProcess, apply_crds, client_from_kubeconfig, wait_until,
};

const TOKEN: &str = "outage-token";

fn alert(ns: &str, pod: &str) -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/falco/alert-error.json");
    let mut alert: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    alert["output_fields"]["k8s.ns.name"] = json!(ns);
    alert["output_fields"]["k8s.pod.name"] = json!(pod);
    serde_json::to_vec(&alert).unwrap()
}

#[tokio::test]
async fn webhooks_answer_503_while_the_apiserver_is_down_and_recover() {
    let mut cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "outage").await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    let env: Vec<(String, String)> = [
        ("POD_NAME", "zen-0"),
        ("POD_NAMESPACE", home.name.as_str()),
        ("WATCHER_PORT", "0"),
        ("METRICS_PORT", "0"),
        ("WEBHOOK_AUTH_TOKEN", TOKEN),
        ("SHUTDOWN_DRAIN_DELAY", "0s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let logs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".run/logs")
        .join(&ns.name);
    let mut watcher = WatcherProcess::start("zen-0", &env, &cp.kubeconfig, &logs).unwrap();
    let (webhook, metrics) = watcher.addresses().unwrap();
    wait_until("ready", Duration::from_secs(60), || async move {
        Ok((get(metrics, "/readyz").await?.status == 200).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        post(
            webhook,
            "/falco/webhook",
            &alert(&ns.name, "before"),
            Some(TOKEN)
        )
        .await
        .unwrap()
        .status,
        200
    );

    cp.stop().unwrap();
    let down = Instant::now();
    let mut refusals = 0;
    while down.elapsed() < Duration::from_secs(20) {
        let reply = post(
            webhook,
            "/falco/webhook",
            &alert(&ns.name, &format!("during-{refusals}")),
            Some(TOKEN),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.headers.contains_key("retry-after"));
        assert_eq!(get(metrics, "/healthz").await.unwrap().status, 200);
        assert!(
            watcher.try_exit().unwrap().is_none(),
            "the watcher crashed:\n{}",
            watcher.log()
        );
        refusals += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(refusals >= 3);

    cp.restart().unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    wait_until("writes to succeed again", Duration::from_secs(60), || {
        let body = alert(&ns.name, "after");
        async move {
            Ok((post(webhook, "/falco/webhook", &body, Some(TOKEN))
                .await?
                .status
                == 200)
                .then_some(()))
        }
    })
    .await
    .unwrap();
    let api: kube::Api<Observation> = kube::Api::namespaced(client, &ns.name);
    let pods: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|o| o.spec.resource.as_ref().and_then(|r| r.name.clone()))
        .collect();
    assert!(
        pods.contains(&"before".to_string()) && pods.contains(&"after".to_string()),
        "{pods:?}"
    );
    assert!(watcher.try_exit().unwrap().is_none());
}
