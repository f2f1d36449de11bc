//! Micro-benchmarks of the pure core: expression evaluation, Falco parsing with its fingerprint,
//! and the Observation name. Run: `cargo bench -p zen-watcher-core --bench admission`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use zen_watcher_core::admission::expr::Expression;
use zen_watcher_core::observation::observation_name;
use zen_watcher_core::sources::falco;

const ALERT: &str = r#"{"rule":"Terminal shell in container","priority":"Critical","time":"2026-11-26T10:00:00Z",
 "output":"A shell was spawned","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-1","container.name":"web"}}"#;

fn expression(c: &mut Criterion) {
    let expr = Expression::parse(
        r#"severity >= "high" AND namespace NOT IN [kube-system, kube-public] AND details.output_fields.k8s.pod.name STARTS_WITH "web""#,
    )
    .unwrap();
    let event = falco::parse(ALERT.as_bytes(), "2026-11-26T10:00:00Z".parse().unwrap())
        .unwrap()
        .remove(0);
    c.bench_function("expression evaluation", |b| {
        b.iter(|| expr.matches(black_box(&event)))
    });
}

fn fingerprinting(c: &mut Criterion) {
    c.bench_function("falco parse + fingerprint", |b| {
        b.iter(|| {
            falco::parse(
                black_box(ALERT.as_bytes()),
                "2026-11-26T10:00:00Z".parse().unwrap(),
            )
        })
    });
    c.bench_function("observation name (sha256)", |b| {
        b.iter(|| {
            observation_name(
                "falco",
                black_box("[\"falco\",\"Terminal shell\",\"shop\",\"web-1\",\"web\"]"),
            )
        })
    });
}

criterion_group!(benches, expression, fingerprinting);
criterion_main!(benches);
