//! The prompt optimizer over HTTP: `POST /optimize` (vague prompt → improved prompts,
//! optionally ranked on real answers) and `POST /feedback` (judgements stored durably for
//! retraining).

use crate::api::int;
use crate::error::{ErrorResponse, ErrorType, ServerError};
pub use crate::http::OptimizerState;
use crate::http::{ApiJson, AppState};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::ToSchema;
use vec2prompt_core::GenerationParams;
use vec2prompt_optimizer::service::{OptimizeRequest as Request, Source};
use vec2prompt_optimizer::{FeedbackRecord, Style};

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
    /// LLM calls (0–8): this many variants are answered and ranked by how close their
    /// answers land to the surrogate's predicted answer of the optimizer's intent.
    /// Default 0 (no LLM call).
    #[serde(default, deserialize_with = "int::opt_usize")]
    #[schema(minimum = 0, maximum = 8)]
    pub budget: Option<usize>,
}

/// One improved prompt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptimizedPrompt {
    /// The prompt.
    pub prompt: String,
    /// With a budget: cosine of its answer to the predicted answer of the intent.
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

fn unavailable(what: &str, how: &str) -> ServerError {
    ServerError::new(
        ErrorType::Unavailable,
        format!("this server has no {what}: {how}"),
    )
}

/// Improve a prompt.
#[utoipa::path(
    post, path = "/optimize", tag = "optimize",
    request_body = OptimizeBody,
    responses(
        (status = 200, description = "Improved prompts, best first", body = OptimizeResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Body is not application/json", body = ErrorResponse),
        (status = 422, description = "Empty prompt or a value out of range", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "A backend failed", body = ErrorResponse),
        (status = 404, description = "No optimizer loaded (then this operation is not in the served document)", body = ErrorResponse),
    )
)]
pub async fn optimize(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OptimizeBody>,
) -> Result<Json<OptimizeResponse>, ServerError> {
    let started = Instant::now();
    let request = Request {
        raw_prompt: body.raw_prompt.clone(),
        max_length: body.max_length,
        num_return_sequences: body.num_return_sequences,
        style: body.style.into(),
        budget: body.budget.unwrap_or(0),
    };
    request.validate()?;
    s.info
        .tokens
        .check_texts(
            "raw_prompt",
            std::slice::from_ref(&body.raw_prompt),
            s.config.max_text_input_tokens,
        )
        .await?;
    // Without an optimizer the route is not offered (nor documented): 404, saying why.
    let Some(opt) = s.optimizer.optimizer.clone() else {
        return Err(ServerError::new(
            ErrorType::NotFound,
            "this server has no prompt optimizer: train one with `vec2prompt train optimizer` \
             and start the server with --optimizer DIR",
        ));
    };
    let permit = s.infer.try_acquire()?;
    let e = s
        .infer
        .embed(permit.clone(), vec![request.instruction().to_string()])
        .await??;
    let e_raw = e.vectors.into_iter().next().unwrap_or_default();
    let (o, r) = (opt.clone(), request.clone());
    // The permit travels with the decoding, so admission counts it until it ends.
    let held = permit.clone();
    let mut drafts = tokio::task::spawn_blocking(move || {
        let _held = held;
        o.draft(&r, &e_raw)
    })
    .await
    .map_err(|e| ServerError::new(ErrorType::Backend, format!("optimizer failed: {e}")))??;
    if request.budget > 0 {
        let prompts: Vec<String> = drafts
            .candidates
            .iter()
            .take(request.budget)
            .cloned()
            .collect();
        let params = GenerationParams {
            max_new_tokens: 128,
            ..Default::default()
        };
        let answers: Vec<String> = s
            .infer
            .generate(permit.clone(), prompts, params)
            .await??
            .into_iter()
            .map(|mut g| g.pop().map(|g| g.text).unwrap_or_default())
            .collect();
        let texts: Vec<String> = answers
            .iter()
            .filter(|a| !a.trim().is_empty())
            .cloned()
            .collect();
        let mut embedded = if texts.is_empty() {
            Vec::new()
        } else {
            s.infer.embed(permit, texts).await??.vectors
        }
        .into_iter();
        let vectors: Vec<Vec<f32>> = answers
            .iter()
            .map(|a| {
                if a.trim().is_empty() {
                    Vec::new()
                } else {
                    embedded.next().unwrap_or_default()
                }
            })
            .collect();
        drafts = opt.rank(drafts, &answers, &vectors);
    }
    let out = opt.finish(drafts, &request);
    Ok(Json(OptimizeResponse {
        optimized_prompt: out.optimized_prompt,
        optimized_prompts: out
            .optimized_prompts
            .into_iter()
            .map(|p| OptimizedPrompt {
                prompt: p.prompt,
                score: p.score,
                answer: p.answer,
                source: match p.source {
                    Source::Raw => "raw",
                    Source::Optimizer => "optimizer",
                }
                .to_string(),
                measured: p.measured,
            })
            .collect(),
        raw_prompt: body.raw_prompt,
        style: out.style.into(),
        llm_calls: out.llm_calls,
        improved: out.improved,
        raw_score: out.raw_score,
        processing_time: started.elapsed().as_secs_f64(),
    }))
}

/// Store feedback on an optimized prompt (durable when the response arrives).
#[utoipa::path(
    post, path = "/feedback", tag = "optimize",
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "Stored", body = FeedbackResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Body is not application/json", body = ErrorResponse),
        (status = 422, description = "Missing verdict, rating out of range, empty or too long text", body = ErrorResponse),
        (status = 503, description = "No feedback log, or the log is full", body = ErrorResponse),
    )
)]
pub async fn feedback(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<Json<FeedbackResponse>, ServerError> {
    let rating = match body.rating {
        Some(r) if !(1..=5).contains(&r) => {
            return Err(ServerError::invalid(
                "rating",
                format!("is {r}; give 1 (bad) to 5 (good)"),
            ));
        }
        r => r.map(|r| r as u8),
    };
    let record = FeedbackRecord {
        raw_prompt: body.raw_prompt,
        optimized_prompt: body.optimized_prompt,
        rating,
        chosen: body.chosen,
        comment: body.comment,
        style: body.style.map(Into::into),
        source: Some("user".into()),
        received_at: Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
    };
    record.validate()?;
    let Some(log) = s.optimizer.feedback.clone() else {
        return Err(unavailable(
            "feedback log",
            "start the server with --feedback-log FILE",
        ));
    };
    let stored = record.clone();
    let (records, _) = tokio::task::spawn_blocking(move || log.append(&stored))
        .await
        .map_err(|e| ServerError::new(ErrorType::Backend, format!("feedback log failed: {e}")))?
        .map_err(|e| match e {
            vec2prompt_core::Error::InvalidInput { .. } => ServerError::from(e),
            other => ServerError::new(ErrorType::Unavailable, other.to_string()),
        })?;
    Ok(Json(FeedbackResponse {
        stored: true,
        records,
        record: serde_json::to_value(&record).unwrap_or_default(),
    }))
}
