//! Events -> Observations in the apiserver: building the object (pure), writing it, and the
//! bounded queues that feed writes from webhooks and informers.

pub mod apiserver;
pub mod cap;
pub mod observation;
pub mod queue;

pub use apiserver::{RetryPolicy, Stored, WriteError, Writer, Written};
pub use cap::SourceCap;
pub use observation::{ObservationSettings, build, name_of, observation_name};
pub use queue::{Fence, QueueFull, Settle, Submission, WriteQueue};
