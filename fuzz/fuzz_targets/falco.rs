#![no_main]
//! `sources::falco::parse` on arbitrary webhook bodies. Invariants of what it accepts: every
//! event is a Falco occurrence with an identity; a single-object body is one event whose
//! delivery is the body itself, and an array gives one event per element, each its own
//! delivery (so a re-sent body always counts once).

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zen_watcher_core::event::{Delivery, DeliveryId, EventKind};

fuzz_target!(|data: &[u8]| {
    let Ok(events) = zen_watcher_core::sources::falco::parse(data, common::now()) else {
        return;
    };
    for event in &events {
        common::check_placement(event);
        assert_eq!(event.source, "falco");
        assert!(!event.fingerprint.is_empty());
        assert!(matches!(
            event.kind,
            EventKind::Occurrence {
                delivery: Delivery::Id(_)
            }
        ));
    }
    let again =
        zen_watcher_core::sources::falco::parse(data, common::now()).expect("deterministic");
    assert_eq!(
        again, events,
        "the same body, the same events and deliveries"
    );
    // Beyond serde_json's nesting limit for a Value, nothing to compare with.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match value {
        Value::Object(_) => {
            assert_eq!(events.len(), 1);
            assert_eq!(
                events[0].kind,
                EventKind::delivered(DeliveryId::of_payload(data))
            );
        }
        Value::Array(items) => assert_eq!(events.len(), items.len()),
        other => panic!("accepted a body that is neither an object nor an array: {other}"),
    }
});
