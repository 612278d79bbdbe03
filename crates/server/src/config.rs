//! Settings of the HTTP server, resolved by the CLI from flags, environment and
//! `config.yaml` (`server:` section).

use crate::api::RateLimitTier;

/// Everything the server needs to know besides its models.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind (e.g. `127.0.0.1`, or `0.0.0.0` for every interface).
    pub host: String,
    /// Port to bind; 0 picks a free one (the chosen address is printed).
    pub port: u16,
    /// Bearer token required on every route but `/health`; none disables auth.
    pub api_key: Option<String>,
    /// Most embeddings (or texts) one request may carry.
    pub max_batch_items: usize,
    /// Largest accepted request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Requests admitted at once (queued or running on the model worker); more get 429.
    pub queue_capacity: usize,
    /// Most queued jobs the worker drains and runs together (they share forward passes).
    pub worker_batch: usize,
    /// LLM calls per target when a request gives no `options.budget` (0 = fast mode).
    pub default_budget: usize,
    /// Most LLM calls per target a request may ask for.
    pub max_budget: usize,
    /// Search wall-time limit when a request gives none.
    pub default_max_wall_ms: Option<u64>,
    /// Rate-limit tier of `/generate_prompts_parallel` when a request gives none.
    pub rate_limit_tier: RateLimitTier,
    /// Most tokens a chat completion may ask for.
    pub max_tokens: usize,
    /// Most tokens of a chat completion's prompt (its user text, in the LLM's
    /// vocabulary); longer prompts are refused with 422 before they are queued.
    pub max_chat_input_tokens: usize,
    /// Most tokens of one text to embed (`/v1/embeddings` inputs, the text of
    /// `/generate_prompt_from_text`), in the embedder's vocabulary; longer texts are
    /// refused with 422 rather than silently truncated by the embedder.
    pub max_text_input_tokens: usize,
    /// Most connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's header, from connecting or from the
    /// previous response (so it is also the idle keep-alive timeout).
    pub header_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body (408 after).
    pub body_timeout_ms: u64,
    /// Milliseconds requests in flight may run after SIGTERM or Ctrl-C before the server
    /// exits anyway.
    pub shutdown_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_string(),
            port: 8080,
            api_key: None,
            max_batch_items: 100,
            max_body_bytes: 2 * 1024 * 1024,
            queue_capacity: 64,
            worker_batch: 32,
            default_budget: 0,
            max_budget: 64,
            default_max_wall_ms: None,
            rate_limit_tier: RateLimitTier::Tier1,
            max_tokens: 512,
            max_chat_input_tokens: 2048,
            max_text_input_tokens: 4096,
            max_connections: 512,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            shutdown_timeout_ms: 30_000,
        }
    }
}

impl ServerConfig {
    /// The limits of the connection loop.
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
            shutdown_timeout: std::time::Duration::from_millis(self.shutdown_timeout_ms),
        }
    }

    /// Rejects settings the server cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch_items == 0 {
            return Err("max_batch_items must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        if self.queue_capacity == 0 {
            return Err("queue_capacity must be at least 1".into());
        }
        if self.worker_batch == 0 {
            return Err("worker_batch must be at least 1".into());
        }
        if self.max_tokens == 0 {
            return Err("max_tokens must be at least 1".into());
        }
        for (name, value) in [
            ("max_chat_input_tokens", self.max_chat_input_tokens),
            ("max_text_input_tokens", self.max_text_input_tokens),
            ("max_connections", self.max_connections),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (name, value) in [
            ("header_timeout_ms", self.header_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
        ] {
            if value < 100 {
                return Err(format!("{name} must be at least 100"));
            }
        }
        if self.default_budget > self.max_budget {
            return Err(format!(
                "default_budget ({}) is more than max_budget ({})",
                self.default_budget, self.max_budget
            ));
        }
        if self.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err("api_key is empty; leave it out to disable auth".into());
        }
        Ok(())
    }
}
