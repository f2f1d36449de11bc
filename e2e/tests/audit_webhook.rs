//! The kube-apiserver's own audit webhook backend, pointed at a watcher over TLS with the
//! bearer token, sends real EventLists: deleting a Secret becomes an Observation, and a batch
//! that holds an odd item (a `kubectl patch --type=json` logged at Request level: its
//! requestObject is a JSON array) is still read in full.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use zen_watcher::crd::Observation;
use zen_watcher_e2e::http::get;
use zen_watcher_e2e::{
    ControlPlane, TestNamespace, WatcherProcess, apply_crds, client_from_kubeconfig,
    kubeconfig_for_token, mint_token, wait_until,
};

const TOKEN: &str = "audit-webhook-token";

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    resources: [{group: "zen.kube-zen.io", resources: ["observations"]}]
  - level: Metadata
    resources: [{group: "", resources: ["secrets"]}]
  - level: Request
    resources: [{group: "", resources: ["configmaps"]}]
  - level: None
"#;

/// A CA and a serving certificate for 127.0.0.1, as PEM files in `dir`.
fn certificates(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.pem(), cert_path, key_path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_apiservers_audit_webhook_reaches_the_watcher_over_tls() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".run/audit")
        .join(zen_watcher_e2e::unique_suffix());
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, cert, key) = certificates(&dir);
    let port = free_port();
    let ca_data = base64::engine::general_purpose::STANDARD.encode(&ca_pem);
    let webhook_kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: zen\n  cluster:\n    server: https://127.0.0.1:{port}/audit/webhook\n    certificate-authority-data: {ca_data}\nusers:\n- name: apiserver\n  user:\n    token: {TOKEN}\ncontexts:\n- name: zen\n  context: {{cluster: zen, user: apiserver}}\ncurrent-context: zen\n"
    );
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    std::fs::write(dir.join("webhook.yaml"), webhook_kubeconfig).unwrap();
    let policy = format!("--audit-policy-file={}", dir.join("policy.yaml").display());
    let webhook = format!(
        "--audit-webhook-config-file={}",
        dir.join("webhook.yaml").display()
    );
    let cp =
        ControlPlane::start(&[&policy, &webhook, "--audit-webhook-batch-max-wait=1s"]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    apply_crds(&client).await.unwrap();
    let home = TestNamespace::create(&client, "home").await.unwrap();
    let ns = TestNamespace::create(&client, "audited").await.unwrap();

    // The watcher runs as a ServiceAccount of its own, so the test's (admin) requests are not
    // mistaken for the watcher's and skipped.
    let pp = PostParams::default();
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("zen-watcher".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    home.api::<ServiceAccount>().create(&pp, &sa).await.unwrap();
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("zen-watcher-{}", home.name)),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "zen-watcher".into(),
            namespace: Some(home.name.clone()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&pp, &binding)
        .await
        .unwrap();
    let token = mint_token(&client, &home.name, "zen-watcher")
        .await
        .unwrap();
    let kubeconfig = kubeconfig_for_token(&cp.kubeconfig, &token, &dir, "watcher.yaml").unwrap();

    let env: Vec<(String, String)> = [
        ("POD_NAME", "zen-0".to_string()),
        ("POD_NAMESPACE", home.name.clone()),
        ("WATCHER_PORT", port.to_string()),
        ("METRICS_PORT", "0".to_string()),
        ("WEBHOOK_AUTH_TOKEN", TOKEN.to_string()),
        ("WEBHOOK_TLS_CERT_FILE", cert.display().to_string()),
        ("WEBHOOK_TLS_KEY_FILE", key.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut watcher = WatcherProcess::start("zen-0", &env, &kubeconfig, &dir).unwrap();
    watcher
        .wait_for_log("\"ready\"", Duration::from_secs(60))
        .unwrap();
    let (_, metrics) = watcher.addresses().unwrap();

    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db-password".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.api::<Secret>().create(&pp, &secret).await.unwrap();
    ns.api::<Secret>()
        .delete("db-password", &DeleteParams::default())
        .await
        .unwrap();

    let api: Api<Observation> = ns.api();
    let deleted = wait_until(
        "the Secret deletion as an Observation",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move {
                let items = api.list(&Default::default()).await?.items;
                Ok(items.into_iter().find(|o| {
                    o.spec.source == "audit"
                        && o.spec.event_type == "secret_modified"
                        && o.spec
                            .details
                            .as_ref()
                            .is_some_and(|d| d["verb"] == "delete")
                }))
            }
        },
    )
    .await
    .unwrap();
    let resource = deleted.spec.resource.unwrap();
    assert_eq!(resource.kind.as_deref(), Some("Secret"));
    assert_eq!(resource.name.as_deref(), Some("db-password"));
    assert_eq!(resource.namespace.as_deref(), Some(ns.name.as_str()));

    // A two-op JSON patch of a ConfigMap (logged with its request body, a JSON array) and a
    // Secret read, right after each other: one batch (1 s batch wait) with both.
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("settings".into()),
            ..Default::default()
        },
        data: Some(
            [("a", "1"), ("b", "2")]
                .map(|(k, v)| (k.into(), v.into()))
                .into(),
        ),
        ..Default::default()
    };
    ns.api::<ConfigMap>()
        .create(&pp, &config_map)
        .await
        .unwrap();
    let api_key = Secret {
        metadata: ObjectMeta {
            name: Some("api-key".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.api::<Secret>().create(&pp, &api_key).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kubectl = |args: &[&str]| {
        let output = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&cp.kubeconfig)
            .arg("-n")
            .arg(&ns.name)
            .args(args)
            .output()
            .expect("kubectl (make e2e puts it on PATH)");
        assert!(output.status.success(), "kubectl {args:?}: {output:?}");
    };
    kubectl(&[
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/c","value":"3"},{"op":"remove","path":"/data/b"}]"#,
    ]);
    kubectl(&["get", "secret", "api-key"]);
    let found = wait_until(
        "the Secret read and the JSON patch as Observations",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move {
                let items = api.list(&Default::default()).await?.items;
                let read = items.iter().any(|o| {
                    o.spec.event_type == "secret_read"
                        && o.spec.resource.as_ref().and_then(|r| r.name.as_deref())
                            == Some("api-key")
                        && o.spec.details.as_ref().is_some_and(|d| d["verb"] == "get")
                });
                let patched = items.iter().any(|o| {
                    o.spec.event_type == "configmap_modified"
                        && o.spec
                            .details
                            .as_ref()
                            .is_some_and(|d| d["verb"] == "patch")
                });
                Ok((read && patched).then_some(()))
            }
        },
    )
    .await;
    found.unwrap();
    let text = get(metrics, "/metrics").await.unwrap().body;
    assert!(
        !text.contains(r#"endpoint="/audit/webhook",code="400""#),
        "no batch refused:\n{text}"
    );

    // Someone deletes evidence: an Observation deleted by the admin is itself recorded. The
    // watcher's own Observation writes (audited too, by the same policy) are not.
    let evidence = deleted.metadata.name.clone().unwrap();
    api.delete(&evidence, &DeleteParams::default())
        .await
        .unwrap();
    let tampered = wait_until(
        "the Observation's deletion as an Observation",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            let evidence = evidence.clone();
            async move {
                let items = api.list(&Default::default()).await?.items;
                Ok(items.into_iter().find(|o| {
                    o.spec.event_type == "observation_tampered"
                        && o.spec.resource.as_ref().and_then(|r| r.name.as_deref())
                            == Some(evidence.as_str())
                }))
            }
        },
    )
    .await
    .unwrap();
    let details = tampered.spec.details.unwrap();
    assert_eq!(details["verb"], "delete");
    assert_ne!(
        details["username"].as_str().unwrap_or_default(),
        format!("system:serviceaccount:{}:zen-watcher", home.name)
    );
    // No feedback loop: writing that Observation (and its status) was audited as well, and
    // none of it became another one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let tampering: Vec<_> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|o| o.spec.event_type == "observation_tampered")
        .collect();
    assert_eq!(tampering.len(), 1, "{tampering:#?}");
    assert!(watcher.try_exit().unwrap().is_none());
}
