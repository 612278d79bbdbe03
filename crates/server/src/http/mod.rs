//! The HTTP surface (text-embeddings-inference's `router`):
//!
//! - [`router`]: the one place that lists the routes and stacks the layers;
//! - [`handlers`]: health, prompt generation and metrics;
//! - [`interpolate`]: `/interpolate`, prompts for points between two targets;
//! - [`optimize`]: the prompt optimizer's `/optimize` and `/feedback`;
//! - [`openai`]: the OpenAI-compatible `/v1/embeddings` and `/v1/chat/completions`;
//! - [`auth`]: bearer-token auth;
//! - [`layers`]: the body deadline and the JSON body of every error;
//! - [`openapi`]: the OpenAPI document (`print-schema`, `/api-doc/openapi.json`).
//!
//! This module holds what they share: the state (with the optimizer's part, which the
//! `/optimize` and `/feedback` handlers read) and the JSON extractor whose rejections use
//! the API's error shape.

pub mod auth;
pub mod handlers;
pub mod interpolate;
pub mod layers;
pub mod openai;
pub mod openapi;
pub mod optimize;
pub mod router;

pub use openapi::{ApiDoc, openapi_json};
pub use router::router;

use crate::api::{DatasetStatus, ModelStatus};
use crate::backends::{CounterFn, TokenCounter};
use crate::config::ServerConfig;
use crate::error::{ErrorType, ServerError};
use crate::infer::Infer;
use axum::Json;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;
use vec2prompt_core::Llm;
use vec2prompt_optimizer::FeedbackLog;
use vec2prompt_optimizer::service::Optimizer;

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
    /// Token counts of request texts, for the input caps.
    pub tokens: TokenCounts,
    /// The learned generator's decoding forward passes, when the search has one.
    pub generator_passes: Option<crate::backends::CounterFn>,
}

/// Counts the tokens of a text, if the backend can.
type CountFn = Arc<dyn Fn(&str) -> Option<usize> + Send + Sync>;

/// Counts tokens of request texts in each model's vocabulary.
#[derive(Clone)]
pub struct TokenCounts {
    /// The LLM (chat prompts); `count_tokens` is `None` for backends without a tokenizer.
    pub llm: Arc<dyn Llm>,
    /// The embedder (texts to embed), when it exposes its tokenizer.
    pub embedder: Option<TokenCounter>,
}

impl TokenCounts {
    /// Refuses `text` (the field `field`) if it has more than `cap` tokens by `count`
    /// (`None`: the backend cannot count, so its own limit applies). Counted off the
    /// async runtime: tokenizing a body of megabytes takes a while.
    async fn check(
        field: String,
        text: &str,
        cap: usize,
        setting: &str,
        count: CountFn,
    ) -> Result<(), ServerError> {
        // Every token of these vocabularies covers at least one byte (plus a few special
        // tokens), so a short text cannot exceed the cap.
        if text.len() + 8 <= cap {
            return Ok(());
        }
        let owned = text.to_string();
        let counted = tokio::task::spawn_blocking(move || count(&owned))
            .await
            .map_err(|e| {
                ServerError::new(ErrorType::Backend, format!("token count failed: {e}"))
            })?;
        match counted {
            Some(n) if n > cap => Err(ServerError::invalid(
                &field,
                format!(
                    "is {n} tokens long, more than this server's {setting} ({cap}); shorten it"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checks a chat prompt against `max_chat_input_tokens`.
    pub async fn check_chat(&self, text: &str, cap: usize) -> Result<(), ServerError> {
        let llm = self.llm.clone();
        let count = Arc::new(move |t: &str| llm.count_tokens(t));
        Self::check("messages".into(), text, cap, "max_chat_input_tokens", count).await
    }

    /// Checks texts to embed (named `field[i]`, or `field` for one) against
    /// `max_text_input_tokens`.
    pub async fn check_texts(
        &self,
        field: &str,
        texts: &[String],
        cap: usize,
    ) -> Result<(), ServerError> {
        let Some(counter) = self.embedder.clone() else {
            return Ok(());
        };
        let count = Arc::new(move |t: &str| Some(counter(t)));
        for (i, t) in texts.iter().enumerate() {
            let name = if texts.len() == 1 && field == "text" {
                field.to_string()
            } else {
                format!("{field}[{i}]")
            };
            Self::check(name, t, cap, "max_text_input_tokens", count.clone()).await?;
        }
        Ok(())
    }
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
    /// The prompt optimizer and the feedback log, when configured.
    pub optimizer: Arc<OptimizerState>,
}

/// What the server holds for the optimizer routes; each part may be absent.
#[derive(Default)]
pub struct OptimizerState {
    /// The loaded optimizer (with the surrogate that ranks measured variants).
    pub optimizer: Option<Arc<Optimizer>>,
    /// Where it was loaded from.
    pub dir: Option<PathBuf>,
    /// The feedback log.
    pub feedback: Option<Arc<FeedbackLog>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::ApiKey;
    use crate::http::handlers::{method_not_allowed, not_found};
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::middleware::from_fn_with_state;
    use axum::routing::{get, post};
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
                Arc::new(ApiKey::new(k)),
                auth::require_api_key,
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
}
