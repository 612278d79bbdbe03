//! One error type for the whole workspace. Each variant says what went wrong, names the
//! file or argument involved and, where possible, what the user can do about it.

use std::path::PathBuf;
use std::sync::Arc;

/// Result alias used across vec2prompt's crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Coarse category of an [`Error`], stable enough to expose to API clients
/// (`error_type` in JSON error bodies) and to map onto HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The caller gave something invalid (argument, text, vector).
    InvalidInput,
    /// A model file is missing, truncated or not what it claims to be.
    Model,
    /// A backend failed while running a valid request.
    Backend,
    /// Reading or writing a file failed.
    Io,
}

impl ErrorType {
    /// Snake-case name used in JSON error bodies.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorType::InvalidInput => "invalid_input",
            ErrorType::Model => "model",
            ErrorType::Backend => "backend",
            ErrorType::Io => "io",
        }
    }
}

/// Errors reported by vec2prompt. `Clone`, so one failed batch call can answer each of
/// its requesters with the same error, category included.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// An argument or input value is invalid.
    #[error("invalid {argument}: {reason}")]
    InvalidInput {
        /// Name of the argument, flag or field (e.g. `--target-file`, `text`).
        argument: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A model file or directory cannot be used.
    #[error("model file {path}: {reason}. {hint}")]
    Model {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What the user can do (e.g. run `vec2prompt models fetch`).
        hint: String,
    },
    /// A backend failed while serving a valid request.
    #[error("{backend} failed: {reason}")]
    Backend {
        /// Which backend (e.g. `local GGUF LLM`).
        backend: String,
        /// Underlying reason.
        reason: String,
    },
    /// An I/O operation on a named path failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error (shared, since `std::io::Error` is not `Clone`).
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(argument: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            argument: argument.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Model`].
    pub fn model(
        path: impl Into<PathBuf>,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        let reason = without_backtrace(&reason.into());
        Error::Model {
            path: path.into(),
            reason,
            hint: hint.into(),
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(backend: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Backend {
            backend: backend.into(),
            reason: without_backtrace(&reason.to_string()),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// The category of this error.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::InvalidInput { .. } => ErrorType::InvalidInput,
            Error::Model { .. } => ErrorType::Model,
            Error::Backend { .. } => ErrorType::Backend,
            Error::Io { .. } => ErrorType::Io,
        }
    }
}

/// Drops a captured backtrace from an error message: candle appends one to its errors,
/// which helps its developers but buries the message a user needs.
pub fn without_backtrace(message: &str) -> String {
    match message.find("\n   0: ") {
        Some(i) => message[..i].trim_end().to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_are_stripped_from_messages() {
        let m = "bad shape\n   0: bt\n             at src/x.rs:1";
        assert_eq!(without_backtrace(m), "bad shape");
        assert_eq!(
            Error::backend("llm", m).to_string(),
            "llm failed: bad shape"
        );
        assert_eq!(without_backtrace("plain"), "plain");
    }

    #[test]
    fn clones_keep_category_and_message() {
        for e in [
            Error::invalid("x", "bad"),
            Error::model("/m", "truncated", "fetch it"),
            Error::backend("llm", "boom"),
            Error::io("/f", std::io::Error::other("gone")),
        ] {
            let c = e.clone();
            assert_eq!(c.error_type(), e.error_type());
            assert_eq!(c.to_string(), e.to_string());
        }
    }
}
