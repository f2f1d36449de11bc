//! Release watcher processes for the benchmarks: start, informers, metrics, and emptying the
//! namespaces they wrote to.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::Value;
use zen_watcher::crd::Observation;
use zen_watcher_e2e::http::get;
use zen_watcher_e2e::replicas::ready;
use zen_watcher_e2e::{WatcherProcess, admin_kubeconfig_path, wait_until};

/// The log line a leader writes when the informer of one report kind runs.
const INFORMER_RUNNING: &str = "\"watching reports\"";

pub const TOKEN: &str = "bench";

pub struct Running {
    pub process: WatcherProcess,
    pub webhook: SocketAddr,
    pub metrics: SocketAddr,
}

/// Starts `ZEN_WATCHER_BIN` as `name` with its Lease in `home`, the given leader election
/// and `extra` settings (defaults for everything else), and waits for `/readyz`.
pub async fn start(
    name: &str,
    home: &str,
    election: bool,
    extra: &[(&str, &str)],
    logs: &Path,
) -> anyhow::Result<Running> {
    let mut env: Vec<(String, String)> = [
        ("POD_NAME", name),
        ("POD_NAMESPACE", home),
        ("WATCHER_PORT", "0"),
        ("METRICS_PORT", "0"),
        ("WEBHOOK_AUTH_TOKEN", TOKEN),
        ("LOG_LEVEL", "info"),
        (
            "ENABLE_LEADER_ELECTION",
            if election { "true" } else { "false" },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    let mut process = WatcherProcess::start(name, &env, &admin_kubeconfig_path(), logs)?;
    let (webhook, metrics) = process.addresses()?;
    ready(metrics).await?;
    Ok(Running {
        process,
        webhook,
        metrics,
    })
}

/// When each informer of the process started (its "watching reports" log lines), in order.
pub fn informer_starts(process: &WatcherProcess) -> Vec<Timestamp> {
    process
        .log()
        .lines()
        .filter(|l| l.contains(INFORMER_RUNNING))
        .filter_map(log_timestamp)
        .collect()
}

/// Waits (up to 60 s) until the process has started `count` informers.
pub async fn wait_informers(process: &WatcherProcess, count: usize) -> anyhow::Result<()> {
    wait_until("the informers", Duration::from_secs(60), || async {
        Ok((informer_starts(process).len() >= count).then_some(()))
    })
    .await
}

fn log_timestamp(line: &str) -> Option<Timestamp> {
    let json: Value = serde_json::from_str(line).ok()?;
    json["timestamp"].as_str()?.parse().ok()
}

/// Deletes every Observation in `ns` (between runs, so etcd holds the same for each side).
/// Deletes every Observation in `ns`. A deletecollection of tens of thousands of objects can
/// outlast the client's read timeout while the apiserver goes on deleting: it is repeated
/// (it is idempotent) until nothing is left.
pub async fn delete_observations(client: &Client, ns: &str) -> anyhow::Result<()> {
    let api = Api::<Observation>::namespaced(client.clone(), ns);
    let mut last_error = None;
    for _ in 0..10 {
        match api
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
        {
            Ok(_) => {}
            Err(err) => last_error = Some(err),
        }
        let left = api.list_metadata(&ListParams::default().limit(1)).await?;
        if left.items.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Err(anyhow::anyhow!(
        "Observations in {ns} still there after 10 deletecollections (last error: {last_error:?})"
    ))
}

/// The sum of every sample of `metric` whose labels contain all of `labels` (`k="v"` pairs).
pub async fn metric_sum(metrics: SocketAddr, metric: &str, labels: &[&str]) -> anyhow::Result<f64> {
    let text = get(metrics, "/metrics").await?.body;
    Ok(sum_samples(&text, metric, labels))
}

fn sum_samples(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, rest) = series.split_once('{').unwrap_or((series, ""));
            (name == metric && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum::<f64>()
        + 0.0 // an empty f64 sum is -0.0
}

#[cfg(test)]
mod tests {
    use super::{log_timestamp, sum_samples};

    #[test]
    fn reads_the_timestamp_of_a_json_log_line() {
        let line = r#"{"timestamp":"2026-11-27T01:05:50.967436Z","level":"INFO","message":"watching reports"}"#;
        let ts = log_timestamp(line).unwrap();
        assert_eq!(ts.to_string(), "2026-11-27T01:05:50.967436Z");
        assert_eq!(log_timestamp("not json"), None);
    }

    #[test]
    fn sums_the_matching_series_only() {
        let text = "# HELP zen_watcher_observations_written_total x\n\
            zen_watcher_observations_written_total{source=\"falco\",outcome=\"created\"} 3\n\
            zen_watcher_observations_written_total{source=\"trivy\",outcome=\"created\"} 5\n\
            zen_watcher_observations_written_total{source=\"falco\",outcome=\"recurred\"} 7\n\
            zen_watcher_leader 1\n";
        let m = "zen_watcher_observations_written_total";
        assert_eq!(sum_samples(text, m, &["source=\"falco\""]), 10.0);
        assert_eq!(sum_samples(text, m, &["outcome=\"created\""]), 8.0);
        assert_eq!(sum_samples(text, m, &[]), 15.0);
        assert_eq!(sum_samples(text, "zen_watcher_leader", &[]), 1.0);
        assert_eq!(
            sum_samples(text, "zen_watcher_observations_written", &[]),
            0.0
        );
    }
}
