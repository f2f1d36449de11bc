//! The span tree of an event, through an in-memory OpenTelemetry exporter: a webhook request
//! continues the caller's trace; each event gets normalise -> filter -> dedup -> write spans
//! with their decisions; an audit batch is one request span with a child per item; errors
//! are recorded with status Error. The writer points at an address where no apiserver
//! listens, so every write fails transiently (the success path is covered end to end).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, Status, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;
use zen_watcher::admission::filter::FilterConfig;
use zen_watcher::app::AppMetrics;
use zen_watcher::config::{Config, LoadOutcome};
use zen_watcher::observation::ObservationSettings;
use zen_watcher::pipeline::Pipeline;
use zen_watcher::server::{ConnInfo, PipelineSink, ServerState, Serves, filter};
use zen_watcher::sources::audit;
use zen_watcher::writer::{RetryPolicy, WriteQueue, Writer};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn config() -> Config {
    let args = [
        "zen-watcher",
        "--pod-name",
        "zw-0",
        "--webhook-auth-token",
        "t",
    ];
    match Config::load_from(args, Some("zen-system".into())).unwrap() {
        LoadOutcome::Run(config) => *config,
        other => unreachable!("{other:?}"),
    }
}

/// The server with a real pipeline whose writes cannot reach an apiserver.
async fn state() -> Arc<ServerState> {
    let kube_config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(kube_config).unwrap();
    let settings = ObservationSettings {
        fallback_namespace: "zen-system".into(),
        default_ttl_seconds: 3600,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec![],
    };
    let retry = RetryPolicy {
        attempts: 1,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    };
    let writer = Arc::new(Writer::new(client, settings, retry));
    let (queue, _) = WriteQueue::start(writer, 100, 4);
    let (metrics, exposition) = AppMetrics::register();
    let pipeline = Arc::new(Pipeline::new(
        FilterConfig::default(),
        NonZeroUsize::new(1000).unwrap(),
        Duration::from_secs(60),
        metrics.pipeline,
    ));
    let ingest = Arc::new(PipelineSink::new(pipeline, queue));
    Arc::new(
        ServerState::new(
            &config(),
            ingest,
            metrics.server,
            exposition,
            audit::SelfIdentity::default(),
        )
        .unwrap(),
    )
}

/// Sends `body` to `path` with a `traceparent` and returns the finished spans.
async fn spans_of(path: &str, body: &str) -> (u16, Vec<SpanData>) {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    let state = state().await;
    let response = warp::test::request()
        .method("POST")
        .path(path)
        .header("authorization", "Bearer t")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .extension(ConnInfo::plain(SocketAddr::from(([127, 0, 0, 1], 40000))))
        .body(body)
        .reply(&filter(
            state,
            Serves {
                webhooks: true,
                health: true,
            },
        ))
        .await;
    // Writes finish on the queue's tasks: wait until every write span has ended.
    for _ in 0..200 {
        let spans = exporter.get_finished_spans().unwrap();
        let writes = spans.iter().filter(|s| s.name == "write").count();
        let events_written = spans
            .iter()
            .filter(|s| s.name == "dedup" && attr(s, "zen.decision") == Some("new".into()))
            .count();
        if writes == events_written
            && spans
                .iter()
                .any(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = provider.force_flush();
    (
        response.status().as_u16(),
        exporter.get_finished_spans().unwrap(),
    )
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn children<'a>(spans: &'a [SpanData], parent: &SpanData, name: &str) -> Vec<&'a SpanData> {
    spans
        .iter()
        .filter(|s| s.name == name && s.parent_span_id == parent.span_context.span_id())
        .collect()
}

fn falco(priority: &str) -> String {
    format!(
        r#"{{"rule":"Terminal shell","priority":"{priority}","output_fields":{{"k8s.ns.name":"shop","k8s.pod.name":"web-1"}}}}"#
    )
}

#[tokio::test]
async fn a_falco_alert_continues_the_callers_trace_through_every_stage() {
    let (status, spans) = spans_of("/falco/webhook", &falco("Critical")).await;
    assert_eq!(status, 503, "no apiserver: the write fails transiently");
    let webhook = named(&spans, "POST /falco/webhook");
    assert_eq!(
        webhook.len(),
        1,
        "the request span is named after the route"
    );
    let webhook = webhook[0];
    let trace = TraceId::from_hex(TRACE_ID).unwrap();
    assert_eq!(
        webhook.span_context.trace_id(),
        trace,
        "same trace as the caller"
    );
    assert_eq!(
        webhook.parent_span_id,
        SpanId::from_hex(PARENT_ID).unwrap(),
        "child of the caller's span"
    );
    assert_eq!(webhook.span_kind, opentelemetry::trace::SpanKind::Server);
    assert!(
        matches!(webhook.status, Status::Error { .. }),
        "a 503 is an error"
    );
    assert_eq!(children(&spans, webhook, "normalise").len(), 1);
    let events = children(&spans, webhook, "event");
    assert_eq!(events.len(), 1);
    let event = events[0];
    assert_eq!(attr(event, "zen.source").as_deref(), Some("falco"));
    assert!(
        attr(event, "zen.fingerprint")
            .unwrap()
            .contains("Terminal shell")
    );
    let filter = children(&spans, event, "filter");
    assert_eq!(attr(filter[0], "zen.decision").as_deref(), Some("keep"));
    let dedup = children(&spans, event, "dedup");
    assert_eq!(attr(dedup[0], "zen.decision").as_deref(), Some("new"));
    let write = children(&spans, event, "write");
    assert_eq!(
        write.len(),
        1,
        "the write span crosses the queue as the event's child"
    );
    assert_eq!(write[0].span_context.trace_id(), trace);
    assert_eq!(
        attr(write[0], "zen.observation")
            .as_deref()
            .map(|n| n.starts_with("falco-")),
        Some(true)
    );
    assert_eq!(
        attr(write[0], "k8s.namespace.name").as_deref(),
        Some("shop")
    );
    assert_eq!(
        attr(write[0], "zen.outcome").as_deref(),
        Some("transient_error")
    );
    assert!(matches!(write[0].status, Status::Error { .. }));
}

#[tokio::test]
async fn an_audit_batch_is_one_request_span_with_a_child_per_item() {
    let item = |id: &str| {
        format!(
            r#"{{"auditID":"{id}","stage":"ResponseComplete","verb":"delete","user":{{"username":"alice"}},
               "objectRef":{{"resource":"secrets","namespace":"shop","name":"s-{id}","apiVersion":"v1"}},
               "responseStatus":{{"code":200}},"stageTimestamp":"2026-11-26T10:00:00Z"}}"#
        )
    };
    let body = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{},{}]}}"#,
        item("a"),
        item("b"),
        item("c")
    );
    let (_, spans) = spans_of("/audit/webhook", &body).await;
    let webhook = named(&spans, "POST /audit/webhook")[0];
    let events = children(&spans, webhook, "event");
    assert_eq!(events.len(), 3);
    for event in events {
        assert_eq!(attr(event, "zen.source").as_deref(), Some("audit"));
        assert_eq!(children(&spans, event, "write").len(), 1);
    }
}

/// The second alert repeats the first while its write is pending: it waits for that write
/// (which fails here, no apiserver) instead of writing again or being suppressed.
#[tokio::test]
async fn a_repeat_of_a_pending_write_waits_and_has_no_write_span() {
    let body = format!("[{},{}]", falco("Critical"), falco("Critical"));
    let (_, spans) = spans_of("/falco/webhook", &body).await;
    let webhook = named(&spans, "POST /falco/webhook")[0];
    let events = children(&spans, webhook, "event");
    assert_eq!(events.len(), 2);
    let mut decisions: Vec<String> = events
        .iter()
        .map(|e| attr(children(&spans, e, "dedup")[0], "zen.decision").unwrap())
        .collect();
    decisions.sort();
    assert_eq!(decisions, ["new", "pending"]);
    let writes: usize = events
        .iter()
        .map(|e| children(&spans, e, "write").len())
        .sum();
    assert_eq!(writes, 1);
}

#[tokio::test]
async fn a_filtered_event_records_the_reason_and_stops() {
    let (status, spans) = spans_of("/falco/webhook", &falco("Notice")).await;
    assert_eq!(status, 200, "a filtered event is acknowledged");
    let event = named(&spans, "event")[0];
    let filter = children(&spans, event, "filter")[0];
    assert_eq!(attr(filter, "zen.decision").as_deref(), Some("drop"));
    assert_eq!(
        attr(filter, "zen.reason").as_deref(),
        Some("global:min_severity")
    );
    assert!(children(&spans, event, "dedup").is_empty());
    assert!(children(&spans, event, "write").is_empty());
}
