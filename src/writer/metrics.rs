//! What the write queues expose: how many events wait to be written, per queue.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::WriteQueue;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `webhook` or `informer`.
    pub queue: String,
}

#[derive(Clone, Debug, Default)]
pub struct QueueMetrics {
    pub write_queue_depth: Family<QueueLabels, Gauge>,
}

impl QueueMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "write_queue_depth",
            "Events waiting to be written",
            metrics.write_queue_depth.clone(),
        );
        metrics
    }

    pub fn queue_depth(&self, queue: &str, depth: usize) {
        self.write_queue_depth
            .get_or_create(&QueueLabels {
                queue: queue.into(),
            })
            .set(depth as i64);
    }

    /// Sets the gauge of each named queue from its current depth.
    pub fn refresh(&self, queues: &[(&str, &WriteQueue)]) {
        for (name, queue) in queues {
            self.queue_depth(name, queue.depth());
        }
    }
}
