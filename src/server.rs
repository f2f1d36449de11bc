//! The HTTP server: webhooks (Falco, audit, Ingester paths) on `WATCHER_PORT`, probes and
//! metrics on `METRICS_PORT` (and on the webhook port while it is plain HTTP).

mod auth;
mod client_addr;
pub mod client_names;
mod conn;
mod file_stamp;
mod handlers;
mod listener;
mod metrics;
mod rate_limit;
mod ready_flag;
mod reply;
mod routes;
mod sink;
mod tls;
mod token_file;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use conn::ConnInfo;
pub use handlers::{AUDIT_PATH, FALCO_PATH, Serves, filter};
pub use metrics::{RequestLabels, ServerMetrics};
pub use ready_flag::ReadyFlag;
pub use routes::{IngesterAuth, IngesterRoute, RouteError, RouteTable};
pub use sink::{EventSink, PipelineSink, SinkFuture};
pub use tls::TlsError;

use crate::config::Config;
use crate::metrics::Exposition;
use crate::sources::audit;
use auth::Auth;
use listener::Listener;
use rate_limit::RateLimiter;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("reading WEBHOOK_AUTH_TOKEN_FILE {}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("webhook TLS")]
    Tls(#[from] TlsError),
    #[error("binding the {port} port {addr}")]
    Bind {
        port: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Request body limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_request_bytes: u64,
    pub audit_max_request_bytes: u64,
    /// `WEBHOOK_REQUEST_TIMEOUT`: past it a webhook request is answered 503.
    pub request_timeout: Duration,
    /// `SERVER_BODY_READ_TIMEOUT`: a body not received by then is answered 408.
    pub body_read_timeout: Duration,
}

/// Everything the handlers share.
pub struct ServerState {
    ingest: Arc<dyn EventSink>,
    routes: RouteTable,
    readiness: ReadyFlag,
    metrics: ServerMetrics,
    exposition: Arc<Exposition>,
    audit_identity: audit::SelfIdentity,
    auth: Auth,
    limits: Limits,
    limiter: RateLimiter,
}

impl ServerState {
    /// Reads the token file (if any) once: a missing file fails start-up. `exposition` is
    /// what `/metrics` serves; `metrics` is this layer's own (registered in it).
    pub fn new(
        config: &Config,
        ingest: Arc<dyn EventSink>,
        metrics: ServerMetrics,
        exposition: Arc<Exposition>,
        audit_identity: audit::SelfIdentity,
    ) -> Result<Self, ServerError> {
        let auth = Auth::from_config(config).map_err(|source| ServerError::TokenFile {
            path: config.webhook_auth_token_file.clone().unwrap_or_default(),
            source,
        })?;
        Ok(Self {
            ingest,
            routes: RouteTable::new(),
            readiness: ReadyFlag::new(),
            metrics,
            exposition,
            audit_identity,
            auth,
            limits: Limits {
                max_request_bytes: config.max_request_bytes,
                audit_max_request_bytes: config.audit_max_request_bytes,
                request_timeout: config.webhook_request_timeout,
                body_read_timeout: config.server_connections.body_read_timeout,
            },
            limiter: RateLimiter::new(config.webhook_rate_limit),
        })
    }

    /// The Ingester route table (a shared handle).
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The `/readyz` flag (a shared handle).
    pub fn readiness(&self) -> &ReadyFlag {
        &self.readiness
    }
}

/// Both listeners, bound and not yet serving.
pub struct Servers {
    webhook: Listener,
    metrics: Listener,
    state: Arc<ServerState>,
}

/// Binds `WATCHER_PORT` (HTTPS when TLS files are configured) and `METRICS_PORT` on `host`.
pub async fn bind(
    config: &Config,
    host: IpAddr,
    state: Arc<ServerState>,
) -> Result<Servers, ServerError> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let limits = config.server_connections;
    let bind = |port: &'static str, number: u16, tls| async move {
        let addr = SocketAddr::new(host, number);
        Listener::bind(addr, tls, limits)
            .await
            .map_err(|source| ServerError::Bind { port, addr, source })
    };
    let webhook = bind("webhook", config.watcher_port, tls).await?;
    let metrics = bind("metrics", config.metrics_port, None).await?;
    tracing::info!(
        webhook = %webhook.local_addr(),
        tls = webhook.is_tls(),
        metrics = %metrics.local_addr(),
        "HTTP server listening"
    );
    Ok(Servers {
        webhook,
        metrics,
        state,
    })
}

impl Servers {
    pub fn webhook_addr(&self) -> SocketAddr {
        self.webhook.local_addr()
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests for up to `grace`.
    pub async fn serve(self, shutdown: CancellationToken, grace: Duration) {
        let webhook_serves = Serves {
            webhooks: true,
            health: !self.webhook.is_tls(),
        };
        let metrics_serves = Serves {
            webhooks: false,
            health: true,
        };
        let webhook = self.webhook.serve(
            filter(self.state.clone(), webhook_serves),
            shutdown.clone(),
            grace,
        );
        let metrics = self
            .metrics
            .serve(filter(self.state, metrics_serves), shutdown, grace);
        tokio::join!(webhook, metrics);
    }
}
