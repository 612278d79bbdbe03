"""Checks shared by the local engine and the HTTP client: targets, texts and options."""

from __future__ import annotations

import math
import operator
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import InvalidInputError

__all__ = ["as_targets", "as_texts", "check_count", "check_margin", "check_seed", "check_seconds", "F32_MAX"]

F32_MAX = float(np.finfo(np.float32).max)

Texts = Union[str, Sequence[str]]


def as_targets(x: Any, dimension: Optional[int]) -> Tuple[np.ndarray, bool]:
    """Target vector(s) as a C-contiguous little-endian float32 matrix, one row each.

    Returns the matrix and whether the input was a single 1-D vector. ``dimension``
    None skips the dimension check (the server checks it). Raises
    :class:`InvalidInputError` for anything a search cannot take.
    """
    if isinstance(x, (str, bytes)):
        raise InvalidInputError(
            "expected a target vector (1-D) or a matrix of them (2-D), got text; "
            "use generate_from_text for text targets",
            "invalid_input",
        )
    try:
        src = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f"target vectors must be numbers in a 1-D vector or a 2-D matrix of equal rows: {e}",
            "invalid_input",
        ) from None
    if src.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"target vectors must be real numbers, got non-numeric values (dtype {src.dtype})",
            "invalid_input",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        arr = src.astype("<f4", copy=False)
    if arr.ndim not in (1, 2):
        got = "a scalar" if arr.ndim == 0 else f"a {arr.ndim}-D array of shape {arr.shape}"
        raise InvalidInputError(
            f"expected a target vector (1-D) or a matrix of target vectors (2-D), got {got}",
            "invalid_input",
        )
    single = arr.ndim == 1
    if arr.size == 0:
        what = "the target vector is empty" if single else f"the target matrix is empty (shape {arr.shape})"
        raise InvalidInputError(what, "invalid_input")
    rows = arr.reshape(1, -1) if single else arr
    if dimension is not None and rows.shape[1] != dimension:
        got = f"{rows.shape[1]}" if single else f"{rows.shape[1]} (shape {arr.shape})"
        raise InvalidInputError(
            f"wrong dimension: expected {dimension} components per vector (the embedder's), got {got}",
            "invalid_input",
        )
    limit = F32_MAX / math.sqrt(rows.shape[1])
    finite = np.isfinite(rows).all(axis=1)
    nonzero = (rows != 0).any(axis=1)
    in_range = (np.abs(np.where(np.isfinite(rows), rows, 0)) <= limit).all(axis=1)
    bad = np.flatnonzero(~(finite & nonzero & in_range))
    if bad.size:
        i = int(bad[0])
        where = "the target vector" if single else f"row {i} of the target matrix"
        if not finite[i]:
            if np.isfinite(src.reshape(rows.shape)[i]).all():
                raise InvalidInputError(f"{where} has values beyond the 32-bit float range", "invalid_input")
            raise InvalidInputError(f"{where} contains NaN or infinite values", "invalid_input")
        if not nonzero[i]:
            raise InvalidInputError(f"{where} is all zeros and cannot be normalized", "invalid_input")
        raise InvalidInputError(
            f"{where} has a component beyond ±{limit:.3g} (its length would overflow a 32-bit float)",
            "invalid_input",
        )
    return np.ascontiguousarray(rows), single


def as_texts(x: Texts, what: str = "texts") -> Tuple[List[str], bool]:
    """Texts as a list, and whether the input was a single string."""
    if isinstance(x, str):
        return [x], True
    if isinstance(x, (bytes, np.ndarray)) or not isinstance(x, Sequence):
        raise InvalidInputError(
            f"{what} must be a string or a list of strings, got {type(x).__name__}", "invalid_input"
        )
    items = list(x)
    if not items:
        raise InvalidInputError(f"{what}: the list is empty", "invalid_input")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise InvalidInputError(f"{what}: item {i} is a {type(t).__name__}, not a string", "invalid_input")
    return items, False


def check_count(name: str, value: Any, minimum: int = 0) -> int:
    """A non-negative (or at least ``minimum``) integer option."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}", "invalid_input")
    try:
        n = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}", "invalid_input") from None
    if n < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {n}", "invalid_input")
    return n


def check_seed(value: Any, unsigned: bool) -> int:
    """A seed: any 64-bit integer, signed or not, as its unsigned (native) or signed (HTTP)
    form; both name the same 64 bits, so a seed gives the same search either way."""
    if isinstance(value, bool):
        raise InvalidInputError(f"seed must be an integer, got {value!r}", "invalid_input")
    try:
        n = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"seed must be an integer, got {value!r}", "invalid_input") from None
    if not -(2**63) <= n < 2**64:
        raise InvalidInputError(f"seed must fit 64 bits, got {n}", "invalid_input")
    if unsigned:
        return n % 2**64
    return n - 2**64 if n >= 2**63 else n


def check_margin(value: Any) -> Optional[float]:
    """An optional content margin: a number in [0, 2] (None: the default)."""
    if value is None:
        return None
    try:
        m = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"content_margin must be a number, got {value!r}", "invalid_input") from None
    if isinstance(value, bool) or not (math.isfinite(m) and 0.0 <= m <= 2.0):
        raise InvalidInputError(f"content_margin must be a number in [0, 2], got {value!r}", "invalid_input")
    return m


def check_seconds(value: Any) -> Optional[float]:
    """An optional positive, finite number of seconds."""
    if value is None:
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"max_seconds must be a number, got {value!r}", "invalid_input") from None
    if isinstance(value, bool) or not (math.isfinite(s) and s > 0):
        raise InvalidInputError(f"max_seconds must be a positive, finite number, got {value!r}", "invalid_input")
    return s


MAX_TARGET_EXAMPLES = 8


def check_optimize_target(
    target_text: Any, target_examples: Any, target_embedding: Any, dimension: Optional[int]
) -> Tuple[Optional[str], Optional[List[str]], Optional[np.ndarray]]:
    """The optimizer's target arguments, checked: at most one; a non-empty text; 1 to 8
    non-empty example answers; one finite, non-zero vector (of ``dimension`` when known).
    Raises :class:`InvalidInputError`."""
    given = [x is not None for x in (target_text, target_examples, target_embedding)]
    if sum(given) > 1:
        raise InvalidInputError(
            "give at most one of target_text, target_examples and target_embedding", "invalid_input"
        )
    if target_text is not None and (not isinstance(target_text, str) or not target_text.strip()):
        raise InvalidInputError("target_text must be a non-empty string", "invalid_input")
    examples: Optional[List[str]] = None
    if target_examples is not None:
        if isinstance(target_examples, str):
            raise InvalidInputError("target_examples must be a list of strings, got one string", "invalid_input")
        examples = list(target_examples)
        if not 1 <= len(examples) <= MAX_TARGET_EXAMPLES:
            raise InvalidInputError(
                f"target_examples has {len(examples)} examples; give 1 to {MAX_TARGET_EXAMPLES}", "invalid_input"
            )
        if not all(isinstance(e, str) and e.strip() for e in examples):
            raise InvalidInputError("every target example must be a non-empty string", "invalid_input")
    vector: Optional[np.ndarray] = None
    if target_embedding is not None:
        rows, single = as_targets(target_embedding, dimension)
        if not single:
            raise InvalidInputError("target_embedding must be one vector (1-D)", "invalid_input")
        vector = rows[0]
    return target_text, examples, vector
