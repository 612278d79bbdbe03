"""Tests of the Python package on the real default models (``make models`` first).

The local tests load one :class:`Vec2Prompt` from ``$VEC2PROMPT_HOME`` (default
``~/.cache/vec2prompt``); the client tests start ``$VEC2PROMPT_BIN serve`` (default
``target/release/vec2prompt``) on a free port. Every search runs at budget 0 (no LLM
call) except one at budget 1; the two 3-point interpolations answer each point once.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import vec2prompt
from vec2prompt import (
    Client,
    InvalidInputError,
    OptimizeResult,
    Point,
    Result,
    UnavailableError,
    Vec2Prompt,
    Vec2PromptError,
)

REPO = Path(__file__).resolve().parents[2]
TARGET = "Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep."
OTHERS = ["Paris is the capital and largest city of France.", "Water boils at 100 degrees Celsius at sea level."]


def check_result(r: Result, measured: bool = False) -> None:
    assert isinstance(r, Result)
    assert isinstance(r.prompt, str) and r.prompt.strip()
    assert math.isfinite(r.similarity) and -1.0 <= r.similarity <= 1.0
    assert r.measured is measured
    if not measured:
        assert r.llm_calls == 0
    assert repr(r).startswith(f"Result(prompt={r.prompt!r}")


def check_point(p: Point) -> None:
    """An interpolation point: every point's prompt is answered, so all three are measured."""
    assert isinstance(p, Point) and p.prompt.strip() and p.measured is True
    for sim in (p.similarity, p.similarity_to_start, p.similarity_to_end):
        assert sim is not None and math.isfinite(sim) and -1.0 <= sim <= 1.0


# ---- local engine ---------------------------------------------------------------


@pytest.fixture(scope="module")
def v2p() -> Vec2Prompt:
    return Vec2Prompt()


@pytest.fixture(scope="module")
def target(v2p: Vec2Prompt) -> np.ndarray:
    return v2p.embed(TARGET)


def test_build_args() -> None:
    args = vec2prompt._build_args(
        home="/h", llm="http://127.0.0.1:8081/v1", embedder="/m/e.gguf", llm_model="smollm2", rate_limits="tier_2"
    )
    assert args == [
        "--home", "/h",
        "--llm-base-url", "http://127.0.0.1:8081/v1",
        "--embedder", "/m/e.gguf",
        "--llm-model", "smollm2",
        "--rate-limits", "tier_2",
    ]  # fmt: skip
    assert vec2prompt._build_args(llm=Path("/m/llm.gguf"), flag=True, off=False, unset=None) == [
        "--llm", "/m/llm.gguf", "--flag",
    ]  # fmt: skip


def test_embed(v2p: Vec2Prompt, target: np.ndarray) -> None:
    m = v2p.embed([TARGET] + OTHERS)
    assert m.dtype == np.float32 and m.shape == (3, v2p.dimension)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-3)
    assert target.dtype == np.float32 and target.shape == (v2p.dimension,)
    np.testing.assert_allclose(m[0], target, atol=1e-5)


def test_generate_vector(v2p: Vec2Prompt, target: np.ndarray) -> None:
    r = v2p.generate(target, budget=0)
    check_result(r)
    assert r.variants == []
    with_variants = v2p.generate(target, budget=0, variants=3)
    assert 1 <= len(with_variants.variants) <= 3
    assert all(v.prompt for v in with_variants.variants)


def test_generate_batch(v2p: Vec2Prompt) -> None:
    matrix = v2p.embed([TARGET] + OTHERS)
    results = v2p.generate(matrix, budget=0)
    assert isinstance(results, list) and len(results) == 3
    for r in results:
        check_result(r)


def test_list_input(v2p: Vec2Prompt, target: np.ndarray) -> None:
    check_result(v2p.generate(target.tolist(), budget=0))
    results = v2p.generate([target.tolist(), (2.0 * target).tolist()], budget=0)
    assert len(results) == 2
    # Any scale: targets are normalized.
    assert results[0].prompt == results[1].prompt


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: np.ones((2, 2, d)), r"1-D.*2-D.*3-D"),
        (lambda d: np.ones(d - 1), r"expected {d}.*got {d1}"),
        (lambda d: np.ones((2, d + 1)), r"expected {d}.*got {d2}"),
        (lambda d: np.array([]), r"empty"),
        (lambda d: np.zeros((0, d)), r"empty"),
        (lambda d: np.zeros(d), r"all zeros"),
        (lambda d: [["a"] * d], r"real numbers"),
    ],
)
def test_bad_input(v2p: Vec2Prompt, make, message: str) -> None:
    d = v2p.dimension
    with pytest.raises(ValueError, match=message.format(d=d, d1=d - 1, d2=d + 1)) as info:
        v2p.generate(make(d), budget=0)
    assert isinstance(info.value, InvalidInputError) and info.value.error_type == "invalid_input"


def test_nan_names_the_row(v2p: Vec2Prompt, target: np.ndarray) -> None:
    bad = np.stack([target, target])
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"row 1 .*NaN"):
        v2p.generate(bad, budget=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        v2p.generate(np.where(np.arange(v2p.dimension) == 0, np.inf, target), budget=0)


def test_generate_from_text(v2p: Vec2Prompt) -> None:
    check_result(v2p.generate_from_text(TARGET, budget=0))
    results = v2p.generate_from_text(OTHERS, budget=0)
    assert len(results) == 2
    for r in results:
        check_result(r)
    with pytest.raises(ValueError, match="empty"):
        v2p.generate_from_text([], budget=0)


def test_content_margin(v2p: Vec2Prompt, target: np.ndarray) -> None:
    # The margin reaches the search: a non-default one names itself in the method.
    assert "-c" not in v2p.generate(target, budget=0).method
    assert v2p.generate(target, budget=0, content_margin=0).method.endswith("-c0")
    assert v2p.generate_from_text(TARGET, budget=0, content_margin=2).method.endswith("-c2")
    for bad in (2.5, -0.1, float("nan"), True, "x"):
        with pytest.raises(InvalidInputError, match="content_margin"):
            v2p.generate(target, budget=0, content_margin=bad)


def test_generate_budget_one(v2p: Vec2Prompt, target: np.ndarray) -> None:
    r = v2p.generate(target, budget=1)
    check_result(r, measured=True)
    assert r.llm_calls <= 1


def test_threads(v2p: Vec2Prompt) -> None:
    matrix = v2p.embed(OTHERS)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda row: v2p.generate(row, budget=0), matrix))
    for r in results:
        check_result(r)


def test_optimize(v2p: Vec2Prompt) -> None:
    o = v2p.optimize("pls giv 3 tips 4 staying helthy", budget=0, n=2)
    assert isinstance(o, OptimizeResult)
    assert o.raw_prompt == "pls giv 3 tips 4 staying helthy" and o.style == "precise"
    assert o.optimized_prompt.strip() and o.llm_calls == 0
    assert 1 <= len(o.optimized_prompts) <= 2
    assert all(p.prompt.strip() and p.source for p in o.optimized_prompts)
    assert o.goal == "predicted_answer" and o.refused_copies == 0


def test_optimize_toward_your_own_target(v2p: Vec2Prompt) -> None:
    examples = ["Eat a balanced diet, sleep eight hours and walk every day.", "Drink water and exercise."]
    o = v2p.optimize("tips staying healthy give", budget=2, n=2, target_examples=examples)
    assert o.goal == "target_examples" and o.llm_calls == 2 and o.raw_score is not None
    o = v2p.optimize("tips staying healthy give", budget=1, n=1, target_embedding=v2p.embed(examples[0]))
    assert o.goal == "target_embedding" and o.llm_calls == 1
    with pytest.raises(InvalidInputError, match="at most one"):
        v2p.optimize("x", budget=1, target_text="a", target_examples=["b"])
    with pytest.raises(InvalidInputError, match="budget"):
        v2p.optimize("x", budget=0, target_text="an answer like this")
    with pytest.raises(InvalidInputError, match="1 to 8"):
        v2p.optimize("x", budget=1, target_examples=[])


def test_interpolate(v2p: Vec2Prompt, target: np.ndarray) -> None:
    points = v2p.interpolate(target, OTHERS[0], steps=3, budget=0)
    assert len(points) == 3 and all(isinstance(p, Point) for p in points)
    ts = [p.t for p in points]
    assert ts[0] == pytest.approx(0.0) and ts[1] == pytest.approx(0.5) and ts[-1] == pytest.approx(1.0)
    for p in points:
        check_point(p)
    with pytest.raises(ValueError, match="one vector"):
        v2p.interpolate(np.stack([target, target]), target, steps=3, budget=0)


# ---- HTTP client against `vec2prompt serve` -------------------------------------


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = Path(os.environ.get("VEC2PROMPT_BIN", REPO / "target" / "release" / "vec2prompt"))
    if not binary.is_file():
        pytest.fail(f"{binary} not found: build it (`make build`) or point VEC2PROMPT_BIN at the binary")
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEC2PROMPT_API_KEY", "VEC2PROMPT_MAX_"))}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        url = None
        while True:
            text = log_path.read_text(errors="replace")
            if proc.poll() is not None:
                pytest.fail(f"vec2prompt serve exited with {proc.returncode}:\n{text}")
            if time.monotonic() > deadline:
                pytest.fail(f"vec2prompt serve did not answer /health within 180 s:\n{text}")
            found = re.search(r"listening on (http://\S+)", text)
            url = url or (found.group(1) if found else None)
            if url is not None:
                try:
                    if Client(url, timeout=5).health()["status"] == "ok":
                        break
                except UnavailableError:
                    pass
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def client(server: str) -> Client:
    return Client(server, timeout=120)


def test_client_health_and_embed(client: Client) -> None:
    h = client.health()
    assert h["status"] == "ok" and h["embedding_dimension"] == client.dimension
    m = client.embed([TARGET] + OTHERS)
    assert m.dtype == np.float32 and m.shape == (3, client.dimension)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-3)
    assert client.embed(TARGET).shape == (client.dimension,)


def test_client_generate(client: Client) -> None:
    matrix = client.embed([TARGET] + OTHERS)
    r = client.generate(matrix[0], budget=0, variants=2)
    check_result(r)
    assert 1 <= len(r.variants) <= 2
    results = client.generate(matrix, budget=0)
    assert isinstance(results, list) and len(results) == 3
    for r in results:
        check_result(r)
    check_result(client.generate_from_text(TARGET, budget=0))
    assert len(client.generate_from_text(OTHERS, budget=0)) == 2


def test_client_interpolate(client: Client) -> None:
    points = client.interpolate(TARGET, OTHERS[0], steps=3, budget=0)
    assert [round(p.t, 6) for p in points] == [0.0, 0.5, 1.0]
    for p in points:
        check_point(p)


def test_client_optimize(client: Client) -> None:
    o = client.optimize("pls giv 3 tips 4 staying helthy", budget=0, n=1)
    assert isinstance(o, OptimizeResult) and o.optimized_prompt.strip() and o.llm_calls == 0
    assert len(o.optimized_prompts) == 1 and o.optimized_prompts[0].source
    o = client.optimize("tips staying healthy give", budget=1, n=1, target_text="Eat well and sleep enough.")
    assert o.goal == "target_text" and o.llm_calls == 1
    with pytest.raises(InvalidInputError, match="budget") as info:
        client.optimize("x", budget=0, target_text="an answer like this")
    assert info.value.status == 422


def test_client_wrong_dimension(client: Client) -> None:
    with pytest.raises(InvalidInputError) as info:
        client.generate(np.ones(client.dimension - 1), budget=0)
    assert info.value.status == 422 and info.value.error_type == "invalid_input"
    assert isinstance(info.value, ValueError)


def test_client_checks_locally(client: Client) -> None:
    with pytest.raises(InvalidInputError, match="NaN") as info:
        client.generate(np.full(client.dimension, np.nan), budget=0)
    assert info.value.status is None


def test_client_content_margin(client: Client) -> None:
    target = client.embed(TARGET)
    assert client.generate(target, budget=0, content_margin=0).method.endswith("-c0")
    with pytest.raises(InvalidInputError, match="content_margin") as info:
        client.generate(target, budget=0, content_margin=3)
    assert info.value.status is None


def test_client_server_errors(client: Client) -> None:
    target = client.embed(TARGET)
    with pytest.raises(InvalidInputError, match="budget") as info:
        client.generate(target, budget=100_000)
    assert info.value.status == 422 and info.value.error_type == "invalid_input"
    with pytest.raises(Vec2PromptError) as not_found:
        client._request("GET", "/no-such-route")
    assert not_found.value.status == 404 and not_found.value.error_type == "not_found"


def test_client_unreachable() -> None:
    with pytest.raises(UnavailableError, match="cannot reach") as info:
        Client("http://127.0.0.1:9", timeout=5).health()
    assert info.value.status is None and info.value.error_type == "unavailable"
