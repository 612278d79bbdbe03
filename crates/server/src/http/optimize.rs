//! The prompt optimizer over HTTP: `POST /optimize` (vague prompt → improved prompts,
//! optionally ranked on real answers) and `POST /feedback` (judgements stored durably for
//! retraining).

use crate::api::{FeedbackBody, FeedbackResponse, OptimizeBody, OptimizeResponse, OptimizedPrompt};
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::http::{ApiJson, AppState};
use crate::validate;
use axum::Json;
use axum::extract::State;
use std::time::Instant;
use vec2prompt_core::GenerationParams;
use vec2prompt_optimizer::FeedbackRecord;
use vec2prompt_optimizer::service::{
    GoalKind, MAX_TARGET_EXAMPLES, OptimizeRequest as Request, RawEmbedding, Source, UserTarget,
};

fn unavailable(what: &str, how: &str) -> ServerError {
    ServerError::new(
        ErrorType::Unavailable,
        format!("this server has no {what}: {how}"),
    )
}

/// A user's target, checked but not yet embedded.
enum Pending {
    /// Texts to embed (the target text, or the examples whose mean is the goal).
    Texts(GoalKind, Vec<String>),
    /// A vector as given.
    Vector(Vec<f32>),
}

/// Checks the body's target fields: at most one, a budget to measure it with, texts
/// non-empty and within the embedder's input limit, a vector of the embedder's dimension.
async fn pending_target(
    s: &AppState,
    body: &OptimizeBody,
    budget: usize,
) -> Result<Option<Pending>, ServerError> {
    let given = [
        body.target_text.is_some(),
        body.target_embedding.is_some(),
        body.target_examples.is_some(),
    ]
    .into_iter()
    .filter(|g| *g)
    .count();
    if given == 0 {
        return Ok(None);
    }
    if given > 1 {
        return Err(ServerError::invalid(
            "target_text",
            "give at most one of target_text, target_embedding and target_examples",
        ));
    }
    if budget == 0 {
        return Err(ServerError::invalid(
            "budget",
            "is 0, but a target is compared with real answers: give a budget of at least 1",
        ));
    }
    if let Some(v) = &body.target_embedding {
        let t = validate::parse_embedding("target_embedding", v, s.info.dimension)?;
        return Ok(Some(Pending::Vector(t.values)));
    }
    let (field, kind, texts) = match (&body.target_text, &body.target_examples) {
        (Some(t), _) => ("target_text", GoalKind::TargetText, vec![t.clone()]),
        (_, Some(ex)) => ("target_examples", GoalKind::TargetExamples, ex.clone()),
        _ => return Ok(None),
    };
    if texts.is_empty() || texts.len() > MAX_TARGET_EXAMPLES {
        return Err(ServerError::invalid(
            field,
            format!(
                "has {} examples; give 1 to {MAX_TARGET_EXAMPLES}",
                texts.len()
            ),
        ));
    }
    for (i, t) in texts.iter().enumerate() {
        let name = if kind == GoalKind::TargetExamples {
            format!("{field}[{i}]")
        } else {
            field.to_string()
        };
        vec2prompt_core::text::require_non_empty(&name, t)?;
    }
    s.info
        .tokens
        .check_texts(field, &texts, s.config.max_text_input_tokens)
        .await?;
    Ok(Some(Pending::Texts(kind, texts)))
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
    let mut request = Request {
        raw_prompt: body.raw_prompt.clone(),
        max_length: body.max_length,
        num_return_sequences: body.num_return_sequences,
        style: body.style.into(),
        budget: body.budget.unwrap_or(0),
        target: None,
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
    let pending = pending_target(&s, &body, request.budget).await?;
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
        .embed(permit.clone(), request.texts_to_embed())
        .await??;
    let e_raw = RawEmbedding::from_vectors(e.vectors);
    request.target = match pending {
        None => None,
        Some(Pending::Vector(v)) => Some(UserTarget::from_vector(
            GoalKind::TargetEmbedding,
            v,
            Vec::new(),
        )?),
        Some(Pending::Texts(kind, texts)) => {
            let vectors = s.infer.embed(permit.clone(), texts.clone()).await??.vectors;
            Some(UserTarget::from_texts(kind, texts, &vectors)?)
        }
    };
    let mut drafts = s
        .infer
        .draft(permit.clone(), opt.clone(), request.clone(), e_raw)
        .await??;
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
        drafts = opt.rank(drafts, &request, &answers, &vectors);
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
        goal: out.goal.name().to_string(),
        refused_copies: out.refused_copies,
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
    let rating = validate::rating(body.rating)?;
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
