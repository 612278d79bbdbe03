//! Admission and the job queue between the HTTP handlers and the model worker (as
//! text-embeddings-inference's `queue`): a request first takes a [`Permit`] (429 when none
//! is left), then hands it *by value* to the job it queues. The permit travels with the job
//! and is released only when the worker has answered or dropped it, so `/health`'s
//! `in_use` and the 429 limit count work that is really queued or running, even after its
//! client hung up.
//!
//! The queue knows nothing of inference: it carries jobs of any type `J` (the worker's are
//! in [`jobs`](crate::jobs)), and only counts them.

use crate::metrics as m;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};

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

/// The sending side: admission permits and the channel to the worker; cheap to clone.
pub(crate) struct Queue<J> {
    sender: mpsc::UnboundedSender<J>,
    permits: Arc<Semaphore>,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            permits: self.permits.clone(),
            capacity: self.capacity,
            waiting: self.waiting.clone(),
        }
    }
}

/// The worker's side of the queue.
pub(crate) struct QueueReceiver<J> {
    receiver: mpsc::UnboundedReceiver<J>,
    waiting: Arc<AtomicUsize>,
}

impl<J> Queue<J> {
    /// A queue admitting `capacity` requests at once.
    pub fn new(capacity: usize) -> (Self, QueueReceiver<J>) {
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
    pub fn append(&self, job: J) -> std::result::Result<(), InferError> {
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

impl<J> QueueReceiver<J> {
    /// Blocks for the next job, then takes every job already waiting, up to `max` in all;
    /// `None` once every [`Queue`] is dropped and the channel is empty.
    pub fn next_batch(&mut self, max: usize) -> Option<Vec<J>> {
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
    fn admission_is_bounded_and_jobs_are_counted_until_picked_up() {
        let (queue, mut receiver) = Queue::<(u32, Permit)>::new(2);
        let a = queue.try_acquire().unwrap();
        let b = queue.try_acquire().unwrap();
        assert!(matches!(
            queue.try_acquire(),
            Err(InferError::Overloaded(2))
        ));
        queue.append((1, a)).unwrap();
        queue.append((2, b)).unwrap();
        assert_eq!((queue.in_use(), queue.waiting()), (2, 2));
        let first = receiver.next_batch(1).unwrap();
        assert_eq!((first.len(), first[0].0, queue.waiting()), (1, 1, 1));
        let rest = receiver.next_batch(8).unwrap();
        assert_eq!((rest.len(), rest[0].0, queue.waiting()), (1, 2, 0));
        drop((first, rest));
        assert_eq!(queue.in_use(), 0);
        drop(receiver);
        assert!(queue.is_closed());
        assert!(matches!(
            queue.append((3, queue.try_acquire().unwrap())),
            Err(InferError::Unavailable)
        ));
        assert_eq!(queue.waiting(), 0);
    }
}
