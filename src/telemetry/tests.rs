use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Key, Value};
use serde_json::Value as Json;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::*;

fn settings(vars: &[(&str, &str)]) -> Result<Option<TracingSettings>, TelemetryError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TracingSettings::from_lookup(|name| vars.get(name).cloned())
}

fn enabled(vars: &[(&str, &str)]) -> TracingSettings {
    let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")];
    all.extend_from_slice(vars);
    settings(&all).unwrap().expect("tracing enabled")
}

/// Log lines written through the subscriber, kept in memory.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn lines(&self) -> Vec<Json> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

fn attribute(resource: &Resource, key: &'static str) -> Option<String> {
    resource
        .get(&Key::from_static_str(key))
        .map(|v| v.to_string())
}

#[test]
fn no_endpoint_means_no_exporter_and_no_trace_ids() {
    assert_eq!(settings(&[]), Ok(None));
    // Empty values count as unset; other OTEL_* variables alone do not turn tracing on.
    assert_eq!(
        settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_SERVICE_NAME", "x"),
            ("OTEL_TRACES_SAMPLER", "nonsense"),
        ]),
        Ok(None)
    );

    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::registry().with(layers(
        EnvFilter::new("info"),
        LogFormat::Json,
        None,
        buffer.clone(),
    ));
    let id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("work");
        let _entered = span.enter();
        tracing::info!("inside");
        trace_id_of_current_span()
    });
    assert_eq!(id, None);
    let lines = buffer.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "inside");
    assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
}

#[test]
fn either_endpoint_variable_turns_tracing_on_and_picks_the_protocol() {
    let s = enabled(&[]);
    assert_eq!(s.endpoint, "http://collector:4317");
    assert_eq!(s.protocol, OtlpProtocol::Grpc);
    assert_eq!(s.sampler, SamplerSetting::ParentBasedAlwaysOn);

    let s = settings(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(s.endpoint, "http://c:4318/v1/traces");
    assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);

    // The traces-specific protocol wins.
    let s = enabled(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
    ]);
    assert_eq!(s.protocol, OtlpProtocol::Grpc);

    let err = settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\"")
    );
}

#[test]
fn sampler_variables_are_parsed_and_validated() {
    use SamplerSetting::*;
    for (name, arg, expected) in [
        (None, None, ParentBasedAlwaysOn),
        (Some(""), None, ParentBasedAlwaysOn),
        (Some("always_on"), None, AlwaysOn),
        (Some("always_off"), None, AlwaysOff),
        (Some("traceidratio"), Some("0.25"), TraceIdRatio(0.25)),
        (Some("traceidratio"), None, TraceIdRatio(1.0)),
        (Some("parentbased_always_on"), None, ParentBasedAlwaysOn),
        (Some("parentbased_always_off"), None, ParentBasedAlwaysOff),
        (
            Some("parentbased_traceidratio"),
            Some(" 0 "),
            ParentBasedTraceIdRatio(0.0),
        ),
        (
            Some("parentbased_traceidratio"),
            Some(""),
            ParentBasedTraceIdRatio(1.0),
        ),
    ] {
        assert_eq!(
            SamplerSetting::parse(name, arg),
            Ok(expected),
            "{name:?} {arg:?}"
        );
    }
    assert_eq!(
        SamplerSetting::parse(Some("jaeger_remote"), None),
        Err(TelemetryError::Sampler("jaeger_remote".into()))
    );
    for bad in ["1.5", "-0.1", "half", "NaN"] {
        assert_eq!(
            SamplerSetting::parse(Some("traceidratio"), Some(bad)),
            Err(TelemetryError::SamplerArg(bad.into())),
            "{bad}"
        );
    }
    // The argument of a non-ratio sampler is ignored.
    assert_eq!(
        SamplerSetting::parse(Some("always_on"), Some("x")),
        Ok(AlwaysOn)
    );

    let s = enabled(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
    ]);
    assert_eq!(s.sampler, ParentBasedTraceIdRatio(0.1));
    assert_eq!(
        format!("{:?}", s.sampler.sampler()),
        format!(
            "{:?}",
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1)))
        )
    );
}

#[test]
fn resource_has_service_version_and_kubernetes_identity() {
    let r = enabled(&[("POD_NAME", "zw-0"), ("POD_NAMESPACE", "zen-system")]).resource();
    assert_eq!(
        attribute(&r, "service.name").as_deref(),
        Some("zen-watcher")
    );
    assert_eq!(
        attribute(&r, "service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(attribute(&r, "k8s.pod.name").as_deref(), Some("zw-0"));
    assert_eq!(
        attribute(&r, "k8s.namespace.name").as_deref(),
        Some("zen-system")
    );
    assert_eq!(
        attribute(&r, "telemetry.sdk.language").as_deref(),
        Some("rust")
    );

    // HOSTNAME stands in for POD_NAME; no namespace attribute without POD_NAMESPACE.
    let r = enabled(&[("HOSTNAME", "host-1")]).resource();
    assert_eq!(attribute(&r, "k8s.pod.name").as_deref(), Some("host-1"));
    assert_eq!(attribute(&r, "k8s.namespace.name"), None);

    // OTEL_RESOURCE_ATTRIBUTES (percent-decoded) overrides ours; OTEL_SERVICE_NAME wins.
    let r = enabled(&[
        ("POD_NAME", "zw-0"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, team=sec%20ops,k8s.pod.name=other,service.name=attr",
        ),
    ])
    .resource();
    assert_eq!(
        attribute(&r, "deployment.environment").as_deref(),
        Some("prod")
    );
    assert_eq!(attribute(&r, "team").as_deref(), Some("sec ops"));
    assert_eq!(attribute(&r, "k8s.pod.name").as_deref(), Some("other"));
    assert_eq!(attribute(&r, "service.name").as_deref(), Some("attr"));
    let r = enabled(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr"),
        ("OTEL_SERVICE_NAME", "zw-staging"),
    ])
    .resource();
    assert_eq!(attribute(&r, "service.name").as_deref(), Some("zw-staging"));

    assert_eq!(
        settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=1,oops"),
        ]),
        Err(TelemetryError::ResourceAttribute("oops".into()))
    );
    assert_eq!(percent_decode("a%2Cb%3D%zz%4"), "a,b=%zz%4");
}

#[test]
fn spans_are_exported_with_the_resource_and_logs_carry_their_ids() {
    let capture = SpanCapture::new();
    let buffer = Buffer::default();
    let settings = enabled(&[("OTEL_SERVICE_NAME", "zw-test")]);
    let (subscriber, guard) = subscriber_with_exporter(
        capture.clone(),
        &settings,
        "info",
        LogFormat::Json,
        buffer.clone(),
    )
    .unwrap();
    assert!(guard.tracing_enabled());

    let (outer_trace, inner_trace) = tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before any span");
        let outer = tracing::info_span!("receive", source = "falco");
        let _outer = outer.enter();
        tracing::info!(fingerprint = "abc", "received");
        let outer_trace = trace_id_of_current_span();
        let inner_trace = {
            let inner = tracing::info_span!("write");
            let _inner = inner.enter();
            tracing::warn!("writing");
            trace_id_of_current_span()
        };
        (outer_trace, inner_trace)
    });
    let trace_id = outer_trace.expect("a trace id inside the span");
    assert_eq!(trace_id.len(), 32);
    assert_eq!(inner_trace.as_deref(), Some(trace_id.as_str()));

    let spans = capture.spans();
    let names: Vec<_> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["write", "receive"]);
    let (write, receive) = (&spans[0], &spans[1]);
    assert_eq!(write.parent_span_id, receive.span_context.span_id());
    assert_eq!(receive.span_context.trace_id().to_string(), trace_id);
    assert!(
        receive
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "source" && kv.value == Value::from("falco"))
    );
    // Only what the watcher sets: no per-span code location, thread, target or busy/idle time
    // (they cost CPU on every span and tell a dashboard nothing).
    let keys: Vec<&str> = receive
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(keys, ["source"]);
    assert!(write.attributes.is_empty(), "{:?}", write.attributes);
    let resource = capture.resource().expect("resource handed to the exporter");
    assert_eq!(
        attribute(&resource, "service.name").as_deref(),
        Some("zw-test")
    );

    let lines = buffer.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
    assert_eq!(lines[1]["message"], "received");
    assert_eq!(lines[1]["fingerprint"], "abc");
    assert_eq!(lines[1]["trace_id"], trace_id.as_str());
    assert_eq!(
        lines[1]["span_id"],
        receive.span_context.span_id().to_string().as_str()
    );
    assert_eq!(lines[2]["level"], "WARN");
    assert_eq!(lines[2]["trace_id"], trace_id.as_str());
    assert_eq!(
        lines[2]["span_id"],
        write.span_context.span_id().to_string().as_str()
    );
    drop(guard);
}

#[test]
fn otel_filter_keeps_watcher_and_kube_client_debug_spans_whatever_the_log_level() {
    let capture = SpanCapture::new();
    let buffer = Buffer::default();
    let (subscriber, _guard) = subscriber_with_exporter(
        capture.clone(),
        &TracingSettings::default(),
        "error",
        LogFormat::Json,
        buffer.clone(),
    )
    .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("watcher_info");
        span.in_scope(|| {
            tracing::debug_span!("watcher_debug").in_scope(|| {});
            tracing::trace_span!("watcher_trace").in_scope(|| {});
            tracing::debug_span!(target: "kube_client::client", "HTTP").in_scope(|| {});
            tracing::trace_span!(target: "kube_client::client", "kube_trace").in_scope(|| {});
            tracing::info_span!(target: "hyper_util::client", "hyper").in_scope(|| {});
            // Log lines below LOG_LEVEL stay out of the logs, but errors carry the ids.
            tracing::info!("quiet");
            tracing::error!("loud");
        });
    });
    let mut names: Vec<_> = capture.spans().iter().map(|s| s.name.to_string()).collect();
    names.sort();
    // The pipeline's spans are DEBUG (free when tracing is off) and exported all the same.
    assert_eq!(names, ["HTTP", "watcher_debug", "watcher_info"]);
    let lines = buffer.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message"], "loud");
    assert_eq!(lines[0]["trace_id"].as_str().map(str::len), Some(32));
}

#[test]
fn sampled_out_spans_are_not_exported_but_still_have_ids() {
    let capture = SpanCapture::new();
    let settings = TracingSettings {
        sampler: SamplerSetting::AlwaysOff,
        ..TracingSettings::default()
    };
    let (subscriber, _guard) = subscriber_with_exporter(
        capture.clone(),
        &settings,
        "info",
        LogFormat::Json,
        io::sink,
    )
    .unwrap();
    let id = tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("dropped").in_scope(trace_id_of_current_span)
    });
    assert!(id.is_some());
    assert!(capture.spans().is_empty());
}

#[test]
fn a_w3c_traceparent_becomes_the_parent_of_a_span() {
    let capture = SpanCapture::new();
    let (subscriber, _guard) = subscriber_with_exporter(
        capture.clone(),
        &TracingSettings::default(),
        "info",
        LogFormat::Json,
        io::sink,
    )
    .unwrap();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let headers = HashMap::from([(
        "traceparent".to_string(),
        format!("00-{trace_id}-{parent_id}-01"),
    )]);
    let parent = TraceContextPropagator::new().extract(&headers);
    assert!(parent.span().span_context().is_remote());
    let current = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("webhook", otel.kind = "server");
        span.set_parent(parent).unwrap();
        span.in_scope(trace_id_of_current_span)
    });
    assert_eq!(current.as_deref(), Some(trace_id));
    let spans = capture.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_context.trace_id().to_string(), trace_id);
    assert_eq!(spans[0].parent_span_id.to_string(), parent_id);
    assert_eq!(spans[0].span_kind, SpanKind::Server);
}

#[test]
fn text_logs_work_with_tracing_on() {
    let capture = SpanCapture::new();
    let buffer = Buffer::default();
    let (subscriber, _guard) = subscriber_with_exporter(
        capture,
        &TracingSettings::default(),
        "info",
        LogFormat::Text,
        buffer.clone(),
    )
    .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("work").in_scope(|| tracing::info!("hello"));
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("work") && text.contains("hello"), "{text}");
}

#[test]
fn log_filter_prefers_rust_log() {
    let f = log_filter("info", Some("zen_watcher=trace")).unwrap();
    assert_eq!(f.to_string(), "zen_watcher=trace");
    let f = log_filter("warn", Some("  ")).unwrap();
    assert_eq!(f.to_string(), "warn");
    assert!(log_filter("info", None).is_ok());
    assert!(log_filter("not a [level", None).is_err());
}

#[test]
fn otel_filter_matches_its_documentation() {
    assert_eq!(otel_filter().to_string(), OTEL_SPAN_TARGETS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_exports_run_on_the_runtime_and_shutdown_flushes() {
    // An exporter that only works inside a tokio runtime, as reqwest and tonic do.
    #[derive(Debug, Clone, Default)]
    struct NeedsRuntime(SpanCapture);
    impl SpanExporter for NeedsRuntime {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            self.0.export(batch).await
        }
        fn set_resource(&mut self, resource: &Resource) {
            self.0.set_resource(resource);
        }
    }
    let capture = NeedsRuntime::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(TracingSettings::default().resource())
        .with_batch_exporter(OnRuntime {
            exporter: Arc::new(capture.clone()),
            runtime: tokio::runtime::Handle::current(),
        })
        .build();
    let (subscriber, guard) = (
        tracing_subscriber::registry().with(layers(
            EnvFilter::new("off"),
            LogFormat::Json,
            Some(&provider),
            io::sink,
        )),
        TelemetryGuard {
            provider: Some(provider),
        },
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("batched").in_scope(|| {});
    });
    assert!(
        capture.0.spans().is_empty(),
        "exported before the batch was due"
    );
    drop(guard);
    let spans = capture.0.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "batched");
    let resource = capture
        .0
        .resource()
        .expect("resource reached the wrapped exporter");
    assert_eq!(
        attribute(&resource, "service.name").as_deref(),
        Some("zen-watcher")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_providers_build_for_both_protocols_and_shut_down() {
    for protocol in ["grpc", "http/protobuf"] {
        let s = enabled(&[("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)]);
        let provider = s.otlp_provider().unwrap();
        let guard = TelemetryGuard {
            provider: Some(provider),
        };
        assert!(guard.tracing_enabled());
        // No span was recorded: shutting down exports nothing and returns promptly.
        drop(guard);
    }
}
