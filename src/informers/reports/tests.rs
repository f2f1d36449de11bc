use super::*;

/// Compiled, not run: the informer's uses of the four kinds type-check.
#[allow(dead_code)]
fn informers_accept_the_kyverno_report_types(client: kube::Client) {
    use crate::sources::kyverno::{
        ClusterPolicyReport, OpenClusterReport, OpenReport, PolicyReport,
    };
    use kube::runtime::{reflector, watcher};
    let _ = kube::Api::<PolicyReport>::namespaced(client.clone(), "shop");
    let _ = watcher(
        kube::Api::<PolicyReport>::all(client.clone()),
        watcher::Config::default(),
    );
    let _ = watcher(
        kube::Api::<ClusterPolicyReport>::all(client.clone()),
        watcher::Config::default(),
    );
    let _ = watcher(
        kube::Api::<OpenReport>::all(client.clone()),
        watcher::Config::default(),
    );
    let _ = reflector::store::<OpenClusterReport>();
    let _ = watcher(
        kube::Api::<OpenClusterReport>::all(client),
        watcher::Config::default(),
    );
}

/// Compiled, not run: the informer's uses of both kinds type-check.
#[allow(dead_code)]
fn informers_accept_the_trivy_report_types(client: kube::Client) {
    use crate::sources::trivy::{ClusterVulnerabilityReport, VulnerabilityReport};
    use kube::runtime::{reflector, watcher};
    let _ = kube::Api::<VulnerabilityReport>::namespaced(client.clone(), "shop");
    let _ = reflector::store::<VulnerabilityReport>();
    let _ = watcher(
        kube::Api::<VulnerabilityReport>::all(client.clone()),
        watcher::Config::default(),
    );
    let _ = watcher(
        kube::Api::<ClusterVulnerabilityReport>::all(client),
        watcher::Config::default(),
    );
}

/// The watch id the list resolves by is the label its findings carry.
fn same_watch<R: FindingReport>(report: R) {
    let id = format!("{}.{}", R::plural(&()), R::group(&()));
    for event in report.findings(Timestamp::now()) {
        match event.kind {
            crate::event::EventKind::Finding { origin } => assert_eq!(origin.watch, id),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn every_report_kind_labels_its_findings_with_its_watch() {
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    same_watch::<kyverno::PolicyReport>(
        serde_json::from_slice(&fixture("kyverno/policyreport.json")).unwrap(),
    );
    same_watch::<kyverno::ClusterPolicyReport>(
        serde_json::from_slice(&fixture("kyverno/clusterpolicyreport.json")).unwrap(),
    );
    same_watch::<kyverno::OpenReport>(
        serde_json::from_slice(&fixture("kyverno/openreports-report.json")).unwrap(),
    );
    same_watch::<trivy::VulnerabilityReport>(
        serde_json::from_slice(&fixture("trivy/vulnerabilityreport.json")).unwrap(),
    );
    same_watch::<trivy::ClusterVulnerabilityReport>(
        serde_json::from_slice(&fixture("trivy/clustervulnerabilityreport.json")).unwrap(),
    );
}
