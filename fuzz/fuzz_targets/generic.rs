#![no_main]
//! Ingester-declared sources (`sources::generic`): the input is run as a webhook payload
//! (`events_from_payload`) and as an informer object (`event_from_object`) through a few fixed
//! mappings; when it also reads as an `IngesterSpec`, `GenericMapping::compile` runs on it.

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use zen_watcher::crd::IngesterSpec;
use zen_watcher::sources::generic::GenericMapping;

fn compile(spec: Value) -> GenericMapping {
    let spec: IngesterSpec = serde_json::from_value(spec).expect("valid IngesterSpec");
    GenericMapping::compile("ops", "fuzz", &spec).expect("spec compiles")
}

static MAPPINGS: LazyLock<Vec<GenericMapping>> = LazyLock::new(|| {
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
    for mapping in MAPPINGS.iter() {
        let _ = mapping.events_from_payload(data, common::now());
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for mapping in MAPPINGS.iter() {
        let _ = mapping.event_from_object(&value, common::now());
    }
    if let Ok(spec) = serde_json::from_value::<IngesterSpec>(value) {
        let _ = GenericMapping::compile("ops", "fuzz", &spec);
    }
});
