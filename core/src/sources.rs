//! Pure functions from a received payload or a watched object to normalised [`Event`]s, one
//! module per source. Nothing here does I/O; what is dropped by default is the filter's job.
//!
//! [`Event`]: crate::event::Event

pub mod audit;
pub mod falco;
pub mod generic;
pub mod kyverno;
pub mod trivy;

use serde_json::{Map, Value};

/// The static identity of a third-party report kind (PolicyReport, VulnerabilityReport, ...);
/// the report structs are generic over it so one struct serves the namespaced and the
/// cluster-scoped kind.
pub trait ReportKind {
    const GROUP: &'static str;
    const VERSION: &'static str;
    const KIND: &'static str;
    const PLURAL: &'static str;
    /// `NamespaceResourceScope` or `ClusterResourceScope`.
    type Scope;
}

/// The watch id of a report kind (`<plural>.<group>`): the `zen.kube-zen.io/origin-watch`
/// label of its findings.
pub fn report_watch<K: ReportKind>() -> String {
    format!("{}.{}", K::PLURAL, K::GROUP)
}

/// `kube::Resource` for a report struct `$ty<K: ReportKind>` with a `metadata` field.
macro_rules! report_resource {
    ($ty:ident) => {
        impl<K: $crate::sources::ReportKind> kube_core::Resource for $ty<K> {
            type DynamicType = ();
            type Scope = K::Scope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(K::KIND)
            }

            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(K::GROUP)
            }

            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(K::VERSION)
            }

            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(K::PLURAL)
            }

            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }

            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use report_resource;

/// Why a payload could not be turned into events. The message names the offending field.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl SourceError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
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

/// An optional string field, with `""` read as not given: it is Go's zero value for an unset
/// string in a Kubernetes report, and an empty Falco field says nothing either. A blank but
/// non-empty value is kept; fields that must not be blank check that themselves.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Inserts `value` as a string under `key`, unless [`non_empty`] says it is not given.
pub(crate) fn insert_text(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = non_empty(value) {
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests;
