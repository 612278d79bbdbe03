//! The HTTP surface (text-embeddings-inference's `router`): routes, handlers, auth, the
//! OpenAPI document and the JSON extractor whose rejections use our error shape.

use crate::api::*;
use crate::backends::CounterFn;
use crate::config::ServerConfig;
use crate::error::{ErrorResponse, ErrorType, ServerError};
use crate::infer::{Infer, InferError, Quality, SearchOutcome};
use crate::metrics as m;
use crate::validate;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

impl From<InferError> for ServerError {
    fn from(e: InferError) -> Self {
        let t = match e {
            InferError::Overloaded(_) => ErrorType::Overloaded,
            InferError::Unavailable => ErrorType::Unavailable,
        };
        ServerError::new(t, e.to_string())
    }
}

/// `axum::Json`, but a body that cannot be read or deserialized is answered in our
/// [`ErrorResponse`] shape (400/413/415/422) instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// Facts about the loaded models and dataset, fixed at start.
pub struct ServerInfo {
    /// The LLM.
    pub llm: ModelStatus,
    /// The embedder.
    pub embedder: ModelStatus,
    /// The candidate dataset, if the search uses one.
    pub dataset: Option<DatasetStatus>,
    /// Directory of the learned models, if the search uses them.
    pub learned_models: Option<String>,
    /// Dimension of target embeddings.
    pub dimension: usize,
    /// Retry counters of remote backends by backend name.
    pub retries: Vec<(String, CounterFn)>,
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The model worker.
    pub infer: Infer,
    /// Server settings.
    pub config: Arc<ServerConfig>,
    /// Facts about the models.
    pub info: Arc<ServerInfo>,
}

impl AppState {
    fn models(&self) -> ModelNames {
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
            source: source_name(&r.best.source),
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

pub(crate) fn source_name<T: serde::Serialize>(source: &T) -> String {
    match serde_json::to_value(source) {
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
            source: source_name(&c.source),
            record_id: c.record_id.clone(),
            predicted_similarity: c.predicted,
            similarity: c.similarity,
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

/// Server health and what is loaded.
#[utoipa::path(
    get, path = "/health", tag = "status", security(()),
    responses(
        (status = 200, description = "The server is up", body = HealthResponse),
        (status = 503, description = "The model worker is not running", body = HealthResponse),
    )
)]
async fn health(State(s): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
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
async fn generate_prompt(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptRequest>,
) -> Result<Json<GeneratePromptResponse>, ServerError> {
    let started = Instant::now();
    let target =
        validate::parse_target("target_embedding", &req.target_embedding, s.info.dimension)?;
    let options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let _permit = s.infer.try_acquire()?;
    let outcome = single(
        s.infer
            .search(vec![target], options, quality(req.evaluate_quality, false))
            .await?,
    )?;
    Ok(Json(GeneratePromptResponse {
        prompt: outcome.result.best.prompt.clone(),
        metadata: req
            .return_metadata
            .then(|| s.metadata(&outcome, 0.0, started)),
    }))
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
async fn generate_prompt_from_text(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<GeneratePromptFromTextRequest>,
) -> Result<Json<GeneratePromptResponse>, ServerError> {
    let started = Instant::now();
    let texts = validate::target_texts(req.text, s.config.max_batch_items)?;
    let options = validate::search_options(req.options.as_ref(), &s.config, 1)?;
    let _permit = s.infer.try_acquire()?;
    let t = Instant::now();
    let embedded = s.infer.embed(texts).await??;
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
    let outcome = single(
        s.infer
            .search(vec![target], options, quality(req.evaluate_quality, false))
            .await?,
    )?;
    Ok(Json(GeneratePromptResponse {
        prompt: outcome.result.best.prompt.clone(),
        metadata: req
            .return_metadata
            .then(|| s.metadata(&outcome, embed_ms, started)),
    }))
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
async fn generate_prompts_batch(
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
    let _permit = s.infer.try_acquire()?;
    let outcomes = s
        .infer
        .search(targets, options, quality(req.evaluate_quality, false))
        .await?;
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
async fn generate_prompts_parallel(
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
    let _permit = s.infer.try_acquire()?;

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
        let outcomes = s.infer.search(targets, options.clone(), quality).await;
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
async fn metrics_text(State(s): State<AppState>) -> Response {
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
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        m::handle().render(),
    )
        .into_response()
}

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
async fn embeddings(
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
    let _permit = s.infer.try_acquire()?;
    let out = s.infer.embed(texts).await??;
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
async fn chat_completions(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> Result<Json<ChatCompletionResponse>, ServerError> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let (prompt, params) = validate::chat(&req, &s.config)?;
    let _permit = s.infer.try_acquire()?;
    let generations = s
        .infer
        .generate(vec![prompt], params)
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
            .map(|(index, g)| ChatChoice {
                index,
                message: AssistantMessage {
                    role: "assistant".to_string(),
                    content: g.text,
                },
                finish_reason: source_name(&g.finish_reason),
            })
            .collect(),
        usage: ChatUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    }))
}

async fn not_found(req: Request) -> ServerError {
    ServerError::new(
        ErrorType::NotFound,
        format!("no route {}; see /docs for the API", req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ServerError {
    ServerError::new(
        ErrorType::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// The SHA-256 of the API key: comparing digests in constant time hides both the key's
/// content and its length from timing.
struct ApiKey([u8; 32]);

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

async fn require_api_key(State(key): State<Arc<ApiKey>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let ok = given.is_some_and(|t| bool::from(digest(t).ct_eq(&key.0)));
    if !ok {
        let message = if given.is_none() {
            "missing API key: send the header `Authorization: Bearer <key>`"
        } else {
            "wrong API key"
        };
        let mut response = ServerError::new(ErrorType::Unauthorized, message).into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(req).await
}

/// Adds the bearer-token security scheme to the OpenAPI document.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of the server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vec2prompt",
        description = "Given a target embedding, write a prompt whose LLM answer lands near it (cosine). \
                       With an API key configured, every route but /health needs `Authorization: Bearer <key>`. \
                       Every error is JSON `{error, error_type}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        health,
        generate_prompt,
        generate_prompt_from_text,
        generate_prompts_batch,
        generate_prompts_parallel,
        metrics_text,
        embeddings,
        chat_completions,
        crate::walk::interpolate
    ),
    components(schemas(ErrorResponse, ErrorType)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "generate", description = "Prompt generation from target embeddings"),
        (name = "openai", description = "OpenAI-compatible endpoints over the server's models"),
        (name = "status", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (what `vec2prompt print-schema` prints and
/// `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// The router with every route, auth, limits and metrics.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .route("/generate_prompt", post(generate_prompt))
        .route(
            "/generate_prompt_from_text",
            post(generate_prompt_from_text),
        )
        .route("/generate_prompts_batch", post(generate_prompts_batch))
        .route(
            "/generate_prompts_parallel",
            post(generate_prompts_parallel),
        )
        .route("/interpolate", post(crate::walk::interpolate))
        .route("/metrics", get(metrics_text))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/chat/completions", post(chat_completions))
        .merge(SwaggerUi::new("/docs").url("/api-doc/openapi.json", ApiDoc::openapi()));
    if let Some(key) = &state.config.api_key {
        api = api.route_layer(from_fn_with_state(
            Arc::new(ApiKey(digest(key))),
            require_api_key,
        ));
    }
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .merge(crate::playground::routes())
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(m::track))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body1 {
        #[allow(dead_code)]
        n: u32,
    }

    async fn echo(ApiJson(_): ApiJson<Body1>) -> &'static str {
        "ok"
    }

    fn app(key: Option<&str>) -> Router {
        let mut protected = Router::new().route("/echo", post(echo));
        if let Some(k) = key {
            protected = protected.route_layer(from_fn_with_state(
                Arc::new(ApiKey(digest(k))),
                require_api_key,
            ));
        }
        Router::new()
            .route("/open", get(|| async { "open" }))
            .merge(protected)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(64))
    }

    async fn call(
        app: Router,
        method: &str,
        uri: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = app
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, v)
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[tokio::test]
    async fn json_rejections_use_the_error_shape() {
        let cases = [
            ("{\"n\": 1}", vec![JSON], 200, None),
            ("{\"n\": NaN}", vec![JSON], 400, Some("invalid_request")),
            ("nope", vec![JSON], 400, Some("invalid_request")),
            ("{\"n\": \"x\"}", vec![JSON], 422, Some("invalid_input")),
            ("{}", vec![JSON], 422, Some("invalid_input")),
            (
                "{\"n\": 1, \"m\": 2}",
                vec![JSON],
                422,
                Some("invalid_input"),
            ),
            ("{\"n\": 1}", vec![], 415, Some("unsupported_media_type")),
            (
                "{\"n\": 1, \"pad\": \"................................................\"}",
                vec![JSON],
                413,
                Some("payload_too_large"),
            ),
        ];
        for (body, headers, status, error_type) in cases {
            let (got, v) = call(app(None), "POST", "/echo", body, &headers).await;
            assert_eq!(got, status, "{body}: {v}");
            if let Some(t) = error_type {
                assert_eq!(v["error_type"], t, "{body}: {v}");
                assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
            }
        }
        let (got, v) = call(app(None), "GET", "/nowhere", "", &[]).await;
        assert_eq!((got, v["error_type"].as_str()), (404, Some("not_found")));
        let (got, v) = call(app(None), "GET", "/echo", "", &[]).await;
        assert_eq!(
            (got, v["error_type"].as_str()),
            (405, Some("method_not_allowed"))
        );
    }

    #[tokio::test]
    async fn bearer_auth_guards_all_but_open_routes() {
        let body = "{\"n\": 1}";
        let key = Some("k3y");
        let (got, v) = call(app(key), "POST", "/echo", body, &[JSON]).await;
        assert_eq!((got, v["error_type"].as_str()), (401, Some("unauthorized")));
        for auth in ["Bearer wrong", "Bearer k3y0", "Basic k3y", "k3y", "Bearer "] {
            let (got, _) = call(
                app(key),
                "POST",
                "/echo",
                body,
                &[JSON, ("authorization", auth)],
            )
            .await;
            assert_eq!(got, 401, "{auth}");
        }
        for auth in ["Bearer k3y", "bearer k3y"] {
            let (got, _) = call(
                app(key),
                "POST",
                "/echo",
                body,
                &[JSON, ("authorization", auth)],
            )
            .await;
            assert_eq!(got, 200, "{auth}");
        }
        let (got, _) = call(app(key), "GET", "/open", "", &[]).await;
        assert_eq!(got, 200);
    }

    #[test]
    fn best_variant_prefers_measured_similarity() {
        let v = |p: &str, predicted: f32, similarity: Option<f32>| Variant {
            prompt: p.into(),
            source: "neighbour".into(),
            record_id: None,
            predicted_similarity: predicted,
            similarity,
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

    #[test]
    fn openapi_names_every_route_and_the_bearer_scheme() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        for path in [
            "/health",
            "/generate_prompt",
            "/generate_prompt_from_text",
            "/generate_prompts_batch",
            "/generate_prompts_parallel",
            "/metrics",
            "/v1/embeddings",
            "/v1/chat/completions",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["api_key"]["scheme"],
            "bearer"
        );
    }
}
