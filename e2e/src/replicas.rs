//! What tests of running watchers share: log folders, a Falco alert for a pod, readiness and
//! the Lease holder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};

use crate::http::get;
use crate::wait_until;

/// `helm --set` flags for tests of running replicas: short Lease timings and drain (failover
/// within seconds) and the watcher's debug logs.
pub const QUICK_FAILOVER_VALUES: [&str; 10] = [
    "--set",
    "leaderElection.leaseDuration=4s",
    "--set",
    "leaderElection.renewDeadline=3s",
    "--set",
    "leaderElection.retryPeriod=500ms",
    "--set",
    "shutdownDrainDelay=1s",
    "--set",
    "logLevel=info\\,zen_watcher=debug",
];

/// Where the watcher processes of a test write their logs.
pub fn log_dir(test: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".run/logs")
        .join(test)
}

/// The critical Falco fixture, about pod `pod` in namespace `ns`.
pub fn falco_alert(ns: &str, pod: &str) -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/falco/alert-critical.json");
    let mut alert: Value = serde_json::from_slice(&std::fs::read(path).expect("the Falco fixture"))
        .expect("the Falco fixture is JSON");
    alert["output_fields"]["k8s.ns.name"] = json!(ns);
    alert["output_fields"]["k8s.pod.name"] = json!(pod);
    serde_json::to_vec(&alert).expect("JSON")
}

/// Waits (up to 60 s) until `/readyz` on the metrics address answers 200.
pub async fn ready(metrics: SocketAddr) -> anyhow::Result<()> {
    wait_until("/readyz 200", Duration::from_secs(60), || async move {
        Ok((get(metrics, "/readyz").await?.status == 200).then_some(()))
    })
    .await
}

/// The holder of the Lease `zen-watcher-leader-election` in `ns`, if any.
pub async fn lease_holder(client: &Client, ns: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt("zen-watcher-leader-election")
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}
