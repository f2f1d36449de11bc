#![no_main]
//! `admission::expr::Expression::parse`, and `matches` on a sample Falco event when it parses.

mod common;

use libfuzzer_sys::fuzz_target;
use zen_watcher_core::admission::expr::Expression;

fuzz_target!(|text: &str| {
    if let Ok(expression) = Expression::parse(text) {
        let _ = expression.matches(&common::SAMPLE_EVENT);
    }
});
