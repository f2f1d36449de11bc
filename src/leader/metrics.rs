//! What leader election exposes: whether this replica leads, and how often that changed.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Default)]
pub struct LeaderMetrics {
    /// 1 while this replica holds the leader Lease, else 0.
    pub leader: Gauge,
    /// Times this replica became or stopped being leader.
    pub leader_transitions: Counter,
}

impl LeaderMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease, else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "leader_transitions",
            "Times this replica became or stopped being leader",
            metrics.leader_transitions.clone(),
        );
        metrics
    }
}
