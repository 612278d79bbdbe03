"""A client of ``vec2prompt serve``: the same methods and results as the local engine."""

from __future__ import annotations

import http.client
import json
import math
import socket
import urllib.error
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union, overload

import numpy as np

from ._types import OptimizeResult, Point, Result, Variant
from ._validate import (
    as_targets,
    as_texts,
    check_count,
    check_margin,
    check_optimize_target,
    check_seconds,
    check_seed,
)
from .errors import InvalidInputError, UnavailableError, Vec2PromptError, error_for

__all__ = ["Client"]

Vector = Union[np.ndarray, Sequence[float]]
Matrix = Union[np.ndarray, Sequence[Sequence[float]]]
End = Union[str, Vector]


def _similarity(measured: Any, predicted: Any) -> Optional[float]:
    """The measured value when there is one, else the predicted one."""
    value = measured if measured is not None else predicted
    return None if value is None else float(value)


def _variant(v: Mapping[str, Any]) -> Variant:
    sim = _similarity(v.get("similarity"), v.get("predicted_similarity"))
    return Variant(str(v["prompt"]), 0.0 if sim is None else sim, v.get("similarity") is not None, str(v["source"]))


def _result(prompt: str, m: Mapping[str, Any], variants: int) -> Result:
    sim = _similarity(m.get("similarity"), m.get("predicted_similarity"))
    return Result(
        prompt=prompt,
        similarity=0.0 if sim is None else sim,
        measured=m.get("similarity") is not None,
        llm_calls=int(m.get("llm_calls", 0)),
        method=str(m.get("method", "")),
        answer=m.get("answer"),
        variants=[_variant(v) for v in m.get("variants") or [] if v["prompt"] != prompt][:variants],
    )


def _point(p: Mapping[str, Any]) -> Point:
    sim = _similarity(p.get("similarity"), p.get("predicted_similarity"))
    to_start, to_end = p.get("similarity_to_start"), p.get("similarity_to_end")
    return Point(
        t=float(p["t"]),
        prompt=str(p["prompt"]),
        similarity=0.0 if sim is None else sim,
        measured=p.get("similarity") is not None,
        similarity_to_start=None if to_start is None else float(to_start),
        similarity_to_end=None if to_end is None else float(to_end),
        llm_calls=int(p.get("llm_calls", 0)),
    )


class Client:
    """A client of a ``vec2prompt serve`` HTTP API, with the methods of :class:`Vec2Prompt`.

    It checks targets before sending them (shape, NaN, all-zero rows); the server checks
    the dimension, so a wrong one is an :class:`InvalidInputError` with ``status`` 422.
    Errors carry the server's ``error_type`` and the HTTP ``status``; a server that
    cannot be reached is an :class:`UnavailableError`. Only the standard library is
    used; one Client can be shared by threads.

    Parameters
    ----------
    url : str
        The server's base URL, e.g. ``http://127.0.0.1:8080``.
    api_key : str, optional
        Sent as ``Authorization: Bearer <key>`` (servers started with ``--api-key``).
    timeout : float
        Seconds to wait for each HTTP request.
    """

    #: Largest list sent in one request (the server's default ``max_batch_items``);
    #: longer inputs are split into several requests.
    max_batch_items: int = 100

    def __init__(self, url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._api_key = api_key
        self._dimension: Optional[int] = None

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def _request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            raise self._http_error(e) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                msg = f"the vec2prompt server at {self.url} did not answer {path} within {self.timeout:g} s"
            else:
                msg = f"cannot reach the vec2prompt server at {self.url}: {reason}"
            raise UnavailableError(msg, "unavailable") from None
        return json.loads(payload)

    @staticmethod
    def _http_error(e: urllib.error.HTTPError) -> Vec2PromptError:
        try:
            body = json.loads(e.read())
        except (ValueError, OSError):
            body = None
        if isinstance(body, dict) and "error" in body:
            return error_for(str(body["error"]), body.get("error_type"), e.code)
        return error_for(f"HTTP {e.code} {e.reason}", None, e.code)

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("POST", path, body)

    def health(self) -> Dict[str, Any]:
        """The server's ``/health``: models, embedding dimension, dataset, queue, version.

        Returns
        -------
        dict
            The ``/health`` response.
        """
        h: Dict[str, Any] = self._request("GET", "/health")
        self._dimension = int(h["embedding_dimension"])
        return h

    @property
    def dimension(self) -> int:
        """The server's embedding dimension (from ``/health``, asked once)."""
        if self._dimension is None:
            self.health()
        assert self._dimension is not None
        return self._dimension

    @staticmethod
    def _options(
        budget: int, variants: int, seed: int, max_seconds: Optional[float], content_margin: Optional[float]
    ) -> Dict[str, Any]:
        opts: Dict[str, Any] = {"budget": check_count("budget", budget), "seed": check_seed(seed, unsigned=False)}
        n = check_count("variants", variants)
        if n:
            # The server's variants include the chosen prompt, which Result.variants leaves out.
            opts["variants"] = min(n + 1, 32)
        s = check_seconds(max_seconds)
        if s is not None:
            opts["max_wall_ms"] = max(1, math.ceil(s * 1000))
        m = check_margin(content_margin)
        if m is not None:
            opts["content_margin"] = m
        return opts

    def _batch(self, rows: np.ndarray, options: Dict[str, Any], variants: int) -> List[Result]:
        out: List[Result] = []
        for start in range(0, rows.shape[0], self.max_batch_items):
            chunk = rows[start : start + self.max_batch_items]
            try:
                resp = self._post("/generate_prompts_batch", {"embeddings": chunk.tolist(), "options": options})
            except Vec2PromptError as e:
                if start:
                    e.message = f"{e.message} (in the rows from {start})"
                    e.args = (e.message,)
                raise
            items = sorted(resp["results"], key=lambda r: int(r["index"]))
            out += [_result(str(r["prompt"]), r.get("metadata") or {}, variants) for r in items]
        return out

    @overload
    def generate(
        self,
        target: Sequence[float],
        budget: int = ...,
        variants: int = ...,
        seed: int = ...,
        max_seconds: Optional[float] = ...,
        content_margin: Optional[float] = ...,
    ) -> Result: ...

    @overload
    def generate(
        self,
        target: Sequence[Sequence[float]],
        budget: int = ...,
        variants: int = ...,
        seed: int = ...,
        max_seconds: Optional[float] = ...,
        content_margin: Optional[float] = ...,
    ) -> List[Result]: ...

    @overload
    def generate(
        self,
        target: np.ndarray,
        budget: int = ...,
        variants: int = ...,
        seed: int = ...,
        max_seconds: Optional[float] = ...,
        content_margin: Optional[float] = ...,
    ) -> Union[Result, List[Result]]: ...

    def generate(
        self,
        target: Union[Vector, Matrix],
        budget: int = 4,
        variants: int = 0,
        seed: int = 0,
        max_seconds: Optional[float] = None,
        content_margin: Optional[float] = None,
    ) -> Union[Result, List[Result]]:
        """Write a prompt for a target vector (``/generate_prompt``), or one per row of a
        matrix (``/generate_prompts_batch``: all rows or none).

        Parameters and results are those of :meth:`Vec2Prompt.generate`.
        """
        rows, single = as_targets(target, None)
        options = self._options(budget, variants, seed, max_seconds, content_margin)
        if single:
            resp = self._post("/generate_prompt", {"target_embedding": rows[0].tolist(), "options": options})
            return _result(str(resp["prompt"]), resp.get("metadata") or {}, variants)
        return self._batch(rows, options, variants)

    @overload
    def generate_from_text(  # type: ignore[overload-overlap]
        self,
        text: str,
        budget: int = ...,
        variants: int = ...,
        seed: int = ...,
        max_seconds: Optional[float] = ...,
        content_margin: Optional[float] = ...,
    ) -> Result: ...

    @overload
    def generate_from_text(
        self,
        text: Sequence[str],
        budget: int = ...,
        variants: int = ...,
        seed: int = ...,
        max_seconds: Optional[float] = ...,
        content_margin: Optional[float] = ...,
    ) -> List[Result]: ...

    def generate_from_text(
        self,
        text: Union[str, Sequence[str]],
        budget: int = 4,
        variants: int = 0,
        seed: int = 0,
        max_seconds: Optional[float] = None,
        content_margin: Optional[float] = None,
    ) -> Union[Result, List[Result]]:
        """Write a prompt whose answer lands near the embedding of a text
        (``/generate_prompt_from_text``), or of each text of a list (embedded with
        ``/v1/embeddings``, then ``/generate_prompts_batch``).

        Parameters and results are those of :meth:`Vec2Prompt.generate_from_text`.
        """
        texts, single = as_texts(text, "text")
        options = self._options(budget, variants, seed, max_seconds, content_margin)
        if single:
            resp = self._post("/generate_prompt_from_text", {"text": texts[0], "options": options})
            return _result(str(resp["prompt"]), resp.get("metadata") or {}, variants)
        return self._batch(self.embed(texts), options, variants)

    def optimize(
        self,
        raw: str,
        budget: int = 0,
        n: int = 3,
        style: str = "precise",
        *,
        target_text: Optional[str] = None,
        target_examples: Optional[Sequence[str]] = None,
        target_embedding: Any = None,
    ) -> OptimizeResult:
        """Rewrite a raw prompt with the server's prompt optimizer (``/optimize``).

        Parameters and result are those of :meth:`Vec2Prompt.optimize`. A server without
        an optimizer answers :class:`~vec2prompt.errors.NotFoundError` (404).
        """
        if not isinstance(raw, str):
            raise InvalidInputError(f"raw must be a string, got {type(raw).__name__}", "invalid_input")
        text, examples, vector = check_optimize_target(
            target_text, target_examples, target_embedding, self._dimension
        )
        body: Dict[str, Any] = {
            "raw_prompt": raw,
            "budget": check_count("budget", budget),
            "num_return_sequences": check_count("n", n, 1),
            "style": style,
        }
        if text is not None:
            body["target_text"] = text
        if examples is not None:
            body["target_examples"] = examples
        if vector is not None:
            body["target_embedding"] = [float(x) for x in vector]
        return OptimizeResult._from_json(self._post("/optimize", body))

    def embed(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        """Embed texts with the server's embedder (``/v1/embeddings``).

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(texts), dimension)``, or ``(dimension,)`` for a string.
        """
        items, single = as_texts(texts)
        vectors: List[List[float]] = []
        for start in range(0, len(items), self.max_batch_items):
            resp = self._post("/v1/embeddings", {"input": items[start : start + self.max_batch_items]})
            vectors += [d["embedding"] for d in sorted(resp["data"], key=lambda d: int(d["index"]))]
        arr = np.asarray(vectors, dtype=np.float32)
        self._dimension = int(arr.shape[1])
        return arr[0] if single else arr

    def interpolate(self, a: End, b: End, steps: int = 7, budget: int = 0, path: str = "spherical") -> List[Point]:
        """Prompts for evenly spaced points from one target to another (``/interpolate``).

        Parameters and results are those of :meth:`Vec2Prompt.interpolate`: text ends
        are embedded by the server, and every point's prompt is answered by the LLM
        (``evaluate_quality``) so its similarities to the point and both ends are measured.
        """
        body = {
            "evaluate_quality": True,
            "from": self._end(a, "a"),
            "to": self._end(b, "b"),
            "steps": check_count("steps", steps, 2),
            "path": path,
            "options": {"budget": check_count("budget", budget)},
        }
        resp = self._post("/interpolate", body)
        return [_point(p) for p in sorted(resp["points"], key=lambda p: int(p["index"]))]

    @staticmethod
    def _end(x: End, name: str) -> Dict[str, Any]:
        if isinstance(x, str):
            return {"text": x}
        rows, single = as_targets(x, None)
        if not single:
            raise InvalidInputError(
                f"{name} must be one vector (1-D) or a text, got shape {rows.shape}", "invalid_input"
            )
        return {"embedding": rows[0].tolist()}
