#![no_main]
//! Ingester-declared sources (`sources::generic`): the input is run as a webhook payload
//! (`events_from_payload`) and as an informer object (`event_from_object`) through a few fixed
//! mappings of a tenant Ingester `ops/fuzz`; when it also reads as an `IngesterSpec`,
//! `GenericMapping::compile` runs on it. Invariants: every event is placed where the apiserver
//! takes it and in the tenant's namespace (`common::check_placement`), carries its Ingester,
//! and the same input through the same mapping of another Ingester (`ops/twin`) never shares
//! its identity.

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zen_watcher_core::crd::IngesterSpec;
use zen_watcher_core::event::Event;
use zen_watcher_core::sources::generic::GenericMapping;

fn compile(spec: Value) -> (GenericMapping, GenericMapping) {
    let spec: IngesterSpec = serde_json::from_value(spec).expect("valid IngesterSpec");
    (
        GenericMapping::compile("ops", "fuzz", &spec).expect("spec compiles"),
        GenericMapping::compile("ops", "twin", &spec).expect("spec compiles"),
    )
}

fn check(event: &Event, twin: Option<&Event>) {
    common::check_placement(event);
    let ingester = event
        .ingester
        .as_ref()
        .expect("an Ingester's event names it");
    assert_eq!(
        (ingester.namespace.as_str(), ingester.name.as_str()),
        ("ops", "fuzz")
    );
    if let Some(twin) = twin {
        assert_ne!(
            twin.fingerprint, event.fingerprint,
            "two Ingesters share an identity"
        );
    }
}

static MAPPINGS: LazyLock<Vec<(GenericMapping, GenericMapping)>> = LazyLock::new(|| {
    vec![
        // Defaults only: whole payload as details, content fingerprint.
        compile(json!({"source": "alerts", "ingester": "webhook", "webhook": {"path": "/a"}})),
        // Every normalisation knob.
        compile(json!({
            "source": "argo-rollouts",
            "ingester": "informer",
            "informer": {"gvr": {"group": "argoproj.io", "version": "v1alpha1", "resource": "rollouts"}},
            "ttl": "12h",
            "deduplication": {"fields": ["labels.alertname", "status", "metadata.uid"]},
            "normalization": {
                "category": "performance",
                "eventType": "rollout_degraded",
                "severityField": "labels.severity",
                "severityMap": {"P1": "critical", "warn": "medium"},
                "fieldMapping": [
                    {"from": "status.phase", "to": "phase"},
                    {"from": "metadata.annotations.rollout.argoproj.io/revision", "to": "revision"},
                    {"from": "annotations.summary", "to": "summary"}
                ],
                "resource": {
                    "apiVersion": "spec.workloadRef.apiVersion",
                    "kind": "spec.workloadRef.kind",
                    "name": "labels.pod",
                    "namespace": "labels.namespace"
                }
            }
        })),
    ]
});

fuzz_target!(|data: &[u8]| {
    for (mapping, twin) in MAPPINGS.iter() {
        if let Ok(events) = mapping.events_from_payload(data, common::now()) {
            let twins = twin
                .events_from_payload(data, common::now())
                .expect("same mapping");
            for (event, other) in events.iter().zip(&twins) {
                check(event, Some(other));
            }
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for (mapping, twin) in MAPPINGS.iter() {
        if let Ok(event) = mapping.event_from_object(&value, common::now()) {
            let other = twin
                .event_from_object(&value, common::now())
                .expect("same mapping");
            check(&event, Some(&other));
        }
    }
    if let Ok(spec) = serde_json::from_value::<IngesterSpec>(value) {
        let _ = GenericMapping::compile("ops", "fuzz", &spec);
    }
});
