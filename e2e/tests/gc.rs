//! GC against a real apiserver: expired Observations are deleted, the rest are kept.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zen_watcher::crd::Observation;
use zen_watcher::gc;
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds, wait_until};

const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn observation(name: &str, ttl: i64, origin: Option<&str>) -> Observation {
    let mut labels = json!({"app.kubernetes.io/managed-by": "zen-watcher", "source": "falco"});
    if let Some(uid) = origin {
        labels["zen.kube-zen.io/origin-uid"] = json!(uid);
    }
    serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Observation",
        "metadata": {"name": name, "labels": labels},
        "spec": {"source": "falco", "category": "security", "severity": "high",
                 "eventType": "runtime_alert", "detectedAt": "2026-11-26T10:00:00Z",
                 "ttlSecondsAfterCreation": ttl},
    }))
    .unwrap()
}

async fn names(ns: &TestNamespace) -> BTreeSet<String> {
    ns.api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| o.name_any())
        .collect()
}

#[tokio::test]
async fn gc_deletes_expired_observations_and_keeps_the_rest() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "gc").await.unwrap();
    let api = ns.api::<Observation>();
    let pp = PostParams::default();
    let uid = format!("gc-{}", ns.name);
    for obs in [
        observation("short-occurrence", 2, None),
        observation("long-occurrence", 3600, None),
        observation("open-finding", 2, Some(&uid)),
        observation("resolved-finding", 2, Some(&uid)),
        observation("recently-resolved-finding", 3600, Some(&uid)),
    ] {
        api.create(&pp, &obs).await.unwrap();
    }
    for (name, resolved_at) in [
        ("resolved-finding", "2026-01-01T00:00:00Z"),
        ("recently-resolved-finding", "2099-01-01T00:00:00Z"),
    ] {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"resolvedAt": resolved_at}})),
        )
        .await
        .unwrap();
    }
    // An unmanaged object with an expired TTL is not ours to delete.
    let mut foreign = observation("not-managed", 2, None);
    foreign
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove("app.kubernetes.io/managed-by");
    api.create(&pp, &foreign).await.unwrap();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let cancel = CancellationToken::new();
    let runner = tokio::spawn({
        let client = client.clone();
        let cancel = cancel.clone();
        async move {
            gc::run(
                client,
                WEEK,
                Duration::from_millis(500),
                Duration::from_secs(30),
                || true,
                cancel,
                |result| {
                    assert!(result.is_ok(), "{result:?}");
                },
            )
            .await
        }
    });
    let expected: BTreeSet<String> = [
        "long-occurrence",
        "open-finding",
        "recently-resolved-finding",
        "not-managed",
    ]
    .map(String::from)
    .into();
    let kept = wait_until(
        "GC to delete the expired Observations",
        Duration::from_secs(30),
        || {
            let ns = &ns;
            let expected = expected.clone();
            async move {
                let now = names(ns).await;
                Ok((now == expected).then_some(now))
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(kept, expected);
    cancel.cancel();
    runner.await.unwrap();
}

#[tokio::test]
async fn a_replica_that_is_not_leader_deletes_nothing() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "gc-fenced").await.unwrap();
    ns.api::<Observation>()
        .create(&PostParams::default(), &observation("expired", 1, None))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = gc::run_once(&client, WEEK, &|| false, &CancellationToken::new())
        .await
        .unwrap();
    assert!(report.interrupted);
    assert_eq!(report.deleted, 0);
    assert!(names(&ns).await.contains("expired"));
}
