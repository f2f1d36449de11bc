//! A bounded write queue with a fixed number of writes in flight. Webhooks and informers get
//! one each, so a large informer replay never starves webhooks. A webhook that finds its
//! queue full answers 503 instead of buffering without bound; an informer waits.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use super::apiserver::{WriteError, Writer, Written};
use crate::event::Event;

type Reply = oneshot::Sender<Result<Written, WriteError>>;

struct Job {
    event: Event,
    reply: Reply,
    /// The event's span: the write's span is its child, across the queue.
    span: Span,
}

/// The queue is full: the caller should answer 429/503 with `Retry-After`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the write queue is full")]
pub struct QueueFull;

/// The handle producers use. Cloning is cheap.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::Sender<Job>,
    capacity: usize,
}

/// The result of a submitted write, to await once the caller needs it.
pub type Pending = oneshot::Receiver<Result<Written, WriteError>>;

impl WriteQueue {
    /// Starts the dispatcher: up to `concurrency` writes run at once, `capacity` wait.
    pub fn start(
        writer: Arc<Writer>,
        capacity: usize,
        concurrency: usize,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = tokio::spawn(dispatch(writer, rx, concurrency.max(1)));
        (
            Self {
                tx,
                capacity: capacity.max(1),
            },
            handle,
        )
    }

    /// Queues `event` if there is room (webhooks).
    pub fn try_submit(&self, event: Event) -> Result<Pending, QueueFull> {
        self.try_submit_in(event, Span::current())
    }

    /// [`WriteQueue::try_submit`], the write's span a child of `span`.
    pub fn try_submit_in(&self, event: Event, span: Span) -> Result<Pending, QueueFull> {
        let (reply, pending) = oneshot::channel();
        self.tx
            .try_send(Job { event, reply, span })
            .map(|()| pending)
            .map_err(|_| QueueFull)
    }

    /// Queues `event`, waiting for room (informers: backpressure instead of loss).
    pub async fn submit(&self, event: Event) -> Result<Pending, QueueFull> {
        self.submit_in(event, Span::current()).await
    }

    /// [`WriteQueue::submit`], the write's span a child of `span`.
    pub async fn submit_in(&self, event: Event, span: Span) -> Result<Pending, QueueFull> {
        let (reply, pending) = oneshot::channel();
        self.tx
            .send(Job { event, reply, span })
            .await
            .map(|()| pending)
            .map_err(|_| QueueFull)
    }

    /// Events waiting for a writer.
    pub fn depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

fn record_write(result: &Result<Written, WriteError>) {
    let span = Span::current();
    match result {
        Ok(written) => {
            span.record("zen.outcome", written.as_str());
            if let Written::Recurred { occurrences } = written {
                span.record("zen.occurrences", occurrences);
            }
        }
        Err(err) => {
            span.record(
                "zen.outcome",
                if err.is_transient() {
                    "transient_error"
                } else {
                    "permanent_error"
                },
            );
            crate::spans::record_error(&span, &err.to_string());
        }
    }
}

async fn dispatch(writer: Arc<Writer>, mut rx: mpsc::Receiver<Job>, concurrency: usize) {
    let permits = Arc::new(Semaphore::new(concurrency));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let writer = writer.clone();
        let span = tracing::debug_span!(
            parent: &job.span,
            "write",
            k8s.namespace.name = tracing::field::Empty,
            zen.observation = tracing::field::Empty,
            zen.outcome = tracing::field::Empty,
            zen.occurrences = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        tokio::spawn(
            async move {
                let result = writer.write(&job.event).await;
                record_write(&result);
                // The submitter may have given up (client disconnected); the write still happened.
                let _ = job.reply.send(result);
                drop(permit);
            }
            .instrument(span),
        );
    }
}
