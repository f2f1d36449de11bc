//! The real node (scripts/node-up.sh): releases of the chart `helm install`ed as real pods of
//! the project's image, their Service, their processes on this host, and what each pod's
//! /metrics counts. `scripts/e2e-node.sh` sets the environment these read.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

use crate::chart::helm;
use crate::{TestNamespace, client_from_kubeconfig, required_env, unique_suffix, wait_until};

/// How long a `helm install/upgrade --wait` may take on the node.
pub const HELM_WAIT: &str = "180s";

/// The node suite's environment (scripts/e2e-node.sh).
pub struct Node {
    pub kubeconfig: PathBuf,
    pub client: Client,
    /// The audit webhook's inputs: ca.crt, tls.crt, tls.key, token.
    pub inputs: PathBuf,
    pub image_tag: String,
}

impl Node {
    pub async fn connect() -> anyhow::Result<Self> {
        let kubeconfig = PathBuf::from(required_env("ZEN_NODE_KUBECONFIG"));
        Ok(Self {
            client: client_from_kubeconfig(&kubeconfig).await?,
            kubeconfig,
            inputs: PathBuf::from(required_env("ZEN_NODE_INPUTS")),
            image_tag: required_env("ZEN_NODE_IMAGE_TAG"),
        })
    }

    /// A fresh namespace `e2e-<prefix>-<random>` (or `exact`, created when missing), once the
    /// controller-manager has given it its `default` ServiceAccount.
    pub async fn namespace(
        &self,
        prefix: &str,
        exact: Option<&str>,
    ) -> anyhow::Result<TestNamespace> {
        let name = exact.map_or_else(
            || format!("e2e-{prefix}-{}", unique_suffix()),
            str::to_string,
        );
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 && exact.is_some() => {}
            Err(e) => return Err(e.into()),
        }
        let sas = Api::<ServiceAccount>::namespaced(self.client.clone(), &name);
        wait_until(
            "the namespace's default ServiceAccount",
            Duration::from_secs(60),
            || async { Ok(sas.get_opt("default").await?.map(|_| ())) },
        )
        .await?;
        Ok(TestNamespace {
            name,
            client: self.client.clone(),
        })
    }

    /// Runs helm against the node; `CHART` stands for the chart's directory.
    pub fn helm(&self, args: &[&str]) -> anyhow::Result<String> {
        helm(&self.kubeconfig, args)
    }

    /// `helm install <release> CHART -n <ns> --wait` with the node's image and `sets`, then
    /// waits until the Service routes: `--wait` returns once the pods are Ready, which can be
    /// before kube-proxy has programmed the new Service's endpoints (until then its ClusterIP
    /// refuses connections).
    pub async fn install(
        &self,
        namespace: &str,
        release: &str,
        sets: &[&str],
    ) -> anyhow::Result<Release> {
        let image = format!("image.tag={}", self.image_tag);
        let mut args = vec![
            "install",
            release,
            "CHART",
            "-n",
            namespace,
            "--wait",
            "--timeout",
            HELM_WAIT,
            "--set",
            &image,
        ];
        for set in sets {
            args.extend(["--set", set]);
        }
        self.helm(&args)?;
        let release = Release {
            name: release.to_string(),
            namespace: namespace.to_string(),
            client: self.client.clone(),
        };
        let addr = release.webhook_addr().await?;
        wait_until(
            "the Service's ClusterIP to route",
            Duration::from_secs(60),
            || async move {
                // A TCP connection, not an HTTP request: the webhook port may be serving TLS.
                let connect = tokio::net::TcpStream::connect(addr);
                let connected = tokio::time::timeout(Duration::from_secs(2), connect).await;
                Ok(matches!(connected, Ok(Ok(_))).then_some(()))
            },
        )
        .await?;
        Ok(release)
    }
}

/// An installed release of the chart.
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub client: Client,
}

impl Release {
    /// The object name the chart gives everything (the release name contains "zen-watcher").
    pub fn fullname(&self) -> &str {
        &self.name
    }

    pub async fn pods(&self) -> anyhow::Result<Vec<Pod>> {
        let selector = format!("app.kubernetes.io/instance={}", self.name);
        Ok(Api::<Pod>::namespaced(self.client.clone(), &self.namespace)
            .list(&ListParams::default().labels(&selector))
            .await?
            .items)
    }

    /// The release's Running, Ready pods that are not being deleted.
    pub async fn ready_pods(&self) -> anyhow::Result<Vec<Pod>> {
        Ok(self.pods().await?.into_iter().filter(is_ready).collect())
    }

    /// Waits until exactly `n` pods are Ready (and none other is left), returning them.
    pub async fn wait_ready(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Pod>> {
        wait_until(
            &format!("{n} Ready pods of {}", self.name),
            timeout,
            || async {
                let pods = self.pods().await?;
                let ready: Vec<Pod> = pods.iter().filter(|p| is_ready(p)).cloned().collect();
                Ok((ready.len() == n && pods.len() == n).then_some(ready))
            },
        )
        .await
    }

    /// The webhook port of the Service's ClusterIP.
    pub async fn webhook_addr(&self) -> anyhow::Result<SocketAddr> {
        let svc = Api::<Service>::namespaced(self.client.clone(), &self.namespace)
            .get(self.fullname())
            .await?;
        let ip: Ipv4Addr = svc
            .spec
            .and_then(|s| s.cluster_ip)
            .context("the Service has no ClusterIP")?
            .parse()?;
        Ok(SocketAddr::from((ip, 8080)))
    }

    /// The webhook token from the chart's Secret.
    pub async fn token(&self) -> anyhow::Result<String> {
        let secret = self.token_secret().await?;
        let bytes = secret
            .data
            .and_then(|d| d.get("token").cloned())
            .context("the token Secret has no `token`")?;
        Ok(String::from_utf8(bytes.0)?)
    }

    pub async fn token_secret(&self) -> anyhow::Result<Secret> {
        Ok(
            Api::<Secret>::namespaced(self.client.clone(), &self.namespace)
                .get(&format!("{}-webhook-token", self.fullname()))
                .await?,
        )
    }

    /// The Lease holder's identity (the leader pod's name).
    pub async fn lease_holder(&self) -> anyhow::Result<Option<String>> {
        Ok(
            Api::<Lease>::namespaced(self.client.clone(), &self.namespace)
                .get_opt("zen-watcher-leader-election")
                .await?
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity),
        )
    }

    /// Pod name -> `zen_watcher_webhook_requests_total{endpoint, code="200"}` from each Ready
    /// pod's /metrics (scraped on its pod IP).
    pub async fn requests_by_pod(&self, endpoint: &str) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for pod in self.ready_pods().await? {
            let ip: Ipv4Addr = pod_ip(&pod)?.parse()?;
            let reply = crate::http::get(SocketAddr::from((ip, 9090)), "/metrics").await?;
            let series = format!(
                "zen_watcher_webhook_requests_total{{endpoint=\"{endpoint}\",code=\"200\"}} "
            );
            let count = reply
                .body
                .lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .map_or(Ok(0), |v| v.trim().parse::<f64>().map(|v| v as u64))?;
            out.insert(pod_name(&pod).to_string(), count);
        }
        Ok(out)
    }

    /// `kubectl logs` of one pod.
    pub fn logs(&self, kubeconfig: &std::path::Path, pod: &str) -> anyhow::Result<String> {
        let out = std::process::Command::new("kubectl")
            .env("KUBECONFIG", kubeconfig)
            .args(["logs", "-n", &self.namespace, pod])
            .output()
            .context("running kubectl")?;
        anyhow::ensure!(
            out.status.success(),
            "kubectl logs {pod}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

pub fn pod_ip(pod: &Pod) -> anyhow::Result<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .context("the pod has no IP")
}

pub fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum())
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The host PID of the watcher process in `pod` (found by its cgroup, which names the pod's
/// UID under /kubepods: cgroupfs driver).
pub fn watcher_pid(pod: &Pod) -> anyhow::Result<u32> {
    let uid = pod.metadata.uid.as_deref().context("the pod has no uid")?;
    let needle = format!("pod{uid}");
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "zen-watcher" {
            continue;
        }
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if cgroup.contains(&needle) {
            return Ok(pid);
        }
    }
    anyhow::bail!(
        "no zen-watcher process in the cgroup of pod {}",
        pod_name(pod)
    )
}

/// `Key:\tvalue` lines of /proc/<pid>/status.
pub fn proc_status(pid: u32) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

/// The environment of a process, as the kubelet set it.
pub fn proc_environ(pid: u32) -> anyhow::Result<BTreeMap<String, String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}
