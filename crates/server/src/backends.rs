//! The models the server runs, and the metering wrappers that count their calls for
//! `/metrics` whatever the backend (local or remote).

use crate::api::ModelStatus;
use crate::metrics as m;
use std::sync::{Arc, RwLock};
use vec2prompt_core::{Embedder, EmbedderInfo, Generation, GenerationParams, Llm, LlmInfo, Result};

/// Reads a monotonically increasing count (e.g. a remote client's retries).
pub type CounterFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Counts the tokens of a text in the embedder's vocabulary.
pub type TokenCounter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// The LLM and embedder the server answers with, and how to describe them.
#[derive(Clone)]
pub struct Backends {
    /// The LLM (search, quality evaluation, chat completions).
    pub llm: Arc<dyn Llm>,
    /// The embedder (targets from text, answers, `/v1/embeddings`).
    pub embedder: Arc<dyn Embedder>,
    /// How `/health` describes the LLM.
    pub llm_status: ModelStatus,
    /// How `/health` describes the embedder.
    pub embedder_status: ModelStatus,
    /// Token counts of `/v1/embeddings` usage, when the embedder exposes its tokenizer.
    pub embed_tokens: Option<TokenCounter>,
    /// Retry counters of remote backends, by backend name (`llm`, `embedder`); exported
    /// as `vec2prompt_backend_retries_total` (0 for local backends).
    pub retries: Vec<(String, CounterFn)>,
}

/// Whether everyone waiting for the worker's current work has left: a check the model
/// worker installs while it runs a search for clients that may hang up. The LLM calls
/// made meanwhile stop between decoding steps once it says so, which frees the model
/// within one step.
#[derive(Clone, Default)]
pub struct Abandon(Arc<RwLock<Option<AbandonCheck>>>);

/// The check itself: true once every requester of the running work has gone.
pub type AbandonCheck = Arc<dyn Fn() -> bool + Send + Sync>;

impl Abandon {
    /// Installs `check` until [`Abandon::clear`].
    pub fn set(&self, check: AbandonCheck) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(check);
        }
    }

    /// Removes the check: work from now on is wanted.
    pub fn clear(&self) {
        if let Ok(mut slot) = self.0.write() {
            *slot = None;
        }
    }

    /// Whether the installed check says everyone left (false when none is installed).
    pub fn abandoned(&self) -> bool {
        self.0
            .read()
            .ok()
            .and_then(|slot| slot.clone())
            .is_some_and(|check| check())
    }
}

impl Backends {
    /// The same backends with every call counted in the metrics, and the LLM's calls
    /// stopped when `abandon` says their requesters left.
    pub fn metered(&self, abandon: Abandon) -> Self {
        Self {
            llm: Arc::new(MeteredLlm(self.llm.clone(), abandon)),
            embedder: Arc::new(MeteredEmbedder(self.embedder.clone())),
            ..self.clone()
        }
    }
}

/// An [`Llm`] whose calls, prompts, tokens and errors are counted, and whose generation
/// stops between decoding steps when its [`Abandon`] check says nobody waits for it.
pub struct MeteredLlm(pub Arc<dyn Llm>, pub Abandon);

impl Llm for MeteredLlm {
    fn info(&self) -> &LlmInfo {
        self.0.info()
    }

    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>> {
        self.generate_cancellable(prompts, params, &|_| false)
    }

    fn generate_cancellable(
        &self,
        prompts: &[String],
        params: &GenerationParams,
        cancelled: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Vec<Generation>>> {
        metrics::counter!(m::BACKEND_CALLS, "backend" => "llm").increment(1);
        metrics::counter!(m::BACKEND_ITEMS, "backend" => "llm").increment(prompts.len() as u64);
        let abandon = &self.1;
        let out = self
            .0
            .generate_cancellable(prompts, params, &|i| cancelled(i) || abandon.abandoned());
        match &out {
            Ok(gens) => {
                let (mut prompt_tokens, mut generated) = (0u64, 0u64);
                for g in gens {
                    prompt_tokens += g.first().map_or(0, |g| g.prompt_tokens as u64);
                    generated += g.iter().map(|g| g.completion_tokens as u64).sum::<u64>();
                }
                metrics::counter!(m::GENERATED_TOKENS).increment(generated);
                metrics::counter!(m::PROMPT_TOKENS).increment(prompt_tokens);
            }
            Err(_) => metrics::counter!(m::BACKEND_ERRORS, "backend" => "llm").increment(1),
        }
        out
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.0.count_tokens(text)
    }

    fn forward_passes(&self) -> Option<u64> {
        self.0.forward_passes()
    }
}

/// An [`Embedder`] whose calls, texts and errors are counted.
pub struct MeteredEmbedder(pub Arc<dyn Embedder>);

impl Embedder for MeteredEmbedder {
    fn info(&self) -> &EmbedderInfo {
        self.0.info()
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        metrics::counter!(m::BACKEND_CALLS, "backend" => "embedder").increment(1);
        metrics::counter!(m::BACKEND_ITEMS, "backend" => "embedder").increment(texts.len() as u64);
        let out = self.0.embed(texts);
        if out.is_err() {
            metrics::counter!(m::BACKEND_ERRORS, "backend" => "embedder").increment(1);
        }
        out
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.0.count_tokens(text)
    }
}
