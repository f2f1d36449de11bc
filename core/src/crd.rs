//! The CustomResourceDefinitions zen-watcher owns. This module is the only place their schema is
//! written: `crd-gen` prints it, the chart renders it, the writer and orchestrator use the types.

mod common;
mod ingester;
mod observation;

pub use common::{Category, ResourceRef, Severity};
pub use ingester::{
    Deduplication, Destination, DestinationType, DestinationValue, FieldMapping, Gvr,
    InformerSource, Ingester, IngesterFilters, IngesterKind, IngesterSpec, IngesterState,
    IngesterStatus, Normalization, RESERVED_PATHS, ResourcePaths, WebhookAuth, WebhookAuthType,
    WebhookSource,
};
pub use observation::{Observation, ObservationSpec, ObservationStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt;

/// The API group of every zen-watcher resource.
pub const GROUP: &str = "zen.kube-zen.io";
/// The only served (and storage) version.
pub const VERSION: &str = "v1alpha1";

/// Maximum length of a `source`: `<source>-<16 hex>` then stays within the 63 characters of a
/// label value and a DNS-1123 label.
pub const SOURCE_MAX_LEN: usize = 40;
const _: () = assert!(
    SOURCE_MAX_LEN + 1 + 16 <= 63,
    "<source>-<hash> must fit a label value"
);
/// A DNS-1123 label: what `source` must look like so it is a valid name prefix and label value.
pub const SOURCE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Every CRD zen-watcher installs, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![Observation::crd(), Ingester::crd()]
}

/// Each CRD as `(file name, YAML document)`, the file named after the CRD's plural.
pub fn yaml_documents() -> Result<Vec<(String, String)>, serde_saphyr::SerializeError> {
    all()
        .iter()
        .map(|crd| {
            let yaml = serde_saphyr::to_string(crd)?;
            Ok((format!("{}.yaml", crd.spec.names.plural), yaml))
        })
        .collect()
}

/// Joins documents into one multi-document YAML stream.
pub fn join_documents(documents: &[(String, String)]) -> String {
    documents
        .iter()
        .map(|(_, yaml)| format!("---\n{yaml}"))
        .collect()
}

#[cfg(test)]
mod tests;
