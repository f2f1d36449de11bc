//! zen-watcher: turns security and operations signals into `Observation` resources.

pub mod app;
pub mod config;
pub mod crd;
pub mod event;
pub mod filter_watch;
pub mod gc;
pub mod informers;
pub mod ingest;
pub mod ingesters;
pub mod leader;
pub mod metrics;
pub mod pipeline;
pub mod server;
pub mod shutdown;
pub mod sources;
pub mod spans;
pub mod telemetry;
pub mod writer;
