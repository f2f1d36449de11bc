//! The chart's Deployment, webhook token Secret and RBAC: what `helm template` renders (leader
//! election on by default, downward-API identity, refusal of several replicas without
//! election), and, installed by Helm into a real apiserver, RBAC that lets the chart's
//! ServiceAccount do exactly what the watcher does and nothing more (no Secrets unless
//! `rbac.ingesterSecretNamespaces` names the namespace), and a generated webhook token that
//! `helm upgrade` keeps.

use std::path::Path;
use std::process::Output;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams};
use serde_json::{Value, json};
use zen_watcher::crd::Observation;
use zen_watcher_e2e::chart::find;
use zen_watcher_e2e::{
    ControlPlane, client_from_kubeconfig, kubeconfig_for_token, mint_token, wait_established,
};

const NS: &str = "zen-system";
const SA: &str = "zen-watcher";
const LEASE: &str = "zen-watcher-leader-election";
const TOKEN_SECRET: &str = "zen-watcher-webhook-token";

fn helm(kubeconfig: &Path, args: &[&str]) -> String {
    zen_watcher_e2e::chart::helm(kubeconfig, args).unwrap()
}

/// `helm template` of the chart with `extra` flags. `lookup` finds nothing here, so callers
/// usually pass `webhook.existingSecret`, as GitOps setups must.
fn template(extra: &[&str]) -> Output {
    zen_watcher_e2e::chart::template(NS, extra).unwrap()
}

/// The rendered documents, parsed.
fn render(extra: &[&str]) -> Vec<Value> {
    zen_watcher_e2e::chart::render(NS, extra)
}

fn deployment(docs: &[Value]) -> &Value {
    let found = find(docs, "Deployment");
    assert_eq!(found.len(), 1, "exactly one Deployment");
    found[0]
}

fn container(docs: &[Value]) -> &Value {
    &deployment(docs)["spec"]["template"]["spec"]["containers"][0]
}

/// The container's env entry `name`, if any.
fn env<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    container(docs)["env"]
        .as_array()
        .expect("env list")
        .iter()
        .find(|e| e["name"] == name)
}

fn env_value(docs: &[Value], name: &str) -> Option<String> {
    env(docs, name).and_then(|e| e["value"].as_str().map(String::from))
}

#[test]
fn defaults_render_three_elected_replicas_with_downward_api_identity() {
    let docs = render(&["--set", "webhook.existingSecret=x"]);
    let deploy = deployment(&docs);
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(
        env_value(&docs, "ENABLE_LEADER_ELECTION").as_deref(),
        Some("true")
    );
    for (name, path) in [
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_NAME", "metadata.name"),
    ] {
        let e = env(&docs, name).unwrap_or_else(|| panic!("{name} is not set"));
        assert_eq!(e["valueFrom"]["fieldRef"]["fieldPath"], path, "{name}");
    }
    for (name, value) in [
        ("LEADER_ELECTION_LEASE_DURATION", "15s"),
        ("LEADER_ELECTION_RENEW_DEADLINE", "10s"),
        ("LEADER_ELECTION_RETRY_PERIOD", "2s"),
        ("WATCHER_PORT", "8080"),
        ("METRICS_PORT", "9090"),
        ("OBSERVATION_TTL_DAYS", "7"),
        ("FILTER_CONFIGMAP_NAME", "zen-watcher-filter"),
        ("LOG_FORMAT", "json"),
    ] {
        assert_eq!(env_value(&docs, name).as_deref(), Some(value), "{name}");
    }
    let token = env(&docs, "WEBHOOK_AUTH_TOKEN").expect("WEBHOOK_AUTH_TOKEN");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "x");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["key"], "token");
    assert!(
        env(&docs, "WEBHOOK_ALLOWED_IPS").is_none(),
        "omitted when empty"
    );
    // existingSecret: nothing generated.
    assert!(find(&docs, "Secret").is_empty());

    let c = container(&docs);
    let ports: Vec<(&str, i64)> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("webhook", 8080), ("metrics", 9090)]);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], SA);
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(
        pod["topologySpreadConstraints"][0]["whenUnsatisfiable"],
        "ScheduleAnyway"
    );
    let rolling = &deploy["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        (&rolling["maxUnavailable"], &rolling["maxSurge"]),
        (&json!(0), &json!(1))
    );
    assert!(
        c["image"].as_str().unwrap().ends_with(":0.1.0"),
        "{}",
        c["image"]
    );

    // No Secrets anywhere in the default RBAC.
    for kind in ["Role", "ClusterRole"] {
        for role in find(&docs, kind) {
            for rule in role["rules"].as_array().unwrap() {
                assert!(
                    !rule["resources"]
                        .as_array()
                        .unwrap()
                        .contains(&json!("secrets")),
                    "{kind} grants Secrets: {rule}"
                );
            }
        }
    }
}

#[test]
fn several_replicas_without_leader_election_refuse_to_render() {
    let out = template(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "leaderElection.enabled=false",
    ]);
    assert!(
        !out.status.success(),
        "rendered 3 replicas without leader election"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("replicaCount is 3 but leaderElection.enabled is false"),
        "{stderr}"
    );

    let out = template(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=1",
        "--set",
        "autoscaling.enabled=true",
        "--set",
        "autoscaling.maxReplicas=5",
    ]);
    assert!(
        !out.status.success(),
        "rendered an autoscaled Deployment without election"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("autoscaling.maxReplicas is 5 but leaderElection.enabled is false"),
        "{stderr}"
    );

    let docs = render(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=1",
    ]);
    assert_eq!(deployment(&docs)["spec"]["replicas"], 1);
    assert_eq!(
        env_value(&docs, "ENABLE_LEADER_ELECTION").as_deref(),
        Some("false")
    );
    assert!(env(&docs, "LEADER_ELECTION_LEASE_DURATION").is_none());
}

#[test]
fn values_reach_the_environment_and_volumes() {
    let docs = render(&[
        "--set",
        "webhook.allowedIPs={10.0.0.0/8,192.168.0.0/16}",
        "--set",
        "tls.secretName=serving",
        "--set",
        "tls.clientCASecret=clients",
        "--set",
        "clusterIngesterNamespaces={zen-system,platform}",
        "--set",
        "observation.ttlDays=3",
        "--set",
        "limits.writerConcurrency=4",
        "--set",
        "extraEnv[0].name=OTEL_SERVICE_NAME",
        "--set",
        "extraEnv[0].value=zw",
    ]);
    for (name, value) in [
        ("WEBHOOK_ALLOWED_IPS", "10.0.0.0/8,192.168.0.0/16"),
        ("WEBHOOK_TLS_CERT_FILE", "/etc/zen-watcher/tls/tls.crt"),
        ("WEBHOOK_TLS_KEY_FILE", "/etc/zen-watcher/tls/tls.key"),
        (
            "WEBHOOK_TLS_CLIENT_CA_FILE",
            "/etc/zen-watcher/client-ca/ca.crt",
        ),
        ("CLUSTER_INGESTER_NAMESPACES", "zen-system,platform"),
        ("OBSERVATION_TTL_DAYS", "3"),
        ("WRITER_CONCURRENCY", "4"),
        ("OTEL_SERVICE_NAME", "zw"),
    ] {
        assert_eq!(env_value(&docs, name).as_deref(), Some(value), "{name}");
    }
    let volumes = &deployment(&docs)["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["secret"]["secretName"], "serving");
    assert_eq!(volumes[1]["secret"]["secretName"], "clients");

    // Without existingSecret a token Secret is generated and referenced.
    let secret = find(&docs, "Secret");
    assert_eq!(secret.len(), 1);
    assert_eq!(secret[0]["metadata"]["name"], TOKEN_SECRET);
    assert!(
        secret[0]["data"]["token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );
    let token = env(&docs, "WEBHOOK_AUTH_TOKEN").unwrap();
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], TOKEN_SECRET);

    // mTLS without TLS is refused.
    let out = template(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "tls.clientCASecret=c",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("tls.clientCASecret (mTLS) needs tls.secretName")
    );
}

#[test]
fn tracing_values_set_the_otel_environment() {
    const OTEL: [&str; 5] = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_SERVICE_NAME",
    ];
    // Off by default: no OTEL_* variable, so the watcher runs no exporter.
    let docs = render(&["--set", "webhook.existingSecret=x"]);
    for name in OTEL {
        assert!(env(&docs, name).is_none(), "{name} is set by default");
    }

    let docs = render(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "tracing.enabled=true",
        "--set",
        "tracing.endpoint=http://otel-collector.observability:4317",
    ]);
    for (name, value) in [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://otel-collector.observability:4317",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_SERVICE_NAME", "zen-watcher"),
    ] {
        assert_eq!(env_value(&docs, name).as_deref(), Some(value), "{name}");
    }
    assert!(env(&docs, "OTEL_TRACES_SAMPLER_ARG").is_none());

    // The service name is the release's full name; a ratio of 0 is kept (not taken as unset).
    let docs = render(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "fullnameOverride=zw-prod",
        "--set",
        "tracing.enabled=true",
        "--set",
        "tracing.endpoint=http://collector:4318",
        "--set",
        "tracing.protocol=http/protobuf",
        "--set",
        "tracing.sampler=parentbased_traceidratio",
        "--set",
        "tracing.samplerArg=0",
    ]);
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ("OTEL_SERVICE_NAME", "zw-prod"),
    ] {
        assert_eq!(env_value(&docs, name).as_deref(), Some(value), "{name}");
    }
    let docs = render(&[
        "--set",
        "webhook.existingSecret=x",
        "--set",
        "tracing.enabled=true",
        "--set",
        "tracing.endpoint=http://c:4317",
        "--set",
        "tracing.samplerArg=0.25",
    ]);
    assert_eq!(
        env_value(&docs, "OTEL_TRACES_SAMPLER_ARG").as_deref(),
        Some("0.25")
    );

    // Enabled without an endpoint, or with an unknown protocol or sampler: refused.
    for (extra, message) in [
        (
            vec![],
            "tracing.enabled is true but tracing.endpoint is empty",
        ),
        (
            vec![
                "--set",
                "tracing.endpoint=http://c:4318",
                "--set",
                "tracing.protocol=http/json",
            ],
            "tracing.protocol is \"http/json\": use grpc or http/protobuf",
        ),
        (
            vec![
                "--set",
                "tracing.endpoint=http://c:4317",
                "--set",
                "tracing.sampler=ratio",
            ],
            "tracing.sampler is \"ratio\"",
        ),
    ] {
        let mut args = vec![
            "--set",
            "webhook.existingSecret=x",
            "--set",
            "tracing.enabled=true",
        ];
        args.extend(extra);
        let out = template(&args);
        assert!(!out.status.success(), "rendered {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

/// Whether the chart's ServiceAccount may `verb` the resource, as the apiserver's authorizer
/// answers (works whether or not the resource's CRD exists).
async fn allowed(
    admin: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{NS}:{SA}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{NS}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: namespace.map(String::from),
                name: name.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview")
        .status
        .expect("SubjectAccessReview status")
        .allowed
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{what}: {status:?}"),
        other => panic!("{what} should be Forbidden, got {other:?}"),
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

async fn create_namespace(admin: &Client, name: &str) {
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: meta(name),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn create_secret(admin: &Client, namespace: &str, name: &str) {
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &Secret {
                metadata: meta(name),
                string_data: Some([("token".to_string(), "s3cret".to_string())].into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn webhook_token(admin: &Client) -> Vec<u8> {
    let secret = Api::<Secret>::namespaced(admin.clone(), NS)
        .get(TOKEN_SECRET)
        .await
        .expect("the generated webhook token Secret");
    let token = secret
        .data
        .unwrap_or_default()
        .remove("token")
        .expect("key token")
        .0;
    assert!(token.len() >= 32, "token too short: {} bytes", token.len());
    token
}

/// A raw watch request (what kube's `watch_object` sends), closed by the server after 1 s.
async fn watch_by_name(client: &Client, path: &str, name: &str) -> Result<String, kube::Error> {
    let wp = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(1);
    let request = kube::core::Request::new(path).watch(&wp, "0").unwrap();
    client.request_text(request).await
}

#[tokio::test]
async fn installed_rbac_is_least_privilege_and_upgrade_keeps_the_token() {
    // Its own control plane: Helm owns the CRDs and cluster-scoped RBAC of this release.
    let cp = ControlPlane::start(&[]).unwrap();
    let admin = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    // No kubelet runs Pods, so no --wait.
    helm(
        &cp.kubeconfig,
        &[
            "install",
            "zen-watcher",
            "CHART",
            "-n",
            NS,
            "--create-namespace",
        ],
    );
    wait_established(&admin, "observations.zen.kube-zen.io")
        .await
        .unwrap();
    wait_established(&admin, "ingesters.zen.kube-zen.io")
        .await
        .unwrap();
    let token_before = webhook_token(&admin).await;

    let token = mint_token(&admin, NS, SA).await.unwrap();
    let sa_kubeconfig =
        kubeconfig_for_token(&cp.kubeconfig, &token, &cp.data_dir, "watcher-sa.yaml").unwrap();
    let sa = client_from_kubeconfig(&sa_kubeconfig).await.unwrap();
    let pp = PostParams::default();

    // --- Leader election: create, read, watch, update and patch its own Lease. ---
    let leases: Api<Lease> = Api::namespaced(sa.clone(), NS);
    let lease = Lease {
        metadata: meta(LEASE),
        spec: Some(LeaseSpec {
            holder_identity: Some("zen-watcher-0".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let mut created = leases.create(&pp, &lease).await.expect("create the Lease");
    created.spec.as_mut().unwrap().holder_identity = Some("zen-watcher-1".into());
    leases
        .replace(LEASE, &pp, &created)
        .await
        .expect("update the Lease");
    let patched = leases
        .patch(
            LEASE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": null}})),
        )
        .await
        .expect("patch the Lease");
    assert_eq!(patched.spec.unwrap().holder_identity, None);
    leases.get(LEASE).await.expect("get the Lease");
    // The watcher's list+watch of the Lease use a metadata.name field selector, which RBAC
    // authorises against resourceNames.
    let by_name = leases
        .list(&ListParams::default().fields(&format!("metadata.name={LEASE}")))
        .await
        .expect("list the Lease by name");
    assert_eq!(by_name.items.len(), 1);
    watch_by_name(
        &sa,
        "/apis/coordination.k8s.io/v1/namespaces/zen-system/leases",
        LEASE,
    )
    .await
    .expect("watch the Lease by name");
    // Other Leases: create cannot be limited by name, everything else can.
    assert_forbidden(
        leases.list(&ListParams::default()).await,
        "listing all Leases",
    );
    Api::<Lease>::namespaced(admin.clone(), NS)
        .create(
            &pp,
            &Lease {
                metadata: meta("someone-else"),
                spec: None,
            },
        )
        .await
        .unwrap();
    assert_forbidden(leases.get("someone-else").await, "reading another Lease");
    assert_forbidden(
        Api::<Lease>::namespaced(sa.clone(), "default")
            .create(
                &pp,
                &Lease {
                    metadata: meta(LEASE),
                    spec: None,
                },
            )
            .await,
        "a Lease outside the release namespace",
    );

    // --- The filter ConfigMap, and only it. ---
    let admin_cms = Api::<ConfigMap>::namespaced(admin.clone(), NS);
    for name in ["zen-watcher-filter", "unrelated"] {
        admin_cms
            .create(
                &pp,
                &ConfigMap {
                    metadata: meta(name),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let cms: Api<ConfigMap> = Api::namespaced(sa.clone(), NS);
    cms.get("zen-watcher-filter")
        .await
        .expect("get the filter ConfigMap");
    let listed = cms
        .list(&ListParams::default().fields("metadata.name=zen-watcher-filter"))
        .await
        .expect("list the filter ConfigMap by name");
    assert_eq!(listed.items.len(), 1);
    watch_by_name(
        &sa,
        "/api/v1/namespaces/zen-system/configmaps",
        "zen-watcher-filter",
    )
    .await
    .expect("watch the filter ConfigMap by name");
    assert_forbidden(cms.get("unrelated").await, "reading another ConfigMap");
    assert_forbidden(
        cms.list(&ListParams::default()).await,
        "listing all ConfigMaps",
    );

    // --- Observations cluster-wide: list, create, patch status, delete. ---
    create_namespace(&admin, "team-b").await;
    Api::<Observation>::all(sa.clone())
        .list(&ListParams::default())
        .await
        .expect("list Observations cluster-wide");
    let observations: Api<Observation> = Api::namespaced(sa.clone(), "team-b");
    let obs: Observation = serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Observation",
        "metadata": {"name": "falco-0123456789abcdef",
                     "labels": {"app.kubernetes.io/managed-by": "zen-watcher"}},
        "spec": {"source": "falco", "category": "security", "severity": "high",
                 "eventType": "runtime_alert", "detectedAt": "2026-11-26T10:00:00Z"}
    }))
    .unwrap();
    observations
        .create(&pp, &obs)
        .await
        .expect("create an Observation");
    observations
        .patch_status(
            "falco-0123456789abcdef",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"occurrences": 2,
                                            "lastSeenAt": "2026-11-26T10:05:00Z"}})),
        )
        .await
        .expect("patch an Observation's status");
    observations
        .delete("falco-0123456789abcdef", &Default::default())
        .await
        .expect("delete an Observation (GC)");

    // --- What the authorizer says for the rest (report CRDs need not be installed). ---
    let sar = |verb: &'static str,
               group: &'static str,
               resource: &'static str,
               ns: Option<&'static str>| {
        let admin = admin.clone();
        async move { allowed(&admin, verb, group, resource, ns, None).await }
    };
    for (group, resource) in [
        ("wgpolicyk8s.io", "policyreports"),
        ("wgpolicyk8s.io", "clusterpolicyreports"),
        ("openreports.io", "reports"),
        ("openreports.io", "clusterreports"),
        ("aquasecurity.github.io", "vulnerabilityreports"),
        ("aquasecurity.github.io", "clustervulnerabilityreports"),
        ("zen.kube-zen.io", "ingesters"),
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(
                sar(verb, group, resource, None).await,
                "{verb} {group}/{resource}"
            );
        }
        for verb in ["create", "update", "patch", "delete"] {
            assert!(
                !sar(verb, group, resource, None).await,
                "{verb} {group}/{resource} granted"
            );
        }
    }
    for verb in ["get", "patch", "update"] {
        assert!(
            sar(verb, "zen.kube-zen.io", "ingesters/status", Some("team-b")).await,
            "{verb} ingesters/status"
        );
        assert!(
            sar(
                verb,
                "zen.kube-zen.io",
                "observations/status",
                Some("team-b")
            )
            .await,
            "{verb} observations/status"
        );
    }
    assert!(
        !sar("update", "zen.kube-zen.io", "observations", Some("team-b")).await,
        "update observations granted"
    );
    assert!(
        !sar(
            "deletecollection",
            "zen.kube-zen.io",
            "observations",
            Some("team-b")
        )
        .await,
        "deletecollection granted"
    );
    for group in ["", "events.k8s.io"] {
        for verb in ["create", "patch"] {
            assert!(
                sar(verb, group, "events", Some(NS)).await,
                "{verb} {group}/events"
            );
        }
        // Ingester Events go to the Ingesters' namespaces, through events.k8s.io only.
        assert_eq!(
            sar("create", group, "events", Some("team-b")).await,
            group == "events.k8s.io",
            "create {group}/events outside {NS}"
        );
        assert!(
            !sar("delete", group, "events", Some(NS)).await,
            "delete {group}/events"
        );
    }
    for (verb, group, resource) in [
        ("get", "", "namespaces"),
        ("list", "", "pods"),
        ("list", "", "configmaps"),
        ("delete", "coordination.k8s.io", "leases"),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
    ] {
        assert!(
            !sar(verb, group, resource, Some(NS)).await,
            "{verb} {group}/{resource} granted"
        );
    }

    // --- No Secrets by default: not in the release namespace, not elsewhere. ---
    create_namespace(&admin, "team-a").await;
    create_secret(&admin, "team-a", "ingester-auth").await;
    create_secret(&admin, "team-b", "ingester-auth").await;
    for ns in [NS, "team-a", "team-b"] {
        let secrets: Api<Secret> = Api::namespaced(sa.clone(), ns);
        assert_forbidden(
            secrets.list(&ListParams::default()).await,
            &format!("listing Secrets in {ns}"),
        );
    }
    assert_forbidden(
        Api::<Secret>::namespaced(sa.clone(), NS)
            .get(TOKEN_SECRET)
            .await,
        "reading the webhook token Secret",
    );
    assert_forbidden(
        Api::<Secret>::all(sa.clone())
            .list(&ListParams::default())
            .await,
        "listing Secrets cluster-wide",
    );

    // --- Upgrade: Secrets in team-a only, and the generated token is kept. ---
    helm(
        &cp.kubeconfig,
        &[
            "upgrade",
            "zen-watcher",
            "CHART",
            "-n",
            NS,
            "--set",
            "rbac.ingesterSecretNamespaces={team-a}",
        ],
    );
    assert_eq!(
        webhook_token(&admin).await,
        token_before,
        "helm upgrade generated a new webhook token"
    );
    let team_a: Api<Secret> = Api::namespaced(sa.clone(), "team-a");
    let secret = team_a
        .get("ingester-auth")
        .await
        .expect("get a Secret in team-a");
    assert!(secret.data.unwrap_or_default().contains_key("token"));
    // The watcher reads each Secret by name: list and watch would hand it every Secret there.
    assert_forbidden(
        team_a.list(&ListParams::default()).await,
        "listing Secrets in team-a",
    );
    for verb in ["watch", "create", "update", "delete"] {
        assert!(
            !sar(verb, "", "secrets", Some("team-a")).await,
            "{verb} Secrets in team-a granted"
        );
    }
    for ns in [NS, "team-b"] {
        let secrets: Api<Secret> = Api::namespaced(sa.clone(), ns);
        assert_forbidden(
            secrets.get("ingester-auth").await,
            &format!("reading a Secret in {ns}"),
        );
        assert_forbidden(
            secrets.list(&ListParams::default()).await,
            &format!("listing Secrets in {ns}"),
        );
    }

    // A second upgrade back to the defaults takes the Secret access away again (helm upgrade
    // without values would reuse the last ones); the token is still kept.
    helm(
        &cp.kubeconfig,
        &[
            "upgrade",
            "zen-watcher",
            "CHART",
            "-n",
            NS,
            "--reset-values",
        ],
    );
    assert_eq!(webhook_token(&admin).await, token_before);
    assert!(
        !sar("get", "", "secrets", Some("team-a")).await,
        "Secret access in team-a outlived the value"
    );
}
