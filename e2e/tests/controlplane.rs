//! The extra control planes outage tests rely on: started with extra flags, stopped, and
//! started again on the same port with the same data.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ObjectMeta, PostParams};
use zen_watcher_e2e::{ControlPlane, TestNamespace, admin_client, client_from_kubeconfig};

#[tokio::test]
async fn restarts_on_the_same_port_with_the_same_data() {
    let mut cp = ControlPlane::start(&[]).unwrap();
    let port = cp.port();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    assert!(
        version.git_version.starts_with("v1.36."),
        "{}",
        version.git_version
    );
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("survives-restart".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();

    cp.stop().unwrap();
    assert!(
        client.apiserver_version().await.is_err(),
        "the apiserver is down"
    );
    cp.restart().unwrap();
    assert_eq!(cp.port(), port, "same port after restart");

    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let got = Api::<Namespace>::all(client)
        .get("survives-restart")
        .await
        .unwrap();
    assert_eq!(got.metadata.name.as_deref(), Some("survives-restart"));
}

fn privileged_pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}
    }))
    .unwrap()
}

/// Extra apiserver flags take effect: with `--allow-privileged=true` a privileged Pod is
/// admitted, while the shared control plane (default flags) refuses it.
#[tokio::test]
async fn extra_apiserver_flags_take_effect() {
    let cp = ControlPlane::start(&["--allow-privileged=true"]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    let ns = TestNamespace::create(&client, "priv").await.unwrap();
    ns.api::<Pod>()
        .create(&PostParams::default(), &privileged_pod())
        .await
        .unwrap();

    let shared = admin_client().await.unwrap();
    let ns = TestNamespace::create(&shared, "priv").await.unwrap();
    let err = ns
        .api::<Pod>()
        .create(&PostParams::default(), &privileged_pod())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("privileged"), "{err}");
}
