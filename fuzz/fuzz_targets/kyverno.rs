#![no_main]
//! Policy reports: deserialise as a wgpolicyk8s.io PolicyReport and as an openreports.io
//! Report, then `events_from_report`.

mod common;

use libfuzzer_sys::fuzz_target;
use zen_watcher_core::sources::kyverno::{OpenReport, PolicyReport, events_from_report};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = serde_json::from_slice::<PolicyReport>(data) {
        let _ = events_from_report(&report, common::now());
    }
    if let Ok(report) = serde_json::from_slice::<OpenReport>(data) {
        let _ = events_from_report(&report, common::now());
    }
});
