#![no_main]
//! trivy-operator reports: deserialise as a VulnerabilityReport and a
//! ClusterVulnerabilityReport, then `events_from_report`.

mod common;

use libfuzzer_sys::fuzz_target;
use zen_watcher_core::sources::trivy::{
    ClusterVulnerabilityReport, VulnerabilityReport, events_from_report,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = serde_json::from_slice::<VulnerabilityReport>(data) {
        let _ = events_from_report(&report, common::now());
    }
    if let Ok(report) = serde_json::from_slice::<ClusterVulnerabilityReport>(data) {
        let _ = events_from_report(&report, common::now());
    }
});
