//! [`OpenAiLlm`]: `POST {base_url}/chat/completions` behind the [`Llm`] trait.

use crate::limiter::estimate_tokens;
use crate::pool::{DEFAULT_WORKERS, parallel_map};
use crate::transport::{Call, Endpoint};
use crate::{RateLimiter, RemoteConfig, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vec2prompt_core::{
    Error, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Result, Sampling,
};

/// Tokens a chat request adds around the user's text (role markers, template).
const CHAT_OVERHEAD_TOKENS: u64 = 8;

/// Request body of `/chat/completions`.
#[derive(Serialize)]
struct ChatRequest<'a> {
    /// Remote model id.
    model: &'a str,
    /// The single user turn.
    messages: [Message<'a>; 1],
    /// Most new tokens per answer.
    max_tokens: usize,
    /// 0 for greedy decoding.
    temperature: f64,
    /// Nucleus mass (sampling only).
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    /// Seed of the server's sampler (sampling only).
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// Answers per prompt.
    n: usize,
}

/// One chat message.
#[derive(Serialize)]
struct Message<'a> {
    /// Always `user`.
    role: &'static str,
    /// The prompt.
    content: &'a str,
}

/// Response body of `/chat/completions`.
#[derive(Deserialize)]
struct ChatResponse {
    /// The answers.
    choices: Vec<Choice>,
    /// Token counts, when reported.
    #[serde(default)]
    usage: Option<ChatUsage>,
}

/// One answer.
#[derive(Deserialize)]
struct Choice {
    /// Position among the `n` answers.
    #[serde(default)]
    index: usize,
    /// The assistant message.
    message: ChoiceMessage,
    /// `stop`, `length`, `content_filter`, … (`null` while streaming).
    #[serde(default)]
    finish_reason: Option<String>,
}

/// The assistant message of a choice.
#[derive(Deserialize)]
struct ChoiceMessage {
    /// The answer text (`null` for tool calls, read as empty).
    #[serde(default)]
    content: Option<String>,
}

/// `usage` of a chat response.
#[derive(Deserialize, Default)]
struct ChatUsage {
    /// Tokens of the templated prompt.
    #[serde(default)]
    prompt_tokens: u64,
    /// Tokens generated over all choices.
    #[serde(default)]
    completion_tokens: u64,
    /// Both.
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// An LLM served by an OpenAI-compatible `/chat/completions` endpoint.
///
/// Each prompt is one request (the prompt as the single user turn, `n` answers). The prompts
/// of one `generate` call run concurrently, as many at once as the limiter's
/// `max_concurrent` (else 8). Greedy sends `temperature: 0`; sampling sends temperature,
/// `top_p` and `seed` (servers that honour `seed` then repeat their samples). A
/// `finish_reason` of `length` maps to [`FinishReason::Length`], anything else to
/// [`FinishReason::Stop`]. The response's `usage` is reported to the limiter; with `n > 1`
/// the completion tokens are split evenly over the answers, as the API reports only the
/// total. The backend cannot count tokens itself (`count_tokens` is `None`).
pub struct OpenAiLlm {
    /// HTTP, limiter, retries.
    endpoint: Endpoint,
    /// What the model is.
    info: LlmInfo,
}

impl OpenAiLlm {
    /// A client for `config` sharing `limiter` and `retry`. Sends nothing until used.
    pub fn new(
        config: RemoteConfig,
        limiter: Arc<RateLimiter>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let endpoint = Endpoint::new("chat completions", config, limiter, retry)?;
        let info = LlmInfo {
            name: endpoint.config().model.clone(),
            context_length: endpoint.config().context_length.unwrap_or(8192),
        };
        Ok(Self { endpoint, info })
    }

    /// The answers to one prompt.
    fn complete(&self, prompt: &str, params: &GenerationParams) -> Result<Vec<Generation>> {
        let (temperature, top_p, seed) = match params.sampling {
            Sampling::Greedy => (0.0, None, None),
            Sampling::Sample {
                temperature,
                top_p,
                seed,
            } => (temperature, Some(top_p), Some(seed)),
        };
        let body = ChatRequest {
            model: &self.endpoint.config().model,
            messages: [Message {
                role: "user",
                content: prompt,
            }],
            max_tokens: params.max_new_tokens,
            temperature,
            top_p,
            seed,
            n: params.n,
        };
        // Providers charge max_tokens against the minute's budget up front, so do we.
        let estimated_tokens = estimate_tokens(prompt)
            + CHAT_OVERHEAD_TOKENS
            + (params.max_new_tokens as u64).saturating_mul(params.n as u64);
        let call = Call {
            path: "/chat/completions",
            body: &body,
            estimated_tokens,
            input: "prompts",
        };
        let response: ChatResponse = self.endpoint.post(call, |r: &ChatResponse| {
            r.usage.as_ref().map(|u| {
                u.total_tokens
                    .unwrap_or(u.prompt_tokens + u.completion_tokens)
            })
        })?;
        self.generations(response, params.n)
    }

    /// The `n` answers of a response, in `index` order.
    fn generations(&self, response: ChatResponse, n: usize) -> Result<Vec<Generation>> {
        let mut choices = response.choices;
        if choices.len() < n {
            return Err(Error::backend(
                self.endpoint.backend(),
                format!(
                    "returned {} answers where n = {n} were asked for (the server may not support n > 1)",
                    choices.len()
                ),
            ));
        }
        choices.sort_by_key(|c| c.index);
        choices.truncate(n);
        let usage = response.usage.unwrap_or_default();
        let prompt_tokens = usage.prompt_tokens as usize;
        let completion = usage.completion_tokens as usize;
        Ok(choices
            .into_iter()
            .enumerate()
            .map(|(i, choice)| Generation {
                text: choice.message.content.unwrap_or_default(),
                prompt_tokens,
                // Even split; the first answers take the remainder.
                completion_tokens: completion / n + usize::from(i < completion % n),
                finish_reason: match choice.finish_reason.as_deref() {
                    Some("length") => FinishReason::Length,
                    _ => FinishReason::Stop,
                },
            })
            .collect())
    }
}

impl Llm for OpenAiLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }

    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>> {
        params.validate()?;
        let workers = self
            .endpoint
            .limiter()
            .limits()
            .max_concurrent
            .unwrap_or(DEFAULT_WORKERS);
        parallel_map(prompts, workers, |prompt| self.complete(prompt, params))
    }
}
