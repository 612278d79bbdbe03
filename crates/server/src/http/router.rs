//! The router: every route, the auth, limits and metrics layers, in one place.

use super::{AppState, auth, handlers, interpolate, layers, openai, openapi, optimize};
use crate::metrics as m;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use utoipa_swagger_ui::SwaggerUi;

/// The routes that run the models. Adding a route is one line here (and one in the
/// OpenAPI document's `paths`).
fn model_routes() -> Router<AppState> {
    Router::new()
        .route("/generate_prompt", post(handlers::generate_prompt))
        .route(
            "/generate_prompt_from_text",
            post(handlers::generate_prompt_from_text),
        )
        .route(
            "/generate_prompts_batch",
            post(handlers::generate_prompts_batch),
        )
        .route(
            "/generate_prompts_parallel",
            post(handlers::generate_prompts_parallel),
        )
        .route("/interpolate", post(interpolate::interpolate))
        .route("/optimize", post(optimize::optimize))
        .route("/feedback", post(optimize::feedback))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/chat/completions", post(openai::chat_completions))
}

/// The routes behind the API key: the model routes (under `requests_per_minute` when it
/// is set), the metrics and the API's documents.
fn protected_routes(doc: serde_json::Value, rate: Option<u32>) -> Router<AppState> {
    let mut models = model_routes();
    if let Some(per_minute) = rate {
        models = models.route_layer(from_fn_with_state(
            Arc::new(layers::RequestWindow::new(per_minute)),
            layers::request_rate,
        ));
    }
    models
        .route("/metrics", get(handlers::metrics_text))
        // Served as JSON, not through utoipa's types: they cannot hold every keyword the
        // document uses (`contains`, `not`, `const`), and a round trip would drop them.
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/api-doc/openapi.json", doc))
}

/// The routes open to everyone, even with an API key configured.
fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(handlers::health))
        .merge(crate::playground::routes())
}

/// The router with every route, auth, limits and metrics.
pub fn router(state: AppState) -> Router {
    let doc = openapi::document_json(&openapi::SpecFacts {
        dimension: state.info.dimension,
        config: (*state.config).clone(),
        optimizer: state.optimizer.optimizer.is_some(),
    });
    let mut api = protected_routes(doc, state.config.requests_per_minute);
    if let Some(key) = &state.config.api_key {
        api = api.route_layer(from_fn_with_state(
            Arc::new(auth::ApiKey::new(key.expose())),
            auth::require_api_key,
        ));
    }
    let body = layers::BodyLimits {
        max_bytes: state.config.max_body_bytes,
        timeout: Duration::from_millis(state.config.body_timeout_ms),
    };
    // Outermost last: metrics see every request, errors of every layer become JSON, and
    // the body is complete before auth and the handlers run.
    open_routes()
        .merge(api)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(body.max_bytes))
        .layer(from_fn_with_state(body, layers::read_body))
        .layer(from_fn(layers::json_errors))
        .layer(from_fn(m::track))
        .with_state(state)
}
