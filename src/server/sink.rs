//! The seam between the HTTP layer and the pipeline: handlers hand events to an [`EventSink`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::admission::IngesterRules;
use crate::event::Event;
use crate::pipeline::{Mode, Outcome, Pipeline};
use crate::writer::WriteQueue;

pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Filters, deduplicates and writes a request's events; resolves once they are settled.
pub trait EventSink: Send + Sync {
    fn ingest<'a>(&'a self, events: Vec<Event>, rules: Option<&'a IngesterRules>)
    -> SinkFuture<'a>;

    /// Counts an item the source dropped while parsing (an audit item no rule matches), so
    /// the pipeline's received and filtered counts include it.
    fn dropped_by_source(&self, source: &str, reason: &str);
}

/// The production [`EventSink`]: the pipeline with the webhook write queue, refusing when full.
pub struct PipelineSink {
    pipeline: Arc<Pipeline>,
    queue: WriteQueue,
}

impl PipelineSink {
    pub fn new(pipeline: Arc<Pipeline>, queue: WriteQueue) -> Self {
        Self { pipeline, queue }
    }
}

impl EventSink for PipelineSink {
    fn ingest<'a>(
        &'a self,
        events: Vec<Event>,
        rules: Option<&'a IngesterRules>,
    ) -> SinkFuture<'a> {
        Box::pin(
            self.pipeline
                .ingest(events, rules, &self.queue, Mode::webhook()),
        )
    }

    fn dropped_by_source(&self, source: &str, reason: &str) {
        self.pipeline.metrics.dropped_by_source(source, reason);
    }
}
