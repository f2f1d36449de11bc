//! Memory of one watcher (leader, informers on): RSS idle; after a burst of webhook events;
//! peak and steady while it lists and watches many large VulnerabilityReports, once with the
//! default filter (high and critical written) and once with a filter that drops everything
//! (the watcher's own cost, without writes); and the growth of peak RSS while one watcher reads
//! the largest audit EventList it accepts (16 MiB by default). Peak is the kernel's VmHWM: no
//! sample is missed.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::json;
use zen_watcher_e2e::{
    Signal, TestNamespace, admin_client, apply_crds, apply_report_crds, wait_until,
};

use crate::output::Results;
use crate::process::rss;
use crate::watchers::{self, delete_observations, metric_sum};
use crate::{alerts, audit_batch, load, reports};

/// A global expression no event satisfies.
const DROP_ALL: &str = r#"{"expression": "source = \"no-such-source\""}"#;
const SETTLE: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Args {
    /// Webhook events of the burst.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Distinct alerts among them (each repeated events/distinct times in a row, so dedup
    /// suppresses the repeats and the LRU cache is full).
    #[arg(long, default_value_t = 20_000)]
    distinct: usize,
    #[arg(long, default_value_t = 2_000)]
    reports: usize,
    #[arg(long, default_value_t = 100)]
    vulnerabilities: usize,
    /// Size of the audit EventList posted once (the watcher's AUDIT_MAX_REQUEST_BYTES default).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    audit_bytes: usize,
}

pub async fn run(args: Args, out: &Results, logs: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.distinct > 0 && args.distinct <= args.events,
        "need 0 < distinct <= events"
    );
    let client = admin_client().await?;
    apply_crds(&client).await?;
    let kinds = apply_report_crds(&client).await?.len();
    let logs = logs.join("memory");
    // Reports left by an earlier run would make "idle" a replay of them.
    let leftover = reports::count_all(&client).await?;
    anyhow::ensure!(
        leftover == 0,
        "{leftover} VulnerabilityReports exist already: start from a fresh control plane (scripts/bench.sh starts one)"
    );

    audit_batch_phase(&client, &args, kinds, &logs, out).await?;

    // Idle, then a burst of webhook events.
    let home = TestNamespace::create(&client, "bench-mem").await?;
    let mut watcher = watchers::start("mem-webhooks", &home.name, false, &[], &logs).await?;
    watchers::wait_informers(&watcher.process, kinds).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = rss(watcher.process.pid())?;
    out.append(
        "memory",
        &json!({"bench": "memory", "phase": "idle", "rss_mib": idle.now_mib, "peak_mib": idle.peak_mib}),
    )?;

    let events = TestNamespace::create(&client, "bench-mem-events").await?;
    let repeat = args.events / args.distinct;
    let bodies = (0..args.events)
        .map(|i| alerts::distinct(&events.name, (i / repeat) % args.distinct))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let posted = load::post_all(
        watcher.webhook,
        "/falco/webhook",
        watchers::TOKEN,
        bodies,
        64,
    )
    .await?;
    anyhow::ensure!(posted.all_2xx(), "webhook answers: {:?}", posted.statuses);
    tokio::time::sleep(SETTLE).await;
    let after = rss(watcher.process.pid())?;
    let written = metric_sum(
        watcher.metrics,
        "zen_watcher_observations_written_total",
        &[],
    )
    .await?;
    out.append(
        "memory",
        &json!({
            "bench": "memory", "phase": "after-webhook-events", "rss_mib": after.now_mib,
            "peak_mib": after.peak_mib, "events": args.events, "distinct": args.distinct,
            "observations_written": written, "seconds": posted.elapsed.as_secs_f64(),
            "retried_503_429": posted.retries,
        }),
    )?;
    watcher
        .process
        .stop(Signal::Term, Duration::from_secs(60))?;
    delete_observations(&client, &events.name).await?;

    // Reports: created first, then a fresh watcher lists and watches them.
    let reports_ns = TestNamespace::create(&client, "bench-mem-reports").await?;
    let t0 = Instant::now();
    reports::create(
        &client,
        &reports_ns.name,
        args.reports,
        args.vulnerabilities,
    )
    .await?;
    eprintln!(
        "zen-bench: created {} VulnerabilityReports of {} vulnerabilities in {:.1} s",
        args.reports,
        args.vulnerabilities,
        t0.elapsed().as_secs_f64()
    );
    for (phase, filter) in [
        ("reports-default-filter", None),
        ("reports-drop-all", Some(DROP_ALL)),
    ] {
        let home = TestNamespace::create(&client, "bench-mem-home").await?;
        if let Some(rules) = filter {
            filter_configmap(&client, &home.name, rules).await?;
        }
        let start = Instant::now();
        let mut watcher = watchers::start(phase, &home.name, false, &[], &logs).await?;
        watchers::wait_informers(&watcher.process, kinds).await?;
        let expected_findings = args.reports * args.vulnerabilities;
        let expected_written = if filter.is_some() {
            0
        } else {
            args.reports * reports::HIGH_OR_CRITICAL_PER_REPORT
        };
        let metrics = watcher.metrics;
        wait_until(
            "every finding processed",
            Duration::from_secs(900),
            || async move {
                let received = metric_sum(
                    metrics,
                    "zen_watcher_events_received_total",
                    &["source=\"trivy\""],
                )
                .await?;
                let written = metric_sum(
                    metrics,
                    "zen_watcher_observations_written_total",
                    &["source=\"trivy\"", "outcome=\"created\""],
                )
                .await?;
                Ok(
                    (received as usize >= expected_findings
                        && written as usize >= expected_written)
                        .then_some(()),
                )
            },
        )
        .await?;
        let seconds = start.elapsed().as_secs_f64();
        tokio::time::sleep(SETTLE).await;
        let steady = rss(watcher.process.pid())?;
        let written = metric_sum(
            metrics,
            "zen_watcher_observations_written_total",
            &["source=\"trivy\"", "outcome=\"created\""],
        )
        .await?;
        out.append(
            "memory",
            &json!({
                "bench": "memory", "phase": phase, "rss_mib": steady.now_mib,
                "steady_mib": steady.now_mib, "peak_mib": steady.peak_mib,
                "reports": args.reports, "vulnerabilities_per_report": args.vulnerabilities,
                "observations_written": written, "seconds": seconds,
            }),
        )?;
        watcher
            .process
            .stop(Signal::Term, Duration::from_secs(60))?;
        delete_observations(&client, &reports_ns.name).await?;
    }
    reports::delete_all(&client, &reports_ns.name).await?;
    Ok(())
}

/// Peak RSS growth while a fresh watcher reads one EventList of `audit_bytes`, and answers it.
async fn audit_batch_phase(
    client: &Client,
    args: &Args,
    kinds: usize,
    logs: &Path,
    out: &Results,
) -> anyhow::Result<()> {
    let home = TestNamespace::create(client, "bench-mem-audit").await?;
    let events = TestNamespace::create(client, "bench-mem-audit-events").await?;
    let batch = audit_batch::event_list(&events.name, args.audit_bytes)?;
    let mut watcher = watchers::start("mem-audit", &home.name, false, &[], logs).await?;
    watchers::wait_informers(&watcher.process, kinds).await?;
    tokio::time::sleep(SETTLE).await;
    let before = rss(watcher.process.pid())?;
    let body_mib = batch.body.len() as f64 / (1024.0 * 1024.0);
    let posted = load::post_all(
        watcher.webhook,
        "/audit/webhook",
        watchers::TOKEN,
        vec![batch.body],
        1,
    )
    .await?;
    anyhow::ensure!(posted.all_2xx(), "audit answers: {:?}", posted.statuses);
    let after = rss(watcher.process.pid())?;
    let written = metric_sum(
        watcher.metrics,
        "zen_watcher_observations_written_total",
        &["source=\"audit\""],
    )
    .await?;
    anyhow::ensure!(
        written as usize == batch.secret_reads,
        "{written} audit Observations written, {} secret reads sent",
        batch.secret_reads
    );
    let growth = after.peak_mib - before.now_mib;
    out.append(
        "memory",
        &json!({
            "bench": "memory", "phase": "audit-event-list", "rss_mib": after.now_mib,
            "peak_mib": after.peak_mib, "rss_before_mib": before.now_mib,
            "peak_growth_mib": growth, "body_mib": body_mib,
            "growth_per_body": growth / body_mib, "items": batch.items,
            "observations_written": written, "seconds": posted.elapsed.as_secs_f64(),
        }),
    )?;
    watcher
        .process
        .stop(Signal::Term, Duration::from_secs(60))?;
    delete_observations(client, &events.name).await?;
    Ok(())
}

async fn filter_configmap(client: &Client, ns: &str, rules: &str) -> anyhow::Result<()> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("zen-watcher-filter".into()),
            ..Default::default()
        },
        data: Some([("filter.json".to_string(), rules.to_string())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await?;
    Ok(())
}
