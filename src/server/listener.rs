//! The accept loop shared by plain HTTP and HTTPS: every request carries a [`ConnInfo`]
//! extension (warp's own remote address is not set outside `warp::serve`). Shutdown stops
//! accepting, lets in-flight requests finish within the grace period, then drops the rest.
//!
//! What a client can hold is bounded ([`ServerConnections`]): at most `max_connections`
//! connections are served at once (the next client waits in the kernel's accept queue until
//! one closes), request headers must arrive within `header_read_timeout` (HTTP/1; hyper also
//! runs that clock while a keep-alive connection waits for its next request), a connection
//! with no request in flight is closed after `idle_timeout`, and HTTP/2 clients must answer
//! keep-alive pings and may open at most `http2_max_concurrent_streams` streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Filter;
use warp::reply::Response;

use super::conn::ConnInfo;
use crate::config::ServerConnections;

/// A client that has not finished the TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often a connection checks whether it has been idle for `idle_timeout`.
const IDLE_CHECK: Duration = Duration::from_millis(250);

pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    local_addr: SocketAddr,
    limits: ServerConnections,
}

impl Listener {
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        limits: ServerConnections,
    ) -> std::io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        Ok(Self {
            tcp,
            tls: tls.map(TlsAcceptor::from),
            local_addr,
            limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub async fn serve<F>(self, filter: F, shutdown: CancellationToken, grace: Duration)
    where
        F: Filter<Extract = (Response,), Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let tracker = TaskTracker::new();
        let abort = CancellationToken::new();
        let limits = self.limits;
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(limits.http2_keepalive_interval)
            .keep_alive_timeout(limits.http2_keepalive_interval)
            .max_concurrent_streams(limits.http2_max_concurrent_streams);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        loop {
            let slot = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let (stream, remote) = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = self.tcp.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(addr = %self.local_addr, error = %err, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                remote,
                tls: self.tls.clone(),
                builder: builder.clone(),
                shutdown: shutdown.clone(),
                idle_timeout: limits.idle_timeout,
                _slot: slot,
            };
            let task = connection.run(stream, filter.clone());
            let abort = abort.clone();
            tracker.spawn(async move {
                tokio::select! {
                    () = task => {}
                    () = abort.cancelled() => {}
                }
            });
        }
        drop(self.tcp);
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(addr = %self.local_addr, open = tracker.len(), "shutdown grace period over; closing the remaining connections");
            abort.cancel();
            tracker.wait().await;
        }
        tracing::info!(addr = %self.local_addr, "listener closed");
    }
}

struct Connection {
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
    builder: Builder<TokioExecutor>,
    shutdown: CancellationToken,
    idle_timeout: Duration,
    /// Its place under `max_connections`, given back when the connection ends.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run<F>(self, stream: TcpStream, filter: F)
    where
        F: Filter<Extract = (Response,), Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let Some(acceptor) = self.tls.clone() else {
            let info = ConnInfo::plain(self.remote);
            return self.serve(TokioIo::new(stream), info, filter).await;
        };
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(remote = %self.remote, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(remote = %self.remote, "TLS handshake timed out");
                return;
            }
        };
        let client_cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| Arc::new(cert.clone().into_owned()));
        let client_names = client_cert
            .as_ref()
            .map(|cert| super::client_names::names(cert.as_ref()))
            .unwrap_or_default();
        let info = ConnInfo {
            remote: self.remote,
            client_cert,
            client_names: Arc::from(client_names),
        };
        self.serve(TokioIo::new(stream), info, filter).await;
    }

    async fn serve<I, F>(&self, io: I, info: ConnInfo, filter: F)
    where
        I: Read + Write + Unpin + Send + 'static,
        F: Filter<Extract = (Response,), Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let inner = TowerToHyperService::new(warp::service(filter));
        let activity = Arc::new(Activity::default());
        let service = {
            let activity = activity.clone();
            service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(info.clone());
                let busy = activity.start();
                let response = inner.call(request);
                async move {
                    let response = response.await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = self.builder.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let mut idle_check = tokio::time::interval(IDLE_CHECK);
        idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle_since = tokio::time::Instant::now();
        let mut seen = activity.started();
        let result = loop {
            tokio::select! {
                result = connection.as_mut() => break result,
                () = self.shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    break connection.as_mut().await;
                }
                _ = idle_check.tick() => {
                    let started = activity.started();
                    if activity.in_flight() > 0 || started != seen {
                        seen = started;
                        idle_since = tokio::time::Instant::now();
                    } else if idle_since.elapsed() >= self.idle_timeout {
                        tracing::debug!(remote = %self.remote, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        break connection.as_mut().await;
                    }
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(remote = %self.remote, error = %err, "connection ended with an error");
        }
    }
}

/// Requests in flight on one connection and how many have started, for the idle check.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    started: AtomicUsize,
}

/// One request in flight; dropped when its response is ready (or it was cancelled).
struct Busy(Arc<Activity>);

impl Activity {
    fn start(self: &Arc<Self>) -> Busy {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
