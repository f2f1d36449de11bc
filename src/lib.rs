//! zen-watcher: turns security and operations signals into `Observation` resources.

// The pure core (a crate of its own, so nothing in it can do I/O), under the same names.
pub use zen_watcher_core::{admission, crd, event, observation, reserved, sources, units};

pub mod app;
pub mod config;
pub mod filter_watch;
pub mod gc;
pub mod informers;
pub mod ingesters;
pub mod leader;
pub mod metrics;
pub mod pipeline;
pub mod server;
pub mod shutdown;
pub mod spans;
pub mod telemetry;
pub mod writer;
