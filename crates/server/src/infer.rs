//! The model worker (text-embeddings-inference's `core::infer`): one OS thread owns the
//! [`Searcher`] (and through it the LLM and embedder) and is fed [`jobs`](crate::jobs) over
//! the [`queue`](crate::queue), each with a oneshot for its reply. A semaphore bounds the
//! requests admitted at once; when it is exhausted a request gets 429 at once instead of
//! waiting.
//!
//! The worker drains every job that is waiting (up to `worker_batch`) and runs them
//! together: searches with the same options become one `search_batch`, every quality
//! evaluation one batched LLM call, embeddings one embedder call, chat completions with the
//! same parameters one `generate`; the prompt optimizer's decoding runs here too, one
//! request at a time. Concurrent requests therefore share forward passes,
//! which is where parallel throughput on a CPU comes from.

use crate::backends::{Abandon, TokenCounter};
use crate::jobs::{DraftJob, EmbedJob, GenerateJob, Job, SearchJob};
pub use crate::jobs::{EmbedOutcome, Quality, SearchOutcome};
use crate::metrics as m;
pub use crate::queue::{InferError, Permit};
use crate::queue::{Queue, QueueReceiver};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;
use vec2prompt_core::{Error, Generation, GenerationParams, Result, TargetVector};
use vec2prompt_optimizer::service::{Drafts, OptimizeRequest, Optimizer, RawEmbedding};
use vec2prompt_search::{SearchOptions, Searcher};

/// Handle to the model worker; cheap to clone.
#[derive(Clone)]
pub struct Infer {
    queue: Queue<Job>,
    alive: Arc<AtomicBool>,
}

/// Owns the worker thread; joining waits until every queued job is answered.
pub struct Worker {
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Waits for the worker to finish (after every [`Infer`] handle is dropped).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Waits for the worker to finish until `deadline`; returns whether it did (else the
    /// thread is left to end with the process).
    pub fn join_until(mut self, deadline: Instant) -> bool {
        let Some(t) = self.thread.take() else {
            return true;
        };
        while !t.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = t.join();
        true
    }
}

impl Infer {
    /// Starts the worker thread owning `searcher`. `capacity` requests are admitted at
    /// once; the worker runs up to `worker_batch` jobs together.
    pub fn start(
        searcher: Searcher,
        abandon: Abandon,
        embed_tokens: Option<TokenCounter>,
        capacity: usize,
        worker_batch: usize,
    ) -> (Self, Worker) {
        let (queue, receiver) = Queue::new(capacity);
        let alive = Arc::new(AtomicBool::new(true));
        let state = WorkerState {
            searcher,
            abandon,
            embed_tokens,
            alive: alive.clone(),
            worker_batch: worker_batch.max(1),
        };
        let thread = std::thread::Builder::new()
            .name("vec2prompt-model".into())
            .spawn(move || state.run(receiver))
            .expect("cannot start the model worker thread");
        (
            Self { queue, alive },
            Worker {
                thread: Some(thread),
            },
        )
    }

    /// Admits one request, or refuses at once when `capacity` requests are in. The permit
    /// is then handed to the job, which keeps it until the worker is done with it.
    pub fn try_acquire(&self) -> std::result::Result<Permit, InferError> {
        self.queue.try_acquire()
    }

    /// Requests admitted at most.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// Requests admitted now.
    pub fn in_use(&self) -> usize {
        self.queue.in_use()
    }

    /// Jobs sent and not yet picked up by the worker.
    pub fn waiting(&self) -> usize {
        self.queue.waiting()
    }

    /// Whether the worker thread runs.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed) && !self.queue.is_closed()
    }

    /// Searches `targets` (results in order) under `permit`.
    pub async fn search(
        &self,
        permit: Permit,
        targets: Vec<TargetVector>,
        options: SearchOptions,
        quality: Quality,
    ) -> std::result::Result<Vec<Result<SearchOutcome>>, InferError> {
        let (reply, rx) = oneshot::channel();
        let gone = Arc::new(AtomicBool::new(false));
        // Marks the job unwanted when this future ends, by completion or by being dropped
        // because the client hung up.
        let _leave = SetOnDrop(gone.clone());
        self.queue.append(Job::Search(SearchJob {
            targets,
            options,
            quality,
            reply,
            gone,
            enqueued: Instant::now(),
            _permit: permit,
        }))?;
        rx.await.map_err(|_| InferError::Unavailable)
    }

    /// Embeds `texts` under `permit`.
    pub async fn embed(
        &self,
        permit: Permit,
        texts: Vec<String>,
    ) -> std::result::Result<Result<EmbedOutcome>, InferError> {
        let (reply, rx) = oneshot::channel();
        self.queue.append(Job::Embed(EmbedJob {
            texts,
            reply,
            enqueued: Instant::now(),
            _permit: permit,
        }))?;
        rx.await.map_err(|_| InferError::Unavailable)
    }

    /// Answers `prompts` with the LLM under `permit`.
    pub async fn generate(
        &self,
        permit: Permit,
        prompts: Vec<String>,
        params: GenerationParams,
    ) -> std::result::Result<Result<Vec<Vec<Generation>>>, InferError> {
        let (reply, rx) = oneshot::channel();
        self.queue.append(Job::Generate(GenerateJob {
            prompts,
            params,
            reply,
            _permit: permit,
        }))?;
        rx.await.map_err(|_| InferError::Unavailable)
    }

    /// The optimizer's rewrites of `request` (its raw prompt embedded as `embedded`),
    /// decoded by the worker under `permit`.
    pub async fn draft(
        &self,
        permit: Permit,
        optimizer: Arc<Optimizer>,
        request: OptimizeRequest,
        embedded: RawEmbedding,
    ) -> std::result::Result<Result<Drafts>, InferError> {
        let (reply, rx) = oneshot::channel();
        self.queue.append(Job::Draft(DraftJob {
            optimizer,
            request,
            embedded,
            reply,
            _permit: permit,
        }))?;
        rx.await.map_err(|_| InferError::Unavailable)
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A check that is true once every flag in `flags` is set.
fn all_gone(flags: Vec<Arc<AtomicBool>>) -> crate::backends::AbandonCheck {
    Arc::new(move || flags.iter().all(|f| f.load(Ordering::Relaxed)))
}

/// Runs `f`, turning a panic into a backend error so one bad call never takes the worker
/// (and with it the server) down.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::backend(what, format!("panicked: {msg}")))
        }
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

struct WorkerState {
    searcher: Searcher,
    /// Stops the LLM's calls when every requester of the running search has left.
    abandon: Abandon,
    embed_tokens: Option<TokenCounter>,
    alive: Arc<AtomicBool>,
    worker_batch: usize,
}

impl WorkerState {
    fn run(self, mut receiver: QueueReceiver<Job>) {
        while let Some(mut jobs) = receiver.next_batch(self.worker_batch) {
            // A job whose client hung up is dropped unstarted, releasing its permit.
            jobs.retain(Job::wanted);
            if jobs.is_empty() {
                continue;
            }
            metrics::histogram!(m::WORKER_BATCH).record(jobs.len() as f64);
            let (mut searches, mut embeds, mut generates) = (Vec::new(), Vec::new(), Vec::new());
            let mut drafts = Vec::new();
            for job in jobs {
                match job {
                    Job::Search(j) => searches.push(j),
                    Job::Embed(j) => embeds.push(j),
                    Job::Generate(j) => generates.push(j),
                    Job::Draft(j) => drafts.push(j),
                }
            }
            // Cheap work first, so a text request's search can join the next pass.
            if !embeds.is_empty() {
                self.embed(embeds);
            }
            if !searches.is_empty() {
                self.search(searches);
            }
            if !generates.is_empty() {
                self.generate(generates);
            }
            for job in drafts {
                self.draft(job);
            }
        }
        self.alive.store(false, Ordering::Relaxed);
    }

    fn draft(&self, job: DraftJob) {
        if job.reply.is_closed() {
            return;
        }
        let result = guarded("optimizer", || {
            // Drafting stops between decoding steps once the client has gone.
            let gone = || job.reply.is_closed();
            job.optimizer
                .draft_until(&job.request, &job.embedded, &gone)
        });
        job.finish(result);
    }

    fn embed(&self, jobs: Vec<EmbedJob>) {
        let texts: Vec<String> = jobs.iter().flat_map(|j| j.texts.iter().cloned()).collect();
        let embedder = &self.searcher.environment().embedder;
        let result = guarded("embedder", || embedder.embed(&texts));
        match result {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for job in jobs {
                    let tokens = self
                        .embed_tokens
                        .as_ref()
                        .map_or(0, |count| job.texts.iter().map(|t| count(t)).sum());
                    let vs: Vec<Vec<f32>> = vectors.by_ref().take(job.texts.len()).collect();
                    let reply = if vs.len() == job.texts.len() {
                        Ok(EmbedOutcome {
                            vectors: vs,
                            tokens,
                            queue_ms: job.enqueued.elapsed().as_secs_f64() * 1e3,
                        })
                    } else {
                        Err(Error::backend("embedder", "returned too few vectors"))
                    };
                    job.finish(reply);
                }
            }
            // One request's bad text must not fail the requests it was batched with: run
            // each alone, so only the faulty one gets the error.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    self.embed(vec![job]);
                }
            }
            Err(e) => {
                for job in jobs {
                    job.finish(Err(e.clone()));
                }
            }
        }
    }

    fn generate(&self, jobs: Vec<GenerateJob>) {
        let mut groups: Vec<(GenerationParams, Vec<GenerateJob>)> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|(p, _)| *p == job.params) {
                Some((_, g)) => g.push(job),
                None => groups.push((job.params.clone(), vec![job])),
            }
        }
        for (params, jobs) in groups {
            self.generate_group(&params, jobs);
        }
    }

    /// Answers jobs with the same parameters in one batched call. A job whose client hung
    /// up is cancelled between decoding steps (its permit is released when the call
    /// returns, that is once the work really stopped).
    fn generate_group(&self, params: &GenerationParams, jobs: Vec<GenerateJob>) {
        let llm = &self.searcher.environment().llm;
        let mut prompts: Vec<String> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (ji, j) in jobs.iter().enumerate() {
            prompts.extend(j.prompts.iter().cloned());
            owner.extend(std::iter::repeat_n(ji, j.prompts.len()));
        }
        let cancelled = |i: usize| owner.get(i).is_some_and(|&ji| jobs[ji].reply.is_closed());
        match guarded("llm", || {
            llm.generate_cancellable(&prompts, params, &cancelled)
        }) {
            Ok(gens) => {
                let mut gens = gens.into_iter();
                for job in jobs {
                    let mine: Vec<_> = gens.by_ref().take(job.prompts.len()).collect();
                    let reply = if mine.len() == job.prompts.len() {
                        Ok(mine)
                    } else {
                        Err(Error::backend("llm", "returned too few answers"))
                    };
                    job.finish(reply);
                }
            }
            // As for embeddings: only the job that caused the failure gets it.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    self.generate_group(params, vec![job]);
                }
            }
            Err(e) => {
                for job in jobs {
                    job.finish(Err(e.clone()));
                }
            }
        }
    }

    fn search(&self, jobs: Vec<SearchJob>) {
        let picked = Instant::now();
        let mut groups: Vec<(SearchOptions, Vec<SearchJob>)> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|(o, _)| *o == job.options) {
                Some((_, g)) => g.push(job),
                None => groups.push((job.options.clone(), vec![job])),
            }
        }
        // Each job with its per-target outcomes.
        let mut done: Vec<(SearchJob, Vec<Result<SearchOutcome>>)> = Vec::new();
        for (options, jobs) in groups {
            let targets: Vec<TargetVector> = jobs
                .iter()
                .flat_map(|j| j.targets.iter().cloned())
                .collect();
            let n = targets.len();
            // Once every requester of this group has left, the search's LLM calls stop
            // between decoding steps and the rest of it runs on empty answers; nobody
            // reads its results.
            self.abandon
                .set(all_gone(jobs.iter().map(|j| j.gone.clone()).collect()));
            let results = guarded("search", || {
                Ok(self.searcher.search_batch(&targets, &options))
            });
            self.abandon.clear();
            let results = match results {
                Ok(r) if r.len() == n => r,
                Ok(_) => (0..n)
                    .map(|_| {
                        Err(Error::backend(
                            "search",
                            "returned the wrong number of results",
                        ))
                    })
                    .collect(),
                Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
            };
            let mut results = results.into_iter();
            for job in jobs {
                let queue_ms = (picked - job.enqueued).as_secs_f64() * 1e3;
                let outcomes = results
                    .by_ref()
                    .take(job.targets.len())
                    .map(|r| {
                        r.map(|result| SearchOutcome {
                            result,
                            quality_llm_calls: 0,
                            quality_ms: 0.0,
                            queue_ms,
                            batch_targets: n,
                        })
                    })
                    .collect();
                done.push((job, outcomes));
            }
        }
        self.measure_quality(&mut done);
        for (job, outcomes) in done {
            job.finish(outcomes);
        }
    }

    /// Answers every prompt that `evaluate_quality` asks for, over all jobs, in one
    /// batched environment call.
    fn measure_quality(&self, done: &mut [(SearchJob, Vec<Result<SearchOutcome>>)]) {
        // (job, target, prompt)
        let mut owners: Vec<(usize, usize, String)> = Vec::new();
        for (ji, (job, outcomes)) in done.iter().enumerate() {
            if job.quality == Quality::Skip {
                continue;
            }
            for (ti, o) in outcomes.iter().enumerate() {
                let Ok(o) = o else { continue };
                let mut prompts: Vec<&str> = Vec::new();
                if o.result.best.similarity.is_none() {
                    prompts.push(&o.result.best.prompt);
                }
                if job.quality == Quality::AllCandidates {
                    for c in &o.result.candidates {
                        if c.similarity.is_none() && !prompts.contains(&c.prompt.as_str()) {
                            prompts.push(&c.prompt);
                        }
                    }
                }
                owners.extend(prompts.into_iter().map(|p| (ji, ti, p.to_string())));
            }
        }
        if owners.is_empty() {
            return;
        }
        let started = Instant::now();
        let prompts: Vec<String> = owners.iter().map(|(_, _, p)| p.clone()).collect();
        let targets: Vec<&[f32]> = owners
            .iter()
            .map(|&(ji, ti, _)| &done[ji].0.targets[ti].values[..])
            .collect();
        let keep_vectors: Vec<bool> = done.iter().map(|(j, _)| j.options.keep_vectors).collect();
        let env = self.searcher.environment();
        let wanting: Vec<Arc<AtomicBool>> = done
            .iter()
            .filter(|(j, _)| j.quality != Quality::Skip)
            .map(|(j, _)| j.gone.clone())
            .collect();
        self.abandon.set(all_gone(wanting));
        let evaluated = guarded("quality evaluation", || env.evaluate(&prompts, &targets));
        self.abandon.clear();
        let share = ms_since(started) / owners.len() as f64;
        match evaluated {
            Ok(evals) => {
                for ((ji, ti, prompt), e) in owners.into_iter().zip(evals) {
                    if let Ok(o) = &mut done[ji].1[ti] {
                        o.quality_llm_calls += 1;
                        o.quality_ms += share;
                        let r = &mut o.result;
                        for c in std::iter::once(&mut r.best).chain(r.candidates.iter_mut()) {
                            if c.prompt == prompt && c.similarity.is_none() {
                                c.similarity = Some(e.similarity);
                                c.answer = Some(e.answer.clone());
                                if keep_vectors[ji] {
                                    c.answer_vector = Some(e.vector.clone());
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => {
                for (ji, ti, _) in owners {
                    done[ji].1[ti] = Err(e.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_backend_errors() {
        let r: Result<()> = guarded("llm", || panic!("index out of bounds"));
        let e = r.unwrap_err();
        assert_eq!(e.error_type(), vec2prompt_core::ErrorType::Backend);
        assert!(e.to_string().contains("index out of bounds"), "{e}");
    }
}
