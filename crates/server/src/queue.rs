//! Admission and the job queue between the HTTP handlers and the model worker (as
//! text-embeddings-inference's `queue`): a request first takes a [`Permit`] (429 when none
//! is left), then hands it *by value* to the job it queues. The permit travels with the job
//! and is released only when the worker has answered or dropped it, so `/health`'s
//! `in_use` and the 429 limit count work that is really queued or running, even after its
//! client hung up.

use crate::metrics as m;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot};
use vec2prompt_core::{Generation, GenerationParams, Result, TargetVector};
use vec2prompt_search::SearchOptions;

use crate::infer::{EmbedOutcome, Quality, SearchOutcome};

/// Errors of the queue itself (model errors travel inside the replies).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferError {
    /// Every admission permit is taken.
    #[error("the server is busy: {0} requests are queued or running; retry after a moment")]
    Overloaded(usize),
    /// The worker thread is gone (shutting down, or it crashed).
    #[error("the model worker is not running")]
    Unavailable,
}

/// The right of one request to have work queued or running on the model worker. Clones
/// share the one admission (a request sending several jobs, like the waves of
/// `/generate_prompts_parallel`, gives each a clone); it is released when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct Permit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// A search job: targets sharing one set of options.
pub(crate) struct SearchJob {
    pub targets: Vec<TargetVector>,
    pub options: SearchOptions,
    pub quality: Quality,
    pub reply: oneshot::Sender<Vec<Result<SearchOutcome>>>,
    pub enqueued: Instant,
    /// Held, never read: dropping the job releases its admission.
    pub _permit: Permit,
}

/// An embedding job.
pub(crate) struct EmbedJob {
    pub texts: Vec<String>,
    pub reply: oneshot::Sender<Result<EmbedOutcome>>,
    pub enqueued: Instant,
    /// Held, never read: dropping the job releases its admission.
    pub _permit: Permit,
}

/// A generation job (chat completions).
pub(crate) struct GenerateJob {
    pub prompts: Vec<String>,
    pub params: GenerationParams,
    pub reply: oneshot::Sender<Result<Vec<Vec<Generation>>>>,
    /// Held, never read: dropping the job releases its admission.
    pub _permit: Permit,
}

/// Releases a job's admission, then sends its reply, so a client that sends its next
/// request as soon as it has this answer finds the slot free (sending first would let
/// the reply overtake the release and that next request see a 429).
fn release_then_send<T>(permit: Permit, reply: oneshot::Sender<T>, value: T) {
    drop(permit);
    let _ = reply.send(value);
}

impl SearchJob {
    /// Answers the job (see [`release_then_send`]).
    pub fn finish(self, value: Vec<Result<SearchOutcome>>) {
        release_then_send(self._permit, self.reply, value);
    }
}

impl EmbedJob {
    /// Answers the job (see [`release_then_send`]).
    pub fn finish(self, value: Result<EmbedOutcome>) {
        release_then_send(self._permit, self.reply, value);
    }
}

impl GenerateJob {
    /// Answers the job (see [`release_then_send`]).
    pub fn finish(self, value: Result<Vec<Vec<Generation>>>) {
        release_then_send(self._permit, self.reply, value);
    }
}

/// One unit of work for the model worker; it owns its requester's [`Permit`].
pub(crate) enum Job {
    Search(SearchJob),
    Embed(EmbedJob),
    Generate(GenerateJob),
}

impl Job {
    /// Whether the requester still waits for the reply (a client that hung up has
    /// dropped its receiver).
    pub fn wanted(&self) -> bool {
        match self {
            Job::Search(j) => !j.reply.is_closed(),
            Job::Embed(j) => !j.reply.is_closed(),
            Job::Generate(j) => !j.reply.is_closed(),
        }
    }
}

/// The sending side: admission permits and the channel to the worker; cheap to clone.
#[derive(Clone)]
pub(crate) struct Queue {
    sender: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
}

/// The worker's side of the queue.
pub(crate) struct QueueReceiver {
    receiver: mpsc::UnboundedReceiver<Job>,
    waiting: Arc<AtomicUsize>,
}

impl Queue {
    /// A queue admitting `capacity` requests at once.
    pub fn new(capacity: usize) -> (Self, QueueReceiver) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        metrics::gauge!(m::QUEUE_CAPACITY).set(capacity as f64);
        (
            Self {
                sender,
                permits: Arc::new(Semaphore::new(capacity)),
                capacity,
                waiting: waiting.clone(),
            },
            QueueReceiver { receiver, waiting },
        )
    }

    /// Admits one request, or refuses at once when `capacity` requests are in.
    pub fn try_acquire(&self) -> std::result::Result<Permit, InferError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => Ok(Permit(Arc::new(p))),
            Err(TryAcquireError::NoPermits) => {
                metrics::counter!(m::QUEUE_REJECTED).increment(1);
                Err(InferError::Overloaded(self.capacity))
            }
            Err(TryAcquireError::Closed) => Err(InferError::Unavailable),
        }
    }

    /// Hands `job` (and the permit inside it) to the worker.
    pub fn append(&self, job: Job) -> std::result::Result<(), InferError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.sender.send(job).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            InferError::Unavailable
        })
    }

    /// Requests admitted at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests admitted now (queued or running, whether or not their client still waits).
    pub fn in_use(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Jobs sent and not yet picked up by the worker.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether the worker's side is gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl QueueReceiver {
    /// Blocks for the next job, then takes every job already waiting, up to `max` in all;
    /// `None` once every [`Queue`] is dropped and the channel is empty.
    pub fn next_batch(&mut self, max: usize) -> Option<Vec<Job>> {
        let first = self.receiver.blocking_recv()?;
        let mut jobs = vec![first];
        while jobs.len() < max {
            match self.receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        self.waiting.fetch_sub(jobs.len(), Ordering::Relaxed);
        Some(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_is_held_until_the_worker_drops_the_job_even_if_the_client_left() {
        let (queue, mut receiver) = Queue::new(1);
        let permit = queue.try_acquire().unwrap();
        assert_eq!(queue.in_use(), 1);
        assert!(matches!(
            queue.try_acquire(),
            Err(InferError::Overloaded(1))
        ));
        let (reply, rx) = oneshot::channel();
        queue
            .append(Job::Generate(GenerateJob {
                prompts: vec!["hi".into()],
                params: GenerationParams::default(),
                reply,
                _permit: permit,
            }))
            .unwrap();
        // The client hangs up: the work is still queued, so the admission stays taken.
        drop(rx);
        assert_eq!((queue.in_use(), queue.waiting()), (1, 1));
        let jobs = receiver.next_batch(8).unwrap();
        assert_eq!((jobs.len(), queue.waiting()), (1, 0));
        assert!(!jobs[0].wanted());
        assert_eq!(queue.in_use(), 1, "released before the worker was done");
        drop(jobs);
        assert_eq!(queue.in_use(), 0);
        assert!(queue.try_acquire().is_ok());
    }
}
