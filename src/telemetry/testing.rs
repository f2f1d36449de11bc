//! An in-memory span exporter for tests (unit and integration), which also keeps the resource
//! the provider hands it: use it with [`super::subscriber_with_exporter`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Clones share the same storage: keep one, give another to the provider.
#[derive(Debug, Clone, Default)]
pub struct SpanCapture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Debug, Default)]
struct Captured {
    spans: Vec<SpanData>,
    resource: Option<Resource>,
}

impl SpanCapture {
    pub fn new() -> Self {
        Self::default()
    }

    /// The spans exported so far (a span is exported when it closes).
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().spans.clone()
    }

    /// The provider's resource, once the provider is built.
    pub fn resource(&self) -> Option<Resource> {
        self.lock().resource.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SpanExporter for SpanCapture {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.lock().spans.extend(batch);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.lock().resource = Some(resource.clone());
    }
}
