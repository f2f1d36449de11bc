//! The `/readyz` flag: set by whoever loads the filter config and the first Ingester list,
//! cleared for good when shutdown starts. Never tied to leadership.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared handle: clones see the same flag.
#[derive(Clone, Debug, Default)]
pub struct ReadyFlag {
    inner: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    ready: AtomicBool,
    shutting_down: AtomicBool,
}

impl ReadyFlag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }

    /// Turns `/readyz` to 503 for the rest of the process's life, so endpoints are removed
    /// before the listeners close.
    pub fn shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
            && !self.inner.shutting_down.load(Ordering::Acquire)
    }
}
