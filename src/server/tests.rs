//! The HTTP surface through `warp::test`, with a recording [`EventSink`] standing in for the
//! apiserver-backed pipeline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::admission::IngesterRules;
use crate::app::AppMetrics;
use crate::config::LoadOutcome;
use crate::crd::IngesterSpec;
use crate::event::Event;
use crate::pipeline::{Outcome, PipelineMetrics};
use crate::sources::generic::GenericMapping;

const FALCO: &str = r#"{"rule":"Shell","priority":"Critical","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-1"}}"#;
const AUDIT_EMPTY: &str = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#;

#[derive(Default)]
struct Recorder {
    /// (events, whether Ingester rules came along) per call.
    calls: Mutex<Vec<(Vec<Event>, bool)>>,
    answer: Mutex<Option<Outcome>>,
    /// Counts what the source dropped, as the pipeline would.
    metrics: PipelineMetrics,
}

impl EventSink for Recorder {
    fn ingest<'a>(
        &'a self,
        events: Vec<Event>,
        rules: Option<&'a IngesterRules>,
    ) -> SinkFuture<'a> {
        let received = events.len();
        let outcome = self.answer.lock().unwrap().clone().unwrap_or(Outcome {
            received,
            written: received,
            ..Default::default()
        });
        self.calls.lock().unwrap().push((events, rules.is_some()));
        Box::pin(async move { outcome })
    }

    fn dropped_by_source(&self, source: &str, reason: &str) {
        self.metrics.dropped_by_source(source, reason);
    }
}

struct Harness {
    state: Arc<ServerState>,
    recorder: Arc<Recorder>,
    metrics: Arc<Exposition>,
}

fn config(flags: &[&str]) -> Config {
    let mut args = vec!["zen-watcher", "--pod-name", "zw-0"];
    args.extend_from_slice(flags);
    match Config::load_from(args, Some("zen-system".into())).unwrap() {
        LoadOutcome::Run(config) => *config,
        other => panic!("unexpected {other:?}"),
    }
}

fn harness(flags: &[&str]) -> Harness {
    let (metrics, exposition) = AppMetrics::register();
    let recorder = Arc::new(Recorder {
        metrics: metrics.pipeline,
        ..Default::default()
    });
    let state = ServerState::new(
        &config(flags),
        recorder.clone(),
        metrics.server,
        exposition.clone(),
        audit::SelfIdentity::default(),
    )
    .unwrap();
    Harness {
        state: Arc::new(state),
        recorder,
        metrics: exposition,
    }
}

const WEBHOOK_PORT: Serves = Serves {
    webhooks: true,
    health: true,
};

fn peer(ip: &str) -> ConnInfo {
    ConnInfo::plain(SocketAddr::new(ip.parse().unwrap(), 40000))
}

impl Harness {
    async fn send(&self, request: warp::test::RequestBuilder) -> (u16, http::HeaderMap, Value) {
        self.send_to(WEBHOOK_PORT, request).await
    }

    async fn send_to(
        &self,
        serves: Serves,
        request: warp::test::RequestBuilder,
    ) -> (u16, http::HeaderMap, Value) {
        let response = request.reply(&filter(self.state.clone(), serves)).await;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), response.headers().clone(), body)
    }

    fn calls(&self) -> usize {
        self.recorder.calls.lock().unwrap().len()
    }
}

fn post(path: &str, body: &str) -> warp::test::RequestBuilder {
    warp::test::request()
        .method("POST")
        .path(path)
        .extension(peer("192.0.2.10"))
        .body(body)
}

fn with_token(request: warp::test::RequestBuilder, token: &str) -> warp::test::RequestBuilder {
    request.header("authorization", format!("Bearer {token}"))
}

fn route(auth: IngesterAuth, event_type: &str) -> IngesterRoute {
    let spec: IngesterSpec = serde_json::from_value(json!({
        "source": "argo",
        "ingester": "webhook",
        "webhook": {"path": "/hooks/argo"},
        "normalization": {"eventType": event_type},
    }))
    .unwrap();
    IngesterRoute {
        namespace: "team".into(),
        name: "argo".into(),
        mapping: GenericMapping::compile("team", "argo", &spec).unwrap(),
        rules: IngesterRules::default(),
        auth,
    }
}

#[tokio::test]
async fn without_any_auth_configured_webhooks_answer_401_saying_how_to_configure_it() {
    let h = harness(&[]);
    let (code, _, body) = h.send(post(FALCO_PATH, FALCO)).await;
    assert_eq!(code, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("WEBHOOK_AUTH_TOKEN")
    );
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn the_bearer_token_must_match() {
    let h = harness(&["--webhook-auth-token", "s3cret"]);
    let (code, headers, _) = h.send(post(FALCO_PATH, FALCO)).await;
    assert_eq!(code, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (code, _, _) = h.send(with_token(post(FALCO_PATH, FALCO), "wrong")).await;
    assert_eq!(code, 401);
    assert_eq!(h.calls(), 0);

    let (code, _, body) = h.send(with_token(post(FALCO_PATH, FALCO), "s3cret")).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        json!({"received": 1, "written": 1, "filtered": 0, "duplicates": 0, "rejected": 0})
    );
    let calls = h.recorder.calls.lock().unwrap();
    assert_eq!(calls[0].0[0].source, "falco");
    assert!(!calls[0].1, "Falco events carry no Ingester rules");
}

#[tokio::test]
async fn bodies_over_the_endpoint_limit_are_413_and_audit_has_its_own() {
    let h = harness(&[
        "--webhook-auth-token",
        "t",
        "--server-max-request-bytes",
        "200",
        "--audit-max-request-bytes",
        "4KiB",
    ]);
    let padded = |json: &str, len: usize| format!("{json}{}", " ".repeat(len - json.len()));
    let (code, _, body) = h
        .send(with_token(post(FALCO_PATH, &padded(FALCO, 201)), "t"))
        .await;
    assert_eq!(code, 413);
    assert!(body["error"].as_str().unwrap().contains("200 bytes"));
    let (code, _, _) = h
        .send(with_token(post(FALCO_PATH, &padded(FALCO, 200)), "t"))
        .await;
    assert_eq!(code, 200);
    let (code, _, body) = h
        .send(with_token(
            post(AUDIT_PATH, &padded(AUDIT_EMPTY, 3000)),
            "t",
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, _, _) = h
        .send(with_token(
            post(AUDIT_PATH, &padded(AUDIT_EMPTY, 5000)),
            "t",
        ))
        .await;
    assert_eq!(code, 413);
}

#[tokio::test]
async fn malformed_payloads_are_400_naming_the_problem() {
    let h = harness(&["--webhook-auth-token", "t"]);
    let (code, _, body) = h.send(with_token(post(FALCO_PATH, "{not json"), "t")).await;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    let (code, _, body) = h
        .send(with_token(post(FALCO_PATH, r#"{"rule":"x"}"#), "t"))
        .await;
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("priority"),
        "{body}"
    );
    let (code, _, body) = h
        .send(with_token(post(AUDIT_PATH, r#"{"kind":"Pod"}"#), "t"))
        .await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("kind"), "{body}");
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let h = harness(&["--webhook-auth-token", "t"]);
    let (code, _, body) = h.send(with_token(post("/nope", FALCO), "t")).await;
    assert_eq!(code, 404);
    assert!(body["error"].is_string());
    let (code, headers, body) = h
        .send(warp::test::request().method("GET").path(FALCO_PATH))
        .await;
    assert_eq!(code, 405);
    assert_eq!(headers["allow"], "POST");
    assert!(body["error"].is_string());
    let (code, headers, _) = h
        .send(warp::test::request().method("POST").path("/healthz"))
        .await;
    assert_eq!(code, 405);
    assert_eq!(headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn over_the_rate_limit_is_429_with_retry_after() {
    let h = harness(&["--webhook-auth-token", "t", "--webhook-rate-limit", "1"]);
    let (code, _, _) = h.send(with_token(post(FALCO_PATH, FALCO), "t")).await;
    assert_eq!(code, 200);
    let (code, headers, body) = h.send(with_token(post(FALCO_PATH, FALCO), "t")).await;
    assert_eq!(code, 429);
    assert_eq!(headers["retry-after"], "1");
    assert!(body["error"].is_string());
    let (code, _, _) = h.send(with_token(post(AUDIT_PATH, AUDIT_EMPTY), "t")).await;
    assert_eq!(code, 200, "each endpoint has its own bucket");
}

#[tokio::test]
async fn unwritten_events_are_503_with_retry_after() {
    let h = harness(&["--webhook-auth-token", "t"]);
    for outcome in [
        Outcome {
            received: 1,
            queue_full: true,
            retry: 1,
            ..Default::default()
        },
        Outcome {
            received: 1,
            retry: 1,
            ..Default::default()
        },
    ] {
        *h.recorder.answer.lock().unwrap() = Some(outcome);
        let (code, headers, body) = h.send(with_token(post(FALCO_PATH, FALCO), "t")).await;
        assert_eq!(code, 503);
        assert_eq!(headers["retry-after"], "1");
        assert!(body["error"].as_str().unwrap().contains("retry"));
    }
}

#[tokio::test]
async fn the_query_string_is_ignored() {
    let h = harness(&["--webhook-auth-token", "t"]);
    let (code, _, _) = h
        .send(with_token(
            post("/audit/webhook?timeout=30s", AUDIT_EMPTY),
            "t",
        ))
        .await;
    assert_eq!(code, 200);
    h.state
        .routes()
        .set("/hooks/argo", route(IngesterAuth::None, "deploy"))
        .unwrap();
    let (code, _, _) = h
        .send(with_token(post("/hooks/argo?x=1", r#"{"a":1}"#), "t"))
        .await;
    assert_eq!(code, 200);
}

#[test]
fn reserved_paths_cannot_be_routes() {
    let routes = RouteTable::new();
    for path in crate::crd::RESERVED_PATHS {
        assert_eq!(
            routes.set(path, route(IngesterAuth::None, "x")),
            Err(RouteError::Reserved(path.to_string()))
        );
    }
    assert!(matches!(
        routes.set("hooks", route(IngesterAuth::None, "x")),
        Err(RouteError::NotAbsolute(_))
    ));
    assert!(routes.paths().is_empty());
}

#[tokio::test]
async fn routes_added_changed_and_removed_at_run_time() {
    let h = harness(&["--webhook-auth-token", "t"]);
    let send = || h.send(with_token(post("/hooks/argo", r#"{"a":1}"#), "t"));
    assert_eq!(send().await.0, 404);

    h.state
        .routes()
        .set("/hooks/argo", route(IngesterAuth::None, "deploy_started"))
        .unwrap();
    assert_eq!(send().await.0, 200);
    h.state
        .routes()
        .set("/hooks/argo", route(IngesterAuth::None, "deploy_finished"))
        .unwrap();
    assert_eq!(send().await.0, 200);
    {
        let calls = h.recorder.calls.lock().unwrap();
        assert_eq!(calls[0].0[0].event_type, "deploy_started");
        assert_eq!(calls[1].0[0].event_type, "deploy_finished");
        assert!(calls[1].1, "Ingester events carry the Ingester's rules");
    }
    assert!(h.state.routes().remove("/hooks/argo"));
    assert_eq!(send().await.0, 404);
}

#[tokio::test]
async fn an_ingesters_own_credentials_replace_the_global_token() {
    let h = harness(&["--webhook-auth-token", "global"]);
    let routes = h.state.routes();
    routes
        .set(
            "/hooks/bearer",
            route(IngesterAuth::Bearer("own".into()), "x"),
        )
        .unwrap();
    routes
        .set(
            "/hooks/basic",
            route(
                IngesterAuth::Basic {
                    user: "argo".into(),
                    password: "pw".into(),
                },
                "x",
            ),
        )
        .unwrap();
    routes
        .set("/hooks/none", route(IngesterAuth::None, "x"))
        .unwrap();
    let basic = |user_pw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pw)
        )
    };
    let body = r#"{"a":1}"#;

    assert_eq!(
        h.send(with_token(post("/hooks/bearer", body), "own"))
            .await
            .0,
        200
    );
    assert_eq!(
        h.send(with_token(post("/hooks/bearer", body), "global"))
            .await
            .0,
        401
    );
    let (code, headers, _) = h
        .send(post("/hooks/basic", body).header("authorization", basic("argo:pw")))
        .await;
    assert_eq!(code, 200);
    assert!(headers.get("www-authenticate").is_none());
    let (code, headers, _) = h
        .send(post("/hooks/basic", body).header("authorization", basic("argo:nope")))
        .await;
    assert_eq!(code, 401);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"zen-watcher\"");
    assert_eq!(
        h.send(with_token(post("/hooks/basic", body), "global"))
            .await
            .0,
        401
    );
    // `type: none` is the global auth, never open.
    assert_eq!(h.send(post("/hooks/none", body)).await.0, 401);
    assert_eq!(
        h.send(with_token(post("/hooks/none", body), "global"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_ingesters_own_credentials_work_without_global_auth() {
    let h = harness(&[]);
    h.state
        .routes()
        .set(
            "/hooks/bearer",
            route(IngesterAuth::Bearer("own".into()), "x"),
        )
        .unwrap();
    assert_eq!(
        h.send(with_token(post("/hooks/bearer", "{}"), "own"))
            .await
            .0,
        200
    );
    assert_eq!(h.send(post("/hooks/bearer", "{}")).await.0, 401);
}

#[tokio::test]
async fn the_allowlist_sees_through_trusted_proxies_only() {
    let h = harness(&[
        "--webhook-allowed-ips",
        "192.0.2.0/24",
        "--server-trusted-proxy-cidrs",
        "10.0.0.0/8",
    ]);
    let from = |peer_ip: &str, xff: Option<&str>| {
        let mut request = warp::test::request()
            .method("POST")
            .path(FALCO_PATH)
            .extension(peer(peer_ip))
            .body(FALCO);
        if let Some(xff) = xff {
            request = request.header("x-forwarded-for", xff);
        }
        request
    };
    assert_eq!(h.send(from("192.0.2.5", None)).await.0, 200);
    assert_eq!(h.send(from("198.51.100.5", None)).await.0, 403);
    // Through a trusted proxy, the right-most untrusted forwarded hop is the client.
    assert_eq!(h.send(from("10.1.2.3", Some("192.0.2.5"))).await.0, 200);
    assert_eq!(
        h.send(from("10.1.2.3", Some("192.0.2.5, 198.51.100.5")))
            .await
            .0,
        403
    );
    assert_eq!(
        h.send(from("10.1.2.3", Some("198.51.100.5, 192.0.2.5, 10.9.9.9")))
            .await
            .0,
        200
    );
    // An untrusted client cannot forge its address.
    assert_eq!(h.send(from("198.51.100.5", Some("192.0.2.5"))).await.0, 403);
    // Without a connection address nothing can pass an allowlist.
    let (code, _, body) = h
        .send(
            warp::test::request()
                .method("POST")
                .path(FALCO_PATH)
                .body(FALCO),
        )
        .await;
    assert_eq!(code, 403);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn token_and_allowlist_must_both_pass() {
    let h = harness(&[
        "--webhook-auth-token",
        "t",
        "--webhook-allowed-ips",
        "192.0.2.0/24",
    ]);
    assert_eq!(
        h.send(with_token(post(FALCO_PATH, FALCO), "t")).await.0,
        200
    );
    assert_eq!(h.send(post(FALCO_PATH, FALCO)).await.0, 401);
    let outside = warp::test::request()
        .method("POST")
        .path(FALCO_PATH)
        .extension(peer("198.51.100.5"))
        .body(FALCO);
    assert_eq!(h.send(with_token(outside, "t")).await.0, 403);
}

#[tokio::test]
async fn a_verified_client_certificate_authenticates_on_its_own() {
    let h = harness(&[
        "--webhook-auth-token",
        "t",
        "--webhook-tls-cert-file",
        "/unused/tls.crt",
        "--webhook-tls-key-file",
        "/unused/tls.key",
        "--webhook-tls-client-ca-file",
        "/unused/ca.crt",
    ]);
    let conn = ConnInfo {
        remote: "192.0.2.10:5000".parse().unwrap(),
        client_cert: Some(Arc::new(rustls_pki_types::CertificateDer::from(vec![1u8]))),
        client_names: Arc::from(Vec::new()),
    };
    let request = warp::test::request()
        .method("POST")
        .path(FALCO_PATH)
        .extension(conn)
        .body(FALCO);
    assert_eq!(h.send(request).await.0, 200);
}

#[tokio::test]
async fn audit_items_no_rule_matches_are_counted_as_filtered() {
    let h = harness(&["--webhook-auth-token", "t"]);
    let body = r#"{"kind":"EventList","items":[{"verb":"get","objectRef":{"resource":"pods","namespace":"a","name":"b"},"user":{"username":"u"}}]}"#;
    let (code, _, summary) = h.send(with_token(post(AUDIT_PATH, body), "t")).await;
    assert_eq!(code, 200, "{summary}");
    assert_eq!(summary["received"], 1);
    assert_eq!(summary["filtered"], 1);
    let metrics = h.metrics.encode();
    assert!(metrics.contains("reason=\"audit_no_rule\",scope=\"source\"} 1"));
    // Received as the answer says: never fewer received than filtered.
    assert!(
        metrics.contains("zen_watcher_events_received_total{source=\"audit\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn probes_and_metrics() {
    let h = harness(&[]);
    let get = |path: &str| warp::test::request().method("GET").path(path);
    assert_eq!(h.send(get("/healthz")).await.0, 200);
    let (code, _, body) = h.send(get("/readyz")).await;
    assert_eq!(code, 503);
    assert!(body["error"].is_string());
    h.state.readiness().set_ready(true);
    assert_eq!(h.send(get("/readyz")).await.0, 200);
    h.state.readiness().shutting_down();
    assert_eq!(h.send(get("/readyz")).await.0, 503);
    assert_eq!(h.send(get("/healthz")).await.0, 200);

    let response = get("/metrics")
        .reply(&filter(h.state.clone(), WEBHOOK_PORT))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(
        std::str::from_utf8(response.body())
            .unwrap()
            .ends_with("# EOF\n")
    );

    let tls_port = Serves {
        webhooks: true,
        health: false,
    };
    assert_eq!(h.send_to(tls_port, get("/healthz")).await.0, 404);
    let metrics_port = Serves {
        webhooks: false,
        health: true,
    };
    assert_eq!(
        h.send_to(metrics_port, post(FALCO_PATH, FALCO)).await.0,
        404
    );
}

#[tokio::test]
async fn requests_are_counted_by_endpoint_and_code() {
    let h = harness(&["--webhook-auth-token", "t"]);
    h.send(with_token(post(FALCO_PATH, FALCO), "t")).await;
    h.send(post(FALCO_PATH, FALCO)).await;
    let text = h.metrics.encode();
    assert!(text.contains(
        "zen_watcher_webhook_requests_total{endpoint=\"/falco/webhook\",code=\"200\"} 1"
    ));
    assert!(text.contains(
        "zen_watcher_webhook_requests_total{endpoint=\"/falco/webhook\",code=\"401\"} 1"
    ));
}
