//! The work the model worker runs, as the handlers hand it over: a [`Job`] per request
//! (search, embedding, generation or the optimizer's drafts), each with the oneshot for its reply and the
//! requester's [`Permit`], and the outcomes the replies carry. The [`queue`](crate::queue)
//! carries jobs without knowing them; [`infer`](crate::infer) builds and runs them.

use crate::queue::Permit;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use tokio::sync::oneshot;
use vec2prompt_core::{Generation, GenerationParams, Result, TargetVector};
use vec2prompt_optimizer::service::{Drafts, OptimizeRequest, Optimizer, RawEmbedding};
use vec2prompt_search::{SearchOptions, SearchResult};

/// Which prompts of a search to answer for real afterwards (`evaluate_quality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// None: report what the search measured.
    Skip,
    /// The chosen prompt.
    Best,
    /// The chosen prompt and every returned candidate (variants).
    AllCandidates,
}

/// One target's search as the worker finished it.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The search's result, with quality measurements filled in.
    pub result: SearchResult,
    /// LLM calls spent on quality measurement.
    pub quality_llm_calls: usize,
    /// Milliseconds this target's quality measurement took (its share of the batch).
    pub quality_ms: f64,
    /// Milliseconds the job waited for the worker.
    pub queue_ms: f64,
    /// Targets that shared this search batch.
    pub batch_targets: usize,
}

/// Embeddings of a text list.
#[derive(Debug, Clone)]
pub struct EmbedOutcome {
    /// One vector per text.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens of all texts, if the embedder can count them.
    pub tokens: usize,
    /// Milliseconds the job waited for the worker.
    pub queue_ms: f64,
}

/// A search job: targets sharing one set of options.
pub(crate) struct SearchJob {
    pub targets: Vec<TargetVector>,
    pub options: SearchOptions,
    pub quality: Quality,
    pub reply: oneshot::Sender<Vec<Result<SearchOutcome>>>,
    /// Set once the requester stopped waiting (its request future was dropped or done).
    pub gone: Arc<AtomicBool>,
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

/// An optimizer job: decoding one request's rewrites (the prompt optimizer's own network
/// on the frozen base model), so the models are only ever run by the worker.
pub(crate) struct DraftJob {
    pub optimizer: Arc<Optimizer>,
    pub request: OptimizeRequest,
    /// The embeddings of the request's instruction and whole raw prompt.
    pub embedded: RawEmbedding,
    pub reply: oneshot::Sender<Result<Drafts>>,
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

impl DraftJob {
    /// Answers the job (see [`release_then_send`]).
    pub fn finish(self, value: Result<Drafts>) {
        release_then_send(self._permit, self.reply, value);
    }
}

/// One unit of work for the model worker; it owns its requester's [`Permit`].
pub(crate) enum Job {
    Search(SearchJob),
    Embed(EmbedJob),
    Generate(GenerateJob),
    Draft(DraftJob),
}

impl Job {
    /// Whether the requester still waits for the reply (a client that hung up has
    /// dropped its receiver).
    pub fn wanted(&self) -> bool {
        match self {
            Job::Search(j) => !j.reply.is_closed(),
            Job::Embed(j) => !j.reply.is_closed(),
            Job::Generate(j) => !j.reply.is_closed(),
            Job::Draft(j) => !j.reply.is_closed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{InferError, Queue};

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
