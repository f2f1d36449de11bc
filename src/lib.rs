//! zen-watcher: turns security and operations signals into `Observation` resources.

pub mod config;
pub mod crd;
pub mod shutdown;
pub mod telemetry;
