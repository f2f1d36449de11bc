//! The chart's CRDs installed by Helm into a real apiserver: established, marked
//! `helm.sh/resource-policy: keep`, and still there (with the users' Observations) after
//! `helm uninstall`.

use std::path::Path;
use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::json;
use zen_watcher::crd::Observation;
use zen_watcher_e2e::{ControlPlane, TestNamespace, client_from_kubeconfig, wait_established};

fn helm(kubeconfig: &Path, args: &[&str]) -> String {
    zen_watcher_e2e::chart::helm(kubeconfig, args).unwrap()
}

#[tokio::test]
async fn helm_installs_the_crds_and_uninstall_keeps_them() {
    // Its own control plane: Helm must own these CRDs, which the shared one's tests apply.
    let cp = ControlPlane::start(&[]).unwrap();
    let client = client_from_kubeconfig(&cp.kubeconfig).await.unwrap();
    helm(
        &cp.kubeconfig,
        &[
            "install",
            "zen-watcher",
            "CHART",
            "-n",
            "zen-system",
            "--create-namespace",
        ],
    );

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["observations.zen.kube-zen.io", "ingesters.zen.kube-zen.io"] {
        let crd = wait_established(&client, name).await.unwrap();
        let annotations = crd.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations
                .get("helm.sh/resource-policy")
                .map(String::as_str),
            Some("keep"),
            "{name}"
        );
        assert_eq!(
            annotations
                .get("meta.helm.sh/release-name")
                .map(String::as_str),
            Some("zen-watcher")
        );
    }

    let ns = TestNamespace::create(&client, "chart").await.unwrap();
    let obs: Observation = serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Observation",
        "metadata": {"name": "kept"},
        "spec": {"source": "falco", "category": "security", "severity": "high",
                 "eventType": "runtime_alert", "detectedAt": "2026-11-26T10:00:00Z"}
    }))
    .unwrap();
    ns.api::<Observation>()
        .create(&PostParams::default(), &obs)
        .await
        .unwrap();

    let out = helm(
        &cp.kubeconfig,
        &["uninstall", "zen-watcher", "-n", "zen-system"],
    );
    assert!(out.contains("kept due to the resource policy"), "{out}");
    for name in ["observations.zen.kube-zen.io", "ingesters.zen.kube-zen.io"] {
        crds.get(name)
            .await
            .unwrap_or_else(|e| panic!("{name} was deleted by helm uninstall: {e}"));
    }
    ns.api::<Observation>()
        .get("kept")
        .await
        .expect("the Observation survives uninstall");
}

#[test]
fn crds_can_be_left_out() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/zen-watcher");
    let render = |extra: &[&str]| {
        let out = Command::new("helm")
            .arg("template")
            .arg("zen-watcher")
            .arg(&chart)
            // helm template assumes Kubernetes v1.20 without a cluster; the chart needs >= 1.33.
            .args(["--kube-version", "1.36.0"])
            .args(extra)
            .output()
            .expect("helm is not on PATH: run the e2e tests with `make e2e`");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let with = render(&[]);
    assert_eq!(with.matches("kind: CustomResourceDefinition").count(), 2);
    assert!(with.contains("app.kubernetes.io/name: zen-watcher"));
    let without = render(&["--set", "crds.install=false"]);
    assert_eq!(without.matches("kind: CustomResourceDefinition").count(), 0);
}
