//! Bodies of `POST /optimize` and `POST /feedback`.

use super::int;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use vec2prompt_optimizer::Style;

/// The style of an improved prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StyleName {
    /// One precise, specific instruction (the default).
    #[default]
    Precise,
    /// Persona, context, task, constraints, steps and goal sections.
    Structured,
}

impl From<StyleName> for Style {
    fn from(s: StyleName) -> Self {
        match s {
            StyleName::Precise => Style::Precise,
            StyleName::Structured => Style::Structured,
        }
    }
}

impl From<Style> for StyleName {
    fn from(s: Style) -> Self {
        match s {
            Style::Precise => StyleName::Precise,
            Style::Structured => StyleName::Structured,
        }
    }
}

fn default_max_length() -> usize {
    200
}

fn default_sequences() -> usize {
    1
}

/// `POST /optimize`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeBody {
    /// The prompt to improve (a record-style input after a blank line is kept as is).
    #[schema(min_length = 1)]
    pub raw_prompt: String,
    /// Most tokens per improved prompt (8–512). Default 200.
    #[serde(default = "default_max_length", deserialize_with = "int::usize")]
    #[schema(minimum = 8, maximum = 512)]
    pub max_length: usize,
    /// Improved prompts to return (1–8). Default 1.
    #[serde(default = "default_sequences", deserialize_with = "int::usize")]
    #[schema(minimum = 1, maximum = 8)]
    pub num_return_sequences: usize,
    /// `precise` (default) or `structured`.
    #[serde(default)]
    pub style: StyleName,
    /// LLM calls (0–8): the raw prompt and variants, this many in all, are answered and
    /// ranked by how close their answers land to the predicted answer of the intent (the
    /// optimizer's answer head, or the surrogate's prediction for the raw prompt) or to your
    /// own target. Default 0 (no LLM call).
    #[serde(default, deserialize_with = "int::opt_usize")]
    #[schema(minimum = 0, maximum = 8)]
    pub budget: Option<usize>,
    /// Your own goal, in place of the predicted answer of the intent: a text the answers
    /// should resemble. Needs a budget of at least 1; at most one of `target_text`,
    /// `target_embedding` and `target_examples`. A rewrite copying 8 or more consecutive
    /// words of it is refused.
    #[serde(default)]
    pub target_text: Option<String>,
    /// Your own goal as a vector in the embedder's space (only its direction matters).
    #[serde(default)]
    #[schema(value_type = Option<Vec<f64>>)]
    pub target_embedding: Option<Value>,
    /// Your own goal as example answers (1–8): "make my prompt give answers like these";
    /// their mean embedding is the goal.
    #[serde(default)]
    pub target_examples: Option<Vec<String>>,
}

/// One improved prompt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptimizedPrompt {
    /// The prompt.
    pub prompt: String,
    /// With a budget: cosine of its answer to the goal (the predicted answer of the
    /// intent, or your own target).
    pub score: Option<f32>,
    /// With a budget: the LLM's answer.
    pub answer: Option<String>,
    /// Where it came from: `optimizer` (a rewrite) or `raw` (the prompt as given,
    /// measured beside the rewrites when there is a budget).
    #[schema(example = "optimizer")]
    pub source: String,
    /// Whether `score` was measured on a real answer of the LLM.
    pub measured: bool,
}

/// Response of `/optimize`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptimizeResponse {
    /// The best improved prompt.
    pub optimized_prompt: String,
    /// Every improved prompt returned, best first.
    pub optimized_prompts: Vec<OptimizedPrompt>,
    /// The prompt as given.
    pub raw_prompt: String,
    /// The style.
    pub style: StyleName,
    /// LLM calls spent (with a budget, the raw prompt's answer is one of them).
    pub llm_calls: usize,
    /// With a budget: whether the best rewrite measured better than the raw prompt by
    /// 0.02 cosine. When it did not, the raw prompt comes back as `optimized_prompt`;
    /// null when nothing was compared (no budget, or no surrogate to score with).
    pub improved: Option<bool>,
    /// With a budget: the raw prompt's own measured score, against the same goal.
    pub raw_score: Option<f32>,
    /// What the scores compare the answers with: `predicted_answer` (the optimizer's
    /// answer head for the raw prompt, or without one the surrogate's prediction for
    /// it), `target_text`, `target_embedding` or `target_examples`.
    #[schema(example = "predicted_answer")]
    pub goal: String,
    /// Rewrites refused because they copied 8+ consecutive words of your target.
    pub refused_copies: usize,
    /// Seconds the request took on the server.
    pub processing_time: f64,
}

/// `POST /feedback`: a judgement of an optimized prompt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// The prompt the user started from.
    #[schema(min_length = 1)]
    pub raw_prompt: String,
    /// The optimized prompt judged.
    #[schema(min_length = 1)]
    pub optimized_prompt: String,
    /// 1 (bad) to 5 (good). Give a rating, `chosen`, or both.
    #[serde(default, deserialize_with = "int::opt_usize")]
    #[schema(minimum = 1, maximum = 5)]
    pub rating: Option<usize>,
    /// Whether the user chose this prompt over the others offered.
    #[serde(default)]
    pub chosen: Option<bool>,
    /// Free text (at most 2,000 characters).
    #[serde(default)]
    pub comment: Option<String>,
    /// The style it was optimized in.
    #[serde(default)]
    pub style: Option<StyleName>,
}

/// Response of `/feedback`: what was stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackResponse {
    /// True: the record is on disk.
    pub stored: bool,
    /// Records in the log now.
    pub records: usize,
    /// The stored record, as written.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}
