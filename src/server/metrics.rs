//! The labels of the HTTP layer's request counts (`crate::metrics::Metrics::webhook_request`
//! counts them; `Metrics` owns and registers the family).

use prometheus_client::encoding::EncodeLabelSet;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The webhook path (`/falco/webhook`, `/audit/webhook` or an Ingester's), or `other`.
    pub endpoint: String,
    pub code: u16,
}
