#![no_main]
//! `sources::audit::parse` on arbitrary webhook bodies.

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zen_watcher::sources::audit;

static CONTEXT: LazyLock<audit::Context> = LazyLock::new(|| audit::Context {
    own_username: Some("system:serviceaccount:zen-system:zen-watcher".to_string()),
});

fuzz_target!(|data: &[u8]| {
    let _ = audit::parse(data, &CONTEXT);
});
