//! Health, prompt generation and metrics handlers, and the JSON fallbacks for unknown
//! routes and methods.

use super::{ApiJson, AppState};
use crate::api::*;
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::infer::{Quality, SearchOutcome};
use crate::metrics as m;
use crate::validate;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Instant;

impl AppState {
    pub(crate) fn models(&self) -> ModelNames {
        ModelNames {
            llm: self.info.llm.name.clone(),
            embedder: self.info.embedder.name.clone(),
        }
    }

    fn metadata(&self, o: &SearchOutcome, embed_ms: f64, started: Instant) -> PromptMetadata {
        let r = &o.result;
        PromptMetadata {
            method: r.method.clone(),
            similarity: r.best.similarity,
            predicted_similarity: r.best.predicted,
            answer: r.best.answer.clone(),
            source: r.best.source.name().to_string(),
            record_id: r.best.record_id.clone(),
            llm_calls: r.llm_calls,
            evaluation_llm_calls: o.quality_llm_calls,
            batch_size: o.batch_targets,
            variants: variants(o),
            timings: Timings {
                queue_ms: o.queue_ms,
                embed_ms,
                propose_ms: r.timings.propose_ms,
                rank_ms: r.timings.rank_ms,
                search_evaluate_ms: r.timings.evaluate_ms,
                search_ms: r.timings.total_ms,
                quality_ms: o.quality_ms,
                total_ms: started.elapsed().as_secs_f64() * 1e3,
            },
            models: self.models(),
        }
    }
}

/// The serialized name of a unit enum value (`stop`, `length`, …), or `unknown`.
pub(crate) fn enum_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_string(),
    }
}

pub(crate) fn variants(o: &SearchOutcome) -> Vec<Variant> {
    o.result
        .candidates
        .iter()
        .map(|c| Variant {
            prompt: c.prompt.clone(),
            source: c.source.name().to_string(),
            record_id: c.record_id.clone(),
            predicted_similarity: c.predicted,
            similarity: c.similarity,
            expected_similarity: c.estimate,
            answer: c.answer.clone(),
            predicted_vector: c.predicted_vector.clone(),
            answer_vector: c.answer_vector.clone(),
        })
        .collect()
}

/// The variant with the highest measured similarity, else the best ranked one.
fn best_variant(vs: &[Variant]) -> Option<Variant> {
    vs.iter()
        .filter(|v| v.similarity.is_some())
        .max_by(|a, b| {
            a.similarity
                .unwrap_or(0.0)
                .total_cmp(&b.similarity.unwrap_or(0.0))
        })
        .or_else(|| vs.first())
        .cloned()
}

fn quality(evaluate: bool, all: bool) -> Quality {
    match (evaluate, all) {
        (false, _) => Quality::Skip,
        (true, false) => Quality::Best,
        (true, true) => Quality::AllCandidates,
    }
}

/// One outcome or a clear error for a request that asked for exactly one.
fn single(
    mut outcomes: Vec<vec2prompt_core::Result<SearchOutcome>>,
) -> Result<SearchOutcome, ServerError> {
    match outcomes.pop() {
        Some(r) => Ok(r?),
        None => Err(ServerError::new(
            ErrorType::Backend,
            "the search returned no result",
        )),
    }
}

/// What a single-target request asked for beside its target.
struct Asked {
    evaluate_quality: bool,
    return_metadata: bool,
    started: Instant,
}

/// The one path of the two single-target routes (`/generate_prompt` and
/// `/generate_prompt_from_text`): searches `target` under `permit` and answers with the
/// chosen prompt and, when asked, its metadata (`embed_ms`: time spent embedding a text
/// target first).
async fn one_prompt(
    s: &AppState,
    permit: crate::queue::Permit,
    target: vec2prompt_core::TargetVector,
    options: vec2prompt_search::SearchOptions,
    asked: Asked,
    embed_ms: f64,
) -> Result<Json<GeneratePromptResponse>, ServerError> {
    let quality = quality(asked.evaluate_quality, false);
    validate::check_work(1, &options, quality, s.config.max_request_work)?;
    let outcome = single(
        s.infer
            .search(permit, vec![target], options, quality)
            .await?,
    )?;
    Ok(Json(GeneratePromptResponse {
        prompt: outcome.result.best.prompt.clone(),
        metadata: asked
            .return_metadata
            .then(|| s.metadata(&outcome, embed_ms, asked.started)),
    }))
}

/// Server health and what is loaded.
#[utoipa::path(
    get, path = "/health", tag = "status", security(()),
    responses(
        (status = 200, description = "The server is up", body = HealthResponse),
        (status = 503, description = "The model worker is not running", body = HealthResponse),
    )
)]
pub(crate) async fn health(State(s): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let alive = s.infer.is_alive();
    let body = HealthResponse {
        status: if alive { "ok" } else { "unavailable" }.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        embedding_dimension: s.info.dimension,
        llm: s.info.llm.clone(),
        embedder: s.info.embedder.clone(),
        dataset: s.info.dataset.clone(),
        learned_models: s.info.learned_models.clone(),
        queue: QueueStatus {
            capacity: s.infer.capacity(),
            in_use: s.infer.in_use(),
        },
        auth_required: s.config.api_key.is_some(),
        optimizer: s.optimizer.dir.as_ref().map(|d| d.display().to_string()),
        feedback_log: s
            .optimizer
            .feedback
            .as_ref()
            .map(|f| f.path().display().to_string()),
    };
    let code = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// Generate a prompt whose LLM answer lands near a target embedding.
#[utoipa::path(
    post, path = "/generate_prompt", tag = "generate",
    request_body = GeneratePromptRequest,
    responses(
        (status = 200, description = "The prompt", body = GeneratePromptResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Invalid embedding or options", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "A backend failed", body = ErrorResponse),
    )
)]
pub(crate) async fn generate_prompt(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptRequest>,
) -> Result<Json<GeneratePromptResponse>, ServerError> {
    let started = Instant::now();
    let target =
        validate::parse_target("target_embedding", &req.target_embedding, s.info.dimension)?;
    let options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let permit = s.infer.try_acquire()?;
    let asked = Asked {
        evaluate_quality: req.evaluate_quality,
        return_metadata: req.return_metadata,
        started,
    };
    one_prompt(&s, permit, target, options, asked, 0.0).await
}

/// Embed a text, then generate a prompt whose answer lands near that embedding.
#[utoipa::path(
    post, path = "/generate_prompt_from_text", tag = "generate",
    request_body = GeneratePromptFromTextRequest,
    responses(
        (status = 200, description = "The prompt", body = GeneratePromptResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 422, description = "Empty text or invalid options", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "A backend failed", body = ErrorResponse),
    )
)]
pub(crate) async fn generate_prompt_from_text(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptFromTextRequest>,
) -> Result<Json<GeneratePromptResponse>, ServerError> {
    let started = Instant::now();
    let texts = validate::target_texts(req.text, s.config.max_batch_items)?;
    let options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    s.info
        .tokens
        .check_texts("text", &texts, s.config.max_text_input_tokens)
        .await?;
    let permit = s.infer.try_acquire()?;
    let t = Instant::now();
    let embedded = s.infer.embed(permit.clone(), texts).await??;
    let embed_ms = t.elapsed().as_secs_f64() * 1e3;
    if embedded.vectors.is_empty() {
        return Err(ServerError::new(
            ErrorType::Backend,
            "the embedder returned no vector",
        ));
    }
    // Several texts: the target is the centroid of their embeddings.
    let vector = vec2prompt_search::centroid(&embedded.vectors, None)
        .map_err(|e| ServerError::invalid("text", e.to_string()))?;
    let target = vec2prompt_core::TargetVector::new("text", vector, s.info.dimension)?;
    let asked = Asked {
        evaluate_quality: req.evaluate_quality,
        return_metadata: req.return_metadata,
        started,
    };
    one_prompt(&s, permit, target, options, asked, embed_ms).await
}

/// Generate prompts for several embeddings in one batched search (all or nothing).
#[utoipa::path(
    post, path = "/generate_prompts_batch", tag = "generate",
    request_body = GeneratePromptsBatchRequest,
    responses(
        (status = 200, description = "One prompt per embedding", body = GeneratePromptsBatchResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "An invalid embedding (named by index), too many or none", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
        (status = 502, description = "A backend failed", body = ErrorResponse),
    )
)]
pub(crate) async fn generate_prompts_batch(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptsBatchRequest>,
) -> Result<Json<GeneratePromptsBatchResponse>, ServerError> {
    let started = Instant::now();
    validate::check_items("embeddings", req.embeddings.len(), s.config.max_batch_items)?;
    let targets = req
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, v)| validate::parse_target(&format!("embeddings[{i}]"), v, s.info.dimension))
        .collect::<Result<Vec<_>, _>>()?;
    let options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let quality = quality(req.evaluate_quality, false);
    validate::check_work(targets.len(), &options, quality, s.config.max_request_work)?;
    let permit = s.infer.try_acquire()?;
    let outcomes = s.infer.search(permit, targets, options, quality).await?;
    let mut results = Vec::with_capacity(outcomes.len());
    for (index, o) in outcomes.into_iter().enumerate() {
        let o = o?;
        results.push(BatchItem {
            index,
            prompt: o.result.best.prompt.clone(),
            metadata: req.return_metadata.then(|| s.metadata(&o, 0.0, started)),
        });
    }
    Ok(Json(GeneratePromptsBatchResponse {
        results,
        processing_time: started.elapsed().as_secs_f64(),
    }))
}

/// Most items of a parallel request processed together.
pub const MAX_CONCURRENT: usize = 50;

/// Generate prompts for many embeddings, best effort: each item succeeds or fails alone.
#[utoipa::path(
    post, path = "/generate_prompts_parallel", tag = "generate",
    request_body = GeneratePromptsParallelRequest,
    responses(
        (status = 200, description = "One result per embedding, failed ones included", body = GeneratePromptsParallelResponse),
        (status = 400, description = "Body is not JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "No embeddings, too many, or invalid max_concurrent/options", body = ErrorResponse),
        (status = 429, description = "Queue full", body = ErrorResponse),
    )
)]
pub(crate) async fn generate_prompts_parallel(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptsParallelRequest>,
) -> Result<Json<GeneratePromptsParallelResponse>, ServerError> {
    let started = Instant::now();
    let n = req.embeddings.len();
    validate::check_items("embeddings", n, s.config.max_batch_items)?;
    if !(1..=MAX_CONCURRENT).contains(&req.max_concurrent) {
        return Err(ServerError::invalid(
            "max_concurrent",
            format!(
                "must be between 1 and {MAX_CONCURRENT}, got {}",
                req.max_concurrent
            ),
        ));
    }
    let tier = req.rate_limit_tier.unwrap_or(s.config.rate_limit_tier);
    let default_variants = if req.generate_variants { 4 } else { 1 };
    let options = validate::search_options(req.options.as_ref(), &s.config, default_variants)?;
    let quality = quality(req.evaluate_quality, req.generate_variants);
    validate::check_work(n, &options, quality, s.config.max_request_work)?;
    let permit = s.infer.try_acquire()?;

    let failed = |index: usize, e: ServerError, seconds: f64| ParallelItem {
        embedding_index: index,
        original_prompt: None,
        original_result: ItemResult {
            similarity: None,
            predicted_similarity: None,
            success: false,
            processing_time: seconds,
            error: Some(e.message),
            error_type: Some(e.error_type),
        },
        variants: Vec::new(),
        best_variant: None,
        metadata: None,
    };
    let mut results: Vec<Option<ParallelItem>> = vec![None; n];
    let mut valid = Vec::with_capacity(n);
    for (i, v) in req.embeddings.iter().enumerate() {
        match validate::parse_target(&format!("embeddings[{i}]"), v, s.info.dimension) {
            Ok(t) => valid.push((i, t)),
            Err(e) => results[i] = Some(failed(i, e.into(), 0.0)),
        }
    }
    let mut batches = 0;
    for wave in valid.chunks(req.max_concurrent) {
        batches += 1;
        let t = Instant::now();
        let targets = wave.iter().map(|(_, t)| t.clone()).collect();
        let outcomes = s
            .infer
            .search(permit.clone(), targets, options.clone(), quality)
            .await;
        let seconds = t.elapsed().as_secs_f64();
        match outcomes {
            Ok(outcomes) => {
                for (&(i, _), o) in wave.iter().zip(outcomes) {
                    results[i] = Some(match o {
                        Ok(o) => {
                            let vs = if req.generate_variants {
                                variants(&o)
                            } else {
                                Vec::new()
                            };
                            ParallelItem {
                                embedding_index: i,
                                original_prompt: Some(o.result.best.prompt.clone()),
                                original_result: ItemResult {
                                    similarity: o.result.best.similarity,
                                    predicted_similarity: Some(o.result.best.predicted),
                                    success: true,
                                    processing_time: seconds,
                                    error: None,
                                    error_type: None,
                                },
                                best_variant: best_variant(&vs),
                                variants: vs,
                                metadata: req.return_metadata.then(|| s.metadata(&o, 0.0, started)),
                            }
                        }
                        Err(e) => failed(i, e.into(), seconds),
                    });
                }
            }
            Err(e) => {
                let e = ServerError::from(e);
                for &(i, _) in wave {
                    results[i] = Some(failed(i, e.clone(), seconds));
                }
            }
        }
    }
    let results: Vec<ParallelItem> = results.into_iter().flatten().collect();
    let processing_time = started.elapsed().as_secs_f64();
    let successful = results.iter().filter(|r| r.original_result.success).count();
    let sims: Vec<f32> = results
        .iter()
        .filter_map(|r| r.original_result.similarity)
        .collect();
    let average_processing_time = results
        .iter()
        .map(|r| r.original_result.processing_time)
        .sum::<f64>()
        / n as f64;
    Ok(Json(GeneratePromptsParallelResponse {
        summary: ParallelSummary {
            total_processed: n,
            successful,
            failed: n - successful,
            processing_time,
            average_similarity: (!sims.is_empty())
                .then(|| sims.iter().sum::<f32>() / sims.len() as f32),
            max_similarity: sims.iter().copied().reduce(f32::max),
            min_similarity: sims.iter().copied().reduce(f32::min),
        },
        metadata: ParallelMetadata {
            performance_metrics: PerformanceMetrics {
                requests_per_second: n as f64 / processing_time.max(1e-9),
                average_processing_time,
            },
            max_concurrent: req.max_concurrent,
            rate_limit_tier: tier,
            batches,
            models: s.models(),
        },
        results,
    }))
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "status",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
    )
)]
pub(crate) async fn metrics_text(State(s): State<AppState>) -> Response {
    metrics::gauge!(m::QUEUE_DEPTH).set(s.infer.in_use() as f64);
    metrics::gauge!(m::QUEUE_WAITING).set(s.infer.waiting() as f64);
    // Local backends never retry: their series stay at 0. Remote ones report their
    // limiter's count under the name they were registered with.
    let mut names: Vec<&str> = vec!["llm", "embedder"];
    names.extend(s.info.retries.iter().map(|(n, _)| n.as_str()));
    names.dedup();
    for backend in names {
        let retries = s
            .info
            .retries
            .iter()
            .filter(|(name, _)| name == backend)
            .map(|(_, count)| count())
            .sum::<u64>();
        metrics::counter!(m::BACKEND_RETRIES, "backend" => backend.to_string()).absolute(retries);
    }
    if let Some(passes) = s.info.tokens.llm.forward_passes() {
        metrics::counter!(m::LLM_FORWARD_PASSES).absolute(passes);
    }
    if let Some(passes) = &s.info.generator_passes {
        metrics::counter!(m::GENERATOR_FORWARD_PASSES).absolute(passes());
    }
    if let Some(opt) = &s.optimizer.optimizer {
        metrics::counter!(m::OPTIMIZER_FORWARD_PASSES).absolute(opt.model.forward_passes());
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        m::handle().render(),
    )
        .into_response()
}

pub(crate) async fn not_found(req: Request) -> ServerError {
    ServerError::new(
        ErrorType::NotFound,
        format!("no route {}; see /docs for the API", req.uri().path()),
    )
}

pub(crate) async fn method_not_allowed(req: Request) -> ServerError {
    ServerError::new(
        ErrorType::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_variant_prefers_measured_similarity() {
        let v = |p: &str, predicted: f32, similarity: Option<f32>| Variant {
            prompt: p.into(),
            source: "neighbour".into(),
            record_id: None,
            predicted_similarity: predicted,
            similarity,
            expected_similarity: similarity,
            answer: None,
            predicted_vector: None,
            answer_vector: None,
        };
        let vs = [
            v("a", 0.9, Some(0.3)),
            v("b", 0.8, Some(0.6)),
            v("c", 0.7, None),
        ];
        assert_eq!(best_variant(&vs).unwrap().prompt, "b");
        let vs = [v("a", 0.9, None), v("b", 0.8, None)];
        assert_eq!(best_variant(&vs).unwrap().prompt, "a");
        assert!(best_variant(&[]).is_none());
    }
}
