//! The one sink of findings (docs/architecture.md, "Findings"): the only place that writes
//! findings, resolves vanished ones, forgets their dedup entries and checks the leadership
//! fence. Report informers and informer Ingesters both write through it.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::admission::IngesterRules;
use crate::event::Event;
use crate::observation::name_of;
use crate::pipeline::{Mode, Pipeline};
use crate::writer::{Fence, WriteError, WriteQueue, Writer};

/// What writing one object's findings did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Names of the findings that passed the filter: the object's present findings.
    pub present: BTreeSet<String>,
    /// Some were not written for a reason that may pass (apiserver down, throttled): the
    /// object must be applied again later.
    pub unwritten: bool,
}

#[derive(Clone)]
pub struct Findings {
    pipeline: Arc<Pipeline>,
    /// The informer write queue (waits for room; never starves webhooks).
    queue: WriteQueue,
    writer: Arc<Writer>,
    fence: Fence,
}

impl Findings {
    pub fn new(
        pipeline: Arc<Pipeline>,
        queue: WriteQueue,
        writer: Arc<Writer>,
        fence: Fence,
    ) -> Self {
        Self {
            pipeline,
            queue,
            writer,
            fence,
        }
    }

    /// Whether this replica may still write findings.
    pub fn is_leader(&self) -> bool {
        (self.fence)()
    }

    /// Writes an object's findings. `fresh`: a (re)list, where every finding is checked
    /// against the apiserver whatever the dedup window holds.
    pub async fn write(
        &self,
        events: Vec<Event>,
        rules: Option<&IngesterRules>,
        fresh: bool,
    ) -> Applied {
        let names: Vec<String> = events.iter().map(name_of).collect();
        let outcome = self
            .pipeline
            .ingest(
                events,
                rules,
                &self.queue,
                Mode::watched(self.fence.clone(), fresh),
            )
            .await;
        let present = names
            .into_iter()
            .zip(&outcome.passed)
            .filter(|(_, passed)| **passed)
            .map(|(name, _)| name)
            .collect();
        Applied {
            present,
            unwritten: !outcome.acknowledged(),
        }
    }

    /// Resolves the open findings of the object `origin_uid` that are not in `present` (all of
    /// them for a deleted object).
    pub async fn resolve_vanished(
        &self,
        origin_uid: &str,
        present: &BTreeSet<String>,
    ) -> Result<usize, WriteError> {
        if !self.is_leader() {
            return Err(WriteError::Fenced);
        }
        let resolved = self
            .writer
            .resolve_vanished(origin_uid, present, Timestamp::now(), &*self.fence)
            .await?;
        self.pipeline.resolved(&resolved);
        Ok(resolved.len())
    }

    /// After a full list of the watch `watch`: resolves every open finding it wrote whose
    /// name is not in `present` (its object was deleted, or lost the finding, while nobody
    /// watched).
    pub async fn resolve_unlisted(
        &self,
        watch: &str,
        present: &HashSet<String>,
    ) -> Result<usize, WriteError> {
        if !self.is_leader() {
            return Err(WriteError::Fenced);
        }
        let resolved = self
            .writer
            .resolve_unlisted(watch, present, Timestamp::now(), &*self.fence)
            .await?;
        self.pipeline.resolved(&resolved);
        Ok(resolved.len())
    }
}
