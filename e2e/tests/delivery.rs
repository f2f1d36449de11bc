//! Delivery guarantees under faults, against a real apiserver (each test owns its control
//! plane): a 2xx means written even while the apiserver is frozen and clients disconnect
//! mid-request, and each distinct delivery counts once in `status.occurrences`, whichever
//! replica receives it and however often it is re-sent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kube::Client;
use serde_json::{Value, json};
use zen_watcher::crd::Observation;
use zen_watcher::observation::name_of;
use zen_watcher::sources::falco;
use zen_watcher_e2e::http::{get, post};
use zen_watcher_e2e::replicas::{falco_alert, log_dir, ready};
use zen_watcher_e2e::{
    ControlPlane, TestNamespace, WatcherProcess, apply_crds, client_from_kubeconfig, wait_until,
};

const TOKEN: &str = "delivery-token";

/// A watcher process on `cp` whose namespace is `home`, with `extra` settings.
async fn watcher(
    cp: &ControlPlane,
    name: &str,
    home: &str,
    extra: &[(&str, &str)],
) -> (WatcherProcess, SocketAddr, SocketAddr) {
    let mut env: Vec<(String, String)> = [
        ("POD_NAME", name),
        ("POD_NAMESPACE", home),
        ("WATCHER_PORT", "0"),
        ("METRICS_PORT", "0"),
        ("WEBHOOK_AUTH_TOKEN", TOKEN),
        ("SHUTDOWN_DRAIN_DELAY", "0s"),
        ("LOG_LEVEL", "info,zen_watcher=debug"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut process = WatcherProcess::start(name, &env, &cp.kubeconfig, &log_dir(home)).unwrap();
    let (webhook, metrics) = process.addresses().unwrap();
    ready(metrics).await.unwrap();
    (process, webhook, metrics)
}

/// The critical Falco alert about `pod`, as delivered at `time` (its own timestamp: one
/// delivery; the same bytes again are a re-send).
fn alert(ns: &str, pod: &str, time: &str) -> Vec<u8> {
    let mut alert: Value = serde_json::from_slice(&falco_alert(ns, pod)).unwrap();
    alert["time"] = json!(time);
    serde_json::to_vec(&alert).unwrap()
}

/// The Observation name an alert lands on.
fn name_of_alert(body: &[u8]) -> String {
    let event = falco::parse(body, "2026-12-01T00:00:00Z".parse().unwrap())
        .unwrap()
        .remove(0);
    name_of(&event)
}

async fn observations(ns: &TestNamespace) -> BTreeMap<String, Observation> {
    ns.observations()
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.metadata.name.clone().unwrap_or_default(), o))
        .collect()
}

fn occurrences(o: &Observation) -> i64 {
    o.status.as_ref().and_then(|s| s.occurrences).unwrap_or(1)
}

async fn setup(prefix: &str) -> (ControlPlane, Client, TestNamespace, TestNamespace) {
    let cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    (cp, client, ns, home)
}

/// Waits until `name`'s occurrences are `expected`.
async fn wait_occurrences(ns: &TestNamespace, name: &str, expected: i64) -> Observation {
    let api = ns.api::<Observation>();
    wait_until(
        &format!("{name} at occurrences {expected}"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move {
                let o = api.get_opt(name).await?;
                Ok(o.filter(|o| occurrences(o) == expected))
            }
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_frozen_apiserver_acknowledges_nothing_new_and_loses_nothing_acknowledged() {
    let (cp, _client, ns, home) = setup("frozen").await;
    let (mut zen, webhook, metrics) = watcher(
        &cp,
        "zen-0",
        &home.name,
        &[
            ("WEBHOOK_REQUEST_TIMEOUT", "3s"),
            ("APISERVER_REQUEST_TIMEOUT", "1s"),
            ("OCCURRENCE_FLUSH_INTERVAL", "1s"),
        ],
    )
    .await;
    let before = alert(&ns.name, "before", "2026-12-01T10:00:00.000000001Z");
    let reply = post(webhook, "/falco/webhook", &before, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);

    cp.freeze().unwrap();
    let frozen_at = Instant::now();
    // New alerts while nothing can be written: half the clients hang up after 500 ms
    // (mid-request), half wait for the answer.
    let deliveries: Vec<Vec<u8>> = (0..12)
        .map(|i| {
            alert(
                &ns.name,
                &format!("frozen-{i}"),
                "2026-12-01T10:00:01.000000001Z",
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, body) in deliveries.iter().cloned().enumerate() {
        tasks.push(tokio::spawn(async move {
            let send = post(webhook, "/falco/webhook", &body, Some(TOKEN));
            if i % 2 == 0 {
                match tokio::time::timeout(Duration::from_millis(500), send).await {
                    Ok(reply) => Some(reply.unwrap().status),
                    Err(_) => None, // disconnected
                }
            } else {
                Some(send.await.unwrap().status)
            }
        }));
    }
    // A re-send of the alert written before, and a new delivery of it: suppressed behind a
    // write that succeeded, so acknowledging them is right.
    let again = post(webhook, "/falco/webhook", &before, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    let recurrence = alert(&ns.name, "before", "2026-12-01T10:00:02.000000001Z");
    let reply = post(webhook, "/falco/webhook", &recurrence, Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            None => assert_eq!(i % 2, 0),
            Some(status) => assert_eq!(
                status, 503,
                "frozen-{i}: nothing can be written, nothing is acknowledged"
            ),
        }
    }
    // Repeats of the pending writes wait for them: no 2xx either, and within the deadline.
    let started = Instant::now();
    let repeat = post(webhook, "/falco/webhook", &deliveries[1], Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(repeat.status, 503, "{}", repeat.body);
    assert!(repeat.headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "bounded by WEBHOOK_REQUEST_TIMEOUT"
    );
    assert_eq!(get(metrics, "/healthz").await.unwrap().status, 200);
    if let Some(left) = Duration::from_secs(8).checked_sub(frozen_at.elapsed()) {
        tokio::time::sleep(left).await;
    }
    cp.thaw().unwrap();

    // The senders retry each delivery (the same bytes) until it is acknowledged.
    for (i, body) in deliveries.iter().enumerate() {
        let body = body.clone();
        wait_until(
            &format!("frozen-{i} acknowledged"),
            Duration::from_secs(60),
            || {
                let body = body.clone();
                async move {
                    let reply = post(webhook, "/falco/webhook", &body, Some(TOKEN)).await?;
                    Ok((reply.status == 200).then_some(()))
                }
            },
        )
        .await
        .unwrap();
    }
    // Every acknowledged delivery has its Observation, counted once however often it was
    // re-sent (or written behind a client that hung up).
    let stored = observations(&ns).await;
    for (i, body) in deliveries.iter().enumerate() {
        let name = name_of_alert(body);
        let o = stored
            .get(&name)
            .unwrap_or_else(|| panic!("frozen-{i} acknowledged but not written"));
        assert_eq!(occurrences(o), 1, "frozen-{i} counted once");
    }
    // The recurrence suppressed during the freeze is counted once the apiserver is back.
    let name = name_of_alert(&before);
    let o = wait_occurrences(&ns, &name, 2).await;
    assert_eq!(o.status.unwrap().deliveries.unwrap().len(), 1);
    assert!(zen.try_exit().unwrap().is_none(), "still running");
}

fn audit_list(ns: &str) -> Vec<u8> {
    let item = |id: &str, verb: &str| {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
               "auditID": id, "stage": "ResponseComplete", "verb": verb,
               "user": {"username": "alice"},
               "objectRef": {"resource": "secrets", "namespace": ns, "name": format!("s-{id}"), "apiVersion": "v1"},
               "responseStatus": {"code": 200}, "stageTimestamp": "2026-12-01T10:00:00.5Z"})
    };
    serde_json::to_vec(
        &json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
        "items": [item("a1", "delete"), item("a2", "get"), item("a3", "update")]}),
    )
    .unwrap()
}

#[tokio::test]
async fn each_delivery_counts_once_on_any_replica_inside_or_after_the_window() {
    let (cp, _client, ns, home) = setup("counted").await;
    let settings = [
        ("DEDUP_WINDOW_SECONDS", "2"),
        ("OCCURRENCE_FLUSH_INTERVAL", "500ms"),
    ];
    let (_a, a, _) = watcher(&cp, "zen-a", &home.name, &settings).await;
    let (_b, b, _) = watcher(&cp, "zen-b", &home.name, &settings).await;
    let send = |to: SocketAddr, path: &'static str, body: Vec<u8>| async move {
        let reply = post(to, path, &body, Some(TOKEN)).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    };

    // Three alerts through one replica (falcosidekick's way): one written, two suppressed by
    // the window, all three counted.
    let one: Vec<Vec<u8>> = (1..=3)
        .map(|s| alert(&ns.name, "one", &format!("2026-12-01T10:00:0{s}.5Z")))
        .collect();
    for body in &one {
        send(a, "/falco/webhook", body.clone()).await;
    }
    // Three alerts spread over the replicas.
    let spread: Vec<Vec<u8>> = (1..=3)
        .map(|s| alert(&ns.name, "spread", &format!("2026-12-01T10:00:0{s}.5Z")))
        .collect();
    for (body, to) in spread.iter().zip([a, b, a]) {
        send(to, "/falco/webhook", body.clone()).await;
    }
    // The same audit batch on both replicas.
    send(a, "/audit/webhook", audit_list(&ns.name)).await;
    send(b, "/audit/webhook", audit_list(&ns.name)).await;

    let one_name = name_of_alert(&one[0]);
    let spread_name = name_of_alert(&spread[0]);
    wait_occurrences(&ns, &one_name, 3).await;
    wait_occurrences(&ns, &spread_name, 3).await;

    // Every delivery re-sent to both replicas, inside the window and after it.
    for _ in 0..2 {
        for body in one.iter().chain(&spread) {
            send(a, "/falco/webhook", body.clone()).await;
            send(b, "/falco/webhook", body.clone()).await;
        }
        send(a, "/audit/webhook", audit_list(&ns.name)).await;
        send(b, "/audit/webhook", audit_list(&ns.name)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // Two flush intervals and more have passed: nothing counted again.
    let stored = observations(&ns).await;
    assert_eq!(
        occurrences(&stored[&one_name]),
        3,
        "{:?}",
        stored[&one_name].status
    );
    assert_eq!(occurrences(&stored[&spread_name]), 3);
    let audits: Vec<&Observation> = stored
        .values()
        .filter(|o| o.spec.source == "audit")
        .collect();
    assert_eq!(audits.len(), 3, "one Observation per audit item");
    for o in audits {
        assert_eq!(
            occurrences(o),
            1,
            "{}: an audit item is one event",
            o.spec.event_type
        );
    }
    assert_eq!(stored.len(), 5);
}
