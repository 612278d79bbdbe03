//! Request and response bodies of the HTTP API. They are the OpenAPI schema too
//! (`vec2prompt print-schema`), so every field's doc line is what a client reads. The
//! interpolation's and the optimizer's bodies are in their own files, re-exported here.

mod interpolate;
mod optimize;

pub use interpolate::{
    InterpolatePoint, InterpolateRequest, InterpolateResponse, PathName, TargetSpec,
};
pub use optimize::{
    FeedbackBody, FeedbackResponse, OptimizeBody, OptimizeResponse, OptimizedPrompt, StyleName,
};

use crate::error::ErrorType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

fn yes() -> bool {
    true
}

/// Integer fields that also accept a JSON number with a zero fraction (`16.0`), as many
/// JSON encoders write integers; other fractions, negatives and out-of-range values are
/// refused (422) with the value in the message.
pub mod int {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    fn integral<'de, D: Deserializer<'de>>(
        d: D,
        min: i128,
        max: i128,
    ) -> Result<Option<i128>, D::Error> {
        let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
            return Ok(None);
        };
        let v = if let Some(u) = n.as_u64() {
            i128::from(u)
        } else if let Some(i) = n.as_i64() {
            i128::from(i)
        } else {
            match n.as_f64() {
                // Beyond 2^53 a float no longer names one integer (JSON integers outside
                // the 64-bit ranges arrive here as floats too), so it is refused.
                Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => f as i128,
                _ => return Err(D::Error::custom(format!("{n} is not an integer"))),
            }
        };
        if !(min..=max).contains(&v) {
            return Err(D::Error::custom(format!(
                "{n} is outside the range {min}..={max}"
            )));
        }
        Ok(Some(v))
    }

    /// An optional non-negative integer.
    pub fn opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        Ok(integral(d, 0, i64::MAX as i128)?.map(|v| v as usize))
    }

    /// An optional non-negative 64-bit integer (at most `i64::MAX`, the JSON-safe range
    /// of the OpenAPI `int64` format).
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(integral(d, 0, i64::MAX as i128)?.map(|v| v as u64))
    }

    /// An optional seed: any `int64` (negative seeds, which OpenAI accepts, are read as
    /// their two's-complement bits).
    pub fn opt_seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(integral(d, i64::MIN as i128, i64::MAX as i128)?.map(|v| v as i64 as u64))
    }

    /// A required non-negative integer.
    pub fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        opt_usize(d)?.ok_or_else(|| D::Error::custom("expected an integer, got null"))
    }
}

/// Search settings of a generation request; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateOptions {
    /// Most LLM calls the search may spend to choose the prompt (0 = fast mode: the cheap
    /// ranking decides, no LLM call). Default: the server's `default_budget`.
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub budget: Option<usize>,
    /// Wall-time limit of the search in milliseconds; once passed, no further LLM round
    /// starts (at least 1). Default: none.
    #[serde(default, deserialize_with = "int::opt_u64")]
    pub max_wall_ms: Option<u64>,
    /// Candidate prompts returned as variants, best first (1–32). Default 1.
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub variants: Option<usize>,
    /// Seed of any sampling in the search (any int64). Default 0.
    #[serde(default, deserialize_with = "int::opt_seed")]
    #[schema(value_type = Option<i64>)]
    pub seed: Option<u64>,
    /// Include each variant's predicted answer vector and, when measured, its real
    /// answer's vector (to plot where candidates land). Default false.
    pub return_vectors: Option<bool>,
    /// How much one real answer is trusted against the surrogate's calibrated prediction
    /// when measured candidates are compared, in [0, 1]: 1 chooses on the measured
    /// similarity alone; lower favours prompts whose expected answer lands near the target
    /// (for an LLM that samples). Default: the server's search default.
    pub answer_weight: Option<f32>,
    /// How much, in cosine, a template around the target's topic words must beat every
    /// other candidate by to be answered or chosen, in [0, 2]: 0 ranks every source alike,
    /// 2 keeps the templates as a fallback. Default: the server's search default.
    pub content_margin: Option<f32>,
}

/// `POST /generate_prompt`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratePromptRequest {
    /// The target embedding: an array of finite numbers with the embedder's dimension, or
    /// a list of such arrays whose centroid (normalized mean direction) is the target.
    #[schema(value_type = Vec<f64>)]
    pub target_embedding: Value,
    /// Include `metadata` in the response. Default true.
    #[serde(default = "yes")]
    pub return_metadata: bool,
    /// Answer the returned prompt with the LLM and measure how close the answer lands
    /// (`metadata.similarity`); costs one LLM call unless the search already measured it.
    #[serde(default)]
    pub evaluate_quality: bool,
    /// Search settings.
    #[serde(default)]
    pub options: Option<GenerateOptions>,
}

/// `POST /generate_prompt_from_text`: the target is the embedding of `text`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratePromptFromTextRequest {
    /// Text whose embedding is the target (e.g. an answer you want the LLM to give), or a
    /// list of texts whose centroid (normalized mean embedding) is the target.
    pub text: EmbeddingInput,
    /// Include `metadata` in the response. Default true.
    #[serde(default = "yes")]
    pub return_metadata: bool,
    /// Measure the returned prompt's real similarity (see `/generate_prompt`).
    #[serde(default)]
    pub evaluate_quality: bool,
    /// Search settings.
    #[serde(default)]
    pub options: Option<GenerateOptions>,
}

/// `POST /generate_prompts_batch`: all targets or none (one invalid vector rejects the
/// request with 422 naming its index; see `/generate_prompts_parallel` for best effort).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratePromptsBatchRequest {
    /// Target embeddings, 1 to `max_batch_items` of them.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub embeddings: Vec<Value>,
    /// Include `metadata` in each result. Default true.
    #[serde(default = "yes")]
    pub return_metadata: bool,
    /// Measure each returned prompt's real similarity.
    #[serde(default)]
    pub evaluate_quality: bool,
    /// Search settings, shared by every target.
    #[serde(default)]
    pub options: Option<GenerateOptions>,
}

/// Request-rate tier of an OpenAI-style client; selects the rate limits of remote
/// backends. Local backends have no rate limits, so there it is only reported back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum RateLimitTier {
    /// Tier 1.
    #[default]
    #[serde(rename = "tier_1")]
    Tier1,
    /// Tier 2.
    #[serde(rename = "tier_2")]
    Tier2,
    /// Tier 3.
    #[serde(rename = "tier_3")]
    Tier3,
    /// Tier 4.
    #[serde(rename = "tier_4")]
    Tier4,
    /// Tier 5.
    #[serde(rename = "tier_5")]
    Tier5,
}

impl RateLimitTier {
    /// The name as written in requests and config files (`tier_1` … `tier_5`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RateLimitTier::Tier1 => "tier_1",
            RateLimitTier::Tier2 => "tier_2",
            RateLimitTier::Tier3 => "tier_3",
            RateLimitTier::Tier4 => "tier_4",
            RateLimitTier::Tier5 => "tier_5",
        }
    }
}

impl std::str::FromStr for RateLimitTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_string()))
            .map_err(|_| format!("unknown rate limit tier {s:?}: use tier_1 … tier_5"))
    }
}

fn default_max_concurrent() -> usize {
    10
}

/// `POST /generate_prompts_parallel`: best effort, one result per embedding; an invalid
/// embedding or a failed item is reported in its result and never fails the request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratePromptsParallelRequest {
    /// Target embeddings, 1 to `max_batch_items` of them.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub embeddings: Vec<Value>,
    /// Most items processed together (1–50): they share each batched LLM forward pass.
    /// Default 10.
    #[serde(default = "default_max_concurrent", deserialize_with = "int::usize")]
    pub max_concurrent: usize,
    /// Rate-limit tier for remote backends. Default: the server's `rate_limit_tier`.
    #[serde(default)]
    pub rate_limit_tier: Option<RateLimitTier>,
    /// Measure each prompt's real similarity (and each variant's, with `generate_variants`).
    #[serde(default)]
    pub evaluate_quality: bool,
    /// Return the search's candidate prompts as `variants` and the best measured one as
    /// `best_variant`.
    #[serde(default)]
    pub generate_variants: bool,
    /// Include `metadata` in each result. Default true.
    #[serde(default = "yes")]
    pub return_metadata: bool,
    /// Search settings, shared by every item (`variants` defaults to 4 with
    /// `generate_variants`).
    #[serde(default)]
    pub options: Option<GenerateOptions>,
}

/// Where time went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Timings {
    /// Waiting in the queue for the model worker.
    pub queue_ms: f64,
    /// Embedding the target text (`/generate_prompt_from_text` only).
    pub embed_ms: f64,
    /// Proposing candidates (this target's share of the batch).
    pub propose_ms: f64,
    /// Ranking candidates cheaply.
    pub rank_ms: f64,
    /// Answering candidates with the LLM inside the search.
    pub search_evaluate_ms: f64,
    /// The whole search (this target's share of the batch).
    pub search_ms: f64,
    /// Measuring the returned prompt(s) for `evaluate_quality`.
    pub quality_ms: f64,
    /// The whole request, as seen by the server.
    pub total_ms: f64,
}

/// One candidate prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    /// The prompt text.
    pub prompt: String,
    /// Where it came from (`neighbour`, `memory`, `generator`, `inverter`, `corrector`,
    /// `recombined` or `content`: a request naming the target's topics).
    pub source: String,
    /// The dataset record it was taken from, for neighbours.
    pub record_id: Option<String>,
    /// The cheap ranking's predicted cosine to the target.
    pub predicted_similarity: f32,
    /// The measured cosine between the target and the embedding of the prompt's real
    /// answer; null if not measured.
    pub similarity: Option<f32>,
    /// For a measured variant, the expected similarity it was ranked by: the measurement
    /// shrunk towards the calibrated prediction by `options.answer_weight` (equal to
    /// `similarity` at weight 1); null if not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_similarity: Option<f32>,
    /// The LLM's answer, if measured.
    pub answer: Option<String>,
    /// The surrogate's predicted embedding of the answer (`options.return_vectors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_vector: Option<Vec<f32>>,
    /// The embedding of the real answer, when measured (`options.return_vectors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_vector: Option<Vec<f32>>,
}

/// Names of the models that served a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelNames {
    /// The LLM.
    pub llm: String,
    /// The embedder.
    pub embedder: String,
}

/// How a prompt was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptMetadata {
    /// The search method (`fast`, `search-N`).
    pub method: String,
    /// Measured cosine between the target and the embedding of the prompt's real answer;
    /// null unless the search measured it or `evaluate_quality` was set.
    pub similarity: Option<f32>,
    /// The cheap ranking's predicted cosine.
    pub predicted_similarity: f32,
    /// The LLM's answer to the prompt, when measured.
    pub answer: Option<String>,
    /// Where the prompt came from (`neighbour`, `inverter`, `corrector`).
    pub source: String,
    /// The dataset record the prompt was taken from, for neighbours.
    pub record_id: Option<String>,
    /// LLM calls the search spent choosing the prompt.
    pub llm_calls: usize,
    /// LLM calls spent measuring quality afterwards (`evaluate_quality`).
    pub evaluation_llm_calls: usize,
    /// Targets that shared this request's batched search (other requests' included).
    pub batch_size: usize,
    /// The top candidates, best first (as many as `options.variants`).
    pub variants: Vec<Variant>,
    /// Where time went.
    pub timings: Timings,
    /// The models used.
    pub models: ModelNames,
}

/// Response of `/generate_prompt` and `/generate_prompt_from_text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GeneratePromptResponse {
    /// The generated prompt.
    pub prompt: String,
    /// How it was found (absent with `return_metadata: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PromptMetadata>,
}

/// One result of `/generate_prompts_batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    /// Position of the embedding in the request.
    pub index: usize,
    /// The generated prompt.
    pub prompt: String,
    /// How it was found (absent with `return_metadata: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PromptMetadata>,
}

/// Response of `/generate_prompts_batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GeneratePromptsBatchResponse {
    /// One result per embedding, in request order.
    pub results: Vec<BatchItem>,
    /// Seconds the whole batch took.
    pub processing_time: f64,
}

/// Outcome of one item of `/generate_prompts_parallel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemResult {
    /// Measured similarity of the original prompt; null if not measured or failed.
    pub similarity: Option<f32>,
    /// The cheap ranking's predicted similarity; null if failed.
    pub predicted_similarity: Option<f32>,
    /// Whether a prompt was generated.
    pub success: bool,
    /// Seconds spent on this item (its share of the batch it was processed in).
    pub processing_time: f64,
    /// Why the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
}

/// One result of `/generate_prompts_parallel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParallelItem {
    /// Position of the embedding in the request.
    pub embedding_index: usize,
    /// The generated prompt; null if the item failed.
    pub original_prompt: Option<String>,
    /// How the original prompt did.
    pub original_result: ItemResult,
    /// The search's candidate prompts, best first (with `generate_variants`).
    pub variants: Vec<Variant>,
    /// The variant with the highest measured similarity (with `generate_variants`; the
    /// best-ranked one when nothing was measured).
    pub best_variant: Option<Variant>,
    /// How the original prompt was found (with `return_metadata`, successful items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PromptMetadata>,
}

/// Totals of a parallel run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParallelSummary {
    /// Items in the request.
    pub total_processed: usize,
    /// Items with a generated prompt.
    pub successful: usize,
    /// Items that failed.
    pub failed: usize,
    /// Seconds the whole request took.
    pub processing_time: f64,
    /// Mean measured similarity over items with one; null if none was measured.
    pub average_similarity: Option<f32>,
    /// Highest measured similarity.
    pub max_similarity: Option<f32>,
    /// Lowest measured similarity.
    pub min_similarity: Option<f32>,
}

/// Throughput of a parallel run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceMetrics {
    /// Items per second over the whole request.
    pub requests_per_second: f64,
    /// Mean seconds per item (`processing_time` of the items).
    pub average_processing_time: f64,
}

/// Request-level facts of a parallel run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParallelMetadata {
    /// Throughput.
    pub performance_metrics: PerformanceMetrics,
    /// Items processed together.
    pub max_concurrent: usize,
    /// The rate-limit tier in force.
    pub rate_limit_tier: RateLimitTier,
    /// Batches the items were processed in.
    pub batches: usize,
    /// The models used.
    pub models: ModelNames,
}

/// Response of `/generate_prompts_parallel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GeneratePromptsParallelResponse {
    /// One result per embedding, in request order.
    pub results: Vec<ParallelItem>,
    /// Totals.
    pub summary: ParallelSummary,
    /// Throughput and settings.
    pub metadata: ParallelMetadata,
}

/// One model as loaded by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelStatus {
    /// The model's name.
    pub name: String,
    /// `local` or `openai` (an OpenAI-compatible remote service).
    pub backend: String,
    /// File or directory of a local model, base URL of a remote one.
    pub location: String,
}

/// The dataset the search draws candidates from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetStatus {
    /// Dataset directory.
    pub path: String,
    /// Train records (candidate prompts).
    pub train_records: usize,
}

/// Occupancy of the request queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueStatus {
    /// Requests admitted at once (queued or running); more get 429.
    pub capacity: usize,
    /// Requests admitted now.
    pub in_use: usize,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` while the model worker runs, `unavailable` otherwise.
    pub status: String,
    /// vec2prompt's version.
    pub version: String,
    /// Dimension of target embeddings.
    pub embedding_dimension: usize,
    /// The LLM.
    pub llm: ModelStatus,
    /// The embedder.
    pub embedder: ModelStatus,
    /// The candidate dataset (null when the search uses learned models only).
    pub dataset: Option<DatasetStatus>,
    /// Directory of the learned models (surrogate, inverter, corrector) the search uses;
    /// null when it proposes nearest-neighbour prompts only.
    pub learned_models: Option<String>,
    /// The request queue.
    pub queue: QueueStatus,
    /// Whether routes other than /health need an API key.
    pub auth_required: bool,
    /// Directory of the prompt optimizer behind `/optimize`; null when none is loaded.
    pub optimizer: Option<String>,
    /// The feedback log behind `/feedback`; null when none is configured.
    pub feedback_log: Option<String>,
}

/// One text or a list of texts (`input` of `/v1/embeddings`, `text` of
/// `/generate_prompt_from_text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

/// `POST /v1/embeddings` (OpenAI-compatible). Unknown fields are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsRequest {
    /// Model id; any value is accepted (the server has one embedder) and the response
    /// names the model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// Text(s) to embed.
    pub input: EmbeddingInput,
    /// Output dimension; must equal the model's (400 otherwise).
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub dimensions: Option<usize>,
    /// Only `float` is supported.
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// End-user id; ignored.
    #[serde(default)]
    pub user: Option<String>,
}

/// One embedding of `/v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingData {
    /// Always `embedding`.
    pub object: String,
    /// The vector.
    pub embedding: Vec<f32>,
    /// Position of the input text.
    pub index: usize,
}

/// Token counts of `/v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingUsage {
    /// Tokens in the inputs (the embedder's tokenizer, when it exposes one; else 0).
    pub prompt_tokens: usize,
    /// Same as `prompt_tokens`.
    pub total_tokens: usize,
}

/// Response of `/v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsResponse {
    /// Always `list`.
    pub object: String,
    /// One embedding per input, in order.
    pub data: Vec<EmbeddingData>,
    /// The model that answered.
    pub model: String,
    /// Token counts.
    pub usage: EmbeddingUsage,
}

/// One part of a multi-part message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContentPart {
    /// Part type; only `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// Content of a chat message: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts (text only).
    Parts(Vec<ContentPart>),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The message text.
    #[serde(default)]
    pub content: Option<MessageContent>,
}

/// `POST /v1/chat/completions` (OpenAI-compatible). The user turns, joined by blank
/// lines, are sent as the single user turn of the local model's chat template (the
/// evaluation protocol's setting); other roles are accepted and not rendered. Unknown
/// fields are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// Model id; any value is accepted and the response names the model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation; at least one `user` message.
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate: at most the server's `max_tokens` limit; default 128, or
    /// that limit if it is lower.
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub max_tokens: Option<usize>,
    /// Newer name of `max_tokens`; used when `max_tokens` is absent.
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub max_completion_tokens: Option<usize>,
    /// Sampling temperature; absent or 0 is greedy decoding.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus mass in (0, 1] (with temperature > 0). Default 1.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Seed of the sampler (with temperature > 0; any int64); the same seed gives the
    /// same answer.
    #[serde(default, deserialize_with = "int::opt_seed")]
    #[schema(value_type = Option<i64>)]
    pub seed: Option<u64>,
    /// Answers to generate (1–8). Default 1.
    #[serde(default, deserialize_with = "int::opt_usize")]
    pub n: Option<usize>,
    /// Streaming is not supported; `true` is rejected.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Up to 4 non-empty strings: each answer is cut before the first occurrence of any of
    /// them (and its `finish_reason` is `stop`).
    #[serde(default)]
    pub stop: Option<StopSequences>,
}

/// `stop` of a chat completion: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StopSequences {
    /// One stop string.
    One(String),
    /// Several (at most 4).
    Many(Vec<String>),
}

/// The assistant's message in a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: String,
    /// The generated text.
    pub content: String,
}

/// One answer of `/v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatChoice {
    /// Position among the `n` answers.
    pub index: usize,
    /// The answer.
    pub message: AssistantMessage,
    /// `stop` (end of turn) or `length` (`max_tokens` reached).
    pub finish_reason: String,
}

/// Token counts of `/v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatUsage {
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated over all choices.
    pub completion_tokens: usize,
    /// The sum.
    pub total_tokens: usize,
}

/// Response of `/v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatCompletionResponse {
    /// Unique id of the completion.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// Unix seconds of creation.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// The answers.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    pub usage: ChatUsage,
}

#[cfg(test)]
mod tests {
    use super::GenerateOptions;

    fn seed(json: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<GenerateOptions>(&format!("{{\"seed\": {json}}}"))
            .map(|o| o.seed)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn seeds_are_exactly_the_int64_range() {
        assert_eq!(seed("-9223372036854775808"), Ok(Some(i64::MIN as u64)));
        assert_eq!(seed("9223372036854775807"), Ok(Some(i64::MAX as u64)));
        assert_eq!(seed("16.0"), Ok(Some(16)));
        assert_eq!(seed("-1"), Ok(Some(u64::MAX)));
        // JSON integers just outside int64 parse as floats equal to the bounds: refused.
        for bad in ["-9223372036854775809", "9223372036854775808", "1e19", "2.5"] {
            assert!(seed(bad).is_err(), "{bad} accepted");
        }
    }
}
