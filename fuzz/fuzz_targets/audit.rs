#![no_main]
//! `sources::audit::parse` on arbitrary webhook bodies. Invariants: a body that is an
//! EventList or Event object is never refused for what its items hold; every item is either an
//! event or a counted skip (nothing disappears uncounted); every unreadable item is listed with
//! its index; every event is an audit item identified by auditID + stage.

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zen_watcher_core::event::{Delivery, EventKind};
use zen_watcher_core::sources::audit::{self, Skip};

static CONTEXT: LazyLock<audit::SelfIdentity> = LazyLock::new(|| audit::SelfIdentity {
    own_username: Some("system:serviceaccount:zen-system:zen-watcher".to_string()),
});

/// How many items the body holds, when it is an envelope the parser must accept.
fn items(data: &[u8]) -> Option<usize> {
    // Only bodies within serde_json's default depth are compared (Value parsing has a limit).
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return None;
    };
    match (body.get("kind"), body.get("items")) {
        (Some(Value::String(kind)), _) if kind == "Event" => Some(1),
        (None | Some(Value::Null), Some(Value::Array(items))) => Some(items.len()),
        (Some(Value::String(kind)), Some(Value::Array(items))) if kind == "EventList" => {
            Some(items.len())
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = audit::parse(data, &CONTEXT);
    let expected = items(data);
    let batch = match parsed {
        Ok(batch) => batch,
        Err(err) => {
            // A repeated envelope key is refused (serde's struct rule); nothing else may be.
            let duplicate = err.to_string().contains("duplicate field");
            assert!(
                expected.is_none() || duplicate,
                "an envelope refused: {err}"
            );
            return;
        }
    };
    if let Some(items) = expected {
        assert_eq!(
            batch.events.len() + batch.skipped.len(),
            items,
            "every item accounted for"
        );
    }
    let unreadable = batch
        .skipped
        .iter()
        .filter(|s| **s == Skip::Unreadable)
        .count();
    assert_eq!(unreadable, batch.unreadable.len());
    for event in &batch.events {
        common::check_placement(event);
        assert_eq!(event.source, "audit");
        assert!(event.fingerprint.starts_with("[\"audit\","));
        assert_eq!(
            event.kind,
            EventKind::Occurrence {
                delivery: Delivery::Identity
            }
        );
    }
});
