//! The spans that follow an event (docs/architecture.md, "Traces"): a webhook request (continuing the caller's W3C
//! `traceparent`) or a watched-object event (a root span), then per event `normalise`,
//! `filter`, `dedup` and `write`. Spans are at DEBUG level: free when tracing is off, and
//! exported by the OpenTelemetry layer, which admits them on its own (see `telemetry`).

use http::HeaderMap;
use opentelemetry::propagation::Extractor;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::event::IngesterRef;

/// The span of one webhook request, a child of the caller's trace when it sent `traceparent`.
pub fn webhook(path: &str, headers: &HeaderMap) -> Span {
    let span = tracing::debug_span!(
        "webhook",
        otel.name = %format!("POST {path}"),
        otel.kind = "server",
        http.route = %path,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    // Fails only when tracing is off (the span is disabled) or already entered: nothing to do.
    let _ = span.set_parent(parent);
    span
}

/// The root span of one watched object's event (reports, Ingester informers).
pub fn informer(kind: &str, uid: &str, resource_version: &str) -> Span {
    tracing::debug_span!(
        "informer",
        otel.name = %format!("watch {kind}"),
        otel.kind = "consumer",
        k8s.object.kind = %kind,
        k8s.object.uid = %uid,
        k8s.object.resource_version = %resource_version,
    )
}

/// One event's span, a child of the request or informer span.
pub fn event(source: &str, fingerprint: &str, ingester: Option<&IngesterRef>) -> Span {
    tracing::debug_span!(
        "event",
        zen.source = %source,
        zen.fingerprint = %fingerprint,
        zen.ingester = %IngesterName(ingester),
    )
}

/// `namespace/name` of an Ingester (empty without one), formatted only when a span records it.
struct IngesterName<'a>(Option<&'a IngesterRef>);

impl std::fmt::Display for IngesterName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(i) => write!(f, "{}/{}", i.namespace, i.name),
            None => Ok(()),
        }
    }
}

/// Marks `span` as failed (OpenTelemetry status Error) with `message`.
pub fn record_error(span: &Span, message: &str) {
    span.record("otel.status_code", "ERROR");
    span.set_status(opentelemetry::trace::Status::error(message.to_string()));
}

/// The current span's trace id (hex), when tracing is on and the span is sampled.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests;
