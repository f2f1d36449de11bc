//! Which events are kept. Every event passes [`FilterConfig::decide`] before dedup and write.
//!
//! The rules come from `filter.json` (a ConfigMap key) laid over [`BUILT_IN_DEFAULTS`] field by
//! field, plus the `spec.filters` of the Ingester an event came through. What sources drop "by
//! default" lives here, not in the sources, so users can change it and every drop is counted
//! with its [`DropReason`].

mod config;
mod rules;

pub use config::{BUILT_IN_DEFAULTS, BuiltInDefault, DefaultRule, FilterConfig, FilterConfigError};
pub use rules::{Decision, DropReason, IngesterFilter, RuleScope};

#[cfg(test)]
mod tests;
