use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIResource, APIResourceList, Condition, Time,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::credentials::{AuthError, SecretLookup, SecretRef, Secrets, resolve_auth};
use super::leading::diff_sources;
use super::plan::{IngesterKey, Plan, Revision, check_path, creation_order, plan};
use super::source::{forbidden_message, watch_failure_readiness};
use super::status::{READY, ReadyCondition, Reason, desired_status, next_status, status_patch};
use super::tenancy::{ScopeError, WatchScope, check_resource_scope, watch_scope};
use crate::config::parse_duration;
use crate::crd::{Gvr, Ingester, IngesterState, IngesterStatus, WebhookAuth, WebhookAuthType};
use crate::informers::discovery::{Discovered, find_resource};
use crate::server::IngesterAuth;

const CLUSTER_NS: &str = "zen-system";

fn cluster_namespaces() -> Vec<String> {
    vec![CLUSTER_NS.to_string()]
}

fn ingester(namespace: &str, name: &str, created: &str, spec: Value) -> Ingester {
    serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1",
        "kind": "Ingester",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "uid": format!("uid-{namespace}-{name}"),
            "generation": 1,
            "creationTimestamp": created,
        },
        "spec": spec,
    }))
    .unwrap()
}

fn webhook(namespace: &str, name: &str, created: &str, path: &str) -> Ingester {
    ingester(
        namespace,
        name,
        created,
        json!({"source": "hooks", "ingester": "webhook", "webhook": {"path": path}}),
    )
}

fn webhook_with_auth(kind: &str, secret: Option<&str>) -> Ingester {
    let mut auth = json!({"type": kind});
    if let Some(secret) = secret {
        auth["secretName"] = json!(secret);
    }
    ingester(
        "team-a",
        "hook",
        "2026-01-01T00:00:00Z",
        json!({"source": "hooks", "ingester": "webhook", "webhook": {"path": "/ingest/team-a/a", "auth": auth}}),
    )
}

fn informer(namespace: &str, name: &str, watch_ns: Option<&str>) -> Ingester {
    let mut informer =
        json!({"gvr": {"group": "argoproj.io", "version": "v1alpha1", "resource": "rollouts"}});
    if let Some(ns) = watch_ns {
        informer["namespace"] = json!(ns);
    }
    ingester(
        namespace,
        name,
        "2026-01-01T00:00:00Z",
        json!({"source": "rollouts", "ingester": "informer", "informer": informer}),
    )
}

fn key(namespace: &str, name: &str) -> IngesterKey {
    IngesterKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn readiness<'a>(plan: &'a Plan, namespace: &str, name: &str) -> &'a ReadyCondition {
    &plan.ingesters[&key(namespace, name)].readiness
}

fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> (SecretRef, SecretLookup) {
    (
        SecretRef {
            namespace: namespace.into(),
            name: name.into(),
        },
        SecretLookup::Found(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        ),
    )
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

// ---- planning: routes and conflicts ----

#[test]
fn a_webhook_ingester_is_routed() {
    let plan = plan(
        &[webhook(
            "team-a",
            "hook",
            "2026-01-01T00:00:00Z",
            "/ingest/team-a/a",
        )],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    let route = &plan.routes["/ingest/team-a/a"];
    assert_eq!(
        (route.namespace.as_str(), route.name.as_str()),
        ("team-a", "hook")
    );
    assert_eq!(route.auth, IngesterAuth::None);
    let r = readiness(&plan, "team-a", "hook");
    assert_eq!((r.state, r.reason), (IngesterState::Active, Reason::Routed));
}

#[test]
fn the_older_ingester_keeps_a_contested_path() {
    // A cluster Ingester may take any free path, a tenant's prefix included.
    let older = webhook(
        CLUSTER_NS,
        "first",
        "2026-01-01T00:00:00Z",
        "/ingest/team-a/x",
    );
    let newer = webhook(
        "team-a",
        "second",
        "2026-01-02T00:00:00Z",
        "/ingest/team-a/x",
    );
    for order in [vec![older.clone(), newer.clone()], vec![newer, older]] {
        let plan = plan(&order, &Secrets::new(), &cluster_namespaces());
        assert_eq!(plan.routes["/ingest/team-a/x"].name, "first");
        let lost = readiness(&plan, "team-a", "second");
        assert_eq!(
            (lost.state, lost.reason),
            (IngesterState::Conflict, Reason::PathConflict)
        );
        assert!(
            lost.message.contains("zen-system/first"),
            "{}",
            lost.message
        );
    }
}

#[test]
fn equal_creation_times_are_ordered_by_namespace_then_name() {
    let a = webhook("ns-a", "z", "2026-01-01T00:00:00Z", "/p");
    let b = webhook("ns-b", "a", "2026-01-01T00:00:00Z", "/p");
    let c = webhook("ns-a", "y", "2026-01-01T00:00:00Z", "/p");
    assert!(creation_order(&a, &b).is_lt());
    assert!(creation_order(&c, &a).is_lt());
    let both = ["ns-a".to_string(), "ns-b".to_string()];
    let plan = plan(&[a, b, c], &Secrets::new(), &both);
    assert_eq!(plan.routes["/p"].name, "y");
}

#[test]
fn a_winner_without_its_secret_still_holds_its_path() {
    let mut older = webhook_with_auth("bearer", Some("missing"));
    older.metadata.name = Some("older".into());
    let newer = webhook(
        "team-a",
        "newer",
        "2026-02-01T00:00:00Z",
        "/ingest/team-a/a",
    );
    let plan = plan(&[older, newer], &Secrets::new(), &cluster_namespaces());
    assert!(plan.routes.is_empty());
    assert_eq!(
        readiness(&plan, "team-a", "older").reason,
        Reason::SecretMissing
    );
    assert_eq!(
        readiness(&plan, "team-a", "newer").reason,
        Reason::PathConflict
    );
}

#[test]
fn a_tenant_serves_only_paths_under_its_namespace() {
    let plan = plan(
        &[
            webhook("team-a", "own", "2026-01-01T00:00:00Z", "/ingest/team-a/ci"),
            webhook("team-a", "global", "2026-01-01T00:00:00Z", "/hooks/ci"),
            webhook(
                "team-a",
                "neighbour",
                "2026-01-01T00:00:00Z",
                "/ingest/team-b/ci",
            ),
            webhook(
                CLUSTER_NS,
                "platform",
                "2026-01-01T00:00:00Z",
                "/hooks/platform",
            ),
        ],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    assert_eq!(
        plan.routes.keys().collect::<Vec<_>>(),
        ["/hooks/platform", "/ingest/team-a/ci"]
    );
    for name in ["global", "neighbour"] {
        let r = readiness(&plan, "team-a", name);
        assert_eq!(
            (r.state, r.reason),
            (IngesterState::Error, Reason::PathOutsideNamespace),
            "{name}"
        );
        assert!(r.message.contains("under /ingest/team-a/"), "{}", r.message);
    }
}

#[test]
fn no_ingester_may_call_its_source_after_a_built_in_one() {
    for source in ["falco", "audit", "kyverno", "trivy"] {
        let hook = ingester(
            CLUSTER_NS,
            "hook",
            "2026-01-01T00:00:00Z",
            json!({"source": source, "ingester": "webhook", "webhook": {"path": "/hooks/x"}}),
        );
        let watch = ingester(
            "team-a",
            "watch",
            "2026-01-01T00:00:00Z",
            json!({"source": source, "ingester": "informer",
                   "informer": {"gvr": {"group": "apps", "version": "v1", "resource": "deployments"}}}),
        );
        let plan = plan(&[hook, watch], &Secrets::new(), &cluster_namespaces());
        assert!(plan.routes.is_empty(), "{source}");
        for (ns, name) in [(CLUSTER_NS, "hook"), ("team-a", "watch")] {
            let planned = &plan.ingesters[&key(ns, name)];
            assert_eq!(planned.readiness.reason, Reason::ReservedSource, "{source}");
            assert!(planned.informer.is_none(), "{source}: no source may start");
            assert!(planned.readiness.message.contains(source));
        }
    }
}

#[test]
fn secrets_and_own_kinds_are_refused_even_to_cluster_ingesters() {
    let on = |namespace: &str, name: &str, group: &str, resource: &str| {
        ingester(
            namespace,
            name,
            "2026-01-01T00:00:00Z",
            json!({"source": "leak", "ingester": "informer",
                   "informer": {"gvr": {"group": group, "version": "v1", "resource": resource}}}),
        )
    };
    let plan = plan(
        &[
            on(CLUSTER_NS, "secrets", "", "secrets"),
            on("team-a", "tenant-secrets", "", "secrets"),
            on(
                CLUSTER_NS,
                "reviews",
                "authentication.k8s.io",
                "tokenreviews",
            ),
            on(
                CLUSTER_NS,
                "observations",
                "zen.kube-zen.io",
                "observations",
            ),
            on(CLUSTER_NS, "configmaps", "", "configmaps"),
        ],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    for (ns, name) in [
        (CLUSTER_NS, "secrets"),
        ("team-a", "tenant-secrets"),
        (CLUSTER_NS, "reviews"),
        (CLUSTER_NS, "observations"),
    ] {
        let planned = &plan.ingesters[&key(ns, name)];
        assert_eq!(
            (planned.readiness.state, planned.readiness.reason),
            (IngesterState::Error, Reason::ForbiddenResource),
            "{name}"
        );
        assert!(planned.informer.is_none(), "{name}");
    }
    assert!(
        plan.ingesters[&key(CLUSTER_NS, "configmaps")]
            .informer
            .is_some()
    );
}

#[test]
fn reserved_and_relative_paths_are_errors() {
    assert_eq!(
        check_path("/healthz").unwrap_err().reason,
        Reason::ReservedPath
    );
    assert_eq!(check_path("hooks").unwrap_err().reason, Reason::InvalidSpec);
    assert!(check_path("/ingest/team-a/a").is_ok());
    let plan = plan(
        &[
            webhook("a", "reserved", "2026-01-01T00:00:00Z", "/metrics"),
            webhook("a", "relative", "2026-01-01T00:00:00Z", "hooks"),
        ],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    assert!(plan.routes.is_empty());
    let r = readiness(&plan, "a", "reserved");
    assert_eq!(
        (r.state, r.reason),
        (IngesterState::Error, Reason::ReservedPath)
    );
    assert_eq!(
        readiness(&plan, "a", "relative").reason,
        Reason::InvalidSpec
    );
}

#[test]
fn invalid_mappings_and_filters_are_invalid_specs() {
    let bad_filter = ingester(
        "a",
        "filter",
        "2026-01-01T00:00:00Z",
        json!({"source": "hooks", "ingester": "webhook", "webhook": {"path": "/ingest/a/f"},
               "filters": {"expression": "severity >>> 1"}}),
    );
    let bad_window = ingester(
        "a",
        "window",
        "2026-01-01T00:00:00Z",
        json!({"source": "hooks", "ingester": "webhook", "webhook": {"path": "/ingest/a/w"},
               "deduplication": {"window": "soon"}}),
    );
    let no_webhook = ingester(
        "a",
        "bare",
        "2026-01-01T00:00:00Z",
        json!({"source": "hooks", "ingester": "webhook"}),
    );
    let plan = plan(
        &[bad_filter, bad_window, no_webhook],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    assert!(plan.routes.is_empty());
    for name in ["filter", "window", "bare"] {
        let r = readiness(&plan, "a", name);
        assert_eq!(
            (r.state, r.reason),
            (IngesterState::Error, Reason::InvalidSpec),
            "{name}"
        );
    }
    assert!(
        readiness(&plan, "a", "filter")
            .message
            .contains("spec.filters.expression")
    );
    assert!(
        readiness(&plan, "a", "window")
            .message
            .contains("spec.deduplication.window")
    );
}

#[test]
fn dedup_settings_become_rules() {
    let ing = ingester(
        "a",
        "d",
        "2026-01-01T00:00:00Z",
        json!({"source": "hooks", "ingester": "webhook", "webhook": {"path": "/ingest/a/d"},
               "deduplication": {"enabled": false, "window": "5m"}}),
    );
    let plan = plan(&[ing], &Secrets::new(), &cluster_namespaces());
    let rules = &plan.routes["/ingest/a/d"].rules;
    assert!(!rules.dedup_enabled);
    assert_eq!(
        rules.dedup_window,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(
        parse_duration("2h"),
        Ok(std::time::Duration::from_secs(7200))
    );
    assert!(parse_duration("").is_err());
    assert!(parse_duration("5w").is_err());
}

#[test]
fn objects_without_a_name_are_skipped() {
    let mut ing = webhook("a", "x", "2026-01-01T00:00:00Z", "/x");
    ing.metadata.name = None;
    let plan = plan(&[ing], &Secrets::new(), &cluster_namespaces());
    assert!(plan.ingesters.is_empty() && plan.routes.is_empty());
}

// ---- secrets ----

#[test]
fn bearer_and_basic_credentials_come_from_the_secret() {
    let secrets: Secrets = [
        secret("team-a", "tok", &[("token", "s3cret\n")]),
        secret("team-a", "pw", &[("username", "u"), ("password", "p")]),
    ]
    .into();
    let plan_with = |ing: Ingester| plan(&[ing], &secrets, &cluster_namespaces());
    let bearer = plan_with(webhook_with_auth("bearer", Some("tok")));
    assert_eq!(
        bearer.routes["/ingest/team-a/a"].auth,
        IngesterAuth::Bearer("s3cret".into())
    );
    let basic = plan_with(webhook_with_auth("basic", Some("pw")));
    assert_eq!(
        basic.routes["/ingest/team-a/a"].auth,
        IngesterAuth::Basic {
            user: "u".into(),
            password: "p".into()
        }
    );
}

#[test]
fn a_missing_secret_or_key_means_no_route() {
    let secrets: Secrets = [secret("team-a", "tok", &[("other", "x")])].into();
    let missing_key = plan(
        &[webhook_with_auth("bearer", Some("tok"))],
        &secrets,
        &cluster_namespaces(),
    );
    assert!(missing_key.routes.is_empty());
    let r = readiness(&missing_key, "team-a", "hook");
    assert_eq!(
        (r.state, r.reason),
        (IngesterState::Error, Reason::SecretMissing)
    );
    assert!(
        r.message.contains("team-a/tok") && r.message.contains("\"token\""),
        "{}",
        r.message
    );

    let missing = plan(
        &[webhook_with_auth("basic", Some("gone"))],
        &secrets,
        &cluster_namespaces(),
    );
    assert!(missing.routes.is_empty());
    let r = readiness(&missing, "team-a", "hook");
    assert!(
        r.message.contains("team-a/gone") && r.message.contains("not found"),
        "{}",
        r.message
    );
}

#[test]
fn secret_edge_cases() {
    let secret_ref = SecretRef {
        namespace: "n".into(),
        name: "s".into(),
    };
    let auth = |type_| WebhookAuth {
        type_,
        secret_name: Some("s".into()),
    };
    let unreadable: Secrets = [(
        secret_ref.clone(),
        SecretLookup::Unreadable("forbidden".into()),
    )]
    .into();
    assert!(matches!(
        resolve_auth("n", Some(&auth(WebhookAuthType::Bearer)), &unreadable),
        Err(AuthError::Unreadable { .. })
    ));
    let empty: Secrets = [secret("n", "s", &[("token", "\n")])].into();
    assert!(matches!(
        resolve_auth("n", Some(&auth(WebhookAuthType::Bearer)), &empty),
        Err(AuthError::KeyMissing { key: "token", .. })
    ));
    let half: Secrets = [secret("n", "s", &[("username", "u")])].into();
    assert!(matches!(
        resolve_auth("n", Some(&auth(WebhookAuthType::Basic)), &half),
        Err(AuthError::KeyMissing {
            key: "password",
            ..
        })
    ));
    let no_name = WebhookAuth {
        type_: WebhookAuthType::Bearer,
        secret_name: None,
    };
    assert!(matches!(
        resolve_auth("n", Some(&no_name), &half),
        Err(AuthError::NoSecretName { .. })
    ));
    assert_eq!(
        resolve_auth("n", Some(&auth(WebhookAuthType::None)), &Secrets::new()),
        Ok(IngesterAuth::None)
    );
    assert_eq!(
        resolve_auth("n", None, &Secrets::new()),
        Ok(IngesterAuth::None)
    );
}

// ---- tenancy ----

#[test]
fn tenants_watch_only_their_namespace() {
    let cluster = cluster_namespaces();
    assert_eq!(
        watch_scope("team-a", None, &cluster),
        Ok(WatchScope::Namespace("team-a".into()))
    );
    assert_eq!(
        watch_scope("team-a", Some("team-a"), &cluster),
        Ok(WatchScope::Namespace("team-a".into()))
    );
    let denied = watch_scope("team-a", Some("team-b"), &cluster).unwrap_err();
    assert_eq!(
        denied.to_string(),
        "Ingester in namespace team-a may only watch team-a \
         (CLUSTER_INGESTER_NAMESPACES lists the namespaces allowed to watch cluster-wide)"
    );
}

#[test]
fn cluster_ingesters_watch_anywhere() {
    let cluster = cluster_namespaces();
    assert_eq!(
        watch_scope(CLUSTER_NS, None, &cluster),
        Ok(WatchScope::AllNamespaces)
    );
    assert_eq!(
        watch_scope(CLUSTER_NS, Some(" "), &cluster),
        Ok(WatchScope::AllNamespaces)
    );
    assert_eq!(
        watch_scope(CLUSTER_NS, Some("team-b"), &cluster),
        Ok(WatchScope::Namespace("team-b".into()))
    );
}

#[test]
fn cluster_scoped_resources_need_the_whole_scope() {
    let own = WatchScope::Namespace("team-a".into());
    assert!(check_resource_scope(&own, true, true, "team-a", "v1/pods").is_ok());
    assert!(matches!(
        check_resource_scope(&own, false, true, "team-a", "v1/nodes"),
        Err(ScopeError::NotAllowedNamespace { .. })
    ));
    assert!(matches!(
        check_resource_scope(&own, false, false, CLUSTER_NS, "v1/nodes"),
        Err(ScopeError::ClusterScopedWithNamespace { .. })
    ));
    assert!(
        check_resource_scope(
            &WatchScope::AllNamespaces,
            false,
            false,
            CLUSTER_NS,
            "v1/nodes"
        )
        .is_ok()
    );
}

#[test]
fn informer_ingesters_are_planned_with_their_scope() {
    let plan = plan(
        &[
            informer("team-a", "own", None),
            informer("team-a", "other", Some("team-b")),
            informer(CLUSTER_NS, "all", None),
        ],
        &Secrets::new(),
        &cluster_namespaces(),
    );
    assert!(plan.routes.is_empty());
    let own = &plan.ingesters[&key("team-a", "own")];
    let own_informer = own.informer.as_ref().unwrap();
    assert_eq!(own_informer.scope, WatchScope::Namespace("team-a".into()));
    assert!(own_informer.tenant);
    assert_eq!(own.readiness.state, IngesterState::Pending);
    let other = &plan.ingesters[&key("team-a", "other")];
    assert!(other.informer.is_none());
    assert_eq!(
        (other.readiness.state, other.readiness.reason),
        (IngesterState::Error, Reason::NotAllowedNamespace)
    );
    let all = plan.ingesters[&key(CLUSTER_NS, "all")]
        .informer
        .as_ref()
        .unwrap();
    assert_eq!(all.scope, WatchScope::AllNamespaces);
    assert!(!all.tenant);
}

#[test]
fn an_informer_without_a_gvr_is_invalid() {
    let ing = ingester(
        "a",
        "x",
        "2026-01-01T00:00:00Z",
        json!({"source": "x", "ingester": "informer"}),
    );
    let plan = plan(&[ing], &Secrets::new(), &cluster_namespaces());
    assert_eq!(readiness(&plan, "a", "x").reason, Reason::InvalidSpec);
}

// ---- discovery and watch failures ----

fn gvr() -> Gvr {
    Gvr {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        resource: "rollouts".into(),
    }
}

fn resource_list(verbs: &[&str]) -> APIResourceList {
    APIResourceList {
        group_version: "argoproj.io/v1alpha1".into(),
        resources: vec![APIResource {
            name: "rollouts".into(),
            kind: "Rollout".into(),
            namespaced: true,
            singular_name: "rollout".into(),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }],
    }
}

#[test]
fn discovery_finds_watchable_resources() {
    match find_resource(&resource_list(&["get", "list", "watch"]), &gvr()) {
        Discovered::Found {
            resource,
            namespaced,
        } => {
            assert!(namespaced);
            assert_eq!(resource.kind, "Rollout");
            assert_eq!(resource.api_version, "argoproj.io/v1alpha1");
            assert_eq!(resource.plural, "rollouts");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        find_resource(&resource_list(&["create"]), &gvr()),
        Discovered::NotWatchable
    );
    let mut other = gvr();
    other.resource = "experiments".into();
    assert_eq!(
        find_resource(&resource_list(&["list", "watch"]), &other),
        Discovered::NotServed
    );
}

#[test]
fn forbidden_names_the_missing_rule() {
    assert_eq!(
        forbidden_message(&gvr(), &WatchScope::AllNamespaces),
        "the watcher may not list argoproj.io/rollouts: grant get, list, watch on it \
         (chart value rbac.extraReadResources)"
    );
    let r = watch_failure_readiness(403, &gvr(), &WatchScope::Namespace("a".into())).unwrap();
    assert_eq!(r.reason, Reason::Forbidden);
    assert!(r.message.contains("argoproj.io/rollouts in namespace a"));
    assert_eq!(
        watch_failure_readiness(404, &gvr(), &WatchScope::AllNamespaces)
            .unwrap()
            .reason,
        Reason::ApiNotServed
    );
    assert!(watch_failure_readiness(500, &gvr(), &WatchScope::AllNamespaces).is_none());
}

// ---- sources to start and stop ----

#[test]
fn sources_restart_when_their_ingester_changes() {
    let rev = |uid: &str, generation| Revision {
        uid: uid.into(),
        generation: Some(generation),
    };
    let running: BTreeMap<_, _> = [
        (key("a", "same"), rev("1", 1)),
        (key("a", "changed"), rev("2", 1)),
        (key("a", "gone"), rev("3", 1)),
        (key("a", "recreated"), rev("4", 1)),
    ]
    .into();
    let wanted: BTreeMap<_, _> = [
        (key("a", "same"), rev("1", 1)),
        (key("a", "changed"), rev("2", 2)),
        (key("a", "recreated"), rev("5", 1)),
        (key("a", "new"), rev("6", 1)),
    ]
    .into();
    let (stop, start) = diff_sources(&running, &wanted);
    assert_eq!(
        stop,
        vec![key("a", "changed"), key("a", "gone"), key("a", "recreated")]
    );
    assert_eq!(
        start,
        vec![key("a", "changed"), key("a", "new"), key("a", "recreated")]
    );
}

// ---- status ----

fn ready_of(status: &IngesterStatus) -> &Condition {
    status.conditions.iter().find(|c| c.type_ == READY).unwrap()
}

#[test]
fn the_ready_condition_describes_the_readiness() {
    let now = ts("2026-03-01T10:00:00.700Z");
    let status = desired_status(
        &IngesterStatus::default(),
        &ReadyCondition::conflict("path taken"),
        Some(3),
        now,
    );
    let ready = ready_of(&status);
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "PathConflict");
    assert_eq!(ready.message, "path taken");
    assert_eq!(ready.observed_generation, Some(3));
    assert_eq!(ready.last_transition_time, Time(ts("2026-03-01T10:00:00Z")));
    assert_eq!(status.state, Some(IngesterState::Conflict));
    assert_eq!(status.last_error.as_deref(), Some("path taken"));
    assert_eq!(status.observed_generation, Some(3));
    let active = desired_status(
        &status,
        &ReadyCondition::active(Reason::Routed, "ok"),
        Some(3),
        now,
    );
    assert_eq!(active.last_error, None);
    assert_eq!(ready_of(&active).status, "True");
}

#[test]
fn the_transition_time_changes_only_when_the_status_flips() {
    let t0 = ts("2026-03-01T10:00:00Z");
    let t1 = ts("2026-03-01T11:00:00Z");
    let t2 = ts("2026-03-01T12:00:00Z");
    let missing = ReadyCondition::error(Reason::SecretMissing, "no secret");
    let first = desired_status(&IngesterStatus::default(), &missing, Some(1), t0);
    let other_error = ReadyCondition::error(Reason::InvalidSpec, "bad");
    let second = desired_status(&first, &other_error, Some(2), t1);
    assert_eq!(ready_of(&second).last_transition_time, Time(t0));
    assert_eq!(ready_of(&second).reason, "InvalidSpec");
    let third = desired_status(
        &second,
        &ReadyCondition::active(Reason::Routed, "ok"),
        Some(2),
        t2,
    );
    assert_eq!(ready_of(&third).last_transition_time, Time(t2));
}

#[test]
fn other_conditions_and_last_event_are_kept() {
    let mut current = IngesterStatus {
        last_event_at: Some(Time(ts("2026-01-01T00:00:00Z"))),
        ..Default::default()
    };
    current.conditions.push(Condition {
        type_: "Synced".into(),
        status: "True".into(),
        reason: "X".into(),
        message: String::new(),
        observed_generation: None,
        last_transition_time: Time(ts("2026-01-01T00:00:00Z")),
    });
    let status = desired_status(
        &current,
        &ReadyCondition::active(Reason::Routed, "ok"),
        Some(1),
        ts("2026-02-01T00:00:00Z"),
    );
    assert_eq!(status.conditions.len(), 2);
    assert_eq!(status.last_event_at, current.last_event_at);
}

#[test]
fn nothing_is_written_when_nothing_changed() {
    let ok = ReadyCondition::active(Reason::Routed, "serving webhook path /a");
    let written = desired_status(
        &IngesterStatus::default(),
        &ok,
        Some(1),
        ts("2026-01-01T00:00:00Z"),
    );
    let later = ts("2026-01-02T00:00:00Z");
    assert_eq!(next_status(&written, None, &ok, Some(1), later), None);
    // The watch has not brought the write back yet.
    assert_eq!(
        next_status(
            &IngesterStatus::default(),
            Some(&written),
            &ok,
            Some(1),
            later
        ),
        None
    );
    // A new generation or a new message is written.
    assert!(next_status(&written, None, &ok, Some(2), later).is_some());
    let moved = ReadyCondition::active(Reason::Routed, "serving webhook path /b");
    let next = next_status(&written, None, &moved, Some(2), later).unwrap();
    assert_eq!(
        ready_of(&next).last_transition_time,
        Time(ts("2026-01-01T00:00:00Z"))
    );
}

#[test]
fn the_patch_clears_last_error() {
    let ok = desired_status(
        &IngesterStatus::default(),
        &ReadyCondition::active(Reason::Watching, "w"),
        Some(1),
        ts("2026-01-01T00:00:00Z"),
    );
    let patch = status_patch(&ok);
    assert_eq!(patch["status"]["lastError"], Value::Null);
    assert!(
        patch["status"]
            .as_object()
            .unwrap()
            .contains_key("lastError")
    );
    assert_eq!(patch["status"]["state"], "Active");
    assert_eq!(
        patch["status"]["conditions"][0]["lastTransitionTime"],
        "2026-01-01T00:00:00Z"
    );
    let bad = desired_status(
        &ok,
        &ReadyCondition::error(Reason::Forbidden, "nope"),
        Some(1),
        ts("2026-01-02T00:00:00Z"),
    );
    assert_eq!(status_patch(&bad)["status"]["lastError"], "nope");
}
