//! Errors of the HTTP API, in layers (as in text-embeddings-inference): a backend or
//! validation error ([`vec2prompt_core::Error`]) or a queue error ([`crate::queue::InferError`])
//! becomes a [`ServerError`], which leaves the server as an [`ErrorResponse`] with the status
//! code of its [`ErrorType`]. Every failure a client can cause is a 4xx with a JSON body in
//! this one shape; 5xx only ever means a backend or the worker failed.

use crate::queue::InferError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Category of an API error; each maps to exactly one HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// 400: the body is not valid JSON, or a parameter asks for something the server does
    /// not offer (e.g. `dimensions` other than the model's).
    InvalidRequest,
    /// 401: the API key is missing or wrong.
    Unauthorized,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request body did not arrive within the server's `body_timeout_ms`.
    RequestTimeout,
    /// 413: the body is larger than `max_body_bytes`.
    PayloadTooLarge,
    /// 414: the request line's URI is longer than the server reads.
    UriTooLong,
    /// 415: the body is not declared as `application/json`.
    UnsupportedMediaType,
    /// 431: the request's headers are larger than the server reads.
    HeadersTooLarge,
    /// 422: a field is missing, has the wrong type, or has an invalid value (wrong
    /// dimension, NaN, empty list, too many items, …).
    InvalidInput,
    /// 429: the request queue is full; retry later.
    Overloaded,
    /// 502: a model backend failed while serving a valid request.
    Backend,
    /// 503: the model worker is not running (shutting down or crashed).
    Unavailable,
}

impl ErrorType {
    /// The snake-case name used in `error_type`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::NotFound => "not_found",
            ErrorType::MethodNotAllowed => "method_not_allowed",
            ErrorType::RequestTimeout => "request_timeout",
            ErrorType::PayloadTooLarge => "payload_too_large",
            ErrorType::UriTooLong => "uri_too_long",
            ErrorType::HeadersTooLarge => "headers_too_large",
            ErrorType::UnsupportedMediaType => "unsupported_media_type",
            ErrorType::InvalidInput => "invalid_input",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Backend => "backend",
            ErrorType::Unavailable => "unavailable",
        }
    }
}

impl From<&ErrorType> for StatusCode {
    fn from(t: &ErrorType) -> Self {
        match t {
            ErrorType::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorType::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorType::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::Backend => StatusCode::BAD_GATEWAY,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl ErrorType {
    /// Every error type, in status order.
    pub const ALL: [ErrorType; 13] = [
        ErrorType::InvalidRequest,
        ErrorType::Unauthorized,
        ErrorType::NotFound,
        ErrorType::MethodNotAllowed,
        ErrorType::RequestTimeout,
        ErrorType::PayloadTooLarge,
        ErrorType::UriTooLong,
        ErrorType::UnsupportedMediaType,
        ErrorType::InvalidInput,
        ErrorType::HeadersTooLarge,
        ErrorType::Overloaded,
        ErrorType::Backend,
        ErrorType::Unavailable,
    ];

    /// The type whose status is `status`; other client errors are `invalid_request` and
    /// other server errors `backend` (so an error of any origin gets a category).
    pub fn from_status(status: StatusCode) -> ErrorType {
        Self::ALL
            .into_iter()
            .find(|t| StatusCode::from(t) == status)
            .unwrap_or(if status.is_server_error() {
                ErrorType::Backend
            } else {
                ErrorType::InvalidRequest
            })
    }
}

/// Seconds a client is told to wait (`Retry-After`) after 429 or 503: the queue and the
/// connection slots free up as soon as one request finishes, which on this server is
/// typically well under a second to a few seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong, naming the field involved and, where possible, what to do.
    pub error: String,
    /// The error's category (see the status codes above).
    pub error_type: ErrorType,
}

/// An error on its way out of a handler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ServerError {
    /// The category, which decides the status code.
    pub error_type: ErrorType,
    /// The message for the client.
    pub message: String,
}

impl ServerError {
    /// An error of `error_type` saying `message`.
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    /// A 422 about `field`.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorType::InvalidInput,
            format!("invalid {field}: {reason}"),
        )
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        StatusCode::from(&self.error_type)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: self.message.clone(),
            error_type: self.error_type,
        }
    }
}

impl From<vec2prompt_core::Error> for ServerError {
    fn from(e: vec2prompt_core::Error) -> Self {
        use vec2prompt_core::ErrorType as Core;
        let error_type = match e.error_type() {
            Core::InvalidInput => ErrorType::InvalidInput,
            // A model or file problem while serving is the backend's failure, not the
            // client's.
            Core::Model | Core::Backend | Core::Io => ErrorType::Backend,
        };
        Self::new(error_type, e.to_string())
    }
}

impl From<InferError> for ServerError {
    fn from(e: InferError) -> Self {
        let t = match e {
            InferError::Overloaded(_) => ErrorType::Overloaded,
            InferError::Unavailable => ErrorType::Unavailable,
        };
        ServerError::new(t, e.to_string())
    }
}

impl From<JsonRejection> for ServerError {
    fn from(r: JsonRejection) -> Self {
        let error_type = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorType::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorType::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorType::InvalidInput,
            _ => ErrorType::InvalidRequest,
        };
        let message = match error_type {
            ErrorType::PayloadTooLarge => {
                "the request body is larger than the server's max_body_bytes".to_string()
            }
            ErrorType::UnsupportedMediaType => {
                "send the body as JSON with `Content-Type: application/json`".to_string()
            }
            _ => r.body_text(),
        };
        Self::new(error_type, message)
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if matches!(
            self.error_type,
            ErrorType::Overloaded | ErrorType::Unavailable
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_core::Error;

    #[test]
    fn every_error_type_has_its_status_and_name() {
        let cases = [
            (ErrorType::InvalidRequest, 400, "invalid_request"),
            (ErrorType::Unauthorized, 401, "unauthorized"),
            (ErrorType::NotFound, 404, "not_found"),
            (ErrorType::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorType::RequestTimeout, 408, "request_timeout"),
            (ErrorType::PayloadTooLarge, 413, "payload_too_large"),
            (ErrorType::UriTooLong, 414, "uri_too_long"),
            (ErrorType::HeadersTooLarge, 431, "headers_too_large"),
            (
                ErrorType::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ErrorType::InvalidInput, 422, "invalid_input"),
            (ErrorType::Overloaded, 429, "overloaded"),
            (ErrorType::Backend, 502, "backend"),
            (ErrorType::Unavailable, 503, "unavailable"),
        ];
        for (t, code, name) in cases {
            assert_eq!(StatusCode::from(&t).as_u16(), code, "{t:?}");
            assert_eq!(t.as_str(), name);
            // The serialized name is the same one.
            assert_eq!(serde_json::to_value(t).unwrap(), name);
            assert_eq!(ErrorType::from_status(StatusCode::from(&t)), t);
        }
        assert_eq!(cases.len(), ErrorType::ALL.len());
        assert_eq!(
            ErrorType::from_status(StatusCode::IM_A_TEAPOT),
            ErrorType::InvalidRequest
        );
        assert_eq!(
            ErrorType::from_status(StatusCode::INTERNAL_SERVER_ERROR),
            ErrorType::Backend
        );
    }

    #[test]
    fn core_errors_map_to_client_or_backend_errors() {
        let e = ServerError::from(Error::invalid("target_embedding", "has 3 dimensions"));
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message.contains("target_embedding"), "{}", e.message);
        let e = ServerError::from(Error::backend("local GGUF LLM", "out of memory"));
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(e.error_type, ErrorType::Backend);
        let e = ServerError::from(Error::model("/m.gguf", "truncated", "fetch again"));
        assert_eq!(e.error_type, ErrorType::Backend);
        let e = ServerError::from(Error::io("/x", std::io::Error::other("disk on fire")));
        assert_eq!(e.error_type, ErrorType::Backend);
    }

    #[test]
    fn overload_and_unavailable_say_when_to_retry() {
        for (t, retry) in [
            (ErrorType::Overloaded, true),
            (ErrorType::Unavailable, true),
            (ErrorType::InvalidInput, false),
        ] {
            let r = ServerError::new(t, "x").into_response();
            assert_eq!(
                r.headers().get(header::RETRY_AFTER).is_some(),
                retry,
                "{t:?}"
            );
        }
    }

    #[test]
    fn body_is_error_and_error_type() {
        let v =
            serde_json::to_value(ServerError::invalid("embeddings", "is empty").body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "invalid embeddings: is empty", "error_type": "invalid_input"})
        );
    }
}
