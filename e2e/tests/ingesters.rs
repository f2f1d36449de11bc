//! The Ingester orchestrator against a real apiserver: webhook routes follow Ingesters (add,
//! move, delete, conflicts, per-path auth from Secrets), informer Ingesters turn watched
//! objects into Observations and resolve them on delete, tenancy and discovery errors are
//! written to the Ingester's status; what no Ingester may claim (Secrets and our own kinds, a
//! path outside a tenant's prefix) and a contested path decided the same on two replicas.
//!
//! Every orchestrator sees the Ingesters of the whole cluster, so each test uses paths named
//! after its own namespace and deletes its Ingesters at the end.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zen_watcher::admission::filter::FilterConfig;
use zen_watcher::crd::{Ingester, Observation};
use zen_watcher::informers::Findings;
use zen_watcher::ingesters::{Orchestrator, Settings};
use zen_watcher::observation::ObservationSettings;
use zen_watcher::pipeline::{Pipeline, PipelineMetrics};
use zen_watcher::server::{IngesterAuth, RouteTable};
use zen_watcher::writer::{RetryPolicy, WriteQueue, Writer};
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds, wait_established, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// An orchestrator with its route loop and (optionally) a leader term running.
struct Harness {
    routes: RouteTable,
    ready: watch::Receiver<bool>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    fn start(client: &Client, fallback_ns: &str, leader: bool) -> Harness {
        Self::start_with(client, fallback_ns, leader, &[])
    }

    /// With `cluster` as `CLUSTER_INGESTER_NAMESPACES`.
    fn start_with(client: &Client, fallback_ns: &str, leader: bool, cluster: &[&str]) -> Harness {
        let cluster: Vec<String> = cluster.iter().map(|s| s.to_string()).collect();
        let writer = Arc::new(Writer::new(
            client.clone(),
            ObservationSettings {
                fallback_namespace: fallback_ns.to_string(),
                default_ttl_seconds: 86_400,
                details_max_bytes: 32 * 1024,
                cluster_ingester_namespaces: cluster.clone(),
            },
            RetryPolicy::default(),
        ));
        let (queue, _) = WriteQueue::start(writer.clone(), 100, 4);
        let pipeline = Arc::new(Pipeline::new(
            FilterConfig::default(),
            NonZeroUsize::new(1000).unwrap(),
            Duration::from_secs(60),
            PipelineMetrics::default(),
        ));
        let routes = RouteTable::new();
        let settings = Settings {
            cluster_ingester_namespaces: cluster,
            secret_refresh: Duration::from_secs(2),
            identity: format!("e2e-{fallback_ns}"),
        };
        let findings = Findings::new(pipeline, queue, writer, Arc::new(|| true));
        let orchestrator = Arc::new(Orchestrator::new(
            client.clone(),
            routes.clone(),
            settings,
            findings,
        ));
        let shutdown = CancellationToken::new();
        let (ready_tx, ready) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(
            orchestrator.clone().run_routes(ready_tx, shutdown.clone()),
        )];
        if leader {
            tasks.push(tokio::spawn(
                orchestrator.run_leader(shutdown.child_token()),
            ));
        }
        Harness {
            routes,
            ready,
            shutdown,
            tasks,
        }
    }

    async fn wait_ready(&mut self) {
        tokio::time::timeout(DEADLINE, self.ready.wait_for(|r| *r))
            .await
            .expect("the first Ingester list is routed")
            .expect("the route loop is running");
    }

    async fn wait_route(&self, path: &str, present: bool) {
        let routes = self.routes.clone();
        wait_until(&format!("route {path} present={present}"), DEADLINE, || {
            let routes = routes.clone();
            async move { Ok((routes.get(path).is_some() == present).then_some(())) }
        })
        .await
        .unwrap();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

fn webhook_ingester(name: &str, path: &str, auth: Option<Value>) -> Ingester {
    let mut webhook = json!({"path": path});
    if let Some(auth) = auth {
        webhook["auth"] = auth;
    }
    serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": name},
        "spec": {"source": "hooks", "ingester": "webhook", "webhook": webhook},
    }))
    .unwrap()
}

fn widget_ingester(name: &str, informer: Value) -> Ingester {
    serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": name},
        "spec": {
            "source": "widgets", "ingester": "informer", "informer": informer,
            "normalization": {
                "severityField": "status.phase",
                "severityMap": {"Failed": "critical", "Degraded": "medium"},
            },
        },
    }))
    .unwrap()
}

fn widget_gvr() -> Value {
    json!({"group": "e2e.zen.io", "version": "v1", "resource": "widgets"})
}

async fn create(ns: &TestNamespace, ingester: &Ingester) {
    ns.api::<Ingester>()
        .create(&PostParams::default(), ingester)
        .await
        .unwrap();
}

async fn delete_all_ingesters(ns: &TestNamespace) {
    ns.api::<Ingester>()
        .delete_collection(&DeleteParams::default(), &Default::default())
        .await
        .unwrap();
}

/// Waits until the Ingester's Ready condition has `status` and `reason`; returns its message.
async fn wait_ready_condition(
    ns: &TestNamespace,
    name: &str,
    status: &str,
    reason: &str,
) -> String {
    let api = ns.api::<Ingester>();
    wait_until(
        &format!("Ingester {name} Ready={status} reason {reason}"),
        DEADLINE,
        || {
            let api = api.clone();
            async move {
                let ingester = api.get(name).await?;
                let ready = ingester
                    .status
                    .unwrap_or_default()
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready");
                Ok(ready
                    .filter(|c| c.status == status && c.reason == reason)
                    .map(|c| c.message))
            }
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn webhook_routes_follow_ingesters() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-routes").await.unwrap();
    let first = format!("/ingest/{}/first", ns.name);
    let moved = format!("/ingest/{}/moved", ns.name);
    create(&ns, &webhook_ingester("hook", &first, None)).await;

    // Ready only once the existing Ingester is routed.
    let mut harness = Harness::start(&client, &ns.name, false);
    harness.wait_ready().await;
    let route = harness.routes.get(&first).expect("routed before ready");
    assert_eq!(
        (route.namespace.as_str(), route.name.as_str()),
        (ns.name.as_str(), "hook")
    );
    assert_eq!(route.auth, IngesterAuth::None);

    let patch = json!({"spec": {"webhook": {"path": moved}}});
    ns.api::<Ingester>()
        .patch("hook", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    harness.wait_route(&moved, true).await;
    harness.wait_route(&first, false).await;

    ns.api::<Ingester>()
        .delete("hook", &DeleteParams::default())
        .await
        .unwrap();
    harness.wait_route(&moved, false).await;
    harness.stop().await;
}

#[tokio::test]
async fn a_second_ingester_on_a_taken_path_conflicts() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-conflict")
        .await
        .unwrap();
    let path = format!("/ingest/{}/shared", ns.name);
    let mut harness = Harness::start(&client, &ns.name, true);
    harness.wait_ready().await;
    // Names in creation order, so a tie of the (second-resolution) creation times agrees.
    create(&ns, &webhook_ingester("a-first", &path, None)).await;
    harness.wait_route(&path, true).await;
    create(&ns, &webhook_ingester("b-second", &path, None)).await;

    let message = wait_ready_condition(&ns, "b-second", "False", "PathConflict").await;
    assert!(
        message.contains(&format!("{}/a-first", ns.name)),
        "{message}"
    );
    wait_ready_condition(&ns, "a-first", "True", "Routed").await;
    let loser = ns.api::<Ingester>().get("b-second").await.unwrap();
    let status = loser.status.unwrap();
    assert_eq!(status.observed_generation, loser.metadata.generation);
    assert_eq!(status.last_error.as_deref(), Some(message.as_str()));
    assert_eq!(harness.routes.get(&path).unwrap().name, "a-first");
    // `kubectl describe ingester` tells the same story.
    wait_event(&ns, "a-first", "Normal", "Accepted", "Routed").await;
    let refused = wait_event(&ns, "b-second", "Warning", "Refused", "PathConflict").await;
    assert_eq!(refused, message);

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}

/// Waits for an events.k8s.io Event about Ingester `name`; returns its note.
async fn wait_event(
    ns: &TestNamespace,
    name: &str,
    type_: &str,
    action: &str,
    reason: &str,
) -> String {
    use k8s_openapi::api::events::v1::Event;
    let api = ns.api::<Event>();
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = api.list(&Default::default()).await.unwrap().items;
        let found = seen.iter().find(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Ingester")
                && e.type_.as_deref() == Some(type_)
                && e.action.as_deref() == Some(action)
                && e.reason.as_deref() == Some(reason)
        });
        if let Some(event) = found {
            assert_eq!(event.reporting_controller.as_deref(), Some("zen-watcher"));
            return event.note.clone().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let summary: Vec<_> = seen
        .iter()
        .map(|e| {
            (
                e.regarding.as_ref().and_then(|r| r.name.clone()),
                e.type_.clone(),
                e.action.clone(),
                e.reason.clone(),
            )
        })
        .collect();
    panic!("no {type_} {action} {reason} Event for Ingester {name}; saw {summary:?}");
}

#[tokio::test]
async fn bearer_auth_comes_from_a_secret() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-auth").await.unwrap();
    let secret = |name: &str, token: &str| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("token".to_string(), ByteString(token.as_bytes().to_vec()))].into()),
        ..Default::default()
    };
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret("hook-token", "s3cret"))
        .await
        .unwrap();
    let with_secret = format!("/ingest/{}/with", ns.name);
    let without = format!("/ingest/{}/without", ns.name);
    let bearer = |name: &str| json!({"type": "bearer", "secretName": name});
    let mut harness = Harness::start(&client, &ns.name, true);
    harness.wait_ready().await;
    create(
        &ns,
        &webhook_ingester("with", &with_secret, Some(bearer("hook-token"))),
    )
    .await;
    create(
        &ns,
        &webhook_ingester("without", &without, Some(bearer("absent"))),
    )
    .await;

    harness.wait_route(&with_secret, true).await;
    let route = harness.routes.get(&with_secret).unwrap();
    assert_eq!(route.auth, IngesterAuth::Bearer("s3cret".into()));
    let message = wait_ready_condition(&ns, "without", "False", "SecretMissing").await;
    assert!(
        message.contains(&format!("{}/absent", ns.name)) && message.contains("token"),
        "{message}"
    );
    assert!(harness.routes.get(&without).is_none(), "never served open");

    // The Secret appears: picked up by the periodic re-read.
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret("absent", "late"))
        .await
        .unwrap();
    harness.wait_route(&without, true).await;
    assert_eq!(
        harness.routes.get(&without).unwrap().auth,
        IngesterAuth::Bearer("late".into())
    );
    wait_ready_condition(&ns, "without", "True", "Routed").await;

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}

async fn apply_widget_crd(client: &Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.e2e.zen.io"},
        "spec": {
            "group": "e2e.zen.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "string"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                }}},
            }],
        },
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            "widgets.e2e.zen.io",
            &PatchParams::apply("zen-watcher-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    wait_established(client, "widgets.e2e.zen.io")
        .await
        .unwrap();
}

fn widgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("e2e.zen.io", "v1", "Widget");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    )
}

async fn create_widget(client: &Client, ns: &str, name: &str, phase: &str) {
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "e2e.zen.io/v1", "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": "large"},
        "status": {"phase": phase},
    }))
    .unwrap();
    widgets(client, ns)
        .create(&PostParams::default(), &widget)
        .await
        .unwrap();
}

/// Observation title (`Widget <ns>/<name>`) -> (severity, resolved?).
fn by_title(items: Vec<Observation>) -> BTreeMap<String, (String, bool)> {
    items
        .into_iter()
        .map(|o| {
            let resolved = o
                .status
                .as_ref()
                .and_then(|s| s.resolved_at.as_ref())
                .is_some();
            let title = o.spec.title.clone().unwrap_or_else(|| o.name_any());
            (title, (o.spec.severity.to_string(), resolved))
        })
        .collect()
}

async fn observations(ns: &TestNamespace) -> BTreeMap<String, (String, bool)> {
    by_title(ns.observations().await.unwrap())
}

async fn wait_observations<F>(
    what: &str,
    ns: &TestNamespace,
    check: F,
) -> BTreeMap<String, (String, bool)>
where
    F: Fn(&BTreeMap<String, (String, bool)>) -> bool,
{
    ns.wait_for_observations(what, DEADLINE, by_title, check)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_informer_ingester_turns_objects_into_observations() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_widget_crd(&client).await;
    let ns = TestNamespace::create(&client, "ing-informer")
        .await
        .unwrap();
    create_widget(&client, &ns.name, "broken", "Failed").await;
    create_widget(&client, &ns.name, "wobbly", "Degraded").await;
    create(
        &ns,
        &widget_ingester("widgets", json!({"gvr": widget_gvr()})),
    )
    .await;

    let mut harness = Harness::start(&client, &ns.name, true);
    harness.wait_ready().await;
    let message = wait_ready_condition(&ns, "widgets", "True", "Watching").await;
    assert!(message.contains(&ns.name), "{message}");
    let seen = wait_observations("two widget Observations", &ns, |o| o.len() == 2).await;
    let broken = format!("Widget {}/broken", ns.name);
    let wobbly = format!("Widget {}/wobbly", ns.name);
    assert_eq!(seen[&broken], ("critical".to_string(), false));
    assert_eq!(seen[&wobbly], ("medium".to_string(), false));

    widgets(&client, &ns.name)
        .delete("broken", &DeleteParams::default())
        .await
        .unwrap();
    let after = wait_observations("the deleted widget's Observation resolved", &ns, |o| {
        o.get(&broken).is_some_and(|(_, resolved)| *resolved)
    })
    .await;
    assert_eq!(after[&wobbly], ("medium".to_string(), false));

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}

#[tokio::test]
async fn a_tenant_informer_may_not_watch_another_namespace() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    apply_widget_crd(&client).await;
    let tenant = TestNamespace::create(&client, "ing-tenant").await.unwrap();
    let other = TestNamespace::create(&client, "ing-other").await.unwrap();
    create_widget(&client, &other.name, "theirs", "Failed").await;
    let informer = json!({"gvr": widget_gvr(), "namespace": other.name});
    create(&tenant, &widget_ingester("snoop", informer)).await;

    let mut harness = Harness::start(&client, &tenant.name, true);
    harness.wait_ready().await;
    let message = wait_ready_condition(&tenant, "snoop", "False", "NotAllowedNamespace").await;
    assert!(
        message.contains(&format!("may only watch {}", tenant.name)),
        "{message}"
    );
    let status = tenant
        .api::<Ingester>()
        .get("snoop")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.state, Some(zen_watcher::crd::IngesterState::Error));
    // Give a wrongly started watch the time to write, then check it wrote nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(observations(&tenant).await.is_empty());
    assert!(observations(&other).await.is_empty());

    delete_all_ingesters(&tenant).await;
    harness.stop().await;
}

#[tokio::test]
async fn an_unknown_gvr_is_not_served() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-unknown").await.unwrap();
    let gvr = json!({"group": "nowhere.e2e.zen.io", "version": "v1", "resource": "things"});
    create(&ns, &widget_ingester("ghost", json!({"gvr": gvr}))).await;

    let mut harness = Harness::start(&client, &ns.name, true);
    harness.wait_ready().await;
    let message = wait_ready_condition(&ns, "ghost", "False", "APINotServed").await;
    assert!(
        message.contains("nowhere.e2e.zen.io/v1/things"),
        "{message}"
    );

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}

#[tokio::test]
async fn an_informer_ingester_never_watches_secrets_whatever_rbac_allows() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-secrets").await.unwrap();
    ns.api::<Secret>()
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("db-password".into()),
                    ..Default::default()
                },
                data: Some([("password".to_string(), ByteString(b"hunter2".to_vec()))].into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let informer = |resource: &str, group: &str| json!({"gvr": {"group": group, "version": "v1", "resource": resource}});
    create(&ns, &widget_ingester("secrets", informer("secrets", ""))).await;
    create(
        &ns,
        &widget_ingester("observations", informer("observations", "zen.kube-zen.io")),
    )
    .await;

    // A cluster Ingester, an admin client: RBAC allows everything; the watcher still refuses.
    let mut harness = Harness::start_with(&client, &ns.name, true, &[&ns.name]);
    harness.wait_ready().await;
    let message = wait_ready_condition(&ns, "secrets", "False", "ForbiddenResource").await;
    assert!(
        message.starts_with("secrets may not be watched"),
        "{message}"
    );
    let message = wait_ready_condition(&ns, "observations", "False", "ForbiddenResource").await;
    assert!(
        message.contains("observations.zen.kube-zen.io"),
        "{message}"
    );
    // Give a wrongly started watch the time to write, then check it wrote nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(observations(&ns).await.is_empty());

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}

#[tokio::test]
async fn a_contested_path_goes_to_the_oldest_ingester_on_every_replica() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-race").await.unwrap();
    let path = format!("/ingest/{}/contested", ns.name);
    // One replica sees the Ingesters arrive one by one, the other lists both at its start.
    let mut early = Harness::start(&client, &ns.name, false);
    early.wait_ready().await;
    // The older one sorts last by name, so only its creation time can make it win; creation
    // times have whole seconds, so the second one is created a second later.
    create(&ns, &webhook_ingester("z-older", &path, None)).await;
    early.wait_route(&path, true).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create(&ns, &webhook_ingester("a-newer", &path, None)).await;
    let mut late = Harness::start(&client, &ns.name, true);
    late.wait_ready().await;

    wait_ready_condition(&ns, "a-newer", "False", "PathConflict").await;
    for (replica, harness) in [("early", &early), ("late", &late)] {
        assert_eq!(
            harness.routes.get(&path).map(|r| r.name.clone()).as_deref(),
            Some("z-older"),
            "{replica}"
        );
    }
    // The older one goes: the newer one takes the path, on both replicas.
    ns.api::<Ingester>()
        .delete("z-older", &DeleteParams::default())
        .await
        .unwrap();
    for harness in [&early, &late] {
        let routes = harness.routes.clone();
        let path = path.clone();
        wait_until("a-newer takes the path", DEADLINE, || {
            let routes = routes.clone();
            let path = path.clone();
            async move {
                Ok(
                    (routes.get(&path).map(|r| r.name.clone()).as_deref() == Some("a-newer"))
                        .then_some(()),
                )
            }
        })
        .await
        .unwrap();
    }

    delete_all_ingesters(&ns).await;
    early.stop().await;
    late.stop().await;
}

#[tokio::test]
async fn a_tenant_cannot_take_a_path_outside_its_namespace() {
    zen_watcher_e2e::init_logging();
    let client = admin_client().await.unwrap();
    apply_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "ing-prefix").await.unwrap();
    let own = format!("/ingest/{}/own", ns.name);
    let mut harness = Harness::start(&client, &ns.name, true);
    harness.wait_ready().await;
    create(
        &ns,
        &webhook_ingester("global", "/hooks/platform-e2e", None),
    )
    .await;
    create(&ns, &webhook_ingester("own", &own, None)).await;

    harness.wait_route(&own, true).await;
    let message = wait_ready_condition(&ns, "global", "False", "PathOutsideNamespace").await;
    assert!(
        message.contains(&format!("under /ingest/{}/", ns.name)),
        "{message}"
    );
    assert!(harness.routes.get("/hooks/platform-e2e").is_none());

    delete_all_ingesters(&ns).await;
    harness.stop().await;
}
