//! The accept loop shared by plain HTTP and HTTPS: every request carries a [`ConnInfo`]
//! extension (warp's own remote address is not set outside `warp::serve`). Shutdown stops
//! accepting, lets in-flight requests finish within the grace period, then drops the rest.

use std::net::SocketAddr;
use std::sync::Arc;
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
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::Filter;
use warp::reply::Response;

use super::conn::ConnInfo;

/// A client that has not finished the TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    local_addr: SocketAddr,
}

impl Listener {
    pub async fn bind(addr: SocketAddr, tls: Option<Arc<ServerConfig>>) -> std::io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        Ok(Self {
            tcp,
            tls: tls.map(TlsAcceptor::from),
            local_addr,
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
        let mut builder = Builder::new(TokioExecutor::new());
        // The timer makes hyper's default header read timeout effective.
        builder.http1().timer(TokioTimer::new());
        loop {
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
        let info = ConnInfo {
            remote: self.remote,
            client_cert,
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
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(info.clone());
            inner.call(request)
        });
        let connection = self.builder.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = self.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(remote = %self.remote, error = %err, "connection ended with an error");
        }
    }
}
