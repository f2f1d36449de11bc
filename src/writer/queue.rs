//! A bounded write queue with a fixed number of writes in flight. Webhooks and informers get
//! one each, so a large informer replay never starves webhooks. A webhook that finds its
//! queue full answers 503 instead of buffering without bound; an informer waits.
//!
//! Each job carries its [`Settle`]: the queue hands it the write's result where the write
//! happens, whatever became of the submitter (a webhook whose client disconnected, a request
//! past its deadline). A job that is never written (queue full, shutdown, fenced) drops its
//! settle unwritten, and the settle's own `Drop` says so.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use super::apiserver::{Stored, WriteError, Writer, Written};
use crate::event::Event;

/// The fenced leadership check a leader-only write makes right before it is sent.
pub type Fence = Arc<dyn Fn() -> bool + Send + Sync>;

/// What becomes of a write's result in the write path (dedup and cap bookkeeping, waiters).
pub trait Settle: Send + 'static {
    fn settle(self: Box<Self>, result: &Result<Stored, WriteError>);
}

/// Nothing to settle (writes outside the pipeline, tests).
impl Settle for () {
    fn settle(self: Box<Self>, _: &Result<Stored, WriteError>) {}
}

type Reply = oneshot::Sender<Result<Stored, WriteError>>;

struct Job {
    event: Event,
    settle: Box<dyn Settle>,
    reply: Reply,
    /// The event's span: the write's span is its child, across the queue.
    span: Span,
    /// Leader-only writes: checked when the job's turn comes, so a former leader's queued
    /// jobs are dropped instead of written.
    fence: Option<Fence>,
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
pub type Pending = oneshot::Receiver<Result<Stored, WriteError>>;

/// One write to queue.
pub struct Submission {
    pub event: Event,
    pub settle: Box<dyn Settle>,
    pub span: Span,
    pub fence: Option<Fence>,
}

impl Submission {
    /// `event` with nothing to settle, in the current span, unfenced.
    pub fn plain(event: Event) -> Self {
        Self {
            event,
            settle: Box::new(()),
            span: Span::current(),
            fence: None,
        }
    }

    fn into_job(self) -> (Job, Pending) {
        let (reply, pending) = oneshot::channel();
        let job = Job {
            event: self.event,
            settle: self.settle,
            reply,
            span: self.span,
            fence: self.fence,
        };
        (job, pending)
    }
}

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

    /// Queues a write if there is room (webhooks). A refused submission's settle is dropped
    /// unwritten.
    pub fn try_submit(&self, submission: Submission) -> Result<Pending, QueueFull> {
        let (job, pending) = submission.into_job();
        self.tx
            .try_send(job)
            .map(|()| pending)
            .map_err(|_| QueueFull)
    }

    /// Queues a write, waiting for room (informers: backpressure instead of loss).
    pub async fn submit(&self, submission: Submission) -> Result<Pending, QueueFull> {
        let (job, pending) = submission.into_job();
        self.tx
            .send(job)
            .await
            .map(|()| pending)
            .map_err(|_| QueueFull)
    }

    /// Events waiting for a writer.
    pub fn depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

fn record_write(result: &Result<Stored, WriteError>) {
    let span = Span::current();
    match result {
        Ok(stored) => {
            span.record("zen.outcome", stored.written.as_str());
            if let Written::Recurred { occurrences } = stored.written {
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
                let result = match &job.fence {
                    Some(still_leader) if !still_leader() => Err(WriteError::Fenced),
                    _ => writer.write(&job.event).await,
                };
                record_write(&result);
                job.settle.settle(&result);
                // The submitter may have given up (client disconnected); the write still
                // happened and is settled above.
                let _ = job.reply.send(result);
                drop(permit);
            }
            .instrument(span),
        );
    }
}
