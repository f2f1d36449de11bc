//! Request counts of the HTTP layer, exposed through `crate::metrics::Metrics`, which owns
//! and registers the family.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The webhook path (`/falco/webhook`, `/audit/webhook` or an Ingester's), or `other`.
    pub endpoint: String,
    pub code: u16,
}

#[derive(Clone, Debug, Default)]
pub struct RequestMetrics {
    /// `zen_watcher_webhook_requests_total{endpoint, code}`.
    pub requests: Family<RequestLabels, Counter>,
}

impl RequestMetrics {
    pub fn count(&self, endpoint: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                code,
            })
            .inc();
    }
}
