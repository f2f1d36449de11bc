//! From every Ingester (and the Secrets they name) to the desired webhook route table and
//! each Ingester's readiness (pure, deterministic: every replica plans the same).
//!
//! Webhook path conflicts go to the Ingester created first (then by namespace/name). They are
//! decided before credentials are looked at, so a Secret appearing or vanishing never moves a
//! path from one Ingester to another. What no Ingester may claim (a built-in source's name, a
//! forbidden resource, a tenant path outside its namespace's prefix) is refused before any
//! competition ([`super::reserved`]).

use crate::config::parse_duration;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use kube::ResourceExt;

use super::credentials::{self, AuthError, Secrets};
use super::status::{ReadyCondition, Reason};
use super::tenancy::{self, WatchScope};
use crate::admission::IngesterRules;
use crate::admission::filter::IngesterFilter;
use crate::crd::{Gvr, Ingester, IngesterKind, IngesterStatus, RESERVED_PATHS, WebhookSource};
use crate::reserved::{self, Refusal};
use crate::server::IngesterRoute;
use crate::sources::generic::GenericMapping;

/// An Ingester by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngesterKey {
    pub namespace: String,
    pub name: String,
}

impl IngesterKey {
    pub fn of(ingester: &Ingester) -> Option<Self> {
        Some(Self {
            namespace: ingester.metadata.namespace.clone()?,
            name: ingester.metadata.name.clone()?,
        })
    }
}

impl fmt::Display for IngesterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Which object and spec a plan describes: a change of either restarts an informer source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub uid: String,
    pub generation: Option<i64>,
}

/// What an informer Ingester's source needs.
#[derive(Clone, Debug)]
pub struct InformerPlan {
    pub gvr: Gvr,
    pub scope: WatchScope,
    /// Not in `CLUSTER_INGESTER_NAMESPACES`.
    pub tenant: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub mapping: GenericMapping,
    pub rules: IngesterRules,
}

/// One Ingester as planned.
#[derive(Clone, Debug)]
pub struct PlannedIngester {
    pub revision: Revision,
    /// The status as last read.
    pub status: IngesterStatus,
    /// Final for webhook and invalid Ingesters; for an informer source to start, a
    /// placeholder until the leader's source reports.
    pub readiness: ReadyCondition,
    pub informer: Option<InformerPlan>,
}

/// The desired routes and every Ingester's readiness.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub routes: BTreeMap<String, IngesterRoute>,
    pub ingesters: BTreeMap<IngesterKey, PlannedIngester>,
}

/// A webhook Ingester whose spec compiled, competing for its path.
struct Candidate<'a> {
    key: IngesterKey,
    ingester: &'a Ingester,
    webhook: &'a WebhookSource,
    mapping: GenericMapping,
    rules: IngesterRules,
}

/// Plans every Ingester. Objects without a namespace or name are skipped.
pub fn plan(ingesters: &[Ingester], secrets: &Secrets, cluster_namespaces: &[String]) -> Plan {
    let mut plan = Plan::default();
    let mut candidates = Vec::new();
    for ingester in ingesters {
        let Some(key) = IngesterKey::of(ingester) else {
            continue;
        };
        match ingester.spec.ingester {
            IngesterKind::Webhook => match webhook_candidate(&key, ingester, cluster_namespaces) {
                Ok(candidate) => candidates.push(candidate),
                Err(readiness) => insert(&mut plan, key, ingester, readiness, None),
            },
            IngesterKind::Informer => match informer_plan(&key, ingester, cluster_namespaces) {
                Ok(informer) => {
                    let waiting =
                        ReadyCondition::pending(Reason::Starting, "waiting for the leader");
                    insert(&mut plan, key, ingester, waiting, Some(informer));
                }
                Err(readiness) => insert(&mut plan, key, ingester, readiness, None),
            },
        }
    }
    candidates.sort_by(|a, b| creation_order(a.ingester, b.ingester));
    let mut claimed = BTreeMap::new();
    for candidate in candidates {
        route(&mut plan, &mut claimed, candidate, secrets);
    }
    plan
}

fn insert(
    plan: &mut Plan,
    key: IngesterKey,
    ingester: &Ingester,
    readiness: ReadyCondition,
    informer: Option<InformerPlan>,
) {
    let planned = PlannedIngester {
        revision: Revision {
            uid: ingester.uid().unwrap_or_default(),
            generation: ingester.metadata.generation,
        },
        status: ingester.status.clone().unwrap_or_default(),
        readiness,
        informer,
    };
    plan.ingesters.insert(key, planned);
}

/// Oldest first; ties (and missing timestamps) by namespace, then name.
pub fn creation_order(a: &Ingester, b: &Ingester) -> Ordering {
    let created = |i: &Ingester| i.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.namespace.cmp(&b.metadata.namespace))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Gives `candidate` its path unless an older Ingester claimed it, then resolves credentials.
/// `claimed` holds every path's winner, routed or not (a winner whose Secret is missing keeps
/// its path).
fn route(
    plan: &mut Plan,
    claimed: &mut BTreeMap<String, IngesterKey>,
    candidate: Candidate<'_>,
    secrets: &Secrets,
) {
    let path = candidate.webhook.path.clone();
    let readiness = match claimed.entry(path.clone()) {
        Entry::Occupied(holder) => ReadyCondition::conflict(format!(
            "webhook path {path} is already served by Ingester {}",
            holder.get()
        )),
        Entry::Vacant(slot) => {
            slot.insert(candidate.key.clone());
            let namespace = &candidate.key.namespace;
            match credentials::resolve_auth(namespace, candidate.webhook.auth.as_ref(), secrets) {
                Ok(auth) => {
                    plan.routes.insert(
                        path.clone(),
                        IngesterRoute {
                            namespace: candidate.key.namespace.clone(),
                            name: candidate.key.name.clone(),
                            mapping: candidate.mapping,
                            rules: candidate.rules,
                            auth,
                        },
                    );
                    ReadyCondition::active(Reason::Routed, format!("serving webhook path {path}"))
                }
                Err(err) => auth_readiness(&path, &err),
            }
        }
    };
    insert(plan, candidate.key, candidate.ingester, readiness, None);
}

fn auth_readiness(path: &str, err: &AuthError) -> ReadyCondition {
    let reason = match err {
        AuthError::NoSecretName { .. } => Reason::InvalidSpec,
        _ => Reason::SecretMissing,
    };
    ReadyCondition::error(reason, format!("webhook path {path} is not served: {err}"))
}

fn webhook_candidate<'a>(
    key: &IngesterKey,
    ingester: &'a Ingester,
    cluster_namespaces: &[String],
) -> Result<Candidate<'a>, ReadyCondition> {
    let webhook = ingester.spec.webhook.as_ref().ok_or_else(|| {
        ReadyCondition::error(
            Reason::InvalidSpec,
            "a webhook Ingester needs spec.webhook.path",
        )
    })?;
    check_path(&webhook.path)?;
    if !tenancy::is_cluster_namespace(&key.namespace, cluster_namespaces) {
        reserved::check_tenant_path(&key.namespace, &webhook.path).map_err(refused)?;
    }
    let (mapping, rules) = compile(key, ingester)?;
    Ok(Candidate {
        key: key.clone(),
        ingester,
        webhook,
        mapping,
        rules,
    })
}

/// The CRD refuses these too; checked again in case it is an older CRD.
pub fn check_path(path: &str) -> Result<(), ReadyCondition> {
    if RESERVED_PATHS.contains(&path) {
        return Err(ReadyCondition::error(
            Reason::ReservedPath,
            format!("webhook path {path:?} is reserved by zen-watcher"),
        ));
    }
    if !path.starts_with('/') {
        return Err(ReadyCondition::error(
            Reason::InvalidSpec,
            format!("webhook path {path:?} must start with '/'"),
        ));
    }
    Ok(())
}

fn informer_plan(
    key: &IngesterKey,
    ingester: &Ingester,
    cluster_namespaces: &[String],
) -> Result<InformerPlan, ReadyCondition> {
    let informer = ingester.spec.informer.as_ref();
    let gvr = informer.and_then(|i| i.gvr.clone()).ok_or_else(|| {
        ReadyCondition::error(
            Reason::InvalidSpec,
            "an informer Ingester needs spec.informer.gvr",
        )
    })?;
    reserved::check_gvr(&gvr).map_err(refused)?;
    let requested = informer.and_then(|i| i.namespace.as_deref());
    let scope = tenancy::watch_scope(&key.namespace, requested, cluster_namespaces)
        .map_err(|e| ReadyCondition::error(Reason::NotAllowedNamespace, e.to_string()))?;
    let (mapping, rules) = compile(key, ingester)?;
    let selector = |s: Option<&String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(InformerPlan {
        gvr,
        scope,
        tenant: !tenancy::is_cluster_namespace(&key.namespace, cluster_namespaces),
        label_selector: selector(informer.and_then(|i| i.label_selector.as_ref())),
        field_selector: selector(informer.and_then(|i| i.field_selector.as_ref())),
        mapping,
        rules,
    })
}

fn refused(refusal: Refusal) -> ReadyCondition {
    let reason = match refusal {
        Refusal::ReservedSource { .. } => Reason::ReservedSource,
        Refusal::ForbiddenResource { .. } => Reason::ForbiddenResource,
        Refusal::PathOutsideNamespace { .. } => Reason::PathOutsideNamespace,
    };
    ReadyCondition::error(reason, refusal.to_string())
}

/// Normalisation, filters and dedup settings, compiled; errors as an InvalidSpec readiness.
fn compile(
    key: &IngesterKey,
    ingester: &Ingester,
) -> Result<(GenericMapping, IngesterRules), ReadyCondition> {
    let invalid = |message: String| ReadyCondition::error(Reason::InvalidSpec, message);
    let spec = &ingester.spec;
    reserved::check_source(&spec.source).map_err(refused)?;
    let mapping = GenericMapping::compile(&key.namespace, &key.name, spec)
        .map_err(|e| invalid(e.to_string()))?;
    let filter = spec
        .filters
        .as_ref()
        .map(IngesterFilter::compile)
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let dedup = spec.deduplication.clone().unwrap_or_default();
    let dedup_window = dedup
        .window
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| invalid(format!("spec.deduplication.window: {e}")))?;
    let rules = IngesterRules {
        filter,
        dedup_enabled: dedup.enabled.unwrap_or(true),
        dedup_window,
    };
    Ok((mapping, rules))
}
