//! Bearer-token auth: with an API key configured, every route but `/health` needs
//! `Authorization: Bearer <key>`.

use crate::error::{ErrorType, ServerError};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The SHA-256 of the API key: comparing digests in constant time hides both the key's
/// content and its length from timing.
pub struct ApiKey([u8; 32]);

impl ApiKey {
    /// The digest of `key`.
    pub fn new(key: &str) -> Self {
        Self(digest(key))
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Middleware: answers 401 unless the request carries the key.
pub async fn require_api_key(State(key): State<Arc<ApiKey>>, req: Request, next: Next) -> Response {
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
