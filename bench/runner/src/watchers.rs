//! Release watcher processes for the benchmarks, and their metrics.

use std::net::SocketAddr;
use std::path::Path;

use zen_watcher_e2e::http::get;
use zen_watcher_e2e::replicas::ready;
use zen_watcher_e2e::{WatcherProcess, admin_kubeconfig_path};

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
    use super::sum_samples;

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
