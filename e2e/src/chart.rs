//! Installing the Helm chart into a test control plane and running its "pods" as local
//! processes: the env of the rendered Deployment (downward API and Secret references
//! resolved) and a token of the chart's ServiceAccount, so the chart's RBAC is what the
//! watchers really get.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Context as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;

use crate::{kubeconfig_for_token, mint_token};

/// The chart's directory in this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/zen-watcher")
}

/// Runs helm (against `kubeconfig` when given, with helm's own state kept beside it); an
/// argument `CHART` stands for the chart's directory.
pub fn helm_output(kubeconfig: Option<&Path>, args: &[&str]) -> anyhow::Result<Output> {
    let chart = chart_dir().display().to_string();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "CHART" { chart.as_str() } else { a })
        .collect();
    let mut cmd = Command::new("helm");
    cmd.args(&args);
    if let Some(kubeconfig) = kubeconfig {
        let state = kubeconfig.with_file_name("helm-state");
        cmd.env("KUBECONFIG", kubeconfig)
            .env("HELM_CACHE_HOME", state.join("cache"))
            .env("HELM_CONFIG_HOME", state.join("config"))
            .env("HELM_DATA_HOME", state.join("data"));
    }
    cmd.output()
        .context("running helm (is .tools/bin on PATH? `make e2e` installs it)")
}

/// [`helm_output`] against `kubeconfig`, failing unless helm succeeds; returns its stdout.
pub fn helm(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = helm_output(Some(kubeconfig), args)?;
    anyhow::ensure!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `helm template zen-watcher <chart> -n <namespace> <extra...>` without a cluster. helm
/// assumes Kubernetes v1.20 then, older than the chart allows, so it names 1.36.
pub fn template(namespace: &str, extra: &[&str]) -> anyhow::Result<Output> {
    let mut args = vec![
        "template",
        "zen-watcher",
        "CHART",
        "-n",
        namespace,
        "--kube-version",
        "1.36.0",
    ];
    args.extend_from_slice(extra);
    helm_output(None, &args)
}

/// The documents [`template`] renders into `namespace` with `extra` flags, parsed; panics with
/// helm's stderr when rendering fails (for tests).
pub fn render(namespace: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = template(namespace, extra).expect("running helm template");
    assert!(
        out.status.success(),
        "helm template {extra:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<serde_json::Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// The rendered documents of `kind`.
pub fn find<'a>(docs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// A chart release whose pods run as local processes.
pub struct Release {
    pub namespace: String,
    /// A kubeconfig authenticating as the chart's ServiceAccount.
    pub kubeconfig: PathBuf,
    deployment: Deployment,
    secrets: Vec<(String, String, String)>,
}

impl Release {
    /// `helm install zen-watcher <chart> -n <namespace> --create-namespace <values...>` (no
    /// `--wait`: no kubelet runs pods), then a token for the chart's ServiceAccount.
    pub async fn install(
        client: &Client,
        admin_kubeconfig: &Path,
        namespace: &str,
        values: &[&str],
    ) -> anyhow::Result<Self> {
        let chart = chart_dir().display().to_string();
        let mut args = vec![
            "install",
            "zen-watcher",
            &chart,
            "-n",
            namespace,
            "--create-namespace",
        ];
        args.extend_from_slice(values);
        helm(admin_kubeconfig, &args)?;
        let deployment: Deployment = Api::namespaced(client.clone(), namespace)
            .get("zen-watcher")
            .await
            .context("the chart's Deployment")?;
        let service_account = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.service_account_name.clone())
            .context("the Deployment names no ServiceAccount")?;
        let token = mint_token(client, namespace, &service_account).await?;
        let kubeconfig = kubeconfig_for_token(
            admin_kubeconfig,
            &token,
            &admin_kubeconfig.with_file_name("sa-kubeconfigs"),
            &format!("{namespace}-{service_account}.yaml"),
        )?;
        let secrets = secret_values(client, namespace, &deployment).await?;
        Ok(Self {
            namespace: namespace.to_string(),
            kubeconfig,
            deployment,
            secrets,
        })
    }

    /// `helm upgrade zen-watcher <chart> -n <namespace> --reuse-values <values...>` (no
    /// `--wait`), then the upgraded release: the Deployment and its Secret values read again
    /// (so [`Release::env`] renders the new pods). `--reuse-values` is explicit: the values
    /// given at install (or earlier upgrades) stay, `values` only override. The ServiceAccount
    /// kubeconfig is reused when the Deployment still names the same ServiceAccount, else a
    /// token of the new one is minted.
    pub async fn upgrade(
        &self,
        client: &Client,
        admin_kubeconfig: &Path,
        values: &[&str],
    ) -> anyhow::Result<Self> {
        let chart = chart_dir().display().to_string();
        let mut args = vec![
            "upgrade",
            "zen-watcher",
            &chart,
            "-n",
            &self.namespace,
            "--reuse-values",
        ];
        args.extend_from_slice(values);
        helm(admin_kubeconfig, &args)?;
        let deployment: Deployment = Api::namespaced(client.clone(), &self.namespace)
            .get("zen-watcher")
            .await
            .context("the chart's Deployment after the upgrade")?;
        let service_account = |d: &Deployment| {
            d.spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.service_account_name.clone())
        };
        let kubeconfig = match service_account(&deployment) {
            None => anyhow::bail!("the upgraded Deployment names no ServiceAccount"),
            Some(sa) if Some(&sa) == service_account(&self.deployment).as_ref() => {
                self.kubeconfig.clone()
            }
            Some(sa) => {
                let token = mint_token(client, &self.namespace, &sa).await?;
                kubeconfig_for_token(
                    admin_kubeconfig,
                    &token,
                    &admin_kubeconfig.with_file_name("sa-kubeconfigs"),
                    &format!("{}-{sa}.yaml", self.namespace),
                )?
            }
        };
        let secrets = secret_values(client, &self.namespace, &deployment).await?;
        Ok(Self {
            namespace: self.namespace.clone(),
            kubeconfig,
            deployment,
            secrets,
        })
    }

    /// The rendered Deployment (as last installed or upgraded).
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The container env of the rendered Deployment for pod `pod_name`, with `overrides`
    /// replacing or adding variables (e.g. `WATCHER_PORT=0`: local processes share one host).
    pub fn env(
        &self,
        pod_name: &str,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let container = self
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .context("the Deployment has no container")?;
        let mut env = Vec::new();
        for var in container.env.iter().flatten() {
            let value = match (&var.value, &var.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => {
                    if let Some(field) = &from.field_ref {
                        match field.field_path.as_str() {
                            "metadata.namespace" => self.namespace.clone(),
                            "metadata.name" => pod_name.to_string(),
                            other => anyhow::bail!("unsupported fieldRef {other} in {}", var.name),
                        }
                    } else if let Some(secret) = &from.secret_key_ref {
                        self.secrets
                            .iter()
                            .find(|(name, key, _)| *name == secret.name && *key == secret.key)
                            .map(|(_, _, v)| v.clone())
                            .with_context(|| {
                                format!("Secret {}/{} for {}", secret.name, secret.key, var.name)
                            })?
                    } else {
                        anyhow::bail!("unsupported valueFrom in {}", var.name)
                    }
                }
                (None, None) => String::new(),
            };
            env.push((var.name.clone(), value));
        }
        for (name, value) in overrides {
            env.retain(|(n, _)| n != name);
            env.push((name.to_string(), value.to_string()));
        }
        Ok(env)
    }
}

async fn secret_values(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let containers = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let mut values = Vec::new();
    for var in containers.iter().flat_map(|c| c.env.iter().flatten()) {
        let Some(reference) = var
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref())
        else {
            continue;
        };
        let secret = api.get(&reference.name).await?;
        let bytes = secret
            .data
            .and_then(|d| d.get(&reference.key).cloned())
            .with_context(|| format!("Secret {} has no key {}", reference.name, reference.key))?;
        values.push((
            reference.name.clone(),
            reference.key.clone(),
            String::from_utf8_lossy(&bytes.0).into_owned(),
        ));
    }
    Ok(values)
}
