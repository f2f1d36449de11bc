//! Watched objects (leader only), in one place: API discovery, the report informers, the watch
//! loop every source of findings runs (report kinds and informer Ingesters alike), and the
//! [`Findings`] sink that alone writes findings, resolves vanished ones and checks the fence.
//! Findings are level-triggered: see docs/architecture.md, "Findings".

pub mod discovery;
pub mod findings;
pub mod reports;
pub mod watch;

pub use findings::{Applied, Findings};
pub use reports::run;
