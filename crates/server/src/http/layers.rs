//! Layers every request passes through, outside the routes:
//!
//! - [`read_body`]: the body must arrive within `body_timeout_ms` (408) and fit in
//!   `max_body_bytes` (413), so a client trickling a body cannot hold a connection, and
//!   handlers only ever see a complete body;
//! - [`request_rate`]: with `requests_per_minute`, the model routes admit that many
//!   requests in any 60 seconds and answer 429 with the wait in `Retry-After` beyond it;
//! - [`json_errors`]: any error response that is not already JSON (axum's own rejections,
//!   the Swagger UI's 404 under `/docs/`) gets the API's `{error, error_type}` body.

use crate::error::{ErrorType, ServerError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Limits of a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body in bytes.
    pub max_bytes: usize,
    /// Time allowed to receive the whole body.
    pub timeout: Duration,
}

/// Reads the whole body within the limits, then runs the request with it.
pub async fn read_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let collected = tokio::time::timeout(
        limits.timeout,
        Limited::new(body, limits.max_bytes).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return closing(ServerError::new(
                ErrorType::PayloadTooLarge,
                "the request body is larger than the server's max_body_bytes",
            ));
        }
        Ok(Err(e)) => {
            return closing(ServerError::new(
                ErrorType::InvalidRequest,
                format!("cannot read the request body: {e}"),
            ));
        }
        Err(_) => {
            return closing(ServerError::new(
                ErrorType::RequestTimeout,
                format!(
                    "the request body did not arrive within {} ms",
                    limits.timeout.as_millis()
                ),
            ));
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An error after which the connection is closed (the rest of the body is unread).
fn closing(e: ServerError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Gives every error response without a JSON body the API's error shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error_type = ErrorType::from_status(status);
    let message = match error_type {
        ErrorType::NotFound => format!("no route {path}; see /docs for the API"),
        ErrorType::MethodNotAllowed => format!("{method} is not allowed on {path}"),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
    };
    let mut rewritten = ServerError::new(error_type, message).into_response();
    // The status stays the original one even where no error type has it.
    *rewritten.status_mut() = status;
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            rewritten.headers_mut().insert(name, v.clone());
        }
    }
    rewritten
}

/// The requests admitted in the last minute, for [`request_rate`]: a sliding window, as a
/// hosted API counts, so a client that paces itself with the same rule is never refused.
#[derive(Debug)]
pub struct RequestWindow {
    limit: usize,
    admitted: Mutex<VecDeque<Instant>>,
}

impl RequestWindow {
    /// The window's length.
    pub const SPAN: Duration = Duration::from_secs(60);

    /// Admits `per_minute` requests in any 60 seconds.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limit: per_minute.max(1) as usize,
            admitted: Mutex::new(VecDeque::new()),
        }
    }

    /// Admits a request at `now`, or says how long until one fits.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut log = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        while log
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= Self::SPAN)
        {
            log.pop_front();
        }
        if log.len() < self.limit {
            log.push_back(now);
            return Ok(());
        }
        let oldest = log.front().copied().unwrap_or(now);
        Err((oldest + Self::SPAN).saturating_duration_since(now))
    }
}

/// Refuses a request beyond the window's limit with 429 `overloaded` and `Retry-After`
/// (whole seconds, at least 1) before it reaches the handler.
pub async fn request_rate(
    State(window): State<Arc<RequestWindow>>,
    req: Request,
    next: Next,
) -> Response {
    match window.admit(Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = ServerError::new(
                ErrorType::Overloaded,
                format!(
                    "more than {} requests in the last minute (the server's requests_per_minute); retry after {seconds} s",
                    window.limit
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn the_window_admits_the_limit_then_says_when_the_next_fits() {
        let w = RequestWindow::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(w.admit(t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = w.admit(t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(50),
            "the first leaves the window at 60 s"
        );
        assert!(w.admit(t0 + Duration::from_secs(60)).is_ok());
        assert!(w.admit(t0 + Duration::from_secs(60)).is_err());
    }
}
