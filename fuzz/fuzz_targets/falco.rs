#![no_main]
//! `sources::falco::parse` on arbitrary webhook bodies.

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = zen_watcher::sources::falco::parse(data, common::now());
});
