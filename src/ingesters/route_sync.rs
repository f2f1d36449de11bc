//! Every replica: the Ingester watch, the Secrets cache and the route table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::credentials::{SecretLookup, SecretRef, Secrets, secret_ref};
use super::plan::{IngesterKey, plan};
use super::{INGESTER_LIST_PAGE_SIZE, Orchestrator};
use crate::crd::{Ingester, IngesterKind};
use crate::server::{IngesterRoute, RouteTable};

/// What the route loop knows.
#[derive(Default)]
struct State {
    ingesters: BTreeMap<IngesterKey, Ingester>,
    /// Filled during a (re)list, swapped in when it is complete.
    relist: Option<BTreeMap<IngesterKey, Ingester>>,
    secrets: Secrets,
    listed: bool,
}

pub(super) async fn run(
    orchestrator: &Orchestrator,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let api: Api<Ingester> = Api::all(orchestrator.client.clone());
    let config = watcher::Config::default().page_size(INGESTER_LIST_PAGE_SIZE);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    // The first refresh is one period after start: the initial list reads every Secret itself.
    let period = orchestrator.settings.secret_refresh;
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = State::default();
    loop {
        let changed = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.next() => match event {
                Some(event) => on_event(orchestrator, &mut state, event).await,
                None => return,
            },
            _ = refresh.tick(), if state.listed => {
                refresh_all_secrets(&orchestrator.client, &mut state).await;
                true
            }
        };
        if changed && state.listed {
            publish(orchestrator, &state);
            ready.send_if_modified(|r| !std::mem::replace(r, true));
        }
    }
}

/// Applies one watch event; returns whether the Ingesters (or Secrets) changed.
async fn on_event(
    orchestrator: &Orchestrator,
    state: &mut State,
    event: Result<WatchEvent<Ingester>, watcher::Error>,
) -> bool {
    let client = &orchestrator.client;
    match event {
        Ok(WatchEvent::Init) => {
            state.relist = Some(BTreeMap::new());
            false
        }
        Ok(WatchEvent::InitApply(ingester)) => {
            if let (Some(relist), Some(key)) = (&mut state.relist, IngesterKey::of(&ingester)) {
                relist.insert(key, ingester);
            }
            false
        }
        Ok(WatchEvent::InitDone) => {
            state.ingesters = state.relist.take().unwrap_or_default();
            refresh_all_secrets(client, state).await;
            state.listed = true;
            true
        }
        Ok(WatchEvent::Apply(ingester)) => {
            // A status write (ours, after every event) leaves the spec's generation as it
            // was: the Secret is then re-read only by the periodic refresh.
            let same_spec = IngesterKey::of(&ingester)
                .and_then(|key| state.ingesters.get(&key))
                .is_some_and(|old| {
                    old.metadata.generation.is_some()
                        && old.metadata.generation == ingester.metadata.generation
                });
            if let Some(secret) = auth_secret(&ingester).filter(|_| !same_spec) {
                let previous = state.secrets.remove(&secret);
                let lookup = read_secret(client, &secret, previous).await;
                state.secrets.insert(secret, lookup);
            }
            if let Some(key) = IngesterKey::of(&ingester) {
                state.ingesters.insert(key, ingester);
            }
            true
        }
        Ok(WatchEvent::Delete(ingester)) => {
            if let Some(key) = IngesterKey::of(&ingester) {
                state.ingesters.remove(&key);
            }
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "Ingester watch error");
            false
        }
    }
}

/// Plans, applies the routes and shares the plan with the leader.
fn publish(orchestrator: &Orchestrator, state: &State) {
    let ingesters: Vec<Ingester> = state.ingesters.values().cloned().collect();
    let plan = plan(
        &ingesters,
        &state.secrets,
        &orchestrator.settings.cluster_ingester_namespaces,
    );
    apply_routes(&orchestrator.routes, &plan.routes);
    orchestrator.plan.send_replace(Some(Arc::new(plan)));
}

/// Makes `table` serve exactly `routes`.
fn apply_routes(table: &RouteTable, routes: &BTreeMap<String, IngesterRoute>) {
    let before: BTreeSet<String> = table.paths().into_iter().collect();
    for (path, route) in routes {
        if let Err(err) = table.set(path, route.clone()) {
            tracing::warn!(%path, error = %err, "webhook route refused");
        } else if !before.contains(path) {
            tracing::info!(%path, ingester = %format!("{}/{}", route.namespace, route.name), "webhook route added");
        }
    }
    for path in before.iter().filter(|p| !routes.contains_key(*p)) {
        table.remove(path);
        tracing::info!(%path, "webhook route removed");
    }
}

fn auth_secret(ingester: &Ingester) -> Option<SecretRef> {
    if ingester.spec.ingester != IngesterKind::Webhook {
        return None;
    }
    let namespace = ingester.metadata.namespace.as_deref()?;
    let auth = ingester.spec.webhook.as_ref()?.auth.as_ref();
    secret_ref(namespace, auth)
}

/// Reads every Secret an Ingester names; forgets the others.
async fn refresh_all_secrets(client: &Client, state: &mut State) {
    let wanted: BTreeSet<SecretRef> = state.ingesters.values().filter_map(auth_secret).collect();
    let mut secrets = Secrets::new();
    for secret in wanted {
        let previous = state.secrets.remove(&secret);
        let lookup = read_secret(client, &secret, previous).await;
        secrets.insert(secret, lookup);
    }
    state.secrets = secrets;
}

/// A failure that may pass keeps the previous read, so a blip never takes a route down.
async fn read_secret(
    client: &Client,
    secret: &SecretRef,
    previous: Option<SecretLookup>,
) -> SecretLookup {
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
    match api.get_opt(&secret.name).await {
        Ok(Some(found)) => SecretLookup::Found(
            found
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        ),
        Ok(None) => SecretLookup::Missing,
        Err(kube::Error::Api(status)) if status.code == 403 => SecretLookup::Unreadable(format!(
            "the watcher may not get Secrets in namespace {}",
            secret.namespace
        )),
        Err(err) => {
            tracing::warn!(%secret, error = %err, "reading a webhook auth Secret failed");
            previous.unwrap_or_else(|| SecretLookup::Unreadable(err.to_string()))
        }
    }
}
