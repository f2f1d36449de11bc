//! The one warp filter of a port: resolves the endpoint (fixed paths, then the Ingester route
//! table), then runs the thin handlers: auth, rate limit, body limit, parse, ingest, reply.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use warp::Filter;
use warp::path::FullPath;
use warp::reply::Response;

use super::ServerState;
use super::auth::Denial;
use super::client_names::WebhookKind;
use super::conn::ConnInfo;
use super::reply;
use super::routes::{IngesterAuth, IngesterRoute};
use tracing::Instrument;

use crate::pipeline::Outcome;
use crate::sources::{SourceError, audit, falco};
use crate::spans;

pub const FALCO_PATH: &str = "/falco/webhook";
pub const AUDIT_PATH: &str = "/audit/webhook";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How long a sender is asked to wait when events could not be written.
const RETRY_AFTER_UNWRITTEN: Duration = Duration::from_secs(1);

/// What a port serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serves {
    pub webhooks: bool,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub health: bool,
}

/// The whole HTTP surface of a port as one filter; every request ends in a response.
pub fn filter(
    state: Arc<ServerState>,
    serves: Serves,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ConnInfo>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: FullPath,
                  headers: HeaderMap,
                  conn: Option<ConnInfo>,
                  body| {
                let state = state.clone();
                async move {
                    let request = Request {
                        method,
                        path: path.as_str().to_string(),
                        headers,
                        conn,
                    };
                    handle(&state, serves, request, body).await
                }
            },
        )
        .recover(|rejection: warp::Rejection| async move {
            Ok::<_, Infallible>(reply::error(
                StatusCode::BAD_REQUEST,
                format!("unreadable request: {rejection:?}"),
            ))
        })
        .unify()
}

struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    conn: Option<ConnInfo>,
}

enum Endpoint {
    Health,
    Ready,
    Metrics,
    Webhook(Webhook),
}

enum Webhook {
    Falco,
    Audit,
    Ingester(Arc<IngesterRoute>),
}

fn resolve(state: &ServerState, serves: Serves, path: &str) -> Option<Endpoint> {
    match path {
        "/healthz" if serves.health => Some(Endpoint::Health),
        "/readyz" if serves.health => Some(Endpoint::Ready),
        "/metrics" if serves.health => Some(Endpoint::Metrics),
        FALCO_PATH if serves.webhooks => Some(Endpoint::Webhook(Webhook::Falco)),
        AUDIT_PATH if serves.webhooks => Some(Endpoint::Webhook(Webhook::Audit)),
        _ if serves.webhooks => state
            .routes
            .get(path)
            .map(|route| Endpoint::Webhook(Webhook::Ingester(route))),
        _ => None,
    }
}

async fn handle<S, B>(state: &ServerState, serves: Serves, request: Request, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let Some(endpoint) = resolve(state, serves, &request.path) else {
        return reply::error(
            StatusCode::NOT_FOUND,
            format!("nothing is served at {}", request.path),
        );
    };
    let probe = request.method == Method::GET || request.method == Method::HEAD;
    match endpoint {
        Endpoint::Webhook(hook) => {
            let span = spans::webhook(&request.path, &request.headers);
            let deadline = state.limits.request_timeout;
            let handled = tokio::time::timeout(deadline, webhook(state, &hook, &request, body))
                .instrument(span.clone())
                .await;
            // Past the deadline the events' writes go on and settle by themselves; the sender's
            // retry is answered by their outcome.
            let response = handled.unwrap_or_else(|_| {
                tracing::warn!(path = %request.path, ?deadline, "webhook request past its deadline");
                reply::retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "the request's events were not all written within WEBHOOK_REQUEST_TIMEOUT ({}s); retry later",
                        deadline.as_secs_f64()
                    ),
                    RETRY_AFTER_UNWRITTEN,
                )
            });
            let code = response.status().as_u16();
            span.record("http.response.status_code", code);
            if code >= 500 {
                spans::record_error(&span, "the request's events were not all written");
            }
            state.metrics.webhook_request(&request.path, code);
            response
        }
        _ if !probe => reply::method_not_allowed("GET, HEAD"),
        Endpoint::Health => reply::json(StatusCode::OK, &json!({ "status": "ok" })),
        Endpoint::Ready if state.readiness.is_ready() => {
            reply::json(StatusCode::OK, &json!({ "status": "ready" }))
        }
        Endpoint::Ready => reply::error(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        Endpoint::Metrics => reply::text(StatusCode::OK, OPENMETRICS, state.exposition.encode()),
    }
}

async fn webhook<S, B>(state: &ServerState, hook: &Webhook, request: &Request, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if request.method != Method::POST {
        return reply::method_not_allowed("POST");
    }
    let (route_auth, kind) = match hook {
        Webhook::Ingester(route) => (&route.auth, WebhookKind::Ingester),
        Webhook::Falco => (&IngesterAuth::None, WebhookKind::Falco),
        Webhook::Audit => (&IngesterAuth::None, WebhookKind::Audit),
    };
    if let Err(denial) = state
        .auth
        .check(request.conn.as_ref(), &request.headers, route_auth, kind)
    {
        tracing::debug!(path = %request.path, ?denial, "webhook request refused");
        return denied(denial);
    }
    if let Err(wait) = state.limiter.check(&request.path) {
        return reply::retry_later(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded", wait);
    }
    let limit = match hook {
        Webhook::Audit => state.limits.audit_max_request_bytes,
        _ => state.limits.max_request_bytes,
    };
    let read = read_body(&request.headers, body, limit);
    let body = match tokio::time::timeout(state.limits.body_read_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response,
        Err(_) => {
            tracing::debug!(path = %request.path, "webhook body not received within SERVER_BODY_READ_TIMEOUT");
            return reply::error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body was not received within SERVER_BODY_READ_TIMEOUT ({}s)",
                    state.limits.body_read_timeout.as_secs_f64()
                ),
            );
        }
    };
    let normalise = tracing::debug_span!("normalise", zen.events = tracing::field::Empty);
    let parsed = match parse(state, hook, body).instrument(normalise.clone()).await {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::debug!(path = %request.path, error = %err, "webhook payload refused");
            spans::record_error(&normalise, &err.to_string());
            return reply::error(StatusCode::BAD_REQUEST, err);
        }
    };
    normalise.record("zen.events", parsed.events.len());
    let rules = match hook {
        Webhook::Ingester(route) => Some(&route.rules),
        _ => None,
    };
    let outcome = state.ingest.ingest(parsed.events, rules).await;
    acknowledge(&request.path, &outcome, parsed.skipped)
}

struct Parsed {
    events: Vec<crate::event::Event>,
    /// Items the source itself dropped (audit items no rule matches).
    skipped: usize,
}

/// Audit bodies above this size are parsed on a blocking thread, so a large EventList never
/// holds up the runtime's workers.
const BLOCKING_PARSE_BYTES: usize = 64 * 1024;

async fn parse(state: &ServerState, hook: &Webhook, body: Bytes) -> Result<Parsed, SourceError> {
    let now = Timestamp::now();
    match hook {
        Webhook::Falco => Ok(Parsed {
            events: falco::parse(&body, now)?,
            skipped: 0,
        }),
        Webhook::Audit => {
            let batch = if body.len() > BLOCKING_PARSE_BYTES {
                let context = state.audit_identity.clone();
                let span = tracing::Span::current();
                tokio::task::spawn_blocking(move || span.in_scope(|| audit::parse(&body, &context)))
                    .await
                    .map_err(|e| SourceError::invalid("body", format!("parsing failed: {e}")))??
            } else {
                audit::parse(&body, &state.audit_identity)?
            };
            for skip in &batch.skipped {
                state.ingest.dropped_by_source(audit::SOURCE, skip.as_str());
            }
            if let Some((index, problem)) = batch.unreadable.first() {
                tracing::warn!(
                    unreadable = batch.unreadable.len(),
                    first = index,
                    problem = %problem,
                    "audit items skipped: they cannot be read as audit events (the rest of the batch is kept)"
                );
            }
            Ok(Parsed {
                events: batch.events,
                skipped: batch.skipped.len(),
            })
        }
        Webhook::Ingester(route) => Ok(Parsed {
            events: route.mapping.events_from_payload(&body, now)?,
            skipped: 0,
        }),
    }
}

fn denied(denial: Denial) -> Response {
    match denial {
        Denial::NotConfigured => reply::unauthorized(
            "webhook authentication is not configured: set WEBHOOK_AUTH_TOKEN or WEBHOOK_AUTH_TOKEN_FILE (bearer token), WEBHOOK_ALLOWED_IPS (client CIDRs) or WEBHOOK_TLS_CLIENT_CA_FILE (mTLS)",
            None,
        ),
        Denial::Credentials { challenge } => {
            reply::unauthorized("missing or invalid credentials", Some(challenge))
        }
        Denial::Certificate { kind } => reply::error(
            StatusCode::FORBIDDEN,
            format!(
                "the client certificate's names are not among those allowed on this endpoint (WEBHOOK_TLS_CLIENT_NAMES_{})",
                match kind {
                    WebhookKind::Falco => "FALCO",
                    WebhookKind::Audit => "AUDIT",
                    WebhookKind::Ingester => "INGESTERS",
                }
            ),
        ),
        Denial::Address { client } => reply::error(
            StatusCode::FORBIDDEN,
            match client {
                Some(ip) => format!("client address {ip} is not allowed"),
                None => "the client address cannot be determined".to_string(),
            },
        ),
    }
}

/// Reads the body, refusing with 413 as soon as it is known to exceed `limit`.
async fn read_body<S, B>(headers: &HeaderMap, body: S, limit: u64) -> Result<Bytes, Response>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let too_large = || {
        reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    // Room for the declared length at once: growing by doubling would hold up to twice the
    // body while copying.
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            reply::error(
                StatusCode::BAD_REQUEST,
                format!("reading the request body: {e}"),
            )
        })?;
        if (buf.len() + chunk.remaining()) as u64 > limit {
            return Err(too_large());
        }
        buf.put(chunk);
    }
    Ok(buf.freeze())
}

fn acknowledge(path: &str, outcome: &Outcome, skipped: usize) -> Response {
    if !outcome.acknowledged() {
        let message = if outcome.queue_full {
            "the write queue is full; retry later"
        } else {
            "some events could not be written; retry later"
        };
        tracing::warn!(
            path,
            retry = outcome.retry,
            queue_full = outcome.queue_full,
            "webhook request not acknowledged"
        );
        return reply::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            message,
            RETRY_AFTER_UNWRITTEN,
        );
    }
    reply::json(
        StatusCode::OK,
        &json!({
            "received": outcome.received + skipped,
            "written": outcome.written,
            "filtered": outcome.filtered + skipped,
            "duplicates": outcome.duplicates,
            "rejected": outcome.rejected,
        }),
    )
}
