//! The `/metrics` exposition (prefix `zen_watcher_`, the maintained prometheus-client crate).
//! Each component owns its metrics: it defines its families and their labels and registers
//! them into the one [`Registry`] at start (`app::register_metrics`). This module knows none of
//! them; it only names the registry and encodes it.

use prometheus_client::registry::Registry;

/// A registry with the project's metric prefix, for components to register into.
pub fn registry() -> Registry {
    Registry::with_prefix("zen_watcher")
}

/// The registry once every component has registered: what `/metrics` serves.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }

    /// The OpenMetrics text exposition of every registered metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Exposition {
    fn default() -> Self {
        Self::new(registry())
    }
}
