//! A fresh namespace per test. (No namespace controller runs, so deleted namespaces would stay
//! Terminating for ever: test namespaces are left in place and named uniquely instead.)

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::unique_suffix;

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
}
