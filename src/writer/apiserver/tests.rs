//! The writer's paths a real apiserver cannot be made to take on cue (a conflict between the
//! read and the patch, a patch whose response is lost, a 500 then a success, an Observation
//! deleted between create and update), against a scripted mock apiserver (tower-test), and
//! the pure pieces (the occurrence patch, error classification). The same paths against a
//! real apiserver are in e2e/tests/writer.rs.

use std::pin::pin;

use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use super::*;
use crate::crd::{Category, Severity};
use crate::event::DeliveryId;
use crate::observation::name_of;

/// One expected request and the answer to give.
struct Step {
    method: Method,
    /// The request path must end with this.
    path: &'static str,
    reply: Reply,
}

enum Reply {
    Json(u16, Value),
    /// The connection fails after the request was sent (its effect may have happened).
    Lost,
}

fn step(method: Method, path: &'static str, reply: Reply) -> Step {
    Step {
        method,
        path,
        reply,
    }
}

/// Serves `script` in order; returns the bodies of the requests received. Fails on a request
/// the script does not expect, and on any request beyond it.
fn apiserver(script: Vec<Step>) -> (Client, tokio::task::JoinHandle<Vec<Value>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let mut bodies = Vec::new();
        for (index, expected) in script.into_iter().enumerate() {
            let (request, send) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("request {index} ({}) never came", expected.path));
            assert_eq!(request.method(), expected.method, "request {index}");
            let path = request.uri().path().to_string();
            assert!(
                path.ends_with(expected.path),
                "request {index}: {path} does not end with {}",
                expected.path
            );
            let bytes = request.into_body().collect().await.unwrap().to_bytes();
            bodies.push(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            match expected.reply {
                Reply::Json(code, body) => send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                ),
                Reply::Lost => send.send_error("connection reset by peer"),
            }
        }
        bodies
    });
    (Client::new(service, "default"), task)
}

fn writer(client: Client) -> Writer {
    let settings = ObservationSettings {
        fallback_namespace: "zen-system".into(),
        default_ttl_seconds: 3600,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec![],
    };
    let retry = RetryPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    };
    Writer::new(client, settings, retry)
}

fn id(text: &str) -> DeliveryId {
    DeliveryId::of_payload(text.as_bytes())
}

fn alert(delivery: &str) -> Event {
    let mut event = Event::about_pod_for_tests("falco", Severity::High, json!({"rule": "Shell"}));
    event.category = Category::Security;
    event.kind = EventKind::delivered(id(delivery));
    event
}

fn finding() -> Event {
    let mut event = Event::about_pod_for_tests("kyverno", Severity::Medium, json!({}));
    event.kind = EventKind::Finding {
        origin: crate::event::Origin {
            uid: "report-uid".into(),
            resource_version: None,
            watch: "policyreports.wgpolicyk8s.io".into(),
        },
    };
    event
}

/// The stored form of `event` with resourceVersion `rv` and `status`.
fn stored(event: &Event, rv: &str, status: Value) -> Value {
    let observation = build(event, &writer_settings());
    let mut value = serde_json::to_value(observation).unwrap();
    value["metadata"]["resourceVersion"] = json!(rv);
    value["metadata"]["uid"] = json!("obs-uid");
    value["status"] = status;
    value
}

fn writer_settings() -> ObservationSettings {
    ObservationSettings {
        fallback_namespace: "zen-system".into(),
        default_ttl_seconds: 3600,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: vec![],
    }
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
           "reason": reason, "message": reason, "details": {"kind": "observations"}})
}

fn path(event: &Event) -> String {
    format!("/namespaces/shop/observations/{}", name_of(event))
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[tokio::test]
async fn a_conflict_between_read_and_patch_is_read_again_and_counted_once() {
    let event = alert("second");
    let creator = alert("first");
    let object = leak(path(&event));
    let status_path = leak(format!("{object}/status"));
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        step(
            Method::GET,
            object,
            Reply::Json(200, stored(&creator, "1", json!({}))),
        ),
        // Another replica counted a delivery meanwhile.
        step(
            Method::PATCH,
            status_path,
            Reply::Json(409, status(409, "Conflict")),
        ),
        step(
            Method::GET,
            object,
            Reply::Json(
                200,
                stored(
                    &creator,
                    "2",
                    json!({"occurrences": 2, "deliveries": [id("other").to_string()]}),
                ),
            ),
        ),
        step(
            Method::PATCH,
            status_path,
            Reply::Json(200, stored(&creator, "3", json!({"occurrences": 3}))),
        ),
    ]);
    let result = writer(client).write(&event).await.unwrap();
    assert_eq!(result.written, Written::Recurred { occurrences: 3 });
    let bodies = server.await.unwrap();
    let last = &bodies[4];
    assert_eq!(
        last["metadata"]["resourceVersion"], "2",
        "guarded by what was re-read"
    );
    assert_eq!(last["status"]["occurrences"], 3);
    assert_eq!(
        last["status"]["deliveries"],
        json!([id("other").to_string(), id("second").to_string()])
    );
}

#[tokio::test]
async fn a_count_whose_response_was_lost_is_not_counted_again() {
    let event = alert("first");
    let object = leak(path(&event));
    let status_path = leak(format!("{object}/status"));
    let recurrences = Recurrences {
        deliveries: vec![id("r1"), id("r2")],
        uncounted_ids: 0,
        last_seen: Some(event.detected_at),
    };
    let counted =
        json!({"occurrences": 3, "deliveries": [id("r1").to_string(), id("r2").to_string()]});
    let (client, server) = apiserver(vec![
        step(
            Method::GET,
            object,
            Reply::Json(200, stored(&event, "1", json!({}))),
        ),
        // The patch is applied, but its answer never arrives.
        step(Method::PATCH, status_path, Reply::Lost),
        // The retry reads what the lost patch did: nothing left to count, no second patch.
        step(
            Method::GET,
            object,
            Reply::Json(200, stored(&event, "2", counted)),
        ),
    ]);
    let observation = ObservationRef {
        namespace: "shop".into(),
        name: name_of(&event),
    };
    let result = writer(client)
        .count_recurrences(&observation, &recurrences)
        .await
        .unwrap();
    assert_eq!(result, None, "already counted");
    let bodies = server.await.unwrap();
    assert_eq!(bodies[1]["status"]["occurrences"], 3);
}

#[tokio::test]
async fn a_re_sent_delivery_that_created_the_observation_counts_nothing() {
    let event = alert("first");
    let object = leak(path(&event));
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        // The annotation names this very delivery: no patch follows.
        step(
            Method::GET,
            object,
            Reply::Json(200, stored(&event, "1", json!({}))),
        ),
    ]);
    let result = writer(client).write(&event).await.unwrap();
    assert_eq!(result.written, Written::Unchanged);
    server.await.unwrap();
}

#[tokio::test]
async fn a_resolved_finding_is_reopened_and_an_open_one_left_alone() {
    let event = finding();
    let object = leak(path(&event));
    let status_path = leak(format!("{object}/status"));
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        step(
            Method::GET,
            object,
            Reply::Json(
                200,
                stored(&event, "5", json!({"resolvedAt": "2026-11-26T10:00:00Z"})),
            ),
        ),
        step(
            Method::PATCH,
            status_path,
            Reply::Json(200, stored(&event, "6", json!({}))),
        ),
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        step(
            Method::GET,
            object,
            Reply::Json(200, stored(&event, "6", json!({}))),
        ),
    ]);
    let w = writer(client);
    assert_eq!(w.write(&event).await.unwrap().written, Written::Reopened);
    assert_eq!(w.write(&event).await.unwrap().written, Written::Unchanged);
    let bodies = server.await.unwrap();
    assert_eq!(bodies[2]["status"], json!({"resolvedAt": null}));
    assert_eq!(bodies[2]["metadata"]["resourceVersion"], "5");
}

#[tokio::test]
async fn a_finding_from_a_new_report_moves_its_origin_labels() {
    let mut event = finding();
    let object = leak(path(&event));
    let before = stored(&event, "5", json!({}));
    if let EventKind::Finding { origin } = &mut event.kind {
        origin.uid = "new-report-uid".into();
    }
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        step(Method::GET, object, Reply::Json(200, before)),
        step(
            Method::PATCH,
            object,
            Reply::Json(200, stored(&event, "6", json!({}))),
        ),
    ]);
    assert_eq!(
        writer(client).write(&event).await.unwrap().written,
        Written::Unchanged
    );
    let bodies = server.await.unwrap();
    assert_eq!(
        bodies[2]["metadata"]["labels"][ORIGIN_UID_LABEL],
        "new-report-uid"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_until_the_write_succeeds() {
    let event = alert("first");
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(500, status(500, "InternalError")),
        ),
        step(Method::POST, "/namespaces/shop/observations", Reply::Lost),
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(201, stored(&event, "1", json!({}))),
        ),
    ]);
    let result = writer(client).write(&event).await.unwrap();
    assert_eq!(result.written, Written::Created);
    assert_eq!(
        result.observation,
        ObservationRef {
            namespace: "shop".into(),
            name: name_of(&event)
        }
    );
    let bodies = server.await.unwrap();
    assert_eq!(
        bodies[2]["metadata"]["annotations"][DELIVERY_ANNOTATION],
        id("first").to_string(),
        "the creating delivery is remembered"
    );
}

#[tokio::test]
async fn transient_failures_give_up_after_the_last_attempt() {
    let event = alert("first");
    let script = (0..3)
        .map(|_| {
            step(
                Method::POST,
                "/namespaces/shop/observations",
                Reply::Json(503, status(503, "ServiceUnavailable")),
            )
        })
        .collect();
    let (client, server) = apiserver(script);
    let err = writer(client).write(&event).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.reason(), "server_error");
    server.await.unwrap();
}

#[tokio::test]
async fn an_observation_deleted_between_create_and_update_is_created_again() {
    let event = alert("second");
    let object = leak(path(&event));
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": 404, "reason": "NotFound", "message": "not found",
        "details": {"name": name_of(&event), "kind": "observations"}});
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(409, status(409, "AlreadyExists")),
        ),
        step(Method::GET, object, Reply::Json(404, not_found)),
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(201, stored(&event, "1", json!({}))),
        ),
    ]);
    let result = writer(client).write(&event).await.unwrap();
    assert_eq!(result.written, Written::Created);
    server.await.unwrap();
}

#[tokio::test]
async fn a_terminating_namespace_falls_back_to_the_watchers() {
    let event = alert("first");
    let terminating = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "code": 403, "reason": "Forbidden",
        "message": "observations \"x\" is forbidden: unable to create new content in namespace shop because it is being terminated",
        "details": {"kind": "observations", "causes": [{"reason": "NamespaceTerminating",
            "message": "namespace shop is being terminated", "field": "metadata.namespace"}]}});
    let (client, server) = apiserver(vec![
        step(
            Method::POST,
            "/namespaces/shop/observations",
            Reply::Json(403, terminating),
        ),
        step(
            Method::POST,
            "/namespaces/zen-system/observations",
            Reply::Json(201, stored(&event, "1", json!({}))),
        ),
    ]);
    let result = writer(client).write(&event).await.unwrap();
    assert_eq!(result.observation.namespace, "zen-system");
    server.await.unwrap();
}

#[test]
fn the_occurrence_patch_counts_only_deliveries_not_counted_yet() {
    let event = alert("first");
    let mut current: Observation = serde_json::from_value(stored(&event, "1", json!({}))).unwrap();
    let recurrences = Recurrences {
        deliveries: vec![id("first"), id("r1"), id("r2")],
        uncounted_ids: 2,
        last_seen: Some("2026-11-26T10:00:05.7Z".parse().unwrap()),
    };
    let (count, patch) = occurrence_patch(&current, &recurrences).unwrap();
    assert_eq!(count, 1 + 2 + 2, "first is the creating delivery");
    assert_eq!(
        patch["deliveries"],
        json!([id("r1").to_string(), id("r2").to_string()])
    );
    assert_eq!(patch["lastSeenAt"], "2026-11-26T10:00:05Z");

    current.status = serde_json::from_value(json!({
        "occurrences": 3,
        "deliveries": [id("r1").to_string(), id("r2").to_string()],
        "lastSeenAt": "2026-11-26T11:00:00Z",
    }))
    .unwrap();
    let again = Recurrences {
        uncounted_ids: 0,
        ..recurrences.clone()
    };
    assert_eq!(occurrence_patch(&current, &again), None, "all counted");
    let one_more = Recurrences {
        deliveries: vec![id("r3")],
        ..again
    };
    let (count, patch) = occurrence_patch(&current, &one_more).unwrap();
    assert_eq!(count, 4);
    assert_eq!(
        patch["lastSeenAt"], "2026-11-26T11:00:00Z",
        "never moves back"
    );
}

#[test]
fn the_delivery_ring_keeps_the_most_recent() {
    let event = alert("first");
    let mut current: Observation = serde_json::from_value(stored(&event, "1", json!({}))).unwrap();
    let old: Vec<String> = (0..RECENT_DELIVERIES)
        .map(|i| id(&format!("old{i}")).to_string())
        .collect();
    current.status =
        serde_json::from_value(json!({"occurrences": 200, "deliveries": old})).unwrap();
    let recurrences = Recurrences {
        deliveries: vec![id("new1"), id("new2")],
        uncounted_ids: 0,
        last_seen: None,
    };
    let (count, patch) = occurrence_patch(&current, &recurrences).unwrap();
    assert_eq!(count, 202);
    let ring = patch["deliveries"].as_array().unwrap();
    assert_eq!(ring.len(), RECENT_DELIVERIES);
    assert_eq!(
        ring[0],
        json!(id("old2").to_string()),
        "the oldest two dropped"
    );
    assert_eq!(ring[RECENT_DELIVERIES - 1], json!(id("new2").to_string()));
    assert!(patch.get("lastSeenAt").is_none());
}

#[test]
fn every_error_is_classified_on_purpose() {
    let api = |code: u16, kind: &str| {
        let status: kube::core::Status =
            serde_json::from_value(json!({"code": code, "message": "", "details": {"kind": kind}}))
                .unwrap();
        kube::Error::Api(Box::new(status))
    };
    let cases = [
        (api(400, ""), false, "bad_request"),
        (api(401, ""), true, "unauthorized"),
        (api(403, "observations"), false, "forbidden"),
        (api(404, "namespaces"), false, "namespace_not_found"),
        (api(404, "observations"), true, "not_found"),
        (api(404, ""), true, "api_not_served"),
        (api(409, ""), true, "conflict"),
        (api(410, ""), true, "gone"),
        (api(413, ""), false, "too_large"),
        (api(422, ""), false, "invalid"),
        (api(429, ""), true, "throttled"),
        (api(500, ""), true, "server_error"),
        (api(504, ""), true, "server_error"),
        (api(418, ""), false, "rejected"),
        (kube::Error::Service("timed out".into()), true, "connection"),
        (
            kube::Error::SerdeError(serde_json::from_str::<Value>("<html>").unwrap_err()),
            true,
            "unreadable_response",
        ),
    ];
    for (error, transient, reason) in cases {
        assert_eq!(classify_error(&error), (transient, reason), "{error}");
    }
}
