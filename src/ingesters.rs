//! The Ingester orchestrator.
//!
//! - [`Orchestrator::run_routes`] (every replica): watches Ingesters in all namespaces and the
//!   Secrets their webhook auth names (re-read on each Ingester change and every
//!   [`Settings::secret_refresh`]), plans ([`plan::plan`]) and keeps the webhook
//!   [`RouteTable`] in sync. It signals readiness once the first complete list is routed, so a
//!   new replica never answers 404 for an Ingester path.
//! - [`Orchestrator::run_leader`] (the leader, per term): runs one dynamic watch per informer
//!   Ingester (restarted when its spec changes) and writes every Ingester's `status` from the
//!   latest plan, only when it changed.
//!
//! A bad Ingester only ever gets a status saying why; it never affects the others.

pub mod credentials;
pub mod events;
mod leading;
pub mod plan;
mod route_sync;
mod source;
pub mod status;
pub mod tenancy;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::informers::Findings;
use crate::server::RouteTable;

pub use plan::{IngesterKey, Plan};
pub use status::{ReadyCondition, Reason};

/// How often the Secrets of webhook auth are read again.
pub const SECRET_REFRESH: Duration = Duration::from_secs(60);
/// List page size of the Ingester and informer-source watches.
pub const INGESTER_LIST_PAGE_SIZE: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `CLUSTER_INGESTER_NAMESPACES`.
    pub cluster_ingester_namespaces: Vec<String>,
    pub secret_refresh: Duration,
    /// This replica's identity, the reporting instance of Ingester Events.
    pub identity: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            cluster_ingester_namespaces: config.cluster_ingester_namespaces.clone(),
            secret_refresh: SECRET_REFRESH,
            identity: config.identity.clone(),
        }
    }
}

pub struct Orchestrator {
    client: Client,
    routes: RouteTable,
    settings: Settings,
    /// Where informer sources' findings go (fenced by the leadership of the term).
    findings: Findings,
    /// The latest plan; `None` until the first complete Ingester list.
    plan: watch::Sender<Option<Arc<Plan>>>,
}

impl Orchestrator {
    /// `routes` is the server's table (`ServerState::routes()`), shared.
    pub fn new(client: Client, routes: RouteTable, settings: Settings, findings: Findings) -> Self {
        Self {
            client,
            routes,
            settings,
            findings,
            plan: watch::Sender::new(None),
        }
    }

    /// Every replica, until `shutdown`: keeps the route table in sync with the Ingesters and
    /// sends `true` on `ready` once the first complete list is routed.
    pub async fn run_routes(
        self: Arc<Self>,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        route_sync::run(&self, ready, shutdown).await;
    }

    /// The leader, for one term: informer sources and status writes until `term` is cancelled.
    /// Returns once every source has stopped.
    pub async fn run_leader(self: Arc<Self>, term: CancellationToken) {
        leading::run(self, term).await;
    }
}
