//! The seam between the HTTP layer and the pipeline: handlers hand events to an [`Ingest`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::admission::IngesterRules;
use crate::event::Event;
use crate::ingest::{Mode, Outcome, Pipeline};
use crate::writer::WriteQueue;

pub type IngestFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Filters, deduplicates and writes a request's events; resolves once they are settled.
pub trait Ingest: Send + Sync {
    fn ingest<'a>(
        &'a self,
        events: Vec<Event>,
        rules: Option<&'a IngesterRules>,
    ) -> IngestFuture<'a>;
}

/// The production [`Ingest`]: the pipeline with the webhook write queue, refusing when full.
pub struct PipelineIngest {
    pipeline: Arc<Pipeline>,
    queue: WriteQueue,
}

impl PipelineIngest {
    pub fn new(pipeline: Arc<Pipeline>, queue: WriteQueue) -> Self {
        Self { pipeline, queue }
    }
}

impl Ingest for PipelineIngest {
    fn ingest<'a>(
        &'a self,
        events: Vec<Event>,
        rules: Option<&'a IngesterRules>,
    ) -> IngestFuture<'a> {
        Box::pin(
            self.pipeline
                .ingest(events, rules, &self.queue, Mode::webhook()),
        )
    }
}
