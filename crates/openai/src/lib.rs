//! OpenAI-compatible HTTP backends: [`OpenAiEmbedder`] (`POST /embeddings`) and
//! [`OpenAiLlm`] (`POST /chat/completions`), interchangeable with the local backends
//! through the core [`Embedder`](vec2prompt_core::Embedder) and
//! [`Llm`](vec2prompt_core::Llm) traits.
//!
//! Every outbound request of a process goes through one [`RateLimiter`] (requests per
//! minute and per day, tokens per minute, requests in flight; the named [`TIERS`] or custom
//! [`RateLimits`]) and one [`RetryPolicy`] (exponential backoff with jitter, `Retry-After`,
//! bounded attempts and time). Share them:
//!
//! ```no_run
//! use std::sync::Arc;
//! use vec2prompt_openai::{OpenAiEmbedder, OpenAiLlm, RateLimiter, RateLimits, RemoteConfig, RetryPolicy};
//!
//! # fn main() -> vec2prompt_core::Result<()> {
//! let limiter = Arc::new(RateLimiter::new(RateLimits::tier("tier_1")?));
//! let mut embed = RemoteConfig::new("https://api.openai.com/v1", "text-embedding-3-small");
//! embed.api_key = std::env::var("OPENAI_API_KEY").ok();
//! embed.dimensions = Some(384);
//! let mut chat = RemoteConfig::new("https://api.openai.com/v1", "gpt-4o-mini");
//! chat.api_key = embed.api_key.clone();
//! let embedder = OpenAiEmbedder::new(embed, Arc::clone(&limiter), RetryPolicy::default())?;
//! let llm = OpenAiLlm::new(chat, Arc::clone(&limiter), RetryPolicy::default())?;
//! # Ok(()) }
//! ```
//!
//! API keys travel only in the `Authorization` header: they are not serialized, not shown
//! by `Debug`, and blanked out of any server message quoted in an error.

#![warn(missing_docs)]

pub mod config;
pub mod duration;
pub mod embedder;
pub mod limiter;
pub mod limits;
pub mod llm;
pub mod pool;
pub mod retry;
mod transport;

pub use config::RemoteConfig;
pub use embedder::OpenAiEmbedder;
pub use limiter::{LimiterStats, Permit, RateLimiter, estimate_tokens};
pub use limits::{RateLimits, TIERS};
pub use llm::OpenAiLlm;
pub use retry::{Outcome, RetryPolicy, Transient, parse_retry_after};
