use super::*;
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/audit/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn context() -> SelfIdentity {
    SelfIdentity {
        own_username: Some("system:serviceaccount:zen-system:zen-watcher".into()),
    }
}

fn mixed() -> Batch {
    parse(&fixture("eventlist-mixed.json"), &context()).unwrap()
}

fn by_id<'a>(batch: &'a Batch, audit_id: &str, stage: &str) -> &'a Event {
    batch
        .events
        .iter()
        .find(|e| e.details["auditID"] == audit_id && e.details["stage"] == stage)
        .unwrap_or_else(|| panic!("no event for {audit_id}/{stage}"))
}

#[test]
fn an_event_list_is_unpacked_per_item() {
    let batch = mixed();
    assert_eq!(batch.events.len() + batch.skipped.len(), 16);
    assert_eq!(batch.events.len(), 12);
    assert_eq!(
        batch.skipped,
        [
            Skip::NoRule,
            Skip::NoRule,
            Skip::OwnRequest,
            Skip::OwnResource
        ]
    );
}

#[test]
fn each_rule_gives_its_category_severity_and_type() {
    let batch = mixed();
    let expect =
        |id: &str, stage: &str, event_type: &str, category: Category, severity: Severity| {
            let e = by_id(&batch, id, stage);
            assert_eq!(
                (e.event_type.as_str(), e.category, e.severity),
                (event_type, category, severity),
                "{id}/{stage}"
            );
        };
    expect(
        "a1",
        "ResponseComplete",
        "resource_deleted",
        Category::Operations,
        Severity::Medium,
    );
    expect(
        "a2",
        "ResponseComplete",
        "secret_read",
        Category::Security,
        Severity::Medium,
    );
    expect(
        "a3",
        "ResponseComplete",
        "secret_modified",
        Category::Security,
        Severity::High,
    );
    expect(
        "a4",
        "ResponseComplete",
        "configmap_modified",
        Category::Operations,
        Severity::Low,
    );
    expect(
        "a5",
        "ResponseComplete",
        "rbac_changed",
        Category::Compliance,
        Severity::High,
    );
    expect(
        "a6",
        "ResponseComplete",
        "privileged_pod_created",
        Category::Security,
        Severity::Critical,
    );
    expect(
        "a8",
        "ResponseComplete",
        "pod_exec",
        Category::Security,
        Severity::High,
    );
    expect(
        "a9",
        "ResponseComplete",
        "pod_attach",
        Category::Security,
        Severity::High,
    );
    expect(
        "a10",
        "ResponseComplete",
        "authorization_denied",
        Category::Security,
        Severity::Medium,
    );
    expect(
        "a11",
        "ResponseStarted",
        "authentication_failed",
        Category::Security,
        Severity::High,
    );
    expect(
        "a15",
        "ResponseComplete",
        "secret_modified",
        Category::Security,
        Severity::High,
    );
}

#[test]
fn every_stage_is_kept_for_the_filter_to_decide() {
    let batch = mixed();
    let started = by_id(&batch, "a1", "ResponseStarted");
    assert_eq!(started.facts.stage.as_deref(), Some("ResponseStarted"));
    assert_ne!(
        started.fingerprint,
        by_id(&batch, "a1", "ResponseComplete").fingerprint
    );
}

#[test]
fn fingerprint_is_audit_id_and_stage() {
    let batch = mixed();
    let e = by_id(&batch, "a3", "ResponseComplete");
    assert_eq!(
        e.fingerprint,
        fingerprint(&["audit", "a3", "ResponseComplete"])
    );
    assert_eq!(
        e.kind,
        EventKind::Occurrence {
            delivery: crate::event::Delivery::Identity
        },
        "an audit item is its own delivery"
    );
    assert_eq!(e.facts.rule.as_deref(), Some("secret_modified"));
}

#[test]
fn resource_namespace_and_details() {
    let batch = mixed();
    let e = by_id(&batch, "a1", "ResponseComplete");
    let r = e.resource.clone().unwrap();
    assert_eq!(r.api_version.as_deref(), Some("apps/v1"));
    assert_eq!(r.kind.as_deref(), Some("Deployment"));
    assert_eq!(
        (r.name.as_deref(), r.namespace.as_deref()),
        (Some("web"), Some("shop"))
    );
    assert_eq!(e.details["username"], "alice");
    assert_eq!(e.details["verb"], "delete");
    assert_eq!(e.details["objectRef"]["apiGroup"], "apps");
    assert_eq!(e.details["sourceIPs"][0], "10.0.0.7");
    assert_eq!(e.detected_at, "2026-11-26T10:00:00.0042Z".parse().unwrap());
    assert_eq!(
        e.title.as_deref(),
        Some("resource_deleted: alice delete deployments web in shop")
    );

    let rbac = by_id(&batch, "a5", "ResponseComplete");
    assert_eq!(
        rbac.namespace(),
        None,
        "cluster-scoped objects have no namespace"
    );
    assert_eq!(
        rbac.resource.as_ref().unwrap().kind.as_deref(),
        Some("ClusterRoleBinding")
    );
}

#[test]
fn failed_authentication_has_an_empty_user_and_no_object() {
    let batch = mixed();
    let e = by_id(&batch, "a11", "ResponseStarted");
    assert_eq!(e.resource, None);
    assert!(!e.details.contains_key("username"));
    assert_eq!(e.details["responseCode"], 401);
    assert!(
        e.title
            .as_deref()
            .unwrap()
            .contains("an unauthenticated client")
    );
}

#[test]
fn impersonation_is_recorded() {
    let batch = mixed();
    assert_eq!(
        by_id(&batch, "a15", "ResponseComplete").details["impersonatedUser"],
        "carol"
    );
}

#[test]
fn own_requests_are_skipped_only_with_a_known_identity() {
    let batch = parse(&fixture("eventlist-mixed.json"), &SelfIdentity::default()).unwrap();
    assert!(!batch.skipped.contains(&Skip::OwnRequest));
    assert!(batch.skipped.contains(&Skip::OwnResource));
}

#[test]
fn a_single_event_is_accepted() {
    let batch = parse(&fixture("single-event.json"), &context()).unwrap();
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].event_type, "resource_deleted");
}

#[test]
fn an_empty_list_is_fine() {
    let batch = parse(
        br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#,
        &context(),
    )
    .unwrap();
    assert!(batch.events.is_empty() && batch.skipped.is_empty());
}

#[test]
fn every_rule_is_reachable_and_documented_once() {
    let mut types: Vec<_> = RULES.iter().map(|r| r.event_type).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), RULES.len());
    let readme = include_str!("../../../../README.md");
    for rule in RULES {
        let row = format!(
            "| `{}` | {} | {} | {} |",
            rule.event_type, rule.category, rule.severity, rule.description
        );
        assert!(
            readme.contains(&row),
            "README lacks the audit rule row: {row}"
        );
    }
}

fn error(body: &str) -> String {
    parse(body.as_bytes(), &context()).unwrap_err().to_string()
}

#[test]
fn malformed_batches_are_errors_naming_the_problem() {
    assert!(error("not json").starts_with("malformed JSON"));
    assert_eq!(
        error("[]"),
        "body: expected an audit.k8s.io/v1 EventList or Event object"
    );
    assert_eq!(
        error(r#"{"kind":"Pod"}"#),
        "kind: expected EventList or Event, found \"Pod\""
    );
    assert_eq!(
        error(r#"{"kind":"EventList"}"#),
        "items: is required in an EventList"
    );
    assert_eq!(
        error(r#"{"kind":"EventList","items":{}}"#),
        "items: expected an array, found an object"
    );
    assert_eq!(
        error(r#"{"kind":5}"#),
        "kind: expected a string, found a number"
    );
}

fn unreadable(body: &str) -> Vec<(usize, String)> {
    let batch = parse(body.as_bytes(), &context()).unwrap();
    assert!(batch.events.is_empty(), "{:?}", batch.events);
    assert_eq!(
        batch.skipped,
        vec![Skip::Unreadable; batch.unreadable.len()]
    );
    batch.unreadable
}

#[test]
fn an_unreadable_item_is_skipped_alone_naming_its_problem() {
    let wrong_type = unreadable(r#"{"kind":"EventList","items":[{"verb":5}]}"#);
    assert_eq!(wrong_type[0].0, 0);
    assert!(
        wrong_type[0].1.starts_with("items[0]: invalid type"),
        "{wrong_type:?}"
    );
    let no_time = r#"{"kind":"EventList","items":[{"auditID":"x","stage":"ResponseComplete","verb":"delete","objectRef":{"resource":"pods"}}]}"#;
    assert_eq!(
        unreadable(no_time)[0].1,
        "items[0].stageTimestamp: is required"
    );
    let bad_time =
        r#"{"kind":"EventList","items":[{"auditID":"x","verb":"delete","stageTimestamp":"soon"}]}"#;
    assert!(
        unreadable(bad_time)[0]
            .1
            .starts_with("items[0].stageTimestamp: \"soon\"")
    );
    let no_id = r#"{"kind":"EventList","items":[{"verb":"delete","stageTimestamp":"2026-11-26T10:00:00Z"}]}"#;
    assert_eq!(unreadable(no_id)[0].1, "items[0].auditID: is required");
    let not_an_object = unreadable(r#"{"kind":"EventList","items":[7, "x", null]}"#);
    assert_eq!(not_an_object.len(), 3);
}

fn secret_read(audit_id: &str) -> Value {
    json!({"kind": "Event", "level": "Metadata", "auditID": audit_id, "stage": "ResponseComplete",
           "verb": "get", "user": {"username": "alice"},
           "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
           "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-26T10:00:00.5Z"})
}

#[test]
fn one_odd_item_never_costs_the_rest_of_the_batch() {
    // `kubectl patch --type=json` logged at Request level: requestObject is a JSON array.
    let json_patch = json!({"kind": "Event", "level": "Request", "auditID": "p1",
        "stage": "ResponseComplete", "verb": "patch", "user": {"username": "alice"},
        "objectRef": {"resource": "configmaps", "namespace": "shop", "name": "cfg", "apiVersion": "v1"},
        "requestObject": [{"op": "add", "path": "/data/a", "value": "1"},
                          {"op": "remove", "path": "/data/b"}],
        "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-26T10:00:00Z"});
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_pod = format!(
        r#"{{"kind":"Event","auditID":"d1","stage":"ResponseComplete","verb":"create","user":{{"username":"bob"}},"objectRef":{{"resource":"pods","namespace":"shop","name":"p","apiVersion":"v1"}},"requestObject":{deep},"responseStatus":{{"code":201}},"stageTimestamp":"2026-11-26T10:00:00Z"}}"#
    );
    let odd_types = json!({"kind": "Event", "auditID": "o1", "stage": "ResponseComplete",
        "verb": "create", "user": {"username": "bob"},
        "objectRef": {"resource": "pods", "namespace": "shop", "name": "q", "apiVersion": "v1"},
        "requestObject": {"spec": {"containers": "not a list"}},
        "responseStatus": {"code": 201}, "stageTimestamp": "2026-11-26T10:00:00Z"});
    let body = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{json_patch},{deep_pod},{odd_types},{{"verb":[]}},{secret}]}}"#,
        secret = secret_read("s1")
    );
    let batch = parse(body.as_bytes(), &context()).unwrap();
    let types: Vec<&str> = batch.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["configmap_modified", "secret_read"],
        "the JSON patch is a ConfigMap change, the odd pods are not privileged (and match no other rule)"
    );
    assert_eq!(
        batch.skipped,
        [Skip::NoRule, Skip::NoRule, Skip::Unreadable],
        "counted, each with its reason"
    );
    assert_eq!(batch.unreadable[0].0, 3);
}

fn observation_request(verb: &str, user: &str, code: u16) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("obs-{verb}-{user}-{code}"), "stage": "ResponseComplete",
        "verb": verb, "user": {"username": user},
        "objectRef": {"resource": "observations", "namespace": "shop", "name": "falco-1",
                      "apiGroup": "zen.kube-zen.io", "apiVersion": "v1alpha1"},
        "responseStatus": {"code": code},
        "stageTimestamp": "2026-12-01T10:00:00.5Z"
    }))
    .unwrap()
}

#[test]
fn someone_else_deleting_or_editing_an_observation_is_recorded() {
    for verb in ["delete", "deletecollection", "patch", "update"] {
        let batch = parse(&observation_request(verb, "mallory", 200), &context()).unwrap();
        assert_eq!(batch.events.len(), 1, "{verb}");
        let event = &batch.events[0];
        assert_eq!(event.event_type, "observation_tampered", "{verb}");
        assert_eq!(event.severity, Severity::High);
        assert_eq!(event.details["username"], "mallory");
    }
}

#[test]
fn the_watchers_own_observation_writes_reads_and_refusals_are_not_tampering() {
    let own = "system:serviceaccount:zen-system:zen-watcher";
    let skipped = |body: Vec<u8>, context: &SelfIdentity| {
        let batch = parse(&body, context).unwrap();
        assert!(batch.events.is_empty(), "{:?}", batch.events);
        batch.skipped[0]
    };
    assert_eq!(
        skipped(observation_request("patch", own, 200), &context()),
        Skip::OwnRequest
    );
    for (verb, code) in [
        ("get", 200),
        ("list", 200),
        ("create", 201),
        ("delete", 403),
    ] {
        assert_eq!(
            skipped(observation_request(verb, "mallory", code), &context()),
            Skip::OwnResource,
            "{verb} {code}"
        );
    }
    // Not knowing its own user, the watcher cannot tell its writes apart: nothing is recorded.
    assert_eq!(
        skipped(
            observation_request("delete", "mallory", 200),
            &SelfIdentity::default()
        ),
        Skip::OwnResource
    );
}
