//! Clients for the control plane under test.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::required_env;

/// The admin kubeconfig `make e2e` / `make cluster-up` wrote.
pub fn admin_kubeconfig_path() -> PathBuf {
    PathBuf::from(required_env("KUBECONFIG"))
}

/// A client with cluster-admin rights (group system:masters).
pub async fn admin_client() -> anyhow::Result<Client> {
    client_from_kubeconfig(&admin_kubeconfig_path()).await
}

/// A client for the kubeconfig at `path`.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(Client::try_from(config)?)
}
