//! Events -> Observations in the apiserver: writing the object `crate::observation` builds, and the
//! bounded queues that feed writes from webhooks and informers.

pub mod apiserver;
pub mod cap;
pub mod metrics;
pub mod queue;

pub use apiserver::{RetryPolicy, Stored, WriteError, Writer, Written};
pub use cap::SourceCap;
pub use metrics::QueueMetrics;
pub use queue::{Fence, QueueFull, Settle, Submission, WriteQueue};
