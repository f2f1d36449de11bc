use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::*;

fn status(ready: Option<(bool, &str, &str)>, generation: i64) -> IngesterStatus {
    IngesterStatus {
        observed_generation: Some(generation),
        conditions: ready
            .map(|(ready, reason, message)| Condition {
                type_: READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: reason.into(),
                message: message.into(),
                observed_generation: Some(generation),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            })
            .into_iter()
            .collect(),
        ..IngesterStatus::default()
    }
}

fn kind(event: Option<Event>) -> Option<(EventType, String, String)> {
    event.map(|e| (e.type_, e.action, e.reason))
}

#[test]
fn a_first_ready_condition_is_accepted_and_a_refusal_is_a_warning() {
    let routed = status(Some((true, "Routed", "serving webhook path /a")), 1);
    let e = ready_event(&status(None, 1), &routed).unwrap();
    assert_eq!(e.type_, EventType::Normal);
    assert_eq!(
        (e.action.as_str(), e.reason.as_str()),
        ("Accepted", "Routed")
    );
    assert_eq!(e.note.as_deref(), Some("serving webhook path /a"));

    let refused = status(Some((false, "PathConflict", "taken by b")), 2);
    assert_eq!(
        kind(ready_event(&routed, &refused)),
        Some((EventType::Warning, "Refused".into(), "PathConflict".into()))
    );
    assert_eq!(
        kind(ready_event(&refused, &routed)),
        Some((EventType::Normal, "Accepted".into(), "Routed".into()))
    );
}

#[test]
fn a_new_generation_that_stays_ready_is_changed() {
    let before = status(Some((true, "Routed", "serving webhook path /a")), 1);
    let after = status(Some((true, "Routed", "serving webhook path /b")), 2);
    assert_eq!(
        kind(ready_event(&before, &after)),
        Some((EventType::Normal, "Changed".into(), "Routed".into()))
    );
}

#[test]
fn rewriting_the_same_state_records_nothing() {
    let ready = status(Some((true, "Watching", "watching pods")), 3);
    assert!(ready_event(&ready, &ready).is_none());
    let failing = status(Some((false, "Forbidden", "cannot list pods")), 3);
    assert!(ready_event(&failing, &failing).is_none());
    // A different refusal is a new Warning.
    let other = status(Some((false, "ApiNotServed", "no such API")), 3);
    assert!(ready_event(&failing, &other).is_some());
    // No Ready condition written: nothing to say.
    assert!(ready_event(&ready, &status(None, 3)).is_none());
}
