//! A fresh namespace per test. (No namespace controller runs, so deleted namespaces would stay
//! Terminating for ever: test namespaces are left in place and named uniquely instead.)

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use zen_watcher::crd::Observation;

use crate::{unique_suffix, wait_until};

pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    /// Creates `e2e-<prefix>-<random>` with its `default` ServiceAccount (which the missing
    /// controller-manager would otherwise never create).
    pub async fn create(client: &Client, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("e2e-{prefix}-{}", unique_suffix());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("zen.kube-zen.io/e2e".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(client.clone(), &name)
            .create(&PostParams::default(), &sa)
            .await?;
        Ok(Self {
            name,
            client: client.clone(),
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// The namespace's Observations.
    pub async fn observations(&self) -> anyhow::Result<Vec<Observation>> {
        Ok(self
            .api::<Observation>()
            .list(&Default::default())
            .await?
            .items)
    }

    /// Waits until `view` of the namespace's Observations satisfies `check`, and returns that
    /// view (each test shapes the Observations its own way: names, resolved flags, ...).
    pub async fn wait_for_observations<T, V, C>(
        &self,
        what: &str,
        timeout: Duration,
        view: V,
        check: C,
    ) -> anyhow::Result<T>
    where
        V: Fn(Vec<Observation>) -> T,
        C: Fn(&T) -> bool,
    {
        wait_until(what, timeout, || async {
            let now = view(self.observations().await?);
            Ok(check(&now).then_some(now))
        })
        .await
    }
}
