//! Tenants against a real apiserver, through the real pipeline and writer: two tenants whose
//! Ingesters share a source name never share an Observation, a dedup entry or a cap, and no
//! tenant can fill a built-in source's cap. (A tenant calling its source `falco` is refused by
//! the CRD, in `crds.rs`, and by the planner, in the unit tests.)

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;
use zen_watcher::admission::filter::FilterConfig;
use zen_watcher::crd::{IngesterSpec, Observation};
use zen_watcher::event::Event;
use zen_watcher::observation::ObservationSettings;
use zen_watcher::pipeline::{Mode, Outcome, Pipeline, PipelineMetrics};
use zen_watcher::sources::falco;
use zen_watcher::sources::generic::GenericMapping;
use zen_watcher::writer::{RetryPolicy, SourceCap, WriteQueue, Writer};
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds};

/// The same body, posted by two tenants' senders to their own Ingesters.
const PAYLOAD: &[u8] =
    br#"{"app": "checkout", "severity": "critical", "message": "rollout degraded"}"#;

fn tenant_event(namespace: &str, body: &[u8]) -> Event {
    let spec: IngesterSpec = serde_json::from_value(json!({
        "source": "argo", "ingester": "webhook", "webhook": {"path": format!("/ingest/{namespace}/argo")},
        "normalization": {"severityField": "severity"},
    }))
    .unwrap();
    let mapping = GenericMapping::compile(namespace, "argo", &spec).unwrap();
    mapping
        .events_from_payload(body, Timestamp::now())
        .unwrap()
        .remove(0)
}

struct Stack {
    pipeline: Pipeline,
    queue: WriteQueue,
}

impl Stack {
    async fn ingest(&self, event: Event) -> Outcome {
        self.pipeline
            .ingest(vec![event], None, &self.queue, Mode::webhook())
            .await
    }
}

fn stack(client: &kube::Client, fallback: &str, cap: Option<u64>) -> Stack {
    let writer = Arc::new(Writer::new(
        client.clone(),
        ObservationSettings {
            fallback_namespace: fallback.to_string(),
            default_ttl_seconds: 86_400,
            details_max_bytes: 32 * 1024,
            cluster_ingester_namespaces: vec![],
        },
        RetryPolicy::default(),
    ));
    let (queue, _) = WriteQueue::start(writer, 100, 4);
    let mut pipeline = Pipeline::new(
        FilterConfig::default(),
        NonZeroUsize::new(1000).unwrap(),
        Duration::from_secs(600),
        PipelineMetrics::default(),
    );
    if let Some(limit) = cap {
        pipeline = pipeline.with_cap(Arc::new(SourceCap::new(limit)));
    }
    Stack { pipeline, queue }
}

async fn observations(ns: &TestNamespace) -> Vec<Observation> {
    ns.observations().await.unwrap()
}

#[tokio::test]
async fn two_tenants_with_one_source_name_never_share_an_observation_or_a_dedup_entry() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let team_a = TestNamespace::create(&client, "tenant-a").await.unwrap();
    let team_b = TestNamespace::create(&client, "tenant-b").await.unwrap();
    let stack = stack(&client, &team_a.name, None);

    let a = tenant_event(&team_a.name, PAYLOAD);
    let b = tenant_event(&team_b.name, PAYLOAD);
    assert_ne!(
        a.fingerprint, b.fingerprint,
        "identities include the Ingester"
    );
    let first = stack.ingest(a).await;
    assert_eq!((first.written, first.duplicates), (1, 0));
    // Within the first one's dedup window: before, team-b's alert was suppressed as a duplicate
    // of team-a's (same source, same content) and never reached its namespace.
    let second = stack.ingest(b).await;
    assert_eq!((second.written, second.duplicates), (1, 0), "{second:?}");

    let in_a = observations(&team_a).await;
    let in_b = observations(&team_b).await;
    assert_eq!((in_a.len(), in_b.len()), (1, 1));
    assert_ne!(in_a[0].name_any(), in_b[0].name_any());
    for (obs, ns) in [(&in_a[0], &team_a.name), (&in_b[0], &team_b.name)] {
        assert_eq!(obs.spec.source, "argo");
        assert!(
            obs.labels()["zen.kube-zen.io/ingester"].starts_with("ingester-"),
            "{ns}: {:?}",
            obs.labels()
        );
    }
    assert_ne!(
        in_a[0].labels()["zen.kube-zen.io/ingester"],
        in_b[0].labels()["zen.kube-zen.io/ingester"]
    );
}

#[tokio::test]
async fn a_tenant_at_its_cap_fills_neither_another_tenants_nor_falcos() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let team_a = TestNamespace::create(&client, "cap-a").await.unwrap();
    let team_b = TestNamespace::create(&client, "cap-b").await.unwrap();
    let stack = stack(&client, &team_a.name, Some(2));

    // team-a fills its room: two distinct events, the third is dropped at the cap.
    for n in 0..3 {
        let body = format!(r#"{{"app": "checkout-{n}", "severity": "high"}}"#);
        let outcome = stack
            .ingest(tenant_event(&team_a.name, body.as_bytes()))
            .await;
        let expected = if n < 2 { (1, 0) } else { (0, 1) };
        assert_eq!((outcome.written, outcome.filtered), expected, "event {n}");
    }
    // team-b, same source name, and Falco are not affected.
    let b = stack.ingest(tenant_event(&team_b.name, PAYLOAD)).await;
    assert_eq!(b.written, 1, "{b:?}");
    let alert = br#"{"output": "10:00:00.000000000: Critical shell (k8s.ns=x k8s.pod=web)", "priority": "Critical", "rule": "Terminal shell in container", "time": "2026-12-01T10:00:00.000000000Z", "output_fields": {"k8s.ns.name": "NS", "k8s.pod.name": "web"}}"#;
    let alert = String::from_utf8_lossy(alert).replace("NS", &team_a.name);
    let falco_event = falco::parse(alert.as_bytes(), Timestamp::now())
        .unwrap()
        .remove(0);
    let f = stack.ingest(falco_event).await;
    assert_eq!(f.written, 1, "{f:?}");
    assert_eq!(observations(&team_a).await.len(), 3);
}
