//! The running watcher: wires the pipeline, the servers, the filter ConfigMap watch, leader
//! election and the leader-only work together, and shuts them down in order on a signal.

use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::Client;
use kube::api::{Api, PostParams};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::filter::FilterConfig;
use crate::config::Config;
use crate::filter_watch::{self, FilterReloadMetrics, FilterSource};
use crate::gc::GcMetrics;
use crate::informers::Findings;
use crate::ingesters::{self, Orchestrator};
use crate::leader::{self, ElectionConfig, LeaderMetrics, Leadership};
use crate::metrics::{self, Exposition};
use crate::observation::ObservationSettings;
use crate::pipeline::{self, Pipeline, PipelineMetrics};
use crate::server::{self, PipelineSink, ServerMetrics, ServerState};
use crate::shutdown::Signals;
use crate::sources::audit;
use crate::writer::{QueueMetrics, RetryPolicy, SourceCap, WriteQueue, Writer};
use crate::{gc, informers};

/// How long in-flight requests may take to finish once the listeners close.
const REQUEST_GRACE: Duration = Duration::from_secs(10);
/// How long the last flush of recurrences may take at shutdown.
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to the apiserver may take, for watches and leader election.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sending one request may take, for watches and leader election.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often queue depth gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(2);
/// How long the background tasks and the write queues may take to stop once cancelled.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Every component's metrics, each registered by its component into one registry.
pub struct AppMetrics {
    pub pipeline: PipelineMetrics,
    pub queues: QueueMetrics,
    pub server: ServerMetrics,
    pub filter: FilterReloadMetrics,
    pub leader: LeaderMetrics,
    pub gc: GcMetrics,
}

impl AppMetrics {
    /// Registers every component's families; `/metrics` serves the returned exposition.
    pub fn register() -> (Self, Arc<Exposition>) {
        let mut registry: Registry = metrics::registry();
        let all = Self {
            pipeline: PipelineMetrics::register(&mut registry),
            queues: QueueMetrics::register(&mut registry),
            server: ServerMetrics::register(&mut registry),
            filter: FilterReloadMetrics::register(&mut registry),
            leader: LeaderMetrics::register(&mut registry),
            gc: GcMetrics::register(&mut registry),
        };
        (all, Arc::new(Exposition::new(registry)))
    }
}

/// Runs until SIGTERM/SIGINT, then shuts down as docs/architecture.md ("Shutdown") describes.
pub async fn run(config: Config, mut signals: Signals) -> anyhow::Result<()> {
    let (client, write_client) = clients(&config).await?;
    let (metrics, exposition) = AppMetrics::register();
    let writer = Arc::new(Writer::new(
        write_client,
        observation_settings(&config),
        RetryPolicy::default(),
    ));
    let (webhook_queue, webhook_dispatch) = WriteQueue::start(
        writer.clone(),
        config.writer_queue_size,
        config.writer_concurrency,
    );
    let (informer_queue, informer_dispatch) = WriteQueue::start(
        writer.clone(),
        config.writer_queue_size,
        config.writer_concurrency,
    );
    let dedup_size = NonZeroUsize::new(config.dedup_max_size).unwrap_or(NonZeroUsize::MIN);
    let cap = Arc::new(SourceCap::new(config.max_observations_per_source));
    let pipeline = Arc::new(
        Pipeline::new(
            FilterConfig::default(),
            dedup_size,
            config.dedup_window,
            metrics.pipeline.clone(),
        )
        .with_cap(cap.clone()),
    );

    let audit_identity = audit::SelfIdentity {
        own_username: own_username(&client).await,
    };
    let ingest = Arc::new(PipelineSink::new(pipeline.clone(), webhook_queue.clone()));
    let state = Arc::new(ServerState::new(
        &config,
        ingest,
        metrics.server.clone(),
        exposition,
        audit_identity,
    )?);
    let readiness = state.readiness().clone();
    let routes = state.routes().clone();
    let servers = server::bind(&config, Ipv4Addr::UNSPECIFIED.into(), state).await?;
    tracing::info!(
        webhook = %servers.webhook_addr(),
        metrics = %servers.metrics_addr(),
        "listening"
    );
    let stop_serving = CancellationToken::new();
    let serving = tokio::spawn(servers.serve(stop_serving.clone(), REQUEST_GRACE));

    // Every task that runs until shutdown: cancelled by `background`, awaited at the end.
    let background = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn({
        let (client, background) = (client.clone(), background.clone());
        async move { cap.recount_loop(client, background).await }
    });
    let stop_leading = CancellationToken::new();
    let (leadership, elector) = match ElectionConfig::from_config(&config) {
        Some(election) => {
            let (l, handle) = leader::start(
                client.clone(),
                election,
                metrics.leader.clone(),
                stop_leading.clone(),
            );
            (l, Some(handle))
        }
        None => (Leadership::always(stop_leading.clone()), None),
    };
    let findings = Findings::new(pipeline.clone(), informer_queue.clone(), writer.clone(), {
        let leadership = leadership.clone();
        Arc::new(move || leadership.is_leader())
    });
    let orchestrator = Arc::new(Orchestrator::new(
        client.clone(),
        routes,
        ingesters::Settings::from_config(&config),
        findings.clone(),
    ));
    let (ingesters_listed, mut ingesters_ready) = watch::channel(false);
    tasks.spawn(
        orchestrator
            .clone()
            .run_routes(ingesters_listed, background.clone()),
    );
    let (filter_loaded, mut filter_ready) = watch::channel(false);
    tasks.spawn(filter_watch::run(
        client.clone(),
        FilterSource {
            namespace: config.filter_configmap_namespace.clone(),
            name: config.filter_configmap_name.clone(),
            key: config.filter_configmap_key.clone(),
        },
        config.identity.clone(),
        pipeline.clone(),
        metrics.filter.clone(),
        filter_loaded,
        background.clone(),
    ));
    tasks.spawn({
        let (readiness, background) = (readiness.clone(), background.clone());
        async move {
            // Ready once the filter rules and the first list of Ingesters are loaded, so a
            // new replica never 404s an Ingester's path. Never depends on leadership.
            let loaded = async {
                filter_ready.wait_for(|loaded| *loaded).await.is_ok()
                    && ingesters_ready.wait_for(|listed| *listed).await.is_ok()
            };
            tokio::select! {
                _ = background.cancelled() => {}
                true = loaded => {
                    readiness.set_ready(true);
                    tracing::info!("ready");
                }
                else => {}
            }
        }
    });
    tasks.spawn(pipeline::flush_loop(
        pipeline.clone(),
        writer.clone(),
        config.occurrence_flush_interval,
        config.writer_concurrency,
        config.dedup_max_size,
        background.clone(),
    ));
    tasks.spawn(refresh_gauges(
        metrics.queues.clone(),
        // The last handles of run() on the queues: moved, so each dispatcher ends once the
        // tasks and the server holding the others are gone.
        webhook_queue,
        informer_queue,
        background.clone(),
    ));

    let leader_work = tokio::spawn(leader::run_leader_tasks(leadership, {
        let config = config.clone();
        let gc_metrics = metrics.gc.clone();
        let client = client.clone();
        move |term| {
            leader_tasks(
                client.clone(),
                findings.clone(),
                orchestrator.clone(),
                config.clone(),
                gc_metrics.clone(),
                term,
            )
        }
    }));

    let signal = signals.recv().await;
    tracing::info!(signal, drain = ?config.shutdown_drain_delay, "shutting down: readiness off, draining");
    readiness.shutting_down();
    // Leadership is handed over at once, while webhooks drain: leader-only work needs no
    // endpoint, and another replica's informers start within one Lease watch event instead of
    // after the drain delay.
    stop_leading.cancel();
    let hand_over = async {
        if let Some(elector) = elector {
            let _ = elector.await;
        }
        let _ = leader_work.await;
    };
    tokio::join!(hand_over, tokio::time::sleep(config.shutdown_drain_delay));
    stop_serving.cancel();
    if let Err(err) = serving.await {
        tracing::error!(error = %err, "the server task failed");
    }
    // Every acknowledged recurrence is counted before the process goes.
    match tokio::time::timeout(
        FINAL_FLUSH_TIMEOUT,
        pipeline.flush_recurrences(&writer, config.writer_concurrency, config.dedup_max_size),
    )
    .await
    {
        Ok(flushed) => tracing::info!(?flushed, "recurrences counted at shutdown"),
        Err(_) => tracing::warn!(
            "counting recurrences at shutdown took longer than {FINAL_FLUSH_TIMEOUT:?}; the rest are lost"
        ),
    }
    background.cancel();
    tasks.close();
    stop_background(tasks, [webhook_dispatch, informer_dispatch]).await;
    tracing::info!("stopped");
    Ok(())
}

/// Waits for the cancelled background tasks, then for the write queues' dispatchers (they end
/// once the last handle on their queue, held by those tasks and the server, is gone).
async fn stop_background(tasks: TaskTracker, dispatchers: [JoinHandle<()>; 2]) {
    let deadline = tokio::time::Instant::now() + BACKGROUND_STOP_TIMEOUT;
    if tokio::time::timeout_at(deadline, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = tasks.len(),
            "background tasks did not stop within {BACKGROUND_STOP_TIMEOUT:?}; exiting without them"
        );
        return;
    }
    for dispatcher in dispatchers {
        match tokio::time::timeout_at(deadline, dispatcher).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "a write queue's dispatcher failed"),
            Err(_) => {
                tracing::warn!(
                    "a write queue's dispatcher did not stop within {BACKGROUND_STOP_TIMEOUT:?} (a handle on its queue is still held); exiting without it"
                );
                return;
            }
        }
    }
}

/// Two clients with explicit timeouts, and kube's own retries off (every caller retries on its
/// own terms): one for watches, leader election, GC and status (no response timeout: watches
/// are long reads, bounded by the watcher's idle timeout; the elector and GC bound their own
/// calls), and one for Observation writes, whose every request is bounded by
/// `APISERVER_REQUEST_TIMEOUT` so a hung apiserver fails writes instead of holding them.
async fn clients(config: &Config) -> anyhow::Result<(Client, Client)> {
    let mut base = kube::Config::infer()
        .await
        .context("connecting to the Kubernetes API (in-cluster config or KUBECONFIG)")?;
    base.default_retry = false;
    base.connect_timeout = Some(CONNECT_TIMEOUT);
    base.write_timeout = Some(SEND_TIMEOUT);
    base.read_timeout = None;
    let mut writes = base.clone();
    let timeout = config.apiserver_request_timeout;
    writes.connect_timeout = Some(timeout);
    writes.write_timeout = Some(timeout);
    writes.read_timeout = Some(timeout);
    writes.reset_reader_on_write = true;
    let client = Client::try_from(base).context("building the Kubernetes client")?;
    let write_client = Client::try_from(writes).context("building the Kubernetes client")?;
    Ok((client, write_client))
}

fn observation_settings(config: &Config) -> ObservationSettings {
    ObservationSettings {
        fallback_namespace: config.namespace.clone(),
        default_ttl_seconds: config.observation_ttl_seconds,
        details_max_bytes: usize::try_from(config.observation_details_max_bytes)
            .unwrap_or(usize::MAX),
        cluster_ingester_namespaces: config.cluster_ingester_namespaces.clone(),
    }
}

/// The leader's work for one term: report informers, Ingester sources and status, and GC,
/// until the term ends.
async fn leader_tasks(
    client: Client,
    findings: Findings,
    orchestrator: Arc<Orchestrator>,
    config: Config,
    gc_metrics: GcMetrics,
    term: CancellationToken,
) {
    tracing::info!(identity = %config.identity, "starting leader-only work");
    let fence = findings.clone();
    let gc = gc::run(
        client.clone(),
        Duration::from_secs(config.observation_ttl_seconds),
        config.gc_interval,
        config.gc_timeout,
        move || fence.is_leader(),
        term.clone(),
        move |result| gc_metrics.run(result),
    );
    let ingesters = orchestrator.run_leader(term.clone());
    tokio::join!(
        informers::run(client, findings, term.clone()),
        ingesters,
        gc
    );
    tracing::info!(identity = %config.identity, "leader-only work stopped");
}

/// The user this watcher authenticates as, so audit events it causes are ignored. Best
/// effort: without it, those events are still filtered by the `zen.kube-zen.io` rule.
async fn own_username(client: &Client) -> Option<String> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    match api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username),
        Err(err) => {
            tracing::warn!(error = %err, "could not learn the watcher's own user (SelfSubjectReview)");
            None
        }
    }
}

async fn refresh_gauges(
    metrics: QueueMetrics,
    webhook: WriteQueue,
    informer: WriteQueue,
    cancel: CancellationToken,
) {
    loop {
        metrics.refresh(&[("webhook", &webhook), ("informer", &informer)]);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(GAUGE_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests;
