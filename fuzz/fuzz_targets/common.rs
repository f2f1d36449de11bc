//! Shared by the fuzz targets (`mod common;`): a fixed clock and a sample event.

#![allow(dead_code)] // not every target uses every helper

use std::sync::LazyLock;

use k8s_openapi::jiff::Timestamp;
use zen_watcher::event::Event;

/// A fixed "now" so runs are reproducible.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_795_687_200).expect("valid timestamp")
}

/// The event parsed from `tests/fixtures/falco/alert-critical.json`, for `matches`/`decide`.
pub static SAMPLE_EVENT: LazyLock<Event> = LazyLock::new(|| {
    let body = include_bytes!("../../tests/fixtures/falco/alert-critical.json");
    let mut events = zen_watcher::sources::falco::parse(body, now()).expect("fixture parses");
    events.remove(0)
});
