//! The Observation writer against a real apiserver: created objects, recurrences counted under
//! concurrency, findings left alone, resolved and re-opened, every fixture accepted by the
//! CRD schema, and one bad event not failing the rest.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::{Client, ResourceExt};
use zen_watcher::crd::Observation;
use zen_watcher::event::{DeliveryId, Event, EventKind};
use zen_watcher::observation::whole_seconds;
use zen_watcher::observation::{ObservationSettings, build, observation_name};
use zen_watcher::sources::{audit, falco, kyverno, trivy};
use zen_watcher::writer::{RetryPolicy, Submission, Writer, Written};
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds};

fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

fn writer(client: &Client, fallback_namespace: &str) -> Writer {
    let settings = ObservationSettings {
        fallback_namespace: fallback_namespace.to_string(),
        default_ttl_seconds: 7 * 86_400,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec![],
    };
    Writer::new(client.clone(), settings, RetryPolicy::default())
}

/// Puts the event's resource in `namespace` (fixtures name namespaces that do not exist here).
fn in_namespace(mut event: Event, namespace: &str) -> Event {
    if let Some(resource) = event.resource.as_mut() {
        resource.namespace = Some(namespace.to_string());
    }
    event
}

fn falco_event(namespace: &str) -> Event {
    let event = falco::parse(&fixture("falco/alert-critical.json"), now())
        .unwrap()
        .remove(0);
    in_namespace(event, namespace)
}

async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    (client, ns)
}

#[tokio::test]
async fn an_event_becomes_the_expected_observation() {
    let (client, ns) = setup("writer").await;
    let w = writer(&client, &ns.name);
    let event = falco_event(&ns.name);
    assert_eq!(w.write(&event).await.unwrap().written, Written::Created);

    let name = observation_name("falco", &event.fingerprint);
    let stored = ns.api::<Observation>().get(&name).await.unwrap();
    let expected = build(&event, w.settings());
    assert_eq!(stored.spec, expected.spec);
    assert_eq!(stored.labels(), expected.labels());
    assert_eq!(
        stored.status.as_ref().and_then(|s| s.occurrences),
        None,
        "seen once"
    );
}

/// The event as another delivery (`tag` stands for its own time or uuid).
fn delivered(event: &Event, tag: &str) -> Event {
    let mut event = event.clone();
    event.kind = EventKind::delivered(DeliveryId::of_payload(tag.as_bytes()));
    event
}

#[tokio::test]
async fn concurrent_deliveries_are_each_counted_once() {
    let (client, ns) = setup("recur").await;
    let event = falco_event(&ns.name);
    // Five replicas' writers (each its own client) write five deliveries of one alert, and
    // each delivery once more (a re-send), all at once.
    let mut writes = Vec::new();
    for i in 0..10 {
        let client = admin_client().await.unwrap();
        let w = writer(&client, &ns.name);
        let event = delivered(&event, &format!("delivery-{}", i % 5));
        writes.push(tokio::spawn(async move { w.write(&event).await }));
    }
    let mut outcomes = Vec::new();
    for w in writes {
        outcomes.push(w.await.unwrap().unwrap().written);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Written::Created).count(),
        1,
        "{outcomes:?}"
    );
    let mut counts: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Written::Recurred { occurrences } => Some(*occurrences),
            _ => None,
        })
        .collect();
    counts.sort();
    counts.dedup();
    // A re-send racing its delivery may report the same count (the apiserver accepts an
    // identical status patch on a stale resourceVersion as a no-op): what counts is the total.
    assert_eq!(counts, [2, 3, 4, 5], "{outcomes:?}");
    let all: Vec<Observation> = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 1, "one Observation");
    let status = all[0].status.clone().unwrap();
    assert_eq!(status.occurrences, Some(5));
    assert_eq!(
        status.deliveries.unwrap().len(),
        4,
        "the creating one is annotated"
    );
    assert_eq!(
        status.last_seen_at.unwrap().0,
        whole_seconds(event.detected_at)
    );
    drop(client);
}

#[tokio::test]
async fn suppressed_recurrences_are_counted_by_delivery_across_writers() {
    use zen_watcher::admission::{ObservationRef, Recurrences};
    let (client, ns) = setup("flush").await;
    let w = writer(&client, &ns.name);
    let event = delivered(&falco_event(&ns.name), "first");
    let stored = w.write(&event).await.unwrap();
    assert_eq!(stored.written, Written::Created);
    let ids = |tags: &[&str]| -> Vec<DeliveryId> {
        tags.iter()
            .map(|t| DeliveryId::of_payload(t.as_bytes()))
            .collect()
    };
    let batch = |tags: &[&str]| Recurrences {
        deliveries: ids(tags),
        uncounted_ids: 0,
        last_seen: Some(event.detected_at),
    };
    let observation: ObservationRef = stored.observation.clone();
    // Replica A flushed two deliveries; replica B saw one of them too (sent to both) and the
    // first (a re-send of the creating delivery).
    assert_eq!(
        w.count_recurrences(&observation, &batch(&["a", "b"]))
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        w.count_recurrences(&observation, &batch(&["b", "first", "c"]))
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        w.count_recurrences(&observation, &batch(&["a", "c"]))
            .await
            .unwrap(),
        None,
        "a flush retried after its answer was lost counts nothing"
    );
    let status = ns
        .api::<Observation>()
        .get(&observation.name)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.occurrences, Some(4));
}

#[tokio::test]
async fn findings_are_unchanged_resolved_and_reopened() {
    let (client, ns) = setup("finding").await;
    let w = writer(&client, &ns.name);
    let mut report: kyverno::PolicyReport =
        serde_json::from_slice(&fixture("kyverno/policyreport.json")).unwrap();
    // Report uids are unique in a cluster; other tests write the same fixture.
    report.metadata.uid = Some(format!("uid-{}", ns.name));
    let events: Vec<Event> = kyverno::events_from_report(&report, now())
        .into_iter()
        .map(|e| in_namespace(e, &ns.name))
        .collect();
    assert!(events.len() >= 3);
    let uid = report.metadata.uid.clone().unwrap();
    for e in &events {
        assert_eq!(w.write(e).await.unwrap().written, Written::Created);
    }
    let api = ns.api::<Observation>();
    let first = observation_name("kyverno", &events[0].fingerprint);
    let before = api.get(&first).await.unwrap().resource_version();
    assert_eq!(
        w.write(&events[0]).await.unwrap().written,
        Written::Unchanged
    );
    assert_eq!(
        api.get(&first).await.unwrap().resource_version(),
        before,
        "no write"
    );

    // The report loses every finding but the first.
    let present = BTreeSet::from([first.clone()]);
    let resolved = w
        .resolve_vanished(&uid, &present, now(), &|| true)
        .await
        .unwrap();
    assert_eq!(resolved.len(), events.len() - 1);
    assert!(resolved.contains(&("kyverno".to_string(), events[1].fingerprint.clone())));
    let second = observation_name("kyverno", &events[1].fingerprint);
    let status = api.get(&second).await.unwrap().status.unwrap();
    assert_eq!(status.resolved_at.unwrap().0, now());
    assert!(
        api.get(&first)
            .await
            .unwrap()
            .status
            .and_then(|s| s.resolved_at)
            .is_none()
    );
    let again = w
        .resolve_vanished(&uid, &present, now(), &|| true)
        .await
        .unwrap();
    assert!(again.is_empty(), "idempotent: {again:?}");

    // The finding comes back.
    assert_eq!(
        w.write(&events[1]).await.unwrap().written,
        Written::Reopened
    );
    let status = api.get(&second).await.unwrap().status.unwrap_or_default();
    assert_eq!(status.resolved_at, None);
}

#[tokio::test]
async fn every_fixture_is_accepted_by_the_crd_schema() {
    let (client, ns) = setup("fixtures").await;
    let w = writer(&client, &ns.name);
    let mut events = Vec::new();
    for name in [
        "alert-alert.json",
        "alert-critical.json",
        "alert-debug.json",
        "alert-emergency.json",
        "alert-error.json",
        "alert-informational.json",
        "alert-notice.json",
        "alert-warning.json",
        "batch.json",
        "host-no-pod.json",
        "k8s-audit-exec.json",
        "missing-time.json",
        "sidekick-warning.json",
    ] {
        events.extend(falco::parse(&fixture(&format!("falco/{name}")), now()).unwrap());
    }
    for name in ["eventlist-mixed.json", "single-event.json"] {
        events.extend(
            audit::parse(
                &fixture(&format!("audit/{name}")),
                &audit::SelfIdentity::default(),
            )
            .unwrap()
            .events,
        );
    }
    let report: kyverno::PolicyReport =
        serde_json::from_slice(&fixture("kyverno/policyreport.json")).unwrap();
    events.extend(kyverno::events_from_report(&report, now()));
    let report: kyverno::ClusterPolicyReport =
        serde_json::from_slice(&fixture("kyverno/clusterpolicyreport.json")).unwrap();
    events.extend(kyverno::events_from_report(&report, now()));
    let report: kyverno::OpenReport =
        serde_json::from_slice(&fixture("kyverno/openreports-report.json")).unwrap();
    events.extend(kyverno::events_from_report(&report, now()));
    let report: trivy::VulnerabilityReport =
        serde_json::from_slice(&fixture("trivy/vulnerabilityreport.json")).unwrap();
    events.extend(trivy::events_from_report(&report, now()));
    let report: trivy::ClusterVulnerabilityReport =
        serde_json::from_slice(&fixture("trivy/clustervulnerabilityreport.json")).unwrap();
    events.extend(trivy::events_from_report(&report, now()));
    assert!(events.len() > 60, "{}", events.len());

    // Fixture namespaces do not exist here: those events fall back to the watcher's namespace.
    for event in &events {
        let outcome = w.write(event).await;
        assert!(
            outcome.is_ok(),
            "{} {}: {:?}",
            event.source,
            event.event_type,
            outcome
        );
    }
    let stored = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let distinct: BTreeSet<String> = events
        .iter()
        .map(|e| observation_name(&e.source, &e.fingerprint))
        .collect();
    assert_eq!(stored.len(), distinct.len());
}

#[tokio::test]
async fn one_bad_event_does_not_fail_the_others() {
    let (client, ns) = setup("bad-item").await;
    let w = writer(&client, &ns.name);
    let batch = audit::parse(
        &fixture("audit/eventlist-mixed.json"),
        &audit::SelfIdentity::default(),
    )
    .unwrap();
    let mut events: Vec<Event> = batch
        .events
        .into_iter()
        .map(|e| in_namespace(e, &ns.name))
        .collect();
    events[3].event_type = "Not A Valid Type".into();
    let mut created = 0;
    let mut failures = Vec::new();
    for event in &events {
        match w.write(event).await {
            Ok(stored) if stored.written == Written::Created => created += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(err) => failures.push(err),
        }
    }
    assert_eq!(created, events.len() - 1);
    assert_eq!(failures.len(), 1);
    assert!(!failures[0].is_transient());
    assert_eq!(failures[0].reason(), "invalid");
    assert!(
        failures[0].to_string().contains("spec.eventType"),
        "{}",
        failures[0]
    );
}

#[tokio::test]
async fn a_missing_namespace_falls_back_to_the_watchers() {
    let (client, ns) = setup("fallback").await;
    let w = writer(&client, &ns.name);
    let event = falco_event("no-such-namespace");
    let stored = w.write(&event).await.unwrap();
    assert_eq!(stored.written, Written::Created);
    assert_eq!(stored.observation.namespace, ns.name, "where it really is");
    let name = observation_name("falco", &event.fingerprint);
    let stored: Api<Observation> = ns.api();
    let obs = stored.get(&name).await.unwrap();
    assert_eq!(
        obs.spec.resource.unwrap().namespace.as_deref(),
        Some("no-such-namespace")
    );
    // And a recurrence finds it there.
    assert_eq!(
        w.write(&delivered(&event, "again")).await.unwrap().written,
        Written::Recurred { occurrences: 2 }
    );
    // So does an event whose namespace is no namespace at all (a payload's odd value).
    let odd = falco_event("Not/A Namespace");
    assert_eq!(w.write(&odd).await.unwrap().observation.namespace, ns.name);
}

#[tokio::test]
async fn a_full_queue_refuses_instead_of_buffering() {
    let (client, ns) = setup("queue").await;
    let w = std::sync::Arc::new(writer(&client, &ns.name));
    let (queue, _dispatcher) = zen_watcher::writer::WriteQueue::start(w, 1, 1);
    let template = falco_event(&ns.name);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..10 {
        let mut event = template.clone();
        event.fingerprint = format!("{}-{i}", template.fingerprint);
        match queue.try_submit(Submission::plain(event)) {
            Ok(pending) => accepted.push(pending),
            Err(zen_watcher::writer::QueueFull) => refused += 1,
        }
    }
    // One write in flight, one held by the dispatcher, one in the channel: at most three.
    assert!(accepted.len() <= 3, "{} accepted", accepted.len());
    assert_eq!(accepted.len() + refused, 10);
    for pending in accepted {
        assert_eq!(pending.await.unwrap().unwrap().written, Written::Created);
    }
    assert_eq!(queue.depth(), 0);
    // Informers wait for room instead of being refused.
    let mut waits = Vec::new();
    for i in 10..15 {
        let mut event = template.clone();
        event.fingerprint = format!("{}-{i}", template.fingerprint);
        waits.push(queue.submit(Submission::plain(event)).await.unwrap());
    }
    for pending in waits {
        assert_eq!(pending.await.unwrap().unwrap().written, Written::Created);
    }
}

#[tokio::test]
async fn a_source_at_its_cap_is_dropped_with_reason_cap() {
    use std::num::NonZeroUsize;
    use std::time::Duration;
    use zen_watcher::admission::filter::FilterConfig;
    use zen_watcher::app::AppMetrics;
    use zen_watcher::pipeline::{Mode, Pipeline};
    use zen_watcher::writer::{SourceCap, WriteQueue};

    let (client, ns) = setup("cap").await;
    let w = std::sync::Arc::new(writer(&client, &ns.name));
    let (queue, _) = WriteQueue::start(w, 10, 2);
    let (metrics, exposition) = AppMetrics::register();
    let mut events = Vec::new();
    for pod in ["a", "b", "c"] {
        let mut e = falco_event(&ns.name);
        e.fingerprint = format!("{}-{pod}", e.fingerprint);
        e.source = format!("capped-{}", ns.name.trim_start_matches("e2e-"));
        events.push(e);
    }
    let source = events[0].source.clone();
    let limited = std::sync::Arc::new(SourceCap::new(2));
    let pipeline = Pipeline::new(
        FilterConfig::default(),
        NonZeroUsize::new(100).unwrap(),
        Duration::from_secs(60),
        metrics.pipeline,
    )
    .with_cap(limited.clone());
    let outcome = pipeline.ingest(events, None, &queue, Mode::webhook()).await;
    assert_eq!((outcome.written, outcome.filtered), (2, 1), "{outcome:?}");
    assert!(
        outcome.acknowledged(),
        "a capped event is a deliberate, counted drop"
    );
    assert!(exposition.encode().contains(&format!(
        "zen_watcher_events_filtered_total{{source=\"{source}\",reason=\"cap\",scope=\"global\"}} 1"
    )));
    assert_eq!(
        ns.api::<Observation>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    // The census counts what is in the apiserver.
    let census = std::sync::Arc::new(SourceCap::new(2));
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let (census, client, cancel) = (census.clone(), client.clone(), cancel.clone());
        async move { census.recount_loop(client, cancel).await }
    });
    let src = source.clone();
    zen_watcher_e2e::wait_until("the census", Duration::from_secs(30), || {
        let census = census.clone();
        let src = src.clone();
        async move { Ok(census.full(&src).then_some(())) }
    })
    .await
    .unwrap();
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_former_leaders_queued_writes_and_resolutions_are_dropped() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use zen_watcher::writer::{Fence, WriteError, WriteQueue};

    let (client, ns) = setup("fenced").await;
    let w = Arc::new(writer(&client, &ns.name));
    let (queue, _) = WriteQueue::start(w.clone(), 10, 1);
    let leading = Arc::new(AtomicBool::new(true));
    let fence: Fence = {
        let leading = leading.clone();
        Arc::new(move || leading.load(Ordering::SeqCst))
    };
    let mut report: kyverno::PolicyReport =
        serde_json::from_slice(&fixture("kyverno/policyreport.json")).unwrap();
    report.metadata.uid = Some(format!("uid-{}", ns.name));
    let events: Vec<Event> = kyverno::events_from_report(&report, now())
        .into_iter()
        .map(|e| in_namespace(e, &ns.name))
        .collect();
    // Written while leader.
    let fenced = |event: Event| Submission {
        fence: Some(fence.clone()),
        ..Submission::plain(event)
    };
    let first = queue.submit(fenced(events[0].clone())).await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().written, Written::Created);
    // Leadership is lost with a job queued: its turn comes, and it is dropped unwritten.
    leading.store(false, Ordering::SeqCst);
    let queued = queue.submit(fenced(events[1].clone())).await.unwrap();
    assert!(matches!(queued.await.unwrap(), Err(WriteError::Fenced)));
    let stored = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1, "only the leader's write");
    // A former leader resolves nothing either.
    let uid = report.metadata.uid.clone().unwrap();
    let resolved = w
        .resolve_vanished(&uid, &BTreeSet::new(), now(), &*fence)
        .await;
    assert!(matches!(resolved, Err(WriteError::Fenced)), "{resolved:?}");
    let open = ns
        .api::<Observation>()
        .list(&Default::default())
        .await
        .unwrap();
    assert!(open.items.iter().all(|o| {
        o.status
            .as_ref()
            .and_then(|s| s.resolved_at.as_ref())
            .is_none()
    }));
}
