//! Logs and traces.
//!
//! Logs: `tracing` through a fmt layer, JSON lines by default (text when stderr is a terminal),
//! filtered by `RUST_LOG` or else `LOG_LEVEL`.
//!
//! Traces: only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, an OpenTelemetry layer exports spans over OTLP (gRPC, or HTTP/protobuf when
//! `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL=http/protobuf`) through a batch span processor whose
//! exports run on the tokio runtime. That layer has its own filter ([`OTEL_SPAN_TARGETS`]),
//! independent of the log level, and JSON log lines emitted inside an exported span carry its
//! `trace_id` and `span_id`. `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER[_ARG]` are honoured; the exporter reads the other `OTEL_EXPORTER_OTLP_*`
//! variables (headers, timeout, ...) itself.

#[cfg(test)]
mod testing;

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

#[cfg(test)]
pub use testing::SpanCapture;

/// Default `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "zen-watcher";

/// What the OpenTelemetry layer records, whatever `LOG_LEVEL` says: the watcher's own spans at
/// `info`, and kube-client's HTTP request spans (emitted at `debug`).
pub const OTEL_SPAN_TARGETS: &str = "zen_watcher=debug,kube_client=debug";

const INSTRUMENTATION_SCOPE: &str = "zen-watcher";

/// Invalid tracing settings in the environment.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TelemetryError {
    #[error(
        "{var}={value:?} is not supported: use `grpc` or `http/protobuf` (this build has no http/json)"
    )]
    Protocol { var: &'static str, value: String },
    #[error(
        "OTEL_TRACES_SAMPLER={0:?} is not supported: use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
    )]
    Sampler(String),
    #[error("OTEL_TRACES_SAMPLER_ARG={0:?} is not a ratio between 0 and 1")]
    SamplerArg(String),
    #[error("{var}={value:?} is not an http:// or https:// URL with a host")]
    Endpoint { var: &'static str, value: String },
    #[error("OTEL_RESOURCE_ATTRIBUTES: {0:?} is not `key=value`")]
    ResourceAttribute(String),
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// `OTEL_TRACES_SAMPLER` (+ `OTEL_TRACES_SAMPLER_ARG`), parsed and validated.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerSetting {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl SamplerSetting {
    /// Parses the sampler name and argument (unset or empty: `parentbased_always_on`; a ratio
    /// sampler without an argument samples everything, as the specification says).
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> Result<Self, TelemetryError> {
        let ratio = || match arg.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(1.0),
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| TelemetryError::SamplerArg(a.to_string())),
        };
        Ok(match name.map(str::trim).unwrap_or_default() {
            "" | "parentbased_always_on" => Self::ParentBasedAlwaysOn,
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::TraceIdRatio(ratio()?),
            "parentbased_always_off" => Self::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Self::ParentBasedTraceIdRatio(ratio()?),
            other => return Err(TelemetryError::Sampler(other.to_string())),
        })
    }

    pub fn sampler(self) -> Sampler {
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
            Self::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
            Self::ParentBasedTraceIdRatio(r) => parent_based(Sampler::TraceIdRatioBased(r)),
        }
    }
}

/// Trace export settings from the standard `OTEL_*` variables (plus `POD_NAME`/`HOSTNAME` and
/// `POD_NAMESPACE` for the resource). Endpoint, headers, timeout and compression are read by
/// the OTLP exporter itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TracingSettings {
    /// The endpoint variable's value (for the start-up log line).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub sampler: SamplerSetting,
    /// Resource attributes, later entries winning (see [`TracingSettings::resource`]).
    pub resource_attributes: Vec<(String, String)>,
}

impl TracingSettings {
    /// `None` when no OTLP endpoint is configured: traces are off.
    pub fn from_env() -> Result<Option<Self>, TelemetryError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`TracingSettings::from_env`], reading variables through `var` (empty means unset).
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TelemetryError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let Some((endpoint_var, endpoint)) = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value))) else {
            return Ok(None);
        };
        check_endpoint(endpoint_var, &endpoint)?;
        let protocol = match [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)))
        {
            None => OtlpProtocol::Grpc,
            Some((name, value)) => match value.trim() {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                _ => return Err(TelemetryError::Protocol { var: name, value }),
            },
        };
        let sampler = SamplerSetting::parse(
            var("OTEL_TRACES_SAMPLER").as_deref(),
            var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )?;

        let mut resource_attributes = default_resource_attributes();
        if let Some(pod) = var("POD_NAME").or_else(|| var("HOSTNAME")) {
            resource_attributes.push(("k8s.pod.name".to_string(), pod));
        }
        if let Some(namespace) = var("POD_NAMESPACE") {
            resource_attributes.push(("k8s.namespace.name".to_string(), namespace));
        }
        if let Some(attributes) = var("OTEL_RESOURCE_ATTRIBUTES") {
            resource_attributes.extend(parse_resource_attributes(&attributes)?);
        }
        if let Some(name) = var("OTEL_SERVICE_NAME") {
            resource_attributes.push(("service.name".to_string(), name));
        }
        Ok(Some(Self {
            endpoint,
            protocol,
            sampler,
            resource_attributes,
        }))
    }

    /// The resource: our defaults (service.name, service.version, k8s.pod.name,
    /// k8s.namespace.name), then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, plus the
    /// SDK's `telemetry.sdk.*` attributes.
    pub fn resource(&self) -> Resource {
        Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build()
    }

    /// A tracer provider exporting to the configured OTLP endpoint: the SDK's batch span
    /// processor (5 s / 512 spans, `OTEL_BSP_*`) on its own thread, each export running on the
    /// current tokio runtime. Call inside a multi-thread tokio runtime.
    pub fn otlp_provider(&self) -> anyhow::Result<SdkTracerProvider> {
        use opentelemetry_otlp::{Protocol, WithExportConfig as _};
        let exporter = match self.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build(),
        }
        .map_err(|e| anyhow::anyhow!("building the OTLP span exporter: {e}"))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| anyhow::anyhow!("the OTLP exporter needs a tokio runtime: {e}"))?;
        Ok(SdkTracerProvider::builder()
            .with_resource(self.resource())
            .with_sampler(self.sampler.sampler())
            .with_batch_exporter(OnRuntime {
                exporter: Arc::new(exporter),
                runtime,
            })
            .build())
    }

    /// A tracer provider sending every span synchronously to `exporter` when it ends (tests).
    #[cfg(test)]
    pub fn provider_with_exporter<E: SpanExporter + 'static>(
        &self,
        exporter: E,
    ) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(self.resource())
            .with_sampler(self.sampler.sampler())
            .with_simple_exporter(exporter)
            .build()
    }
}

#[cfg(test)]
impl Default for TracingSettings {
    /// No endpoint, gRPC, `parentbased_always_on`, service.name and service.version only: for
    /// [`subscriber_with_exporter`].
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            sampler: SamplerSetting::ParentBasedAlwaysOn,
            resource_attributes: default_resource_attributes(),
        }
    }
}

fn default_resource_attributes() -> Vec<(String, String)> {
    vec![
        ("service.name".to_string(), DEFAULT_SERVICE_NAME.to_string()),
        (
            "service.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]
}

/// Runs each export on the tokio runtime. The SDK's batch processor polls exports on its own
/// thread, where neither reqwest's async client (OTLP/HTTP) nor tonic finds a reactor: the
/// export is spawned on the runtime and the processor thread waits for its result.
#[derive(Debug)]
struct OnRuntime<E> {
    exporter: Arc<E>,
    runtime: tokio::runtime::Handle,
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let exporter = Arc::clone(&self.exporter);
        let task = self
            .runtime
            .spawn(async move { exporter.export(batch).await });
        async move {
            task.await
                .map_err(|e| OTelSdkError::InternalFailure(format!("span export task: {e}")))?
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called while the provider is built, before any export holds a clone.
        if let Some(exporter) = Arc::get_mut(&mut self.exporter) {
            exporter.set_resource(resource);
        }
    }
}

/// `key=value,key=value`, values percent-decoded (W3C Baggage octet encoding).
fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>, TelemetryError> {
    s.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| TelemetryError::ResourceAttribute(entry.to_string()))?;
            Ok((key.trim().to_string(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Flushes and shuts the tracer provider down when dropped (keep it alive in `main`, inside the
/// runtime). Dropping blocks until the batch processor has exported the remaining spans (at
/// most the export timeout, `OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default); the export runs on
/// another runtime thread, so drop it on a multi-thread runtime.
#[must_use = "dropping the guard shuts tracing down"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported.
    #[cfg(test)]
    pub fn tracing_enabled(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "shutting the tracer provider down");
        }
    }
}

/// Installs the global subscriber (see the module docs), the W3C TraceContext propagator and,
/// when an OTLP endpoint is configured, the global tracer provider. Must run inside the tokio
/// runtime (the exporter and batch processor are spawned on it).
pub fn init(
    log_level: &str,
    format: Option<LogFormat>,
    settings: Option<TracingSettings>,
) -> anyhow::Result<TelemetryGuard> {
    let filter = log_filter(log_level, std::env::var("RUST_LOG").ok().as_deref())?;
    let format = format.unwrap_or_else(default_format);
    let provider = settings.as_ref().map(|s| s.otlp_provider()).transpose()?;
    tracing_subscriber::registry()
        .with(layers(filter, format, provider.as_ref(), std::io::stderr))
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if let (Some(provider), Some(settings)) = (&provider, &settings) {
        opentelemetry::global::set_tracer_provider(provider.clone());
        tracing::info!(
            endpoint = %settings.endpoint,
            protocol = ?settings.protocol,
            sampler = ?settings.sampler,
            "exporting traces over OTLP"
        );
    }
    Ok(TelemetryGuard { provider })
}

/// The same layer stack as [`init`], exporting spans synchronously to `exporter` and writing
/// log lines (filtered by `log_level`) to `log_writer`, for tests: install it with
/// `tracing::subscriber::with_default` or `set_default`, never globally. The guard shuts the
/// provider down.
#[cfg(test)]
pub fn subscriber_with_exporter<E, W>(
    exporter: E,
    settings: &TracingSettings,
    log_level: &str,
    format: LogFormat,
    log_writer: W,
) -> anyhow::Result<(impl Subscriber + Send + Sync + 'static, TelemetryGuard)>
where
    E: SpanExporter + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let provider = settings.provider_with_exporter(exporter);
    let subscriber = tracing_subscriber::registry().with(layers(
        EnvFilter::try_new(log_level)?,
        format,
        Some(&provider),
        log_writer,
    ));
    Ok((
        subscriber,
        TelemetryGuard {
            provider: Some(provider),
        },
    ))
}

/// The current span's trace id (32 hex digits), `None` outside an exported span or when traces
/// are off. Unsampled spans have a trace id too.
#[cfg(test)]
pub fn trace_id_of_current_span() -> Option<String> {
    current_ids().map(|(trace_id, _)| trace_id.to_string())
}

fn current_ids() -> Option<(TraceId, SpanId)> {
    // The OpenTelemetry layer attaches a span's context when the span is entered.
    let cx = Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
}

/// The exporter's endpoint must be a URL it can connect to; checked at start (and by
/// `--print-config`) instead of on the first export.
fn check_endpoint(var: &'static str, value: &str) -> Result<(), TelemetryError> {
    let refuse = || TelemetryError::Endpoint {
        var,
        value: value.to_string(),
    };
    let uri: http::Uri = value.trim().parse().map_err(|_| refuse())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if scheme_ok && host_ok {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// `RUST_LOG`, when set, wins over `LOG_LEVEL`.
fn log_filter(log_level: &str, rust_log: Option<&str>) -> anyhow::Result<EnvFilter> {
    Ok(match rust_log {
        Some(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(log_level)?,
    })
}

fn default_format() -> LogFormat {
    if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn otel_filter() -> Targets {
    Targets::new()
        .with_target("zen_watcher", Level::DEBUG)
        .with_target("kube_client", Level::DEBUG)
}

fn layers<W>(
    filter: EnvFilter,
    format: LogFormat,
    provider: Option<&SdkTracerProvider>,
    writer: W,
) -> Vec<BoxedLayer>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layers = Vec::with_capacity(2);
    if let Some(provider) = provider {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(INSTRUMENTATION_SCOPE))
                // Only the attributes zen-watcher sets: the layer's defaults add eight more
                // per span (code location, thread, target, busy/idle time), which cost a
                // quarter to a third of the tracing overhead per webhook request (BENCHMARKS.md).
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(otel_filter())
                .boxed(),
        );
    }
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    layers.push(match (format, provider.is_some()) {
        (LogFormat::Text, _) => fmt.with_filter(filter).boxed(),
        (LogFormat::Json, false) => fmt.json().flatten_event(true).with_filter(filter).boxed(),
        (LogFormat::Json, true) => fmt
            .json()
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .with_filter(filter)
            .boxed(),
    });
    layers
}

/// The JSON event format, plus `trace_id` and `span_id` first in the object when the event
/// happens inside an exported span. No extra buffer: the ids go in as the `{` passes by.
struct WithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match current_ids() {
            None => self.0.format_event(ctx, writer, event),
            Some(ids) => {
                let mut out = InsertAfterBrace {
                    out: &mut writer,
                    ids: Some(ids),
                };
                self.0.format_event(ctx, Writer::new(&mut out), event)
            }
        }
    }
}

struct InsertAfterBrace<'a, 'w> {
    out: &'a mut Writer<'w>,
    ids: Option<(TraceId, SpanId)>,
}

impl fmt::Write for InsertAfterBrace<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some((trace_id, span_id)) = self.ids.take()
            && let Some(rest) = s.strip_prefix('{')
        {
            write!(
                self.out,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\","
            )?;
            return self.out.write_str(rest);
        }
        self.out.write_str(s)
    }
}

#[cfg(test)]
mod tests;
