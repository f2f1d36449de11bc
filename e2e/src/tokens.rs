//! ServiceAccount tokens (TokenRequest) and kubeconfigs that use them, so tests act with exactly
//! the rights RBAC grants.

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{AuthInfo, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedContext};

/// Mints a one-hour token for ServiceAccount `namespace/name`.
pub async fn mint_token(client: &Client, namespace: &str, name: &str) -> anyhow::Result<String> {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let response = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .with_context(|| format!("TokenRequest for {namespace}/{name}"))?;
    response
        .status
        .map(|s| s.token)
        .context("TokenRequest returned no token")
}

/// Writes a kubeconfig that reaches the same apiserver as `admin_kubeconfig` but
/// authenticates with `token`, and returns its path (`dir/<file_name>`).
pub fn kubeconfig_for_token(
    admin_kubeconfig: &Path,
    token: &str,
    dir: &Path,
    file_name: &str,
) -> anyhow::Result<PathBuf> {
    let admin = Kubeconfig::read_from(admin_kubeconfig)?;
    let cluster = admin
        .clusters
        .first()
        .cloned()
        .context("admin kubeconfig has no cluster")?;
    let user = "service-account".to_string();
    let context = "service-account".to_string();
    let kubeconfig = Kubeconfig {
        clusters: vec![cluster.clone()],
        auth_infos: vec![NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                token: Some(token.to_string().into()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(KubeContext {
                cluster: cluster.name.clone(),
                user: Some(user),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(context),
        ..Default::default()
    };
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name);
    let yaml = serde_saphyr::to_string(&kubeconfig)?;
    std::fs::write(&path, yaml)?;
    Ok(path)
}
