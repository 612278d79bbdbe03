//! The [`Llm`] trait: user prompts → answers.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Token selection strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Sampling {
    /// Always the most likely token (deterministic; the evaluation protocol uses this).
    Greedy,
    /// Temperature + nucleus sampling from a seeded generator: the same seed gives the
    /// same samples.
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Nucleus mass in (0, 1]; 1.0 disables top-p.
        top_p: f64,
        /// Seed of the random generator.
        seed: u64,
    },
}

/// Parameters of one generation call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// Most tokens generated per answer.
    pub max_new_tokens: usize,
    /// Token selection strategy.
    pub sampling: Sampling,
    /// Answers per prompt (> 1 only makes sense with sampling).
    pub n: usize,
}

impl Default for GenerationParams {
    /// The evaluation protocol's setting: greedy, 128 new tokens, one answer.
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            sampling: Sampling::Greedy,
            n: 1,
        }
    }
}

impl GenerationParams {
    /// Rejects parameters no backend can honour.
    pub fn validate(&self) -> Result<()> {
        if self.max_new_tokens == 0 {
            return Err(Error::invalid("max_new_tokens", "must be at least 1"));
        }
        if self.n == 0 {
            return Err(Error::invalid("n", "must be at least 1"));
        }
        if let Sampling::Sample {
            temperature, top_p, ..
        } = self.sampling
        {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(Error::invalid("temperature", "must be a finite number > 0"));
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(Error::invalid("top_p", "must be in (0, 1]"));
            }
        }
        Ok(())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-turn / end-of-sequence token.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The answer text (without the stop token).
    pub text: String,
    /// Number of prompt tokens after the chat template was applied.
    pub prompt_tokens: usize,
    /// Number of generated tokens (including the stop token when there was one).
    pub completion_tokens: usize,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
}

/// What an LLM backend is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmInfo {
    /// Model name (file stem or remote model id).
    pub name: String,
    /// Longest context (prompt + answer) in tokens.
    pub context_length: usize,
}

/// Answers user prompts. Implementations are thread-safe and batch internally: one call
/// with many prompts is much cheaper than many calls with one.
pub trait Llm: Send + Sync {
    /// Describes the model.
    fn info(&self) -> &LlmInfo;

    /// Answers each prompt (sent as the single user turn of a chat) with `params.n`
    /// answers; the result has one inner vector per prompt, in order.
    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>>;

    /// [`Llm::generate`], asking `cancelled(i)` between decoding steps whether the answers
    /// of prompt `i` are still wanted. A backend that can stops decoding a cancelled
    /// prompt's answers at once (what they hold then is unspecified; the caller discards
    /// them). The default cannot stop mid-call and ignores `cancelled`.
    fn generate_cancellable(
        &self,
        prompts: &[String],
        params: &GenerationParams,
        cancelled: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Vec<Generation>>> {
        let _ = cancelled;
        self.generate(prompts, params)
    }

    /// Number of tokens of `text` in the model's vocabulary (without the chat template),
    /// if the backend can count them.
    fn count_tokens(&self, text: &str) -> Option<usize> {
        let _ = text;
        None
    }

    /// Forward passes the model has run since it was loaded (a prefill chunk or one
    /// decoding step of a batch each), if it runs locally: the count `/metrics` exports,
    /// to check that a request's work stops when its client leaves.
    fn forward_passes(&self) -> Option<u64> {
        None
    }

    /// Answers a single prompt once.
    fn answer(&self, prompt: &str, params: &GenerationParams) -> Result<Generation> {
        let params = GenerationParams {
            n: 1,
            ..params.clone()
        };
        self.generate(&[prompt.to_string()], &params)?
            .pop()
            .and_then(|mut v| v.pop())
            .ok_or_else(|| Error::backend(&self.info().name, "returned no answer"))
    }
}
