//! Installing zen-watcher's CRDs (straight from `zen_watcher::crd`, as crd-gen prints them).

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::wait_until;

/// Applies every CRD (server-side apply, so reruns are idempotent) and waits until each is
/// Established.
pub async fn apply_crds(client: &Client) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut applied = Vec::new();
    for crd in zen_watcher::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("zen-watcher-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|e| anyhow::anyhow!("applying CRD {name}: {e}"))?;
        applied.push(wait_established(client, &name).await?);
    }
    Ok(applied)
}

/// Waits (up to 60 s) until CRD `name` exists and is Established, and returns it.
pub async fn wait_established(
    client: &Client,
    name: &str,
) -> anyhow::Result<CustomResourceDefinition> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    wait_until(
        &format!("CRD {name} Established"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let crd = api.get(name).await?;
                let ok = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                Ok(ok.then_some(crd))
            }
        },
    )
    .await
}

/// Applies our structural test CRDs for the third-party reports (`e2e/crds/*.yaml`) and waits
/// until each is Established. Returns their names.
pub async fn apply_report_crds(client: &Client) -> anyhow::Result<Vec<String>> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&std::fs::read_to_string(&path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("zen-watcher-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|e| anyhow::anyhow!("applying CRD {name}: {e}"))?;
        names.push(name);
    }
    for name in &names {
        wait_established(client, name).await?;
    }
    names.sort();
    Ok(names)
}
