//! What no Ingester may claim (pure): the built-in sources' names, resources whose contents
//! would leak credentials or let an Ingester feed on Observations, and (for tenants) webhook
//! paths outside their namespace's prefix. Checked when an Ingester is planned, on every
//! replica, whatever RBAC allows; the CRD refuses the source names too.

use crate::crd::Gvr;

/// The built-in sources; an Ingester's `spec.source` may not be one of them.
pub const RESERVED_SOURCES: [&str; 4] = ["falco", "audit", "kyverno", "trivy"];

/// Every webhook path of a tenant Ingester (one outside `CLUSTER_INGESTER_NAMESPACES`) starts
/// with `/ingest/<its namespace>/`.
pub const TENANT_PATH_PREFIX: &str = "/ingest/";

/// Group and resource an informer Ingester may never watch: Secrets and token-bearing or
/// token-checking APIs (their objects would be copied into Observations anyone with read on
/// Observations can see), and zen-watcher's own kinds (an Ingester on Observations feeds on
/// its own writes).
const FORBIDDEN_RESOURCES: [(&str, &str); 8] = [
    ("", "secrets"),
    ("", "serviceaccounts/token"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
];
const OWN_GROUP: &str = "zen.kube-zen.io";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "spec.source {name:?} is reserved for zen-watcher's built-in source; choose another name"
    )]
    ReservedSource { name: String },
    #[error("{resource} may not be watched by an Ingester: {why}")]
    ForbiddenResource { resource: String, why: &'static str },
    #[error(
        "webhook path {path:?} is outside this namespace's prefix: an Ingester in namespace \
         {namespace} serves paths under {prefix} (CLUSTER_INGESTER_NAMESPACES lists the \
         namespaces whose Ingesters may take any path)"
    )]
    PathOutsideNamespace {
        path: String,
        namespace: String,
        prefix: String,
    },
}

/// Refuses a built-in source's name.
pub fn check_source(source: &str) -> Result<(), Refusal> {
    if RESERVED_SOURCES.contains(&source.trim().to_ascii_lowercase().as_str()) {
        return Err(Refusal::ReservedSource {
            name: source.to_string(),
        });
    }
    Ok(())
}

/// Refuses the resources in [`FORBIDDEN_RESOURCES`] and zen-watcher's own group. Compared
/// without case or surrounding space, so no spelling slips through discovery.
pub fn check_gvr(gvr: &Gvr) -> Result<(), Refusal> {
    let group = gvr.group.trim().to_ascii_lowercase();
    let resource = gvr.resource.trim().to_ascii_lowercase();
    let shown = || {
        if group.is_empty() {
            resource.clone()
        } else {
            format!("{resource}.{group}")
        }
    };
    if group == OWN_GROUP {
        return Err(Refusal::ForbiddenResource {
            resource: shown(),
            why: "zen-watcher's own resources cannot be a source",
        });
    }
    // A subresource (`serviceaccounts/token`) is judged with its parent's rules too.
    let base = resource.split('/').next().unwrap_or_default();
    if FORBIDDEN_RESOURCES
        .iter()
        .any(|(g, r)| *g == group && (*r == resource || *r == base))
    {
        return Err(Refusal::ForbiddenResource {
            resource: shown(),
            why: "its objects carry or check credentials",
        });
    }
    Ok(())
}

/// The path prefix of tenant Ingesters in `namespace`.
pub fn tenant_prefix(namespace: &str) -> String {
    format!("{TENANT_PATH_PREFIX}{namespace}/")
}

/// A tenant's path must lie under its namespace's prefix (and name something below it).
pub fn check_tenant_path(namespace: &str, path: &str) -> Result<(), Refusal> {
    let prefix = tenant_prefix(namespace);
    match path.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() && !rest.split('/').any(|s| s == ".." || s == ".") => Ok(()),
        _ => Err(Refusal::PathOutsideNamespace {
            path: path.to_string(),
            namespace: namespace.to_string(),
            prefix,
        }),
    }
}

#[cfg(test)]
mod tests;
