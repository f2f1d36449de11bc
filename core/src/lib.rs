//! The pure core of zen-watcher (docs/architecture.md, "Module map"): everything between bytes
//! received and the Observation to write, without I/O. No tokio, no kube client, no HTTP: this
//! crate does not depend on them, so the compiler keeps it pure.

pub mod admission;
pub mod crd;
pub mod event;
pub mod observation;
pub mod reserved;
pub mod sources;
pub mod units;
