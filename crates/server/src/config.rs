//! Settings of the HTTP server, defined once: the flags and environment variables of
//! `vec2prompt serve` override the `server:` section of `config.yaml`, which overrides the
//! defaults written here.

use crate::api::RateLimitTier;
use std::path::PathBuf;
use vec2prompt_core::Secret;

vec2prompt_core::settings! {
    /// The server's settings (`server:` in `config.yaml`, the flags of `vec2prompt serve`):
    /// everything the server needs to know besides its models.
    pub struct ServerSettings => ServerConfig {
        /// Address to bind (e.g. 127.0.0.1, or 0.0.0.0 for every interface)
        /// [default: 127.0.0.1].
        #[clap(long, env = "VEC2PROMPT_HOST")]
        host: String = "127.0.0.1".to_string(),
        /// Port to bind; 0 picks a free one (the chosen address is printed) [default: 8080].
        #[clap(long, env = "VEC2PROMPT_PORT")]
        port: u16 = 8080,
        /// Most embeddings (or texts) one request may carry [default: 100].
        #[clap(long, env = "VEC2PROMPT_MAX_BATCH_ITEMS")]
        max_batch_items: usize = 100,
        /// Largest accepted request body in bytes, 413 above [default: 2097152].
        #[clap(long, env = "VEC2PROMPT_MAX_BODY_BYTES")]
        max_body_bytes: usize = 2 * 1024 * 1024,
        /// Requests admitted at once (queued or running on the model worker); more get 429
        /// [default: 64].
        #[clap(long, env = "VEC2PROMPT_QUEUE_CAPACITY")]
        queue_capacity: usize = 64,
        /// Most queued jobs the worker drains and runs together (they share forward
        /// passes) [default: 32].
        #[clap(long, env = "VEC2PROMPT_WORKER_BATCH")]
        worker_batch: usize = 32,
        /// LLM calls per target when a request gives no `options.budget`; 0 is fast mode
        /// [default: 0].
        #[clap(long, env = "VEC2PROMPT_DEFAULT_BUDGET")]
        default_budget: usize = 0,
        /// Most LLM calls per target a request may ask for [default: 64].
        #[clap(long, env = "VEC2PROMPT_MAX_BUDGET")]
        max_budget: usize = 64,
        /// Most work one generation request may ask of the model worker, counted per
        /// target as its returned variants, its LLM calls (budget) and the answers that
        /// measure its quality; a request over it is refused with 422 before it is
        /// queued, so no single request holds the model for minutes. 20 interpolation
        /// steps × 4 variants at budget 16 with quality (420) and 100 batch targets at
        /// budget 4 (500) fit [default: 512].
        #[clap(long, env = "VEC2PROMPT_MAX_REQUEST_WORK")]
        max_request_work: usize = 512,
        /// Rate-limit tier of /generate_prompts_parallel when a request gives none
        /// (tier_1 … tier_5) [default: tier_1].
        #[clap(long, env = "VEC2PROMPT_RATE_LIMIT_TIER")]
        rate_limit_tier: RateLimitTier = RateLimitTier::Tier1,
        /// Most tokens a chat completion may ask for [default: 512].
        #[clap(long, env = "VEC2PROMPT_MAX_TOKENS")]
        max_tokens: usize = 512,
        /// Most tokens of a chat completion's prompt (its user text, in the LLM's
        /// vocabulary); longer prompts are refused with 422 before they are queued
        /// [default: 2048].
        #[clap(long, env = "VEC2PROMPT_MAX_CHAT_INPUT_TOKENS")]
        max_chat_input_tokens: usize = 2048,
        /// Most tokens of one text to embed (/v1/embeddings inputs, the text of
        /// /generate_prompt_from_text), in the embedder's vocabulary; longer texts are
        /// refused with 422 rather than silently truncated by the embedder [default: 4096].
        #[clap(long, env = "VEC2PROMPT_MAX_TEXT_INPUT_TOKENS")]
        max_text_input_tokens: usize = 4096,
        /// Most connections open at once; one more is answered 503 and closed
        /// [default: 512].
        #[clap(long, env = "VEC2PROMPT_MAX_CONNECTIONS")]
        max_connections: usize = 512,
        /// Milliseconds a client has to send a request's header, from connecting or from
        /// the previous response, so it is also the idle keep-alive timeout
        /// [default: 10000].
        #[clap(long, env = "VEC2PROMPT_HEADER_TIMEOUT_MS")]
        header_timeout_ms: u64 = 10_000,
        /// Milliseconds a client has to send a request's whole body, 408 after
        /// [default: 30000].
        #[clap(long, env = "VEC2PROMPT_BODY_TIMEOUT_MS")]
        body_timeout_ms: u64 = 30_000,
        /// Milliseconds requests in flight may run after SIGTERM or Ctrl-C before the
        /// server exits anyway [default: 30000].
        #[clap(long, env = "VEC2PROMPT_SHUTDOWN_TIMEOUT_MS")]
        shutdown_timeout_ms: u64 = 30_000,
    }
    optional {
        /// Bearer token required on every route but /health [default: none, no auth].
        #[clap(long, env = "VEC2PROMPT_API_KEY", hide_env_values = true)]
        api_key: Secret,
        /// File holding the bearer token (instead of --api-key).
        #[clap(long, env = "VEC2PROMPT_API_KEY_FILE")]
        api_key_file: PathBuf,
        /// Most model requests (every POST route) admitted per minute, over a sliding
        /// 60-second window, like a hosted API's rate limit; one more gets 429
        /// `overloaded` with a `Retry-After` of the seconds until one fits
        /// [default: none, no limit].
        #[clap(long, env = "VEC2PROMPT_REQUESTS_PER_MINUTE")]
        requests_per_minute: u32,
        /// Search wall-time limit in milliseconds when a request gives none [default: none].
        #[clap(long, env = "VEC2PROMPT_DEFAULT_MAX_WALL_MS")]
        default_max_wall_ms: u64,
        /// Ingested dataset (`vec2prompt ingest`) whose train prompts are the candidates
        /// [default: $VEC2PROMPT_HOME/datasets/alpaca]; read by the command that builds
        /// the searcher, not by the server.
        #[clap(long, env = "VEC2PROMPT_DATASET")]
        dataset: PathBuf,
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
            ("max_request_work", self.max_request_work),
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
        if self.requests_per_minute == Some(0) {
            return Err("requests_per_minute must be at least 1".into());
        }
        if self.default_budget > self.max_budget {
            return Err(format!(
                "default_budget ({}) is more than max_budget ({})",
                self.default_budget, self.max_budget
            ));
        }
        if self
            .api_key
            .as_ref()
            .is_some_and(|k| k.expose().trim().is_empty())
        {
            return Err("api_key is empty; leave it out to disable auth".into());
        }
        Ok(())
    }
}
