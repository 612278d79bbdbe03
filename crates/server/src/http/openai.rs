//! The OpenAI-compatible routes over the server's own models: `/v1/embeddings` and
//! `/v1/chat/completions`.

use super::handlers::enum_name;
use super::{ApiJson, AppState};
use crate::api::*;
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::validate;
use axum::Json;
use axum::extract::State;
use std::sync::atomic::{AtomicU64, Ordering};

/// OpenAI-compatible embeddings over the server's embedder.
#[utoipa::path(
    post, path = "/v1/embeddings", tag = "openai",
    request_body = EmbeddingsRequest,
    responses(
        (status = 200, description = "The embeddings", body = EmbeddingsResponse),
        (status = 400, description = "Body is not JSON, or unsupported dimensions/encoding_format", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 422, description = "Empty input or too many texts", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "The embedder failed", body = ErrorResponse),
    )
)]
pub(crate) async fn embeddings(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<EmbeddingsRequest>,
) -> Result<Json<EmbeddingsResponse>, ServerError> {
    if let Some(f) = req.encoding_format.as_deref().filter(|f| *f != "float") {
        return Err(ServerError::new(
            ErrorType::InvalidRequest,
            format!("encoding_format {f:?} is not supported; use \"float\""),
        ));
    }
    if let Some(d) = req.dimensions.filter(|&d| d != s.info.dimension) {
        return Err(ServerError::new(
            ErrorType::InvalidRequest,
            format!(
                "dimensions {d} is not supported: {} produces {} dimensions",
                s.info.embedder.name, s.info.dimension
            ),
        ));
    }
    let texts = validate::embedding_texts(req.input, s.config.max_batch_items)?;
    s.info
        .tokens
        .check_texts("input", &texts, s.config.max_text_input_tokens)
        .await?;
    let permit = s.infer.try_acquire()?;
    let out = s.infer.embed(permit, texts).await??;
    Ok(Json(EmbeddingsResponse {
        object: "list".to_string(),
        data: out
            .vectors
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| EmbeddingData {
                object: "embedding".to_string(),
                embedding,
                index,
            })
            .collect(),
        model: s.info.embedder.name.clone(),
        usage: EmbeddingUsage {
            prompt_tokens: out.tokens,
            total_tokens: out.tokens,
        },
    }))
}

/// OpenAI-compatible chat completions over the server's LLM.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion", body = ChatCompletionResponse),
        (status = 400, description = "Body is not JSON, or stream: true", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 422, description = "No user message, or invalid parameters", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "The LLM failed", body = ErrorResponse),
    )
)]
pub(crate) async fn chat_completions(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> Result<Json<ChatCompletionResponse>, ServerError> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let plan = validate::chat(&req, &s.config)?;
    // Checked per request before it is queued, so an over-long prompt never reaches the
    // batch it would share with other requests.
    s.info
        .tokens
        .check_chat(&plan.prompt, s.config.max_chat_input_tokens)
        .await?;
    let permit = s.infer.try_acquire()?;
    let generations = s
        .infer
        .generate(permit, vec![plan.prompt], plan.params)
        .await??
        .pop()
        .unwrap_or_default();
    let prompt_tokens = generations.first().map_or(0, |g| g.prompt_tokens);
    let completion_tokens = generations.iter().map(|g| g.completion_tokens).sum();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(Json(ChatCompletionResponse {
        id: format!(
            "chatcmpl-{created:x}{:06x}",
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        ),
        object: "chat.completion".to_string(),
        created,
        model: s.info.llm.name.clone(),
        choices: generations
            .into_iter()
            .enumerate()
            .map(|(index, mut g)| {
                let stopped = validate::apply_stop(&mut g.text, &plan.stop);
                ChatChoice {
                    index,
                    message: AssistantMessage {
                        role: "assistant".to_string(),
                        content: g.text,
                    },
                    finish_reason: if stopped {
                        "stop".to_string()
                    } else {
                        enum_name(&g.finish_reason)
                    },
                }
            })
            .collect(),
        usage: ChatUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    }))
}
