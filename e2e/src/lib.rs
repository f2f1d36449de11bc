//! Helpers for zen-watcher's end-to-end tests against a real kube-apiserver and etcd.
//!
//! `make e2e` starts the local control plane (e2e/controlplane) when none runs and sets
//! `KUBECONFIG` (admin), `ZEN_CONTROLPLANE_BIN` and `ZEN_WATCHER_BIN`. Without them every test
//! fails with a message saying how to start one: the suite never passes by skipping.

pub mod chart;
pub mod cluster;
pub mod controlplane;
pub mod crds;
pub mod http;
pub mod namespace;
pub mod node;
pub mod otelcol;
pub mod proxy;
pub mod replicas;
pub mod tokens;
pub mod wait;
pub mod watcher;

pub use cluster::{admin_client, admin_kubeconfig_path, client_from_kubeconfig};
pub use controlplane::ControlPlane;
pub use crds::{apply_crds, apply_report_crds, wait_established};
pub use namespace::TestNamespace;
pub use tokens::{kubeconfig_for_token, mint_token};
pub use wait::wait_until;
pub use watcher::{Signal, WatcherProcess};

/// Names a required environment variable or fails the test with how to set it.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: the e2e tests need a running control plane. Run them with `make e2e` \
             (it starts one), or `make cluster-up` and export what it prints."
        ),
    }
}

/// A short random suffix for names that must not collide between tests and runs.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n}", (nanos ^ std::process::id()) & 0xfffff)
}

/// Sends the watcher library's logs (in-process tests) to the test output; `RUST_LOG` filters
/// (default `zen_watcher=debug`). Captured by the test harness, so shown only on failure.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("zen_watcher=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
