//! Which namespaces an informer Ingester may watch (pure). An Ingester in one of
//! `CLUSTER_INGESTER_NAMESPACES` may watch any namespace, or all of them; any other Ingester
//! (a tenant's) only its own.

use std::fmt;

/// Where an informer Ingester watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchScope {
    AllNamespaces,
    Namespace(String),
}

impl fmt::Display for WatchScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchScope::AllNamespaces => f.write_str("all namespaces"),
            WatchScope::Namespace(ns) => write!(f, "namespace {ns}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error(
        "Ingester in namespace {ingester} may only watch {ingester} \
         (CLUSTER_INGESTER_NAMESPACES lists the namespaces allowed to watch cluster-wide)"
    )]
    NotAllowedNamespace { ingester: String },
    #[error("{resource} is cluster-scoped: leave spec.informer.namespace empty to watch it")]
    ClusterScopedWithNamespace { resource: String },
}

/// Whether Ingesters in `namespace` may watch cluster-wide.
pub fn is_cluster_namespace(namespace: &str, cluster_namespaces: &[String]) -> bool {
    cluster_namespaces.iter().any(|n| n == namespace)
}

/// The scope an Ingester in `ingester_ns` asking for `requested` (`spec.informer.namespace`)
/// gets.
pub fn watch_scope(
    ingester_ns: &str,
    requested: Option<&str>,
    cluster_namespaces: &[String],
) -> Result<WatchScope, ScopeError> {
    let requested = requested.map(str::trim).filter(|n| !n.is_empty());
    if is_cluster_namespace(ingester_ns, cluster_namespaces) {
        return Ok(match requested {
            Some(ns) => WatchScope::Namespace(ns.to_string()),
            None => WatchScope::AllNamespaces,
        });
    }
    match requested {
        Some(ns) if ns != ingester_ns => Err(ScopeError::NotAllowedNamespace {
            ingester: ingester_ns.to_string(),
        }),
        _ => Ok(WatchScope::Namespace(ingester_ns.to_string())),
    }
}

/// Checks `scope` against the watched resource's scope (known after discovery): a
/// cluster-scoped resource can only be watched as a whole, which tenants may not.
pub fn check_resource_scope(
    scope: &WatchScope,
    namespaced: bool,
    tenant: bool,
    ingester_ns: &str,
    resource: &str,
) -> Result<(), ScopeError> {
    match scope {
        WatchScope::Namespace(_) if !namespaced && tenant => Err(ScopeError::NotAllowedNamespace {
            ingester: ingester_ns.to_string(),
        }),
        WatchScope::Namespace(_) if !namespaced => Err(ScopeError::ClusterScopedWithNamespace {
            resource: resource.to_string(),
        }),
        _ => Ok(()),
    }
}
