//! Events -> Observations in the apiserver: building the object (pure), writing it, and the
//! bounded queues that feed writes from webhooks and informers.

pub mod apiserver;
pub mod cap;
pub mod observation;
pub mod queue;

pub use apiserver::{RetryPolicy, WriteError, Writer, Written};
pub use cap::SourceCap;
pub use observation::{ObservationSettings, build, observation_name};
pub use queue::{QueueFull, WriteQueue};
