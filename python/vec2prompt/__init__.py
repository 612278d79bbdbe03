"""vec2prompt: write a prompt whose LLM answer lands near a target embedding.

:class:`Vec2Prompt` runs the models in this process (the native extension);
:class:`Client` talks to a ``vec2prompt serve`` over HTTP with the same methods and
results. Both raise :class:`~vec2prompt.errors.Vec2PromptError` subclasses; bad input is
an :class:`~vec2prompt.errors.InvalidInputError`, which is also a ``ValueError``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, List, Optional, Sequence, TypeVar, Union, overload

import numpy as np

from ._types import OptimizedPrompt, OptimizeResult, Point, Result, Variant
from ._validate import (
    as_targets,
    as_texts,
    check_count,
    check_margin,
    check_optimize_target,
    check_seconds,
    check_seed,
)
from .client import Client
from .errors import (
    AuthenticationError,
    BackendError,
    InvalidInputError,
    IoError,
    ModelError,
    NotFoundError,
    UnavailableError,
    Vec2PromptError,
    error_for,
    from_native,
)

try:
    from . import _native
except ImportError as _e:  # a source tree without the built extension: Client still works
    _native = None  # type: ignore[assignment]
    _native_import_error: Optional[ImportError] = _e
else:
    _native_import_error = None

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("vec2prompt")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "Vec2Prompt",
    "Client",
    "Result",
    "Variant",
    "OptimizeResult",
    "OptimizedPrompt",
    "Point",
    "Vec2PromptError",
    "InvalidInputError",
    "AuthenticationError",
    "NotFoundError",
    "ModelError",
    "BackendError",
    "IoError",
    "UnavailableError",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
Vector = Union[np.ndarray, Sequence[float]]
Matrix = Union[np.ndarray, Sequence[Sequence[float]]]
End = Union[str, Vector]
T = TypeVar("T")


def _build_args(
    home: Optional[PathLike] = None,
    config: Optional[PathLike] = None,
    llm: Optional[PathLike] = None,
    embedder: Optional[PathLike] = None,
    **flags: Any,
) -> List[str]:
    """The CLI's global flags for these settings (see :class:`Vec2Prompt`)."""
    args: List[str] = []
    if home is not None:
        args += ["--home", os.fspath(home)]
    if config is not None:
        args += ["--config", os.fspath(config)]
    for name, value in (("llm", llm), ("embedder", embedder)):
        if value is None:
            continue
        value = os.fspath(value)
        if value.startswith(("http://", "https://")):
            args += [f"--{name}-base-url", value]
        else:
            args += [f"--{name}", value]
    for key, value in flags.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, os.PathLike):
            args += [flag, os.fspath(value)]
        else:
            args += [flag, str(value)]
    return args


def _call(fn: Callable[..., T], *args: Any) -> T:
    """Calls the native extension, turning its errors into :mod:`vec2prompt.errors`."""
    assert _native is not None
    try:
        return fn(*args)
    except _native.Vec2PromptError as e:
        raise from_native(e) from None


def _results(raw: str, label: Optional[str]) -> List[Result]:
    """Native results, raising the first failed item (named by ``label`` and its index)."""
    out: List[Result] = []
    for i, item in enumerate(json.loads(raw)):
        if "error" in item:
            where = "" if label is None else f"{label} {i}: "
            raise error_for(where + str(item["error"]), item.get("error_type"))
        out.append(Result._from_json(item))
    return out


class Vec2Prompt:
    """The generator, running locally on the models of a vec2prompt home.

    Loading takes tens of seconds; make one and reuse it. Its methods release the GIL,
    so several threads can use one instance at once.

    Parameters
    ----------
    home : str or path, optional
        The vec2prompt home (``--home``; default ``$VEC2PROMPT_HOME`` or
        ``~/.cache/vec2prompt``).
    llm : str or path, optional
        A local GGUF file (``--llm``), or the base URL of an OpenAI-compatible server
        when it starts with ``http://`` or ``https://`` (``--llm-base-url``).
    embedder : str or path, optional
        The same for the embedder (``--embedder`` / ``--embedder-base-url``).
    config : str or path, optional
        A ``config.yaml`` (``--config``).
    dataset : str or path, optional
        An ingested dataset whose train prompts join the candidates.
    **flags
        Any other global flag of the ``vec2prompt`` CLI: ``llm_model="m"`` is
        ``--llm-model m``, ``True`` a bare flag, ``None`` or ``False`` leaves it out.

    Raises
    ------
    Vec2PromptError
        When the models cannot be loaded (e.g. :class:`IoError`, :class:`ModelError`).
    """

    def __init__(
        self,
        home: Optional[PathLike] = None,
        llm: Optional[PathLike] = None,
        embedder: Optional[PathLike] = None,
        config: Optional[PathLike] = None,
        dataset: Optional[PathLike] = None,
        **flags: Any,
    ) -> None:
        if _native is None:
            raise ImportError(
                "the vec2prompt native extension is not built: install the wheel "
                "(`make wheel`) or `pip install ./python`"
            ) from _native_import_error
        args = _build_args(home=home, config=config, llm=llm, embedder=embedder, **flags)
        ds = None if dataset is None else os.fspath(dataset)
        self._engine = _call(_native.Engine, args, ds)
        self._dimension = int(self._engine.dimension)

    @property
    def dimension(self) -> int:
        """The embedder's dimension (the length of a target vector)."""
        return self._dimension

    def __repr__(self) -> str:
        return f"Vec2Prompt(dimension={self._dimension})"

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
        """Write a prompt for a target vector, or one for each row of a matrix.

        Parameters
        ----------
        target : array-like
            One vector (1-D, ``dimension`` values) or a matrix of them (2-D). Any scale:
            targets are normalized.
        budget : int
            LLM calls the search may spend per target; 0 is fast mode (no LLM call, the
            similarity is predicted).
        variants : int
            How many further candidates to return in ``Result.variants``.
        seed : int
            Seed of any sampling in the search (any 64-bit integer).
        max_seconds : float, optional
            Wall-time limit: once passed, no further LLM round starts.
        content_margin : float, optional
            The cosine a request built around a word list ("Describe a, b and c.") must
            beat every other candidate by to be answered or chosen, in [0, 2]; None is the
            default (0.1), 0 ranks every source alike, 2 keeps such templates as a fallback.

        Returns
        -------
        Result or list of Result
            One Result for a 1-D target, a list (one per row) for a matrix.

        Raises
        ------
        InvalidInputError
            Wrong shape or dimension, empty, non-numeric, NaN/infinite or all-zero rows.
        Vec2PromptError
            When a search fails; in a batch, the first failed row's error, naming it.
        """
        rows, single = as_targets(target, self._dimension)
        out = _call(
            self._engine.generate,
            rows.tobytes(),
            rows.shape[0],
            check_count("budget", budget),
            check_count("variants", variants),
            check_seed(seed, unsigned=True),
            check_seconds(max_seconds),
            check_margin(content_margin),
        )
        results = _results(out, None if single else "row")
        return results[0] if single else results

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
        """Write a prompt whose answer lands near the embedding of a text (or of each text).

        Parameters
        ----------
        text : str or list of str
            The answer you want the LLM to give; a list gives one Result per text.
        budget, variants, seed, max_seconds, content_margin
            As for :meth:`generate`.

        Returns
        -------
        Result or list of Result
        """
        texts, single = as_texts(text, "text")
        out = _call(
            self._engine.generate_from_text,
            texts,
            check_count("budget", budget),
            check_count("variants", variants),
            check_seed(seed, unsigned=True),
            check_seconds(max_seconds),
            check_margin(content_margin),
        )
        results = _results(out, None if single else "text")
        return results[0] if single else results

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
        """Rewrite a raw prompt with the prompt optimizer.

        Parameters
        ----------
        raw : str
            The prompt as a user wrote it.
        budget : int
            Rewrites answered by the LLM and ranked (0: none; with a budget the raw prompt
            comes back unless a rewrite measures better).
        n : int
            Rewrites to return.
        style : {"precise", "structured"}
            The style of the rewrites.
        target_text, target_examples, target_embedding : optional
            Your own goal for the answers, in place of the predicted answer of the intent
            (at most one; needs a budget): a text the answers should resemble, 1 to 8
            example answers ("answers like these"), or a vector in the embedder's space.
            A rewrite copying 8+ consecutive words of the target is refused.

        Returns
        -------
        OptimizeResult
        """
        if not isinstance(raw, str):
            raise InvalidInputError(f"raw must be a string, got {type(raw).__name__}", "invalid_input")
        text, examples, vector = check_optimize_target(
            target_text, target_examples, target_embedding, self._dimension
        )
        out = _call(
            self._engine.optimize,
            raw,
            check_count("budget", budget),
            check_count("n", n, 1),
            style,
            text,
            examples,
            None if vector is None else vector.tobytes(),
        )
        return OptimizeResult._from_json(json.loads(out))

    def embed(self, texts: Union[str, Sequence[str]]) -> np.ndarray:
        """Embed texts with the embedder.

        Parameters
        ----------
        texts : str or list of str

        Returns
        -------
        numpy.ndarray
            float32, unit-length rows: shape ``(len(texts), dimension)``, or
            ``(dimension,)`` for a single string.
        """
        items, single = as_texts(texts)
        raw = _call(self._engine.embed, items)
        arr = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(len(items), self._dimension)
        return arr[0] if single else arr

    def interpolate(self, a: End, b: End, steps: int = 7, budget: int = 0, path: str = "spherical") -> List[Point]:
        """Prompts for evenly spaced points from one target to another.

        Parameters
        ----------
        a, b : str or array-like
            The ends: a 1-D vector each, or a text (embedded first).
        steps : int
            Points, both ends included (at least 2).
        budget : int
            LLM calls per point (0: fast mode).
        path : {"spherical", "linear"}
            How the points are spaced between the ends.

        Returns
        -------
        list of Point
            From ``t = 0`` (``a``) to ``t = 1`` (``b``). Each point's prompt is answered
            by the LLM (one call per point unless its search already measured it), so its
            similarities to the point and to both ends are measured.
        """
        va, vb = self._end(a, "a"), self._end(b, "b")
        out = _call(
            self._engine.interpolate,
            va.tobytes(),
            vb.tobytes(),
            check_count("steps", steps, 2),
            check_count("budget", budget),
            path,
        )
        return [Point._from_json(p) for p in json.loads(out)]

    def _end(self, x: End, name: str) -> np.ndarray:
        if isinstance(x, str):
            return np.ascontiguousarray(self.embed(x), dtype="<f4")
        rows, single = as_targets(x, self._dimension)
        if not single:
            raise InvalidInputError(
                f"{name} must be one vector (1-D) or a text, got shape {rows.shape}", "invalid_input"
            )
        vector: np.ndarray = rows[0]
        return vector
