//! Trivy VulnerabilityReports for the memory benchmark: `count` reports of `vulns` vulnerabilities
//! each, shaped like trivy-operator's (tests/fixtures/trivy), a fixed share of them high or critical.

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// Vulnerabilities of each report that the default filter (trivy minSeverity high) keeps.
pub const HIGH_OR_CRITICAL_PER_REPORT: usize = 3;

fn severity(j: usize) -> &'static str {
    match j {
        0 => "CRITICAL",
        1 | 2 => "HIGH",
        3..=32 => "MEDIUM",
        33..=79 => "LOW",
        _ => "UNKNOWN",
    }
}

pub fn report(namespace: &str, i: usize, vulns: usize) -> Value {
    let vulnerabilities: Vec<Value> = (0..vulns)
        .map(|j| {
            let id = format!("CVE-2026-{:05}", i * 1000 + j);
            json!({
                "vulnerabilityID": id,
                "resource": format!("example.com/lib-{j}"),
                "installedVersion": "v1.2.3",
                "fixedVersion": "v1.2.4",
                "severity": severity(j),
                "title": format!("example.com/lib-{j}: a flaw in request parsing allows a crafted input to exhaust memory"),
                "primaryLink": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()),
                "links": [],
                "score": 5.5,
                "target": "usr/local/bin/app",
                "packageType": "gobinary",
                "class": "lang-pkgs",
                "publishedDate": "2026-06-05T16:15:10Z",
                "lastModifiedDate": "2026-11-21T09:09:00Z",
                "description": "Applications that parse untrusted input with this library may be susceptible to excessive memory use, because the parser does not bound the size of nested structures before allocating them.",
                "packagePURL": format!("pkg:golang/example.com/lib-{j}@v1.2.3"),
            })
        })
        .collect();
    json!({
        "apiVersion": "aquasecurity.github.io/v1alpha1",
        "kind": "VulnerabilityReport",
        "metadata": {
            "name": format!("replicaset-app-{i}-app"),
            "namespace": namespace,
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": format!("app-{i}"),
                "trivy-operator.resource.namespace": namespace,
                "trivy-operator.container.name": "app",
            },
        },
        "report": {
            "artifact": {"repository": "acme/app", "tag": format!("1.{i}.0")},
            "registry": {"server": "ghcr.io"},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.57.1"},
            "summary": {"criticalCount": 1, "highCount": 2, "mediumCount": 30, "lowCount": 47, "unknownCount": vulns.saturating_sub(80), "noneCount": 0},
            "updateTimestamp": "2026-11-26T05:47:12Z",
            "vulnerabilities": vulnerabilities,
        },
    })
}

fn resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("aquasecurity.github.io", "v1alpha1", "VulnerabilityReport");
    ApiResource::from_gvk_with_plural(&gvk, "vulnerabilityreports")
}

/// VulnerabilityReports in the whole cluster.
pub async fn count_all(client: &Client) -> anyhow::Result<usize> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
    Ok(api.list_metadata(&ListParams::default()).await?.items.len())
}

pub async fn delete_all(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    Ok(())
}

/// Creates the reports, 16 at a time.
pub async fn create(
    client: &Client,
    namespace: &str,
    count: usize,
    vulns: usize,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let object: DynamicObject = serde_json::from_value(report(namespace, i, vulns))?;
                api.create(&PostParams::default(), &object).await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zen_watcher::crd::Severity;
    use zen_watcher::sources::trivy::VulnerabilityReport;

    #[test]
    fn reports_parse_with_the_planned_severities() {
        let report: VulnerabilityReport = serde_json::from_value(report("ns", 7, 100)).unwrap();
        let events = zen_watcher::sources::trivy::events_from_report(
            &report,
            k8s_openapi::jiff::Timestamp::now(),
        );
        assert_eq!(events.len(), 100);
        let high = events
            .iter()
            .filter(|e| e.severity >= Severity::High)
            .count();
        assert_eq!(high, HIGH_OR_CRITICAL_PER_REPORT);
    }
}
