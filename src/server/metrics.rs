//! What the HTTP layer counts: webhook requests answered, by endpoint and status code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The webhook path (`/falco/webhook`, `/audit/webhook` or an Ingester's), or `other`.
    pub endpoint: String,
    pub code: u16,
}

#[derive(Clone, Debug, Default)]
pub struct ServerMetrics {
    pub webhook_requests: Family<RequestLabels, Counter>,
}

impl ServerMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "webhook_requests",
            "Webhook requests answered, by endpoint and status code",
            metrics.webhook_requests.clone(),
        );
        metrics
    }

    /// One webhook request answered with `code` on `endpoint`.
    pub fn webhook_request(&self, endpoint: &str, code: u16) {
        self.webhook_requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                code,
            })
            .inc();
    }
}
