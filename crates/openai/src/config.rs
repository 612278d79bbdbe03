//! [`RemoteConfig`]: where an OpenAI-compatible service lives and what to ask it for.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vec2prompt_core::{Error, Result};

/// One OpenAI-compatible endpoint and model. Deserializable so a server's `config.yaml` can
/// embed it:
///
/// ```yaml
/// base_url: https://api.openai.com/v1
/// model: text-embedding-3-small
/// dimensions: 384
/// timeout: 30s
/// max_batch: 256
/// ```
///
/// The API key is never serialized and never printed by `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Base URL including the API version prefix, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:8080/v1`; `/embeddings` and `/chat/completions` are appended.
    pub base_url: String,
    /// Bearer token sent as `Authorization: Bearer …` when set.
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// Remote model id (`model` field of every request).
    pub model: String,
    /// Embeddings only: requested vector length (`dimensions` field); every returned vector
    /// is checked against it. `None` sends no `dimensions` and learns the length from one
    /// probe request when the embedder is created.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Time limit of one HTTP attempt (connect, send, wait, read the body); an attempt that
    /// runs past it is abandoned and retried under the [`RetryPolicy`](crate::RetryPolicy).
    #[serde(default = "default_timeout", with = "crate::duration")]
    pub timeout: Duration,
    /// Embeddings only: most inputs per request (OpenAI accepts up to 2048).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Longest context of the remote model in tokens, reported through `info()`; the remote
    /// service, not this client, enforces it. `None` reports 8192.
    #[serde(default)]
    pub context_length: Option<usize>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_batch() -> usize {
    128
}

impl RemoteConfig {
    /// A config for `model` at `base_url` with the defaults: no key, no `dimensions`,
    /// 60 s per attempt, 128 inputs per embeddings request.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            dimensions: None,
            timeout: default_timeout(),
            max_batch: default_max_batch(),
            context_length: None,
        }
    }

    /// Rejects values no request could be built from.
    pub fn validate(&self) -> Result<()> {
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::invalid(
                "base_url",
                format!("`{url}` must start with http:// or https://"),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(Error::invalid("model", "must not be empty"));
        }
        if self.dimensions == Some(0) {
            return Err(Error::invalid("dimensions", "must be at least 1"));
        }
        if self.timeout.is_zero() {
            return Err(Error::invalid("timeout", "must be longer than zero"));
        }
        if self.max_batch == 0 {
            return Err(Error::invalid("max_batch", "must be at least 1"));
        }
        Ok(())
    }

    /// `base_url` without trailing slashes, followed by `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim().trim_end_matches('/'))
    }
}

impl std::fmt::Debug for RemoteConfig {
    /// Like a derived `Debug`, but the key shows only whether one is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("dimensions", &self.dimensions)
            .field("timeout", &self.timeout)
            .field("max_batch", &self.max_batch)
            .field("context_length", &self.context_length)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_defaults_and_units() {
        let c: RemoteConfig = serde_json::from_str(
            r#"{"base_url": "http://h/v1/", "model": "m", "api_key": "sk-secret", "timeout": "250ms"}"#,
        )
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.max_batch, 128);
        assert_eq!(c.url("/embeddings"), "http://h/v1/embeddings");
        c.validate().unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("sk-secret"), "{json}");
    }

    #[test]
    fn invalid_values_are_named() {
        let mut c = RemoteConfig::new("ftp://h", "m");
        assert!(c.validate().unwrap_err().to_string().contains("base_url"));
        c.base_url = "http://h".into();
        c.max_batch = 0;
        assert!(c.validate().unwrap_err().to_string().contains("max_batch"));
    }
}
