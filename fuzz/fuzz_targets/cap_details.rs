#![no_main]
//! `writer::observation::cap_details` on arbitrary JSON objects. Invariant: for any
//! `max >= 1024` the capped map serialises to at most `max` bytes.

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use zen_watcher_core::observation::cap_details;

fn json_len(map: &Map<String, Value>) -> usize {
    serde_json::to_vec(map)
        .expect("a Map always serialises")
        .len()
}

fuzz_target!(|data: &[u8]| {
    let Ok(details) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let full = json_len(&details);
    // Fixed limits plus limits relative to the input, so truncation is always exercised.
    let limits = [1024, 1500, 4096, full / 2, full.saturating_sub(1), full];
    for max in limits.into_iter().filter(|&max| max >= 1024) {
        let capped = cap_details(&details, max);
        let len = json_len(&capped);
        assert!(
            len <= max,
            "cap_details(max = {max}) produced {len} bytes (input {full} bytes)"
        );
    }
});
