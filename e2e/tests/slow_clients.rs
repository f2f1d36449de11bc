//! What a client can hold on the webhook port, against a real watcher process: headers trickled
//! byte by byte, a body that stalls, an idle keep-alive connection and an HTTP/2 connection
//! that never sends a request are each closed (or answered 408) within their timeout, and no
//! more than `SERVER_MAX_CONNECTIONS` connections are served at once.
//!
//! One test, one watcher: the sections share the connection cap, so they must not overlap.
//! Bounds are the configured timeouts plus generous slack: what is checked is that a
//! connection is let go at all, not how fast.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zen_watcher_e2e::http::get;
use zen_watcher_e2e::replicas::{log_dir, ready};
use zen_watcher_e2e::{
    TestNamespace, WatcherProcess, admin_client, admin_kubeconfig_path, apply_crds,
};

const TOKEN: &str = "slow-token";
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const PING: Duration = Duration::from_secs(1);
const MAX_CONNECTIONS: usize = 3;
const SLACK: Duration = Duration::from_secs(4);

/// Reads until the server closes the connection (or `within` passes); returns what it sent
/// and when it closed.
async fn read_until_closed(
    stream: &mut TcpStream,
    within: Duration,
) -> Option<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((received, start.elapsed())),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

#[tokio::test]
async fn slow_and_idle_clients_are_let_go_and_connections_are_capped() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let home = TestNamespace::create(&client, "slow").await.unwrap();
    let secs = |d: Duration| format!("{}ms", d.as_millis());
    let env: Vec<(String, String)> = [
        ("POD_NAME", "zen-slow".to_string()),
        ("POD_NAMESPACE", home.name.clone()),
        ("WATCHER_PORT", "0".into()),
        ("METRICS_PORT", "0".into()),
        ("WEBHOOK_AUTH_TOKEN", TOKEN.into()),
        ("ENABLE_LEADER_ELECTION", "false".into()),
        ("SERVER_MAX_CONNECTIONS", MAX_CONNECTIONS.to_string()),
        ("SERVER_HEADER_READ_TIMEOUT", secs(HEADER_TIMEOUT)),
        ("SERVER_BODY_READ_TIMEOUT", secs(BODY_TIMEOUT)),
        ("SERVER_IDLE_TIMEOUT", secs(IDLE_TIMEOUT)),
        ("SERVER_HTTP2_KEEPALIVE_INTERVAL", secs(PING)),
        ("LOG_LEVEL", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut watcher = WatcherProcess::start(
        "zen-slow",
        &env,
        &admin_kubeconfig_path(),
        &log_dir(&home.name),
    )
    .unwrap();
    let (webhook, metrics) = watcher.addresses().unwrap();
    ready(metrics).await.unwrap();

    // Headers trickled one byte at a time, never finished within the header timeout.
    let mut trickle = connect(webhook).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut closed = None;
    let mut buf = [0u8; 1024];
    for byte in request.iter().take(request.len() - 2) {
        if start.elapsed() > HEADER_TIMEOUT + SLACK {
            break;
        }
        if trickle.write_all(&[*byte]).await.is_err() {
            closed = Some(start.elapsed());
            break;
        }
        // Between bytes, look whether the server has hung up (an answer, then EOF, counts).
        match tokio::time::timeout(Duration::from_millis(100), trickle.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = Some(start.elapsed());
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    let closed = closed.expect("a trickling client was held past its header timeout");
    assert!(closed < HEADER_TIMEOUT + SLACK, "closed after {closed:?}");

    // A body that stalls: answered 408.
    let mut stall = connect(webhook).await;
    stall
        .write_all(
            format!(
                "POST /falco/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"output\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answer, after) = read_until_closed(&mut stall, BODY_TIMEOUT + SLACK)
        .await
        .expect("a stalled body was held past its timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("SERVER_BODY_READ_TIMEOUT"), "{answer}");
    assert!(after < BODY_TIMEOUT + SLACK, "answered after {after:?}");

    // An idle keep-alive connection after one request.
    let mut idle = connect(webhook).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, after) = read_until_closed(&mut idle, IDLE_TIMEOUT + SLACK)
        .await
        .expect("an idle keep-alive connection was held past its timeout");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "answered before being closed"
    );
    assert!(after < IDLE_TIMEOUT + SLACK, "closed after {after:?}");

    // HTTP/2 (prior knowledge, h2c): the preface and settings, then nothing, not even a
    // ping's answer.
    let mut h2 = connect(webhook).await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap(); // an empty SETTINGS frame
    let (frames, after) = read_until_closed(&mut h2, IDLE_TIMEOUT + 2 * PING + SLACK)
        .await
        .expect("a silent HTTP/2 connection was held past its timeouts");
    assert!(!frames.is_empty(), "the server spoke HTTP/2 first");
    assert!(
        after < IDLE_TIMEOUT + 2 * PING + SLACK,
        "closed after {after:?}"
    );

    drop((trickle, stall, idle, h2));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The cap: MAX_CONNECTIONS silent connections hold every slot, so one more client is not
    // served until the header timeout lets them go.
    let mut holders = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        holders.push(connect(webhook).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect(webhook).await;
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(HEADER_TIMEOUT / 2, extra.read(&mut first)).await;
    assert!(
        early.is_err(),
        "a client beyond SERVER_MAX_CONNECTIONS was served at once"
    );
    let (answer, _) = read_until_closed(&mut extra, HEADER_TIMEOUT + SLACK)
        .await
        .expect("the waiting client was served once a slot freed");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(holders);
    // The metrics port has its own slots: it answered all along.
    assert_eq!(get(metrics, "/healthz").await.unwrap().status, 200);
}
