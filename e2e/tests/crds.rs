//! The generated CRDs against a real apiserver: accepted, Established, and enforcing their
//! schema and CEL rules.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use zen_watcher::crd::{
    Category, Ingester, Observation, ObservationSpec, ObservationStatus, ResourceRef, Severity,
};
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds};

fn dynamic_api(ns: &TestNamespace, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("zen.kube-zen.io", "v1alpha1", kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

async fn create_raw(api: &Api<DynamicObject>, object: Value) -> Result<DynamicObject, String> {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|e| e.to_string())
}

fn observation(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1",
        "kind": "Observation",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn valid_spec() -> Value {
    json!({
        "source": "falco",
        "category": "security",
        "severity": "high",
        "eventType": "runtime_alert",
        "detectedAt": "2026-11-26T10:00:00Z",
    })
}

#[tokio::test]
async fn both_crds_are_accepted_and_established() {
    let client = admin_client().await.unwrap();
    let crds = apply_crds(&client).await.unwrap();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        ["observations.zen.kube-zen.io", "ingesters.zen.kube-zen.io"]
    );
    for crd in &crds {
        let conditions = crd.status.as_ref().unwrap().conditions.as_ref().unwrap();
        let structural_problem = conditions
            .iter()
            .find(|c| c.type_ == "NonStructuralSchema" && c.status == "True");
        assert!(structural_problem.is_none(), "{structural_problem:?}");
    }
}

#[tokio::test]
async fn a_valid_observation_is_stored_with_its_status() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "obs").await.unwrap();
    let api: Api<Observation> = ns.api();
    let detected: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
    let mut obs = Observation::new(
        "falco-0123456789abcdef",
        ObservationSpec {
            source: "falco".into(),
            category: Category::Security,
            severity: Severity::Critical,
            event_type: "runtime_alert".into(),
            resource: Some(ResourceRef {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some("web-1".into()),
                namespace: Some(ns.name.clone()),
            }),
            details: Some(
                json!({"rule": "Terminal shell in container", "tags": ["shell"], "nested": {"any": 1}}),
            ),
            detected_at: Time(detected),
            ttl_seconds_after_creation: Some(3600),
            title: Some("Terminal shell in container".into()),
            description: None,
            fingerprint: Some("rule|ns|pod|container".into()),
        },
    );
    obs.status = Some(ObservationStatus {
        occurrences: Some(5),
        ..Default::default()
    });
    let created = api.create(&PostParams::default(), &obs).await.unwrap();
    assert_eq!(
        created.spec, obs.spec,
        "spec round-trips, unknown details fields kept"
    );
    assert_eq!(
        created.status.and_then(|s| s.occurrences),
        None,
        "the apiserver drops status on create"
    );

    let patch = json!({"status": {"occurrences": 2, "lastSeenAt": "2026-11-26T10:05:00Z"}});
    let patched = api
        .patch_status(
            "falco-0123456789abcdef",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().occurrences, Some(2));
}

#[tokio::test]
async fn invalid_observations_are_rejected_with_the_reason() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "obs-invalid").await.unwrap();
    let api = dynamic_api(&ns, "Observation", "observations");

    let mut unknown_severity = valid_spec();
    unknown_severity["severity"] = json!("urgent");
    let mut missing_source = valid_spec();
    missing_source.as_object_mut().unwrap().remove("source");
    let mut bad_source = valid_spec();
    bad_source["source"] = json!("Falco_Sidekick");
    let mut long_source = valid_spec();
    long_source["source"] = json!("a".repeat(41));
    let mut ttl_zero = valid_spec();
    ttl_zero["ttlSecondsAfterCreation"] = json!(0);
    let mut ttl_too_long = valid_spec();
    ttl_too_long["ttlSecondsAfterCreation"] = json!(31_536_001);
    let mut bad_category = valid_spec();
    bad_category["category"] = json!("misc");
    let mut bad_time = valid_spec();
    bad_time["detectedAt"] = json!("yesterday");

    let cases = [
        (
            "unknown-severity",
            unknown_severity,
            "spec.severity: Unsupported value: \"urgent\"",
        ),
        (
            "missing-source",
            missing_source,
            "spec.source: Required value",
        ),
        ("bad-source", bad_source, "spec.source in body should match"),
        ("long-source", long_source, "spec.source: Too long"),
        (
            "ttl-zero",
            ttl_zero,
            "spec.ttlSecondsAfterCreation in body should be greater than or equal to 1",
        ),
        (
            "ttl-too-long",
            ttl_too_long,
            "spec.ttlSecondsAfterCreation in body should be less than or equal to 31536000",
        ),
        (
            "bad-category",
            bad_category,
            "spec.category: Unsupported value: \"misc\"",
        ),
        (
            "bad-time",
            bad_time,
            "spec.detectedAt in body must be of type date-time",
        ),
    ];
    for (name, spec, expected) in cases {
        let err = create_raw(&api, observation(name, spec))
            .await
            .expect_err(name);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err}"
        );
    }
    create_raw(&api, observation("valid", valid_spec()))
        .await
        .unwrap();
}

fn ingester(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1",
        "kind": "Ingester",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[tokio::test]
async fn ingester_cel_rules_reject_incomplete_specs() {
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ingester").await.unwrap();
    let api = dynamic_api(&ns, "Ingester", "ingesters");

    let cases = [
        (
            "no-gvr",
            json!({"source": "argo", "ingester": "informer", "informer": {"namespace": "x"}}),
            "an informer Ingester needs spec.informer.gvr",
        ),
        (
            "no-informer",
            json!({"source": "argo", "ingester": "informer"}),
            "an informer Ingester needs spec.informer.gvr",
        ),
        (
            "no-webhook",
            json!({"source": "argo", "ingester": "webhook"}),
            "a webhook Ingester needs spec.webhook.path",
        ),
        (
            "relative-path",
            json!({"source": "argo", "ingester": "webhook", "webhook": {"path": "hooks/argo"}}),
            "webhook path must start with '/'",
        ),
        (
            "reserved-path",
            json!({"source": "argo", "ingester": "webhook", "webhook": {"path": "/falco/webhook"}}),
            "webhook path is reserved by zen-watcher",
        ),
        (
            "built-in-source",
            json!({"source": "falco", "ingester": "webhook", "webhook": {"path": "/a"}}),
            "source names falco, audit, kyverno and trivy are reserved",
        ),
        (
            "auth-no-secret",
            json!({"source": "argo", "ingester": "webhook", "webhook": {"path": "/a", "auth": {"type": "bearer"}}}),
            "bearer and basic auth need secretName",
        ),
        (
            "bad-destination",
            json!({"source": "argo", "ingester": "webhook", "webhook": {"path": "/a"}, "destinations": [{"type": "crd", "value": "alerts"}]}),
            "Unsupported value: \"alerts\"",
        ),
    ];
    for (name, spec, expected) in cases {
        let err = create_raw(&api, ingester(name, spec))
            .await
            .expect_err(name);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err}"
        );
    }

    let informer = json!({
        "source": "argo-rollouts",
        "ingester": "informer",
        "informer": {"gvr": {"group": "argoproj.io", "version": "v1alpha1", "resource": "rollouts"}, "labelSelector": "team=a"},
        "normalization": {"category": "operations", "eventType": "rollout", "severityField": "status.phase",
                          "severityMap": {"Degraded": "high"}, "fieldMapping": [{"from": "status.message", "to": "message"}]},
        "filters": {"minSeverity": "medium", "excludeNamespaces": ["kube-system"], "expression": "severity >= \"high\""},
        "deduplication": {"enabled": true, "window": "5m", "fields": ["metadata.name"]},
        "ttl": "7d",
        "destinations": [{"type": "crd", "value": "observations"}],
    });
    create_raw(&api, ingester("informer-ok", informer))
        .await
        .unwrap();
    let webhook = json!({"source": "argo", "ingester": "webhook",
                         "webhook": {"path": "/hooks/argo", "auth": {"type": "bearer", "secretName": "argo-token"}}});
    create_raw(&api, ingester("webhook-ok", webhook))
        .await
        .unwrap();

    // Every field the code reads survives admission (nothing is pruned), and status is writable.
    let typed: Api<Ingester> = ns.api();
    let stored = typed.get("informer-ok").await.unwrap();
    let normalization = stored.spec.normalization.unwrap();
    assert_eq!(
        normalization.severity_map.get("Degraded"),
        Some(&Severity::High)
    );
    assert_eq!(normalization.field_mapping.len(), 1);
    assert_eq!(
        stored.spec.deduplication.unwrap().window.as_deref(),
        Some("5m")
    );
    assert_eq!(
        stored.spec.filters.unwrap().exclude_namespaces,
        ["kube-system"]
    );
    let status = json!({"status": {"state": "Active", "observedGeneration": 1, "conditions": [{
        "type": "Ready", "status": "True", "reason": "Watching", "message": "informer running",
        "lastTransitionTime": "2026-11-26T10:00:00Z"}]}});
    let patched = typed
        .patch_status(
            "informer-ok",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    let status = patched.status.unwrap();
    assert_eq!(status.conditions[0].reason, "Watching");
    assert_eq!(status.observed_generation, Some(1));
}

/// Our structural CRDs for the third-party reports the watcher reads accept realistic reports.
#[tokio::test]
async fn report_crds_accept_the_fixtures() {
    let client = admin_client().await.unwrap();
    let names = zen_watcher_e2e::apply_report_crds(&client).await.unwrap();
    assert_eq!(names.len(), 6);

    let ns = TestNamespace::create(&client, "reports").await.unwrap();
    let fixtures = [
        (
            "kyverno/policyreport.json",
            "wgpolicyk8s.io",
            "v1alpha2",
            "PolicyReport",
            "policyreports",
            true,
        ),
        (
            "kyverno/clusterpolicyreport.json",
            "wgpolicyk8s.io",
            "v1alpha2",
            "ClusterPolicyReport",
            "clusterpolicyreports",
            false,
        ),
        (
            "kyverno/openreports-report.json",
            "openreports.io",
            "v1alpha1",
            "Report",
            "reports",
            true,
        ),
        (
            "trivy/vulnerabilityreport.json",
            "aquasecurity.github.io",
            "v1alpha1",
            "VulnerabilityReport",
            "vulnerabilityreports",
            true,
        ),
        (
            "trivy/clustervulnerabilityreport.json",
            "aquasecurity.github.io",
            "v1alpha1",
            "ClusterVulnerabilityReport",
            "clustervulnerabilityreports",
            false,
        ),
    ];
    for (file, group, version, kind, plural, namespaced) in fixtures {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(file);
        let mut object: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let metadata = object["metadata"].as_object_mut().unwrap();
        metadata.insert(
            "name".into(),
            json!(format!("{}-{}", kind.to_lowercase(), ns.name)),
        );
        metadata.remove("uid");
        metadata.remove("resourceVersion");
        metadata.remove("creationTimestamp");
        metadata.remove("namespace");
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), &ns.name, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{file} rejected: {e}"));
    }
}
