//! The server over real sockets on 127.0.0.1: plain HTTP, HTTPS, mTLS, certificate and token
//! rotation, graceful shutdown. A recording `EventSink` stands in for the apiserver-backed
//! pipeline (tested end to end elsewhere).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use zen_watcher::admission::IngesterRules;
use zen_watcher::config::{Config, LoadOutcome};
use zen_watcher::event::Event;
use zen_watcher::metrics::Exposition;
use zen_watcher::pipeline::Outcome;
use zen_watcher::server::ServerMetrics;
use zen_watcher::server::{self, EventSink, ServerState, Servers, SinkFuture};
use zen_watcher::sources::audit;

const FALCO: &str = r#"{"rule":"Shell","priority":"Critical","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-1"}}"#;
const GRACE: Duration = Duration::from_secs(30);

/// Counts calls; with a gate, each call waits for `gate.notify_one()`.
#[derive(Default)]
struct Recorder {
    calls: AtomicUsize,
    gate: Option<Arc<Notify>>,
}

impl EventSink for Recorder {
    fn ingest<'a>(
        &'a self,
        events: Vec<Event>,
        _rules: Option<&'a IngesterRules>,
    ) -> SinkFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            Outcome {
                received: events.len(),
                written: events.len(),
                ..Default::default()
            }
        })
    }

    /// Not counted here: these tests are about sockets, not counts.
    fn dropped_by_source(&self, _source: &str, _reason: &str) {}
}

fn config(flags: &[&str]) -> Config {
    let mut args = vec![
        "zen-watcher",
        "--pod-name",
        "zw-0",
        "--watcher-port",
        "0",
        "--metrics-port",
        "0",
    ];
    args.extend_from_slice(flags);
    match Config::load_from(args, Some("zen-system".into())).unwrap() {
        LoadOutcome::Run(config) => *config,
        other => panic!("unexpected {other:?}"),
    }
}

struct Running {
    state: Arc<ServerState>,
    webhook: SocketAddr,
    metrics: SocketAddr,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<()>,
}

async fn start(flags: &[&str], recorder: Arc<Recorder>) -> Running {
    let config = config(flags);
    let state = Arc::new(
        ServerState::new(
            &config,
            recorder,
            ServerMetrics::default(),
            Arc::new(Exposition::default()),
            audit::SelfIdentity::default(),
        )
        .unwrap(),
    );
    let servers: Servers = server::bind(&config, [127, 0, 0, 1].into(), state.clone())
        .await
        .unwrap();
    let (webhook, metrics) = (servers.webhook_addr(), servers.metrics_addr());
    assert_ne!(webhook.port(), 0);
    assert_ne!(metrics.port(), 0);
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(servers.serve(shutdown.clone(), GRACE));
    Running {
        state,
        webhook,
        metrics,
        shutdown,
        served,
    }
}

/// A scratch directory unique to this process and test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zw-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn http(
    method: Method,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if path == "/metrics" && status == StatusCode::OK {
        assert!(
            content_type
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
    }
    (status, text)
}

async fn get(addr: SocketAddr, path: &str) -> StatusCode {
    http(Method::GET, addr, path, None, "").await.0
}

/// Polls `check` until it holds; rotations are picked up within about a second.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn plain_http_serves_probes_on_both_ports_and_webhooks_on_one() {
    let recorder = Arc::new(Recorder::default());
    let running = start(&["--webhook-auth-token", "t"], recorder.clone()).await;
    for addr in [running.webhook, running.metrics] {
        assert_eq!(get(addr, "/healthz").await, StatusCode::OK);
        assert_eq!(get(addr, "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(addr, "/metrics").await, StatusCode::OK);
    }
    running.state.readiness().set_ready(true);
    for addr in [running.webhook, running.metrics] {
        assert_eq!(get(addr, "/readyz").await, StatusCode::OK);
    }

    let (code, body) = http(
        Method::POST,
        running.webhook,
        "/falco/webhook",
        Some("t"),
        FALCO,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body.contains("\"written\":1"));
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);
    let (code, _) = http(
        Method::POST,
        running.metrics,
        "/falco/webhook",
        Some("t"),
        FALCO,
    )
    .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "no webhooks on the metrics port"
    );

    running.shutdown.cancel();
    running.served.await.unwrap();
    assert!(TcpStream::connect(running.webhook).await.is_err());
}

#[tokio::test]
async fn the_client_address_reaches_the_allowlist() {
    let running = start(
        &["--webhook-allowed-ips", "127.0.0.1/32"],
        Arc::new(Recorder::default()),
    )
    .await;
    let (code, body) = http(Method::POST, running.webhook, "/falco/webhook", None, FALCO).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    running.shutdown.cancel();
    running.served.await.unwrap();

    let refused = start(
        &["--webhook-allowed-ips", "192.0.2.0/24"],
        Arc::new(Recorder::default()),
    )
    .await;
    let (code, _) = http(Method::POST, refused.webhook, "/falco/webhook", None, FALCO).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rewritten_token_file_takes_over() {
    let dir = scratch("token");
    let file = dir.join("token");
    std::fs::write(&file, "first\n").unwrap();
    let running = start(
        &["--webhook-auth-token-file", file.to_str().unwrap()],
        Arc::new(Recorder::default()),
    )
    .await;
    let post = |token: &'static str| {
        let addr = running.webhook;
        async move {
            http(Method::POST, addr, "/falco/webhook", Some(token), FALCO)
                .await
                .0
        }
    };
    assert_eq!(post("first").await, StatusCode::OK);
    assert_eq!(post("second").await, StatusCode::UNAUTHORIZED);

    std::fs::write(&file, "second-token-which-is-longer\n").unwrap();
    eventually("the new token is accepted", async || {
        post("second-token-which-is-longer").await == StatusCode::OK
    })
    .await;
    assert_eq!(post("first").await, StatusCode::UNAUTHORIZED);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let gate = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let running = start(&["--webhook-auth-token", "t"], recorder.clone()).await;
    let addr = running.webhook;
    let in_flight =
        tokio::spawn(
            async move { http(Method::POST, addr, "/falco/webhook", Some("t"), FALCO).await },
        );
    eventually("the request reached the pipeline", async || {
        recorder.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    running.shutdown.cancel();
    // Closing the listener does not wait for the request; the request is still answered.
    eventually("the listener is closed", async || {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    gate.notify_one();
    let (code, _) = in_flight.await.unwrap();
    assert_eq!(code, StatusCode::OK);
    running.served.await.unwrap();
}

// --- TLS ---

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn leaf(&self, purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }
}

fn write_leaf(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

fn client_config(ca: CertificateDer<'static>, identity: Option<&Leaf>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.der.clone()],
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// One HTTP/1.1 request over a fresh TLS connection: the served certificate and the raw
/// response (empty if the server dropped the connection).
async fn tls_request(
    addr: SocketAddr,
    config: ClientConfig,
    request: &str,
) -> std::io::Result<(CertificateDer<'static>, String)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    tls.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(err) => return Err(err),
    }
    Ok((served, String::from_utf8_lossy(&out).into_owned()))
}

fn falco_request(token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /falco/webhook HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{FALCO}",
        FALCO.len()
    )
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn https_serves_webhooks_and_leaves_probes_to_the_metrics_port() {
    let pki = Pki::new("test CA");
    let dir = scratch("https");
    let (cert, key) = write_leaf(&dir, &pki.leaf(ExtendedKeyUsagePurpose::ServerAuth));
    let recorder = Arc::new(Recorder::default());
    let running = start(
        &[
            "--webhook-auth-token",
            "t",
            "--webhook-tls-cert-file",
            cert.to_str().unwrap(),
            "--webhook-tls-key-file",
            key.to_str().unwrap(),
        ],
        recorder.clone(),
    )
    .await;

    // HTTP/2 through ALPN, with the hyper-rustls client.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(pki.ca_der(), None))
        .https_only()
        .enable_all_versions()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = Request::post(format!(
        "https://127.0.0.1:{}/falco/webhook",
        running.webhook.port()
    ))
    .header("authorization", "Bearer t")
    .body(Full::new(Bytes::from_static(FALCO.as_bytes())))
    .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);

    let (_, response) = tls_request(running.webhook, client_config(pki.ca_der(), None), HEALTHZ)
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let (_, response) = tls_request(
        running.webhook,
        client_config(pki.ca_der(), None),
        &falco_request(None),
    )
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert_eq!(get(running.metrics, "/healthz").await, StatusCode::OK);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca_and_it_is_enough() {
    let pki = Pki::new("test CA");
    let dir = scratch("mtls");
    let (cert, key) = write_leaf(&dir, &pki.leaf(ExtendedKeyUsagePurpose::ServerAuth));
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, pki.ca.pem()).unwrap();
    let running = start(
        &[
            "--webhook-auth-token",
            "t",
            "--webhook-tls-cert-file",
            cert.to_str().unwrap(),
            "--webhook-tls-key-file",
            key.to_str().unwrap(),
            "--webhook-tls-client-ca-file",
            ca_file.to_str().unwrap(),
        ],
        Arc::new(Recorder::default()),
    )
    .await;
    let refused = |result: std::io::Result<(CertificateDer<'static>, String)>| match result {
        Err(_) => true,
        Ok((_, response)) => response.is_empty(),
    };

    let anonymous = tls_request(
        running.webhook,
        client_config(pki.ca_der(), None),
        &falco_request(Some("t")),
    )
    .await;
    assert!(
        refused(anonymous),
        "a client without a certificate is refused"
    );

    let stranger_pki = Pki::new("other CA");
    let stranger = stranger_pki.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    let result = tls_request(
        running.webhook,
        client_config(pki.ca_der(), Some(&stranger)),
        &falco_request(Some("t")),
    )
    .await;
    assert!(refused(result), "a certificate from another CA is refused");

    let client = pki.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    let (_, response) = tls_request(
        running.webhook,
        client_config(pki.ca_der(), Some(&client)),
        &falco_request(None),
    )
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn each_endpoint_accepts_only_the_client_names_it_lists() {
    let pki = Pki::new("test CA");
    let dir = scratch("mtls-names");
    let (cert, key) = write_leaf(&dir, &pki.leaf(ExtendedKeyUsagePurpose::ServerAuth));
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, pki.ca.pem()).unwrap();
    let running = start(
        &[
            "--webhook-auth-token",
            "t",
            "--webhook-tls-cert-file",
            cert.to_str().unwrap(),
            "--webhook-tls-key-file",
            key.to_str().unwrap(),
            "--webhook-tls-client-ca-file",
            ca_file.to_str().unwrap(),
            "--webhook-tls-client-names-falco",
            "sidekick.falco.svc",
            "--webhook-tls-client-names-audit",
            "LOCALHOST",
        ],
        Arc::new(Recorder::default()),
    )
    .await;
    // The client certificate's only DNS name is `localhost`.
    let client = pki.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    let send = |request: String| {
        let config = client_config(pki.ca_der(), Some(&client));
        async move {
            tls_request(running.webhook, config, &request)
                .await
                .unwrap()
                .1
        }
    };
    let refused = send(falco_request(None)).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(
        refused.contains("WEBHOOK_TLS_CLIENT_NAMES_FALCO"),
        "{refused}"
    );
    let with_token = send(falco_request(Some("t"))).await;
    assert!(
        with_token.starts_with("HTTP/1.1 200"),
        "a token still works: {with_token}"
    );
    let body = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#;
    let audit = format!(
        "POST /audit/webhook HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let allowed = send(audit).await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_rewritten_serving_certificate_is_served_to_new_connections() {
    let pki = Pki::new("test CA");
    let dir = scratch("rotation");
    let first = pki.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    let (cert, key) = write_leaf(&dir, &first);
    let running = start(
        &[
            "--webhook-auth-token",
            "t",
            "--webhook-tls-cert-file",
            cert.to_str().unwrap(),
            "--webhook-tls-key-file",
            key.to_str().unwrap(),
        ],
        Arc::new(Recorder::default()),
    )
    .await;
    let served = || async {
        tls_request(
            running.webhook,
            client_config(pki.ca_der(), None),
            &falco_request(Some("t")),
        )
        .await
        .unwrap()
    };
    let (cert_served, response) = served().await;
    assert_eq!(cert_served, first.der);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let second = pki.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    write_leaf(&dir, &second);
    let latest = Mutex::new(None);
    eventually("the new certificate is served", async || {
        let (cert_served, response) = served().await;
        *latest.lock().unwrap() = Some(response);
        cert_served == second.der
    })
    .await;
    let response = latest.lock().unwrap().take().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_allowlist_applies_over_tls() {
    let pki = Pki::new("allowlist CA");
    let dir = scratch("tls-allowlist");
    let (cert, key) = write_leaf(&dir, &pki.leaf(ExtendedKeyUsagePurpose::ServerAuth));
    for (cidr, expected) in [
        ("127.0.0.1/32", "HTTP/1.1 200"),
        ("192.0.2.0/24", "HTTP/1.1 403"),
    ] {
        let running = start(
            &[
                "--webhook-auth-token",
                "t",
                "--webhook-allowed-ips",
                cidr,
                "--webhook-tls-cert-file",
                cert.to_str().unwrap(),
                "--webhook-tls-key-file",
                key.to_str().unwrap(),
            ],
            Arc::new(Recorder::default()),
        )
        .await;
        let (_, response) = tls_request(
            running.webhook,
            client_config(pki.ca_der(), None),
            &falco_request(Some("t")),
        )
        .await
        .unwrap();
        assert!(response.starts_with(expected), "{cidr}: {response}");
        running.shutdown.cancel();
        running.served.await.unwrap();
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_rewritten_client_ca_is_used_for_new_connections() {
    let server_pki = Pki::new("server CA");
    let dir = scratch("client-ca-rotation");
    let (cert, key) = write_leaf(&dir, &server_pki.leaf(ExtendedKeyUsagePurpose::ServerAuth));
    let (old_ca, new_ca) = (Pki::new("old client CA"), Pki::new("new client CA"));
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, old_ca.ca.pem()).unwrap();
    let running = start(
        &[
            "--webhook-tls-cert-file",
            cert.to_str().unwrap(),
            "--webhook-tls-key-file",
            key.to_str().unwrap(),
            "--webhook-tls-client-ca-file",
            ca_file.to_str().unwrap(),
        ],
        Arc::new(Recorder::default()),
    )
    .await;
    let new_client = new_ca.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    let accepted = |result: std::io::Result<(CertificateDer<'static>, String)>| matches!(result, Ok((_, response)) if response.starts_with("HTTP/1.1 200"));
    let before = tls_request(
        running.webhook,
        client_config(server_pki.ca_der(), Some(&new_client)),
        &falco_request(None),
    )
    .await;
    assert!(!accepted(before), "the new CA is not trusted yet");

    std::fs::write(&ca_file, new_ca.ca.pem()).unwrap();
    eventually("the rewritten client CA", async || {
        accepted(
            tls_request(
                running.webhook,
                client_config(server_pki.ca_der(), Some(&new_client)),
                &falco_request(None),
            )
            .await,
        )
    })
    .await;
    let old_client = old_ca.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    let after = tls_request(
        running.webhook,
        client_config(server_pki.ca_der(), Some(&old_client)),
        &falco_request(None),
    )
    .await;
    assert!(!accepted(after), "the old CA is no longer trusted");
    let _ = std::fs::remove_dir_all(dir);
}
