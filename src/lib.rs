//! zen-watcher: turns security and operations signals into `Observation` resources.

pub mod config;
pub mod crd;
pub mod event;
pub mod gc;
pub mod informers;
pub mod ingest;
pub mod leader;
pub mod metrics;
pub mod pipeline;
pub mod server;
pub mod shutdown;
pub mod sources;
pub mod telemetry;
pub mod writer;
