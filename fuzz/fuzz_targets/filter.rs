#![no_main]
//! `admission::filter::FilterConfig::from_json`, and `decide` on a sample Falco event when it
//! compiles.

mod common;

use libfuzzer_sys::fuzz_target;
use zen_watcher_core::admission::filter::FilterConfig;

fuzz_target!(|text: &str| {
    if let Ok(config) = FilterConfig::from_json(text) {
        let _ = config.decide(&common::SAMPLE_EVENT, None);
    }
});
