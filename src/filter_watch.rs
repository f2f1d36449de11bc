//! Every replica watches the filter ConfigMap (`FILTER_CONFIGMAP_NAME` in
//! `FILTER_CONFIGMAP_NAMESPACE`, key `FILTER_CONFIGMAP_KEY`). A valid update replaces the
//! pipeline's rules; an invalid one keeps the last good rules and is reported (log, metric,
//! and a Kubernetes Event on the ConfigMap). A missing ConfigMap or key means the built-in
//! defaults.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Client, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::admission::filter::{FilterConfig, FilterConfigError};
use crate::pipeline::Pipeline;

/// Where the filter rules live.
#[derive(Clone, Debug)]
pub struct FilterSource {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// What a ConfigMap (or its absence) means for the filter.
#[derive(Debug)]
pub enum Loaded {
    /// No ConfigMap, or no key in it: the built-in defaults.
    Defaults,
    Rules(FilterConfig),
    Invalid(FilterConfigError),
}

/// Reads the rules out of a ConfigMap. Pure.
pub fn load(config_map: Option<&ConfigMap>, key: &str) -> Loaded {
    let text = config_map
        .and_then(|cm| cm.data.as_ref())
        .and_then(|data| data.get(key));
    match text {
        None => Loaded::Defaults,
        Some(text) => match FilterConfig::from_json(text) {
            Ok(rules) => Loaded::Rules(rules),
            Err(err) => Loaded::Invalid(err),
        },
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `loaded`, `defaults` or `invalid` (the last good rules are kept).
    pub result: String,
}

/// What the filter watch exposes: ConfigMap loads by result.
#[derive(Clone, Debug, Default)]
pub struct FilterReloadMetrics {
    pub filter_reloads: Family<ReloadLabels, Counter>,
}

impl FilterReloadMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "filter_reloads",
            "Filter ConfigMap loads, by result",
            metrics.filter_reloads.clone(),
        );
        metrics
    }

    pub fn reload(&self, result: &str) {
        self.filter_reloads
            .get_or_create(&ReloadLabels {
                result: result.into(),
            })
            .inc();
    }
}

/// Watches the ConfigMap until `shutdown`; `loaded` turns true after the first decision (the
/// ConfigMap read, or known to be absent), which readiness waits for.
pub async fn run(
    client: Client,
    source: FilterSource,
    identity: String,
    pipeline: Arc<Pipeline>,
    metrics: FilterReloadMetrics,
    loaded: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &source.namespace);
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "zen-watcher".into(),
            instance: Some(identity),
        },
    );
    let config = watcher::Config::default().fields(&format!("metadata.name={}", source.name));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut pending: Option<ConfigMap> = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        let Some(event) = event else { return };
        match event {
            Ok(WatchEvent::Init) => pending = None,
            Ok(WatchEvent::InitApply(cm)) => pending = Some(cm),
            Ok(WatchEvent::InitDone) => {
                apply(
                    &pipeline,
                    &metrics,
                    &recorder,
                    &source,
                    pending.take().as_ref(),
                )
                .await;
                loaded.send_replace(true);
            }
            Ok(WatchEvent::Apply(cm)) => {
                apply(&pipeline, &metrics, &recorder, &source, Some(&cm)).await
            }
            Ok(WatchEvent::Delete(_)) => apply(&pipeline, &metrics, &recorder, &source, None).await,
            Err(err) => {
                tracing::warn!(error = %err, configmap = %source.name, "watching the filter ConfigMap failed; retrying")
            }
        }
    }
}

async fn apply(
    pipeline: &Pipeline,
    metrics: &FilterReloadMetrics,
    recorder: &Recorder,
    source: &FilterSource,
    cm: Option<&ConfigMap>,
) {
    match load(cm, &source.key) {
        Loaded::Defaults => {
            pipeline.set_filter(FilterConfig::default());
            metrics.reload("defaults");
            tracing::info!(configmap = %source.name, "no filter rules found: using the built-in defaults");
        }
        Loaded::Rules(rules) => {
            pipeline.set_filter(rules);
            metrics.reload("loaded");
            tracing::info!(configmap = %source.name, "filter rules loaded");
        }
        Loaded::Invalid(err) => {
            metrics.reload("invalid");
            tracing::error!(configmap = %source.name, key = %source.key, error = %err, "invalid filter rules: keeping the last good ones");
            if let Some(cm) = cm {
                report_invalid(recorder, cm, &source.key, &err).await;
            }
        }
    }
}

async fn report_invalid(recorder: &Recorder, cm: &ConfigMap, key: &str, err: &FilterConfigError) {
    let event = Event {
        type_: EventType::Warning,
        reason: "InvalidFilter".into(),
        note: Some(format!("{key}: {err} (the last valid rules stay in force)")),
        action: "LoadFilter".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &cm.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record an Event on the filter ConfigMap");
    }
}

#[cfg(test)]
mod tests;
