//! Waiting for the signals that end the process.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM (Kubernetes stopping the pod) and SIGINT (Ctrl-C) handlers. Install them before
/// announcing readiness: a signal that arrives earlier would otherwise kill the process
/// without a clean shutdown.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves with the name of the first signal received.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
