//! What tracing costs per event: normalise + filter + dedup (with a full 10k-entry dedup cache)
//! inside the event's span, with the span exported through OpenTelemetry (sampler always_on)
//! and with tracing off, side by side. It lives with the spans it measures; the pure steps
//! alone are in `core/benches/admission.rs`. Run: `cargo bench --bench tracing`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use zen_watcher::admission::filter::FilterConfig;
use zen_watcher::admission::{Admission, Dedup, IdentityKey, ObservationRef, Settled};
use zen_watcher::event::{Delivery, EventKind};
use zen_watcher::sources::falco;

const ALERT: &str = r#"{"rule":"Terminal shell in container","priority":"Critical","time":"2026-11-26T10:00:00Z",
 "output":"A shell was spawned","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-1","container.name":"web"}}"#;

/// A cache already holding 10k written fingerprints, as in steady state.
fn full_admission() -> Admission<()> {
    let mut admission = Admission::new(
        NonZeroUsize::new(10_000).unwrap(),
        Duration::from_secs(3600),
    );
    let filter = FilterConfig::default();
    let now = Instant::now();
    for i in 0..10_000 {
        let body = ALERT.replace("web-1", &format!("web-{i}"));
        let event = falco::parse(body.as_bytes(), "2026-11-26T10:00:00Z".parse().unwrap())
            .unwrap()
            .remove(0);
        if let Ok(Dedup::New(ticket)) = admission.admit(&filter, &event, None, now, || ()) {
            let settled = Settled {
                observation: ObservationRef {
                    namespace: "shop".into(),
                    name: zen_watcher::observation::name_of(&event),
                },
                delivery: None,
            };
            admission.settle(&IdentityKey::of(&event), ticket, Some(settled));
        }
    }
    admission
}

/// What the webhook path does for a repeated alert: parse, filter, dedup (suppressed), and
/// keep its delivery for the next flush of occurrence counts.
fn normalise_filter_dedup(admission: &mut Admission<()>, filter: &FilterConfig) -> bool {
    let event = falco::parse(ALERT.as_bytes(), "2026-11-26T10:00:00Z".parse().unwrap())
        .unwrap()
        .remove(0);
    let span = zen_watcher::spans::event(&event.source, &event.fingerprint, None);
    let _entered = span.enter();
    let suppressed = matches!(
        admission.admit(filter, black_box(&event), None, Instant::now(), || ()),
        Ok(Dedup::Duplicate)
    );
    if let EventKind::Occurrence {
        delivery: Delivery::Id(delivery),
    } = event.kind
    {
        admission.recur(&IdentityKey::of(&event), delivery, event.detected_at);
    }
    suppressed
}

fn pipeline(c: &mut Criterion) {
    let filter = FilterConfig::default();
    let mut group = c.benchmark_group("normalise+filter+dedup");
    let mut admission = full_admission();
    group.bench_function("tracing off", |b| {
        b.iter(|| normalise_filter_dedup(&mut admission, &filter))
    });

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let mut admission = full_admission();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing on (always_on)", |b| {
            b.iter(|| {
                let verdict = normalise_filter_dedup(&mut admission, &filter);
                exporter.reset();
                verdict
            })
        });
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
