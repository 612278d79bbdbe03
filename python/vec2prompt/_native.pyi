"""The native extension (Rust, PyO3): use :class:`vec2prompt.Vec2Prompt` instead."""

from typing import List, Optional

class Vec2PromptError(Exception):
    """Raised with ``args == (message, error_type)``."""

class Engine:
    """The generator on loaded models; every method releases the GIL."""

    def __init__(self, args: List[str], dataset: Optional[str]) -> None: ...
    @property
    def dimension(self) -> int: ...
    def generate(
        self,
        data: bytes,
        rows: int,
        budget: int,
        variants: int,
        seed: int,
        max_seconds: Optional[float],
        content_margin: Optional[float] = None,
    ) -> str: ...
    def generate_from_text(
        self,
        texts: List[str],
        budget: int,
        variants: int,
        seed: int,
        max_seconds: Optional[float],
        content_margin: Optional[float] = None,
    ) -> str: ...
    def optimize(
        self,
        raw: str,
        budget: int,
        n: int,
        style: str,
        target_text: Optional[str] = ...,
        target_examples: Optional[List[str]] = ...,
        target_embedding: Optional[bytes] = ...,
    ) -> str: ...
    def embed(self, texts: List[str]) -> bytes: ...
    def interpolate(self, a: bytes, b: bytes, steps: int, budget: int, path: str) -> str: ...
