//! [`OpenAiEmbedder`]: `POST {base_url}/embeddings` behind the [`Embedder`] trait.

use crate::limiter::estimate_tokens;
use crate::pool::{DEFAULT_WORKERS, parallel_map};
use crate::transport::{Call, Endpoint};
use crate::{RateLimiter, RemoteConfig, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vec2prompt_core::{Embedder, EmbedderInfo, Error, Pooling, Result};

/// Request body of `/embeddings`.
#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    /// Remote model id.
    model: &'a str,
    /// The batch.
    input: &'a [String],
    /// Always `float` (base64 would save bandwidth but not every server speaks it).
    encoding_format: &'static str,
    /// Requested vector length, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

/// Response body of `/embeddings`.
#[derive(Deserialize)]
struct EmbeddingsResponse {
    /// One item per input, in any order.
    data: Vec<EmbeddingItem>,
    /// Tokens billed, when reported.
    #[serde(default)]
    usage: Option<Usage>,
}

/// One vector of an embeddings response.
#[derive(Deserialize)]
struct EmbeddingItem {
    /// Position of its input in the request.
    index: usize,
    /// The vector.
    embedding: Vec<f32>,
}

/// `usage` of an embeddings response.
#[derive(Deserialize)]
struct Usage {
    /// Tokens of the inputs.
    #[serde(default)]
    prompt_tokens: Option<u64>,
    /// Tokens billed in all.
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// An embedder served by an OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM,
/// text-embeddings-inference, `vec2prompt serve`, …).
///
/// Inputs are split into requests of at most `max_batch` texts, sent concurrently (as many
/// at once as the limiter's `max_concurrent`, else 8) and reassembled by each item's
/// `index`. Vectors are returned exactly as the service sends them: they are *not* assumed
/// to be L2-normalized (OpenAI's are, others' may not be), so
/// [`EmbedderInfo::normalized`] is `false` and callers that need unit vectors normalize
/// themselves.
pub struct OpenAiEmbedder {
    /// HTTP, limiter, retries.
    endpoint: Endpoint,
    /// What the vectors are.
    info: EmbedderInfo,
}

impl OpenAiEmbedder {
    /// Connects to `config` sharing `limiter` and `retry`. When `config.dimensions` is
    /// `None`, one request embeds a probe text to learn the vector length.
    pub fn new(
        config: RemoteConfig,
        limiter: Arc<RateLimiter>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let endpoint = Endpoint::new("embeddings", config, limiter, retry)?;
        let config = endpoint.config();
        let mut info = EmbedderInfo {
            name: config.model.clone(),
            dimension: config.dimensions.unwrap_or(0),
            // Unknown for a remote model; reported as the most common mode.
            pooling: Pooling::Mean,
            normalized: false,
            max_tokens: config.context_length.unwrap_or(8192),
        };
        let mut embedder = Self {
            endpoint,
            info: info.clone(),
        };
        if info.dimension == 0 {
            let probe = embedder.request(&["dimension probe".to_string()])?;
            info.dimension = probe.first().map_or(0, Vec::len);
            if info.dimension == 0 {
                return Err(Error::backend(
                    embedder.endpoint.backend(),
                    "returned an empty vector",
                ));
            }
            embedder.info = info;
        }
        Ok(embedder)
    }

    /// One request for one batch, validated and in input order.
    fn request(&self, batch: &[String]) -> Result<Vec<Vec<f32>>> {
        let config = self.endpoint.config();
        let body = EmbeddingsRequest {
            model: &config.model,
            input: batch,
            encoding_format: "float",
            dimensions: config.dimensions,
        };
        let call = Call {
            path: "/embeddings",
            body: &body,
            estimated_tokens: batch.iter().map(|t| estimate_tokens(t)).sum(),
            input: "texts",
        };
        let response: EmbeddingsResponse = self.endpoint.post(call, |r: &EmbeddingsResponse| {
            r.usage
                .as_ref()
                .and_then(|u| u.total_tokens.or(u.prompt_tokens))
        })?;
        self.reorder(response.data, batch.len())
    }

    /// Places each item at its `index`, checking that every input got exactly one vector
    /// of the expected length.
    fn reorder(&self, data: Vec<EmbeddingItem>, expected: usize) -> Result<Vec<Vec<f32>>> {
        let backend = self.endpoint.backend();
        if data.len() != expected {
            return Err(Error::backend(
                backend,
                format!("returned {} vectors for {expected} inputs", data.len()),
            ));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in data {
            let want = self.info.dimension;
            if want != 0 && item.embedding.len() != want {
                return Err(Error::backend(
                    backend,
                    format!(
                        "returned a vector of length {} where {want} was expected",
                        item.embedding.len()
                    ),
                ));
            }
            match out.get_mut(item.index) {
                Some(slot @ None) => *slot = Some(item.embedding),
                Some(Some(_)) => {
                    return Err(Error::backend(
                        backend,
                        format!("returned index {} twice", item.index),
                    ));
                }
                None => {
                    return Err(Error::backend(
                        backend,
                        format!("returned index {} for {expected} inputs", item.index),
                    ));
                }
            }
        }
        // Every slot is filled: `expected` distinct in-range indices were seen.
        Ok(out.into_iter().flatten().collect())
    }
}

impl Embedder for OpenAiEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let batches: Vec<&[String]> = texts.chunks(self.endpoint.config().max_batch).collect();
        let workers = self
            .endpoint
            .limiter()
            .limits()
            .max_concurrent
            .unwrap_or(DEFAULT_WORKERS);
        let vectors = parallel_map(&batches, workers, |batch| self.request(batch))?;
        Ok(vectors.into_iter().flatten().collect())
    }
}
