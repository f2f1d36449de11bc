//! Pure functions from a received payload or a watched object to normalised [`Event`]s, one
//! module per source. Nothing here does I/O; what is dropped by default is the filter's job.
//!
//! [`Event`]: crate::event::Event

pub mod audit;
pub mod falco;
pub mod generic;
pub mod kyverno;
pub mod trivy;

/// Why a payload could not be turned into events. The message names the offending field.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl SourceError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        SourceError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Encodes fingerprint parts as a JSON array: unambiguous (`["a|b","c"]` and `["a","b|c"]`
/// never collide, whatever the parts contain) and readable on the Observation.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    serde_json::to_string(parts).unwrap_or_else(|_| parts.join("\n"))
}

/// Parses an RFC 3339 timestamp (any precision), naming `field` on failure.
pub(crate) fn parse_time(
    field: &str,
    value: &str,
) -> Result<k8s_openapi::jiff::Timestamp, SourceError> {
    value
        .parse()
        .map_err(|e| SourceError::invalid(field, format!("{value:?} is not an RFC 3339 time: {e}")))
}
