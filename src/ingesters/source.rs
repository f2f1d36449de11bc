//! One informer Ingester's source (leader only): discovery of its GVR, a dynamic watch in its
//! scope, each applied object through the pipeline, each deleted object's finding resolved.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::INGESTER_LIST_PAGE_SIZE;
use super::plan::{InformerPlan, IngesterKey, Revision};
use super::status::{ReadyCondition, Reason};
use super::tenancy::{self, WatchScope};
use crate::admission::IngesterRules;
use crate::crd::Gvr;
use crate::event::Event;
use crate::informers::Findings;
use crate::informers::discovery::{DISCOVERY_INTERVAL, Discovered, discover};
use crate::informers::watch::{self, Watched};

/// A source's readiness, for the leader to write.
#[derive(Clone, Debug)]
pub(super) struct SourceReport {
    pub key: IngesterKey,
    pub revision: Revision,
    pub readiness: ReadyCondition,
}

/// `group/version/resource`, or `version/resource` for the core API.
pub fn gvr_text(gvr: &Gvr) -> String {
    if gvr.group.is_empty() {
        format!("{}/{}", gvr.version, gvr.resource)
    } else {
        format!("{}/{}/{}", gvr.group, gvr.version, gvr.resource)
    }
}

/// The readiness a discovery result (or a watch error's HTTP status) means; `None` when the
/// source can run.
pub fn discovery_readiness(discovered: &Discovered, gvr: &Gvr) -> Option<ReadyCondition> {
    match discovered {
        Discovered::NotServed => Some(not_served(gvr)),
        Discovered::NotWatchable => Some(ReadyCondition::error(
            Reason::InvalidSpec,
            format!("{} cannot be listed and watched", gvr_text(gvr)),
        )),
        Discovered::Found { .. } => None,
    }
}

fn not_served(gvr: &Gvr) -> ReadyCondition {
    ReadyCondition::error(
        Reason::ApiNotServed,
        format!(
            "the API group/version/resource is not served: {}",
            gvr_text(gvr)
        ),
    )
}

/// The readiness a failed list or watch with HTTP `code` means, if it says anything.
pub fn watch_failure_readiness(code: u16, gvr: &Gvr, scope: &WatchScope) -> Option<ReadyCondition> {
    match code {
        403 => Some(ReadyCondition::error(
            Reason::Forbidden,
            forbidden_message(gvr, scope),
        )),
        404 => Some(not_served(gvr)),
        _ => None,
    }
}

/// Names the RBAC rule the watcher lacks.
pub fn forbidden_message(gvr: &Gvr, scope: &WatchScope) -> String {
    let resource = if gvr.group.is_empty() {
        gvr.resource.clone()
    } else {
        format!("{}/{}", gvr.group, gvr.resource)
    };
    let place = match scope {
        WatchScope::AllNamespaces => String::new(),
        WatchScope::Namespace(ns) => format!(" in namespace {ns}"),
    };
    format!(
        "the watcher may not list {resource}{place}: grant get, list, watch on it \
         (chart value rbac.extraReadResources)"
    )
}

/// The message of a running watch.
pub fn watching_message(plan: &InformerPlan) -> String {
    let mut message = format!("watching {} in {}", gvr_text(&plan.gvr), plan.scope);
    if let Some(labels) = &plan.label_selector {
        message.push_str(&format!(", labels {labels:?}"));
    }
    if let Some(fields) = &plan.field_selector {
        message.push_str(&format!(", fields {fields:?}"));
    }
    message
}

/// The HTTP status of a failed list or watch.
fn failure_code(err: &watcher::Error) -> Option<u16> {
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.code),
        watcher::Error::WatchError(status) => Some(status.code),
        _ => None,
    }
}

/// A running source.
pub(super) struct Source {
    pub key: IngesterKey,
    pub revision: Revision,
    pub plan: InformerPlan,
    pub client: Client,
    pub findings: Findings,
    pub reports: mpsc::UnboundedSender<SourceReport>,
}

impl Source {
    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.discover_and_watch() => {}
        }
    }

    async fn discover_and_watch(&self) {
        let (api, resource) = loop {
            match self.api().await {
                Ok(found) => break found,
                Err(readiness) => self.report(readiness),
            }
            tokio::time::sleep(DISCOVERY_INTERVAL).await;
        };
        let mut config = watcher::Config::default().page_size(INGESTER_LIST_PAGE_SIZE);
        if let Some(labels) = &self.plan.label_selector {
            config = config.labels(labels);
        }
        if let Some(fields) = &self.plan.field_selector {
            config = config.fields(fields);
        }
        let watched = IngesterWatch {
            source: self,
            watch_id: self.plan.mapping.ingester().id().to_string(),
            resource: resource.clone(),
        };
        watch::run(&watched, api, config, &self.findings).await;
    }

    fn report(&self, readiness: ReadyCondition) {
        let _ = self.reports.send(SourceReport {
            key: self.key.clone(),
            revision: self.revision.clone(),
            readiness,
        });
    }

    /// The Api to watch, once discovery finds the GVR and its scope is allowed.
    async fn api(&self) -> Result<(Api<DynamicObject>, ApiResource), ReadyCondition> {
        let gvr = &self.plan.gvr;
        let discovered = discover(&self.client, gvr).await.map_err(|err| {
            ReadyCondition::pending(
                Reason::Starting,
                format!("discovery of {} failed: {err}", gvr_text(gvr)),
            )
        })?;
        if let Some(readiness) = discovery_readiness(&discovered, gvr) {
            return Err(readiness);
        }
        let Discovered::Found {
            resource,
            namespaced,
        } = discovered
        else {
            return Err(not_served(gvr));
        };
        tenancy::check_resource_scope(
            &self.plan.scope,
            namespaced,
            self.plan.tenant,
            &self.key.namespace,
            &gvr_text(gvr),
        )
        .map_err(|e| {
            let reason = match e {
                tenancy::ScopeError::NotAllowedNamespace { .. } => Reason::NotAllowedNamespace,
                tenancy::ScopeError::ClusterScopedWithNamespace { .. } => Reason::InvalidSpec,
            };
            ReadyCondition::error(reason, e.to_string())
        })?;
        let client = self.client.clone();
        let api = match (&self.plan.scope, namespaced) {
            (WatchScope::Namespace(ns), true) => Api::namespaced_with(client, ns, &resource),
            _ => Api::all_with(client, &resource),
        };
        Ok((api, resource))
    }
}

/// An informer Ingester as a source of findings.
struct IngesterWatch<'a> {
    source: &'a Source,
    watch_id: String,
    resource: ApiResource,
}

impl Watched for IngesterWatch<'_> {
    type Object = DynamicObject;

    fn watch_id(&self) -> &str {
        &self.watch_id
    }

    fn kind(&self) -> &str {
        &self.resource.kind
    }

    fn findings(&self, object: &DynamicObject) -> Vec<Event> {
        let value = object_value(object, &self.resource);
        match self
            .source
            .plan
            .mapping
            .event_from_object(&value, Timestamp::now())
        {
            Ok(event) => vec![event],
            Err(err) => {
                tracing::warn!(ingester = %self.source.key, object = %object.name_any(), error = %err, "object not turned into an event (no finding)");
                Vec::new()
            }
        }
    }

    fn rules(&self) -> Option<&IngesterRules> {
        Some(&self.source.plan.rules)
    }

    fn listed(&self, _objects: usize) {
        self.source.report(ReadyCondition::active(
            Reason::Watching,
            watching_message(&self.source.plan),
        ));
    }

    fn failed(&self, err: &watcher::Error) {
        tracing::warn!(ingester = %self.source.key, error = %err, "Ingester informer watch error");
        let plan = &self.source.plan;
        let readiness = failure_code(err)
            .and_then(|code| watch_failure_readiness(code, &plan.gvr, &plan.scope));
        if let Some(readiness) = readiness {
            self.source.report(readiness);
        }
    }
}

/// The object as JSON with `apiVersion` and `kind`, which list items of built-in APIs lack.
pub fn object_value(object: &DynamicObject, resource: &ApiResource) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind.clone()));
    }
    value
}
