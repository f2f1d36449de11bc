//! Events -> Observations in the apiserver.

pub mod observation;

pub use observation::{ObservationSettings, build, observation_name};
