"""Typed results: what :class:`vec2prompt.Vec2Prompt` and :class:`vec2prompt.Client` return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

__all__ = ["Variant", "Result", "OptimizedPrompt", "OptimizeResult", "Point"]


def _kind(measured: bool) -> str:
    return "measured" if measured else "predicted"


def _opt_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


@dataclass(frozen=True, repr=False)
class Variant:
    """One candidate prompt of a search, best first in :attr:`Result.variants`.

    Attributes
    ----------
    prompt : str
        The candidate prompt.
    similarity : float
        Cosine of its answer to the target: measured when ``measured``, else predicted.
    measured : bool
        Whether the LLM really answered it.
    source : str
        Where it came from (``neighbour``, ``memory``, ``generator``, ``inverter``, ...).
    """

    prompt: str
    similarity: float
    measured: bool
    source: str

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> "Variant":
        return cls(str(d["prompt"]), float(d["similarity"]), bool(d["measured"]), str(d["source"]))

    def __repr__(self) -> str:
        return (
            f"Variant(prompt={self.prompt!r}, similarity={self.similarity:.4f}, "
            f"measured={self.measured}, source={self.source!r})"
        )

    def __str__(self) -> str:
        return f"{self.prompt!r} (similarity {self.similarity:.3f}, {_kind(self.measured)}, {self.source})"


@dataclass(frozen=True, repr=False)
class Result:
    """The prompt written for one target.

    Attributes
    ----------
    prompt : str
        The chosen prompt.
    similarity : float
        Cosine of its answer to the target: measured when ``measured``, else predicted.
    measured : bool
        Whether the LLM really answered it (only with a budget above 0).
    llm_calls : int
        LLM calls the search spent.
    method : str
        The search method (``fast``, ``search-N``).
    answer : str or None
        The LLM's answer, when measured.
    variants : list of Variant
        Further candidates of the search, best first, the chosen prompt left out (at
        most as many as asked for).
    """

    prompt: str
    similarity: float
    measured: bool
    llm_calls: int
    method: str
    answer: Optional[str]
    variants: List[Variant]

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> "Result":
        return cls(
            prompt=str(d["prompt"]),
            similarity=float(d["similarity"]),
            measured=bool(d["measured"]),
            llm_calls=int(d["llm_calls"]),
            method=str(d["method"]),
            answer=d.get("answer"),
            variants=[Variant._from_json(v) for v in d.get("variants") or []],
        )

    def __repr__(self) -> str:
        return (
            f"Result(prompt={self.prompt!r}, similarity={self.similarity:.4f}, "
            f"measured={self.measured}, method={self.method!r}, llm_calls={self.llm_calls}, "
            f"variants={len(self.variants)})"
        )

    def __str__(self) -> str:
        return f"{self.prompt!r} (similarity {self.similarity:.3f}, {_kind(self.measured)}, {self.method})"


@dataclass(frozen=True, repr=False)
class OptimizedPrompt:
    """One rewrite of a raw prompt.

    Attributes
    ----------
    prompt : str
        The rewritten prompt (or the raw one, ``source == "raw"``).
    score : float or None
        With a budget: cosine of its answer to the goal (the predicted answer of the
        intent, or your own target).
    source : str
        ``optimizer`` (a rewrite) or ``raw`` (the prompt as given, measured beside them).
    measured : bool
        Whether ``score`` was measured on a real answer of the LLM.
    answer : str or None
        With a budget: the LLM's answer.
    """

    prompt: str
    score: Optional[float]
    source: str
    measured: bool
    answer: Optional[str]

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> "OptimizedPrompt":
        return cls(
            prompt=str(d["prompt"]),
            score=_opt_float(d.get("score")),
            source=str(d["source"]),
            measured=bool(d.get("measured", False)),
            answer=d.get("answer"),
        )

    def __repr__(self) -> str:
        score = "None" if self.score is None else f"{self.score:.4f}"
        return (
            f"OptimizedPrompt(prompt={self.prompt!r}, score={score}, source={self.source!r}, measured={self.measured})"
        )

    def __str__(self) -> str:
        score = "unscored" if self.score is None else f"score {self.score:.3f}, {_kind(self.measured)}"
        return f"{self.prompt!r} ({score}, {self.source})"


@dataclass(frozen=True, repr=False)
class OptimizeResult:
    """The prompt optimizer's rewrites of a raw prompt (the ``/optimize`` response).

    Attributes
    ----------
    optimized_prompt : str
        The best prompt; with a budget, the raw prompt unless a rewrite measured better.
    optimized_prompts : list of OptimizedPrompt
        Every prompt returned, best first.
    raw_prompt : str
        The prompt as given.
    style : str
        ``precise`` or ``structured``.
    llm_calls : int
        LLM calls spent (with a budget, the raw prompt's answer is one of them).
    improved : bool or None
        With a budget: whether the best rewrite measured better than the raw prompt;
        None when nothing was compared.
    raw_score : float or None
        With a budget: the raw prompt's own measured score.
    processing_time : float
        Seconds the optimization took.
    goal : str
        What the scores compare the answers with: ``predicted_answer`` (the default:
        the optimizer's answer head for the raw prompt, or without one the surrogate's
        prediction for it), ``target_text``, ``target_embedding`` or
        ``target_examples``.
    refused_copies : int
        Rewrites refused because they copied 8+ consecutive words of the target.
    """

    optimized_prompt: str
    optimized_prompts: List[OptimizedPrompt]
    raw_prompt: str
    style: str
    llm_calls: int
    improved: Optional[bool]
    raw_score: Optional[float]
    processing_time: float
    goal: str = "predicted_answer"
    refused_copies: int = 0

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> "OptimizeResult":
        improved = d.get("improved")
        return cls(
            optimized_prompt=str(d["optimized_prompt"]),
            optimized_prompts=[OptimizedPrompt._from_json(p) for p in d.get("optimized_prompts") or []],
            raw_prompt=str(d["raw_prompt"]),
            style=str(d["style"]),
            llm_calls=int(d.get("llm_calls", 0)),
            improved=None if improved is None else bool(improved),
            raw_score=_opt_float(d.get("raw_score")),
            processing_time=float(d.get("processing_time", 0.0)),
            goal=str(d.get("goal", "predicted_answer")),
            refused_copies=int(d.get("refused_copies", 0)),
        )

    @property
    def score(self) -> Optional[float]:
        """The score of :attr:`optimized_prompt`, when it was scored."""
        for p in self.optimized_prompts:
            if p.prompt == self.optimized_prompt:
                return p.score
        return self.raw_score if self.optimized_prompt == self.raw_prompt else None

    def __repr__(self) -> str:
        score = self.score
        raw = "None" if self.raw_score is None else f"{self.raw_score:.4f}"
        return (
            f"OptimizeResult(optimized_prompt={self.optimized_prompt!r}, "
            f"score={'None' if score is None else f'{score:.4f}'}, raw_score={raw}, "
            f"improved={self.improved}, prompts={len(self.optimized_prompts)}, "
            f"llm_calls={self.llm_calls})"
        )

    def __str__(self) -> str:
        return self.optimized_prompt


@dataclass(frozen=True, repr=False)
class Point:
    """One point of an interpolation between two targets, and its prompt.

    Attributes
    ----------
    t : float
        Fraction of the way from the start (0) to the end (1).
    prompt : str
        The prompt for this point.
    similarity : float
        Cosine of its answer to the point: measured when ``measured``, else predicted.
    measured : bool
        Whether the LLM really answered it.
    similarity_to_start : float or None
        Cosine of its real answer to the start (None unless measured).
    similarity_to_end : float or None
        Cosine of its real answer to the end (None unless measured).
    llm_calls : int
        LLM calls the search spent on this point.
    """

    t: float
    prompt: str
    similarity: float
    measured: bool
    similarity_to_start: Optional[float]
    similarity_to_end: Optional[float]
    llm_calls: int

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> "Point":
        return cls(
            t=float(d["t"]),
            prompt=str(d["prompt"]),
            similarity=float(d["similarity"]),
            measured=bool(d["measured"]),
            similarity_to_start=_opt_float(d.get("similarity_to_start")),
            similarity_to_end=_opt_float(d.get("similarity_to_end")),
            llm_calls=int(d.get("llm_calls", 0)),
        )

    def __repr__(self) -> str:
        def f(x: Optional[float]) -> str:
            return "None" if x is None else f"{x:.4f}"

        return (
            f"Point(prompt={self.prompt!r}, similarity={self.similarity:.4f}, t={self.t:.3f}, "
            f"measured={self.measured}, similarity_to_start={f(self.similarity_to_start)}, "
            f"similarity_to_end={f(self.similarity_to_end)}, llm_calls={self.llm_calls})"
        )

    def __str__(self) -> str:
        return f"{self.prompt!r} (similarity {self.similarity:.3f}, {_kind(self.measured)}, t={self.t:.2f})"
