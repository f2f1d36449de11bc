//! Write rate: N distinct Falco alerts POSTed to one watcher (every one written as a new
//! Observation before its 2xx), against a bare kube-rs client creating the same Observations
//! (built by the watcher's own code) at the same concurrency. Runs alternate ABBA; each run
//! writes into a namespace of its own, emptied afterwards so etcd holds the same for both.

use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
use zen_watcher::crd::Observation;
use zen_watcher::observation::{ObservationSettings, build};
use zen_watcher_e2e::{TestNamespace, admin_client, apply_crds};

use crate::output::{Results, median};
use crate::{alerts, load, watchers};

#[derive(clap::Args)]
pub struct Args {
    /// Distinct events (Observations) per run and side.
    #[arg(long, default_value_t = 3000)]
    events: usize,
    /// Creates in flight: the watcher's WRITER_CONCURRENCY and the bare client's.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Webhook requests in flight (more than the writer's, so the writer is the bottleneck).
    #[arg(long, default_value_t = 64)]
    post_concurrency: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub async fn run(args: Args, out: &Results, logs: &Path) -> anyhow::Result<()> {
    let client = admin_client().await?;
    apply_crds(&client).await?;
    let home = TestNamespace::create(&client, "bench-home").await?;
    let concurrency = args.concurrency.to_string();
    let watcher = watchers::start(
        "bench-writer",
        &home.name,
        false,
        &[("WRITER_CONCURRENCY", &concurrency)],
        &logs.join("write-rate"),
    )
    .await?;
    let settings = ObservationSettings {
        fallback_namespace: home.name.clone(),
        default_ttl_seconds: 7 * 24 * 3600,
        details_max_bytes: 32 * 1024,
        cluster_ingester_namespaces: Vec::new(),
    };

    // Warm-up: a short batch through each side.
    let warm = TestNamespace::create(&client, "bench-warm").await?;
    zen_side(&watcher, &warm.name, 200, args.post_concurrency).await?;
    bare_side(&client, &settings, &warm.name, 200, args.concurrency, 200).await?;
    watchers::delete_observations(&client, &warm.name).await?;

    let mut ratios = Vec::new();
    for run in 1..=args.runs {
        let sides = if run % 2 == 1 {
            ["zen", "kube-rs"]
        } else {
            ["kube-rs", "zen"]
        };
        let mut rates = [0.0; 2];
        for side in sides {
            let ns = TestNamespace::create(&client, &format!("bench-wr-{side}")).await?;
            let (seconds, index) = if side == "zen" {
                (
                    zen_side(&watcher, &ns.name, args.events, args.post_concurrency).await?,
                    0,
                )
            } else {
                let offset = 1_000_000 * run;
                (
                    bare_side(
                        &client,
                        &settings,
                        &ns.name,
                        args.events,
                        args.concurrency,
                        offset,
                    )
                    .await?,
                    1,
                )
            };
            let rate = args.events as f64 / seconds;
            rates[index] = rate;
            out.append(
                "write-rate",
                &json!({
                    "bench": "write-rate", "side": side, "run": run, "events": args.events,
                    "concurrency": args.concurrency, "seconds": seconds, "rate": rate,
                }),
            )?;
            watchers::delete_observations(&client, &ns.name).await?;
        }
        ratios.push(rates[0] / rates[1]);
    }
    eprintln!(
        "zen-bench: write rate zen/kube-rs median ratio {:.2} over {} runs",
        median(&ratios).unwrap_or(f64::NAN),
        ratios.len()
    );
    Ok(())
}

/// Seconds until every one of `events` distinct alerts was answered 2xx (written).
async fn zen_side(
    watcher: &watchers::Running,
    ns: &str,
    events: usize,
    post_concurrency: usize,
) -> anyhow::Result<f64> {
    let bodies = (0..events)
        .map(|i| alerts::distinct(ns, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = |m| {
        watchers::metric_sum(
            m,
            "zen_watcher_observations_written_total",
            &["outcome=\"created\""],
        )
    };
    let before = created(watcher.metrics).await?;
    let posted = load::post_all(
        watcher.webhook,
        "/falco/webhook",
        watchers::TOKEN,
        bodies,
        post_concurrency,
    )
    .await?;
    anyhow::ensure!(posted.all_2xx(), "webhook answers: {:?}", posted.statuses);
    if posted.retries > 0 {
        eprintln!(
            "zen-bench: {} requests retried after 503/429",
            posted.retries
        );
    }
    let written = created(watcher.metrics).await? - before;
    anyhow::ensure!(
        written as usize == events,
        "the watcher created {written} Observations for {events} distinct alerts"
    );
    Ok(posted.elapsed.as_secs_f64())
}

/// Seconds a bare kube-rs client takes to create the Observations the watcher would write
/// for the same alerts (built beforehand, outside the timing), `concurrency` at a time.
async fn bare_side(
    client: &Client,
    settings: &ObservationSettings,
    ns: &str,
    events: usize,
    concurrency: usize,
    offset: usize,
) -> anyhow::Result<f64> {
    let now = Timestamp::now();
    let mut objects = Vec::with_capacity(events);
    for i in 0..events {
        let body = alerts::distinct(ns, offset + i)?;
        for event in zen_watcher::sources::falco::parse(&body, now)? {
            objects.push(build(&event, settings));
        }
    }
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    let results: Vec<Result<Observation, kube::Error>> = futures::stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &o).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let seconds = start.elapsed().as_secs_f64();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    anyhow::ensure!(
        failed.is_empty(),
        "{} creates failed, first: {}",
        failed.len(),
        failed[0]
    );
    Ok(seconds)
}
