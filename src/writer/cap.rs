//! The per-source live-object cap (`MAX_OBSERVATIONS_PER_SOURCE`): nothing a source sends can
//! grow etcd without bound. A built-in source is counted by its name, an Ingester's events by
//! the Ingester (`Event::cap_key`), so no tenant can fill another's or a built-in source's
//! room. Every replica keeps a count of live Observations per key,
//! recounted from the apiserver periodically (metadata only, in pages) and raised by its own
//! creations in between; a new event of a source at its cap is dropped with reason `cap`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::crd::Observation;
use crate::observation::{INGESTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL};

/// How often the counts are taken again from the apiserver.
pub const RECOUNT_INTERVAL: Duration = Duration::from_secs(60);
const CAP_COUNT_PAGE_SIZE: u32 = 500;

pub struct SourceCap {
    limit: u64,
    counts: Mutex<HashMap<String, u64>>,
}

impl SourceCap {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `source` has reached its cap.
    pub fn full(&self, source: &str) -> bool {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(source)
            .is_some_and(|count| *count >= self.limit)
    }

    /// Reserves room for one more Observation of `source`; false at the cap. A reservation
    /// that does not end in a creation is given back with [`SourceCap::release`].
    pub fn reserve(&self, source: &str) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(source.to_string()).or_default();
        if *count >= self.limit {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives back a reservation (the write failed, or the Observation already existed).
    pub fn release(&self, source: &str) {
        if let Some(count) = self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(source)
        {
            *count = count.saturating_sub(1);
        }
    }

    /// Replaces the counts with a fresh census.
    pub fn replace(&self, counts: HashMap<String, u64>) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner) = counts;
    }

    /// Recounts every `RECOUNT_INTERVAL` until `cancel` fires.
    pub async fn recount_loop(&self, client: Client, cancel: CancellationToken) {
        loop {
            match census(&client).await {
                Ok(counts) => self.replace(counts),
                Err(err) => tracing::warn!(error = %err, "counting Observations per source failed"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(RECOUNT_INTERVAL) => {}
            }
        }
    }
}

/// Live Observations per source (metadata-only pages of managed Observations).
async fn census(client: &Client) -> Result<HashMap<String, u64>, kube::Error> {
    let api: Api<Observation> = Api::all(client.clone());
    let mut params = ListParams::default()
        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"))
        .limit(CAP_COUNT_PAGE_SIZE);
    let mut counts = HashMap::new();
    loop {
        let page = api.list_metadata(&params).await?;
        for item in &page.items {
            count(&mut counts, item.labels());
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(counts),
        }
    }
}

fn count(counts: &mut HashMap<String, u64>, labels: &BTreeMap<String, String>) {
    if let Some(key) = labels.get(INGESTER_LABEL).or_else(|| labels.get("source")) {
        *counts.entry(key.clone()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests;
