//! [`Endpoint`]: one JSON POST under the shared limiter and retry policy, with every HTTP
//! outcome classified as done, transient or permanent.

use crate::retry::{Outcome, Transient, parse_retry_after};
use crate::{RateLimiter, RemoteConfig, RetryPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::SystemTime;
use vec2prompt_core::{Error, Result};

/// Largest response body read (an embeddings batch of 2048 × 3072 floats as JSON is ~130 MB).
const MAX_BODY_BYTES: u64 = 512 << 20;

/// Longest server error message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// A configured OpenAI-compatible service: HTTP agent, auth, limiter and retry policy.
pub(crate) struct Endpoint {
    /// Connection pool with the per-attempt timeout.
    agent: ureq::Agent,
    /// Where and what.
    config: RemoteConfig,
    /// Shared budget.
    limiter: Arc<RateLimiter>,
    /// Shared retry rules.
    retry: RetryPolicy,
    /// Name used in errors, e.g. `OpenAI-compatible embeddings at http://h/v1 (model m)`.
    backend: String,
}

/// What a request sends and how its response reports usage.
pub(crate) struct Call<'a, Req> {
    /// Path under the base URL, e.g. `/embeddings`.
    pub path: &'a str,
    /// The JSON body.
    pub body: &'a Req,
    /// Tokens charged to the limiter before the response says what was used.
    pub estimated_tokens: u64,
    /// Name of the caller's input, for errors the server blames on it (`texts`, `prompts`).
    pub input: &'a str,
}

impl Endpoint {
    /// An endpoint for `config`, called `kind` (e.g. `embeddings`) in errors.
    pub fn new(
        kind: &str,
        config: RemoteConfig,
        limiter: Arc<RateLimiter>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        config.validate()?;
        retry.validate()?;
        limiter.limits().validate()?;
        let pool = limiter.limits().max_concurrent.unwrap_or(8).max(8);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(pool)
            .max_idle_connections(pool)
            .user_agent(concat!("vec2prompt/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let backend = format!(
            "OpenAI-compatible {kind} at {} (model {})",
            config.base_url.trim().trim_end_matches('/'),
            config.model
        );
        Ok(Self {
            agent,
            config,
            limiter,
            retry,
            backend,
        })
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The name used in errors.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// POSTs `call.body` as JSON and parses the response as `Resp`, retrying transient
    /// failures. `usage` reads the tokens a response reports, which replace the estimate
    /// in the limiter's minute window.
    pub fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        call: Call<'_, Req>,
        usage: impl Fn(&Resp) -> Option<u64>,
    ) -> Result<Resp> {
        let body = serde_json::to_vec(call.body)
            .map_err(|e| Error::backend(&self.backend, format!("cannot encode request: {e}")))?;
        let url = self.config.url(call.path);
        self.retry.run(&self.backend, &self.limiter, |_attempt| {
            let permit = self.limiter.acquire(call.estimated_tokens);
            match self.attempt::<Resp>(&url, &body, call.input) {
                Outcome::Done(response) => {
                    permit.record_usage(usage(&response).unwrap_or(call.estimated_tokens));
                    Outcome::Done(response)
                }
                other => other,
            }
        })
    }

    /// One HTTP exchange, classified.
    fn attempt<Resp: DeserializeOwned>(
        &self,
        url: &str,
        body: &[u8],
        input: &str,
    ) -> Outcome<Resp> {
        let mut request = self
            .agent
            .post(url)
            .header("content-type", "application/json");
        if let Some(key) = &self.config.api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(e) => return self.transport_failure(e, "sending the request"),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = parse_retry_after(
            header("retry-after-ms").as_deref(),
            header("retry-after").as_deref(),
            SystemTime::now(),
        );
        let text = match response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
        {
            Ok(text) => text,
            Err(e) => return self.transport_failure(e, "reading the response"),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_str::<Resp>(&text) {
                Ok(parsed) => Outcome::Done(parsed),
                Err(e) => Outcome::Retry(Transient::new(format!(
                    "malformed JSON response (HTTP {status}): {e}"
                ))),
            };
        }
        let message = self.redact(&server_message(&text));
        let described = format!("HTTP {status}{}", describe(status, &message));
        match status {
            // OpenAI answers 429 also when the account's credit is spent: waiting won't help.
            429 if text.contains("insufficient_quota") => Outcome::Fail(Error::backend(
                &self.backend,
                format!("{described} (the account's quota is used up)"),
            )),
            408 | 429 | 500..=599 => Outcome::Retry(Transient {
                reason: described,
                retry_after,
            }),
            400 | 413 | 422 => Outcome::Fail(Error::invalid(
                input,
                format!("{} rejected the request with {described}", self.backend),
            )),
            401 | 403 => Outcome::Fail(Error::backend(
                &self.backend,
                format!("{described} (check the API key)"),
            )),
            _ => Outcome::Fail(Error::backend(&self.backend, described)),
        }
    }

    /// Classifies a failure below HTTP status level: timeouts and connection trouble are
    /// transient; configuration errors (bad URL, TLS setup) are not.
    fn transport_failure<T>(&self, error: ureq::Error, during: &str) -> Outcome<T> {
        let reason = self.redact(&error.to_string());
        match error {
            ureq::Error::Timeout(_) => Outcome::Retry(Transient::new(format!(
                "timed out after {:?} while {during}",
                self.config.timeout
            ))),
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_) => Outcome::Retry(Transient::new(format!(
                "connection error while {during}: {reason}"
            ))),
            _ => Outcome::Fail(Error::backend(
                &self.backend,
                format!("error while {during}: {reason}"),
            )),
        }
    }

    /// `text` with the API key (should a server echo it) blanked out.
    fn redact(&self, text: &str) -> String {
        match &self.config.api_key {
            Some(key) if !key.is_empty() => text.replace(key.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

/// `: message` for a status, or nothing when the server sent no message.
fn describe(status: u16, message: &str) -> String {
    let reason = match status {
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        408 => " Request Timeout",
        413 => " Payload Too Large",
        422 => " Unprocessable Entity",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    };
    if message.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}: {message}")
    }
}

/// The human message of an error body: OpenAI's `{"error": {"message": …}}`,
/// text-embeddings-inference's `{"error": "…"}`, or the start of whatever was sent.
fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            error
                .get("message")
                .and_then(|m| m.as_str())
                .or_else(|| error.as_str())
                .map(str::to_string)
        });
    let message = from_json.unwrap_or_else(|| body.trim().to_string());
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_extracted_and_bounded() {
        assert_eq!(
            server_message(r#"{"error": {"message": "model not found", "type": "x"}}"#),
            "model not found"
        );
        assert_eq!(
            server_message(r#"{"error": "too long", "error_type": "validation"}"#),
            "too long"
        );
        assert_eq!(server_message("  plain text \n"), "plain text");
        let long = "x".repeat(1000);
        assert_eq!(server_message(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(describe(429, ""), " Too Many Requests");
        assert_eq!(describe(418, "teapot"), ": teapot");
    }
}
