"""Exceptions raised by vec2prompt, locally and over HTTP.

Every error is a :class:`Vec2PromptError` carrying the ``error_type`` of the native
library or of the HTTP API's ``{"error", "error_type"}`` body, and the HTTP ``status``
when it came from a server.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "Vec2PromptError",
    "InvalidInputError",
    "AuthenticationError",
    "NotFoundError",
    "ModelError",
    "BackendError",
    "IoError",
    "UnavailableError",
    "error_for",
]


class Vec2PromptError(Exception):
    """Base class of every vec2prompt error.

    Attributes
    ----------
    message : str
        What went wrong.
    error_type : str
        The machine-readable kind (``invalid_input``, ``backend``, ``unavailable``, ...).
    status : int or None
        The HTTP status when the error came from a server, else None.
    """

    def __init__(self, message: str, error_type: str = "error", status: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        status = "" if self.status is None else f", status={self.status}"
        return f"{type(self).__name__}({self.message!r}, error_type={self.error_type!r}{status})"


class InvalidInputError(Vec2PromptError, ValueError):
    """The request itself is wrong (shape, dimension, NaN, an option out of range...)."""


class AuthenticationError(Vec2PromptError):
    """The server needs an API key and none, or a wrong one, was sent (HTTP 401)."""


class NotFoundError(Vec2PromptError):
    """The server has no such route (HTTP 404), e.g. ``/optimize`` without an optimizer."""


class ModelError(Vec2PromptError):
    """A model could not be loaded or run."""


class BackendError(Vec2PromptError):
    """A model backend (local or OpenAI-compatible) failed on a valid request."""


class IoError(Vec2PromptError, OSError):
    """A file (model, dataset, home directory) could not be read or written."""


class UnavailableError(Vec2PromptError):
    """The engine or server cannot take the request now: not running, unreachable,
    overloaded (HTTP 429) or too slow. Retrying later may succeed."""


_BY_TYPE: Dict[str, Type[Vec2PromptError]] = {
    "invalid_input": InvalidInputError,
    "invalid_request": InvalidInputError,
    "payload_too_large": InvalidInputError,
    "unauthorized": AuthenticationError,
    "not_found": NotFoundError,
    "model": ModelError,
    "backend": BackendError,
    "io": IoError,
    "unavailable": UnavailableError,
    "overloaded": UnavailableError,
    "request_timeout": UnavailableError,
}

# The error_type a bare HTTP status stands for when its body is not a JSON error.
_TYPE_BY_STATUS: Dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "overloaded",
    502: "backend",
    503: "unavailable",
}


def error_for(message: str, error_type: Optional[str], status: Optional[int] = None) -> Vec2PromptError:
    """The exception for a message and its ``error_type`` (or, failing that, its HTTP status)."""
    if not error_type and status is not None:
        error_type = _TYPE_BY_STATUS.get(status, "http")
    error_type = error_type or "error"
    cls = _BY_TYPE.get(error_type, Vec2PromptError)
    return cls(message, error_type, status)


def from_native(exc: BaseException) -> Vec2PromptError:
    """Converts ``vec2prompt._native.Vec2PromptError`` (args ``(message, error_type)``)."""
    args = exc.args
    message = str(args[0]) if args else str(exc)
    error_type = str(args[1]) if len(args) > 1 else "error"
    return error_for(message, error_type)
