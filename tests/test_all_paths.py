"""Every accepted formula differentiates: seeded compositions of the registered functions run
every path — value, AD derivative, symbolic derivative, tangent line and its printing — and each
either works (AD and symbolic agreeing) or raises a jaxcalc error, never anything else."""

from __future__ import annotations

import random

import numpy as np
import pytest

import jaxcalc as jc

#: One-argument functions as text calls them (their argument is substituted for `u`).
UNARY = sorted(f["name"] for f in jc.functions() if 1 in f["arity"])
BINARY = sorted(f["name"] for f in jc.functions() if f["arity"] == (2,))
POINTS = np.array([-1.7, -0.4, 0.3, 0.9, 2.5])


def composition(rng: random.Random, depth: int) -> str:
    """A random formula in x: functions of registered names, sums, products and powers."""
    if depth == 0:
        return rng.choice(["x", "x", "2*x", "(x + 1)", "x**2", "(1 - x)"])
    inner = composition(rng, depth - 1)
    pick = rng.random()
    if pick < 0.55:
        return f"{rng.choice(UNARY)}({inner})"
    if pick < 0.7:
        return f"{rng.choice(BINARY)}({inner}, {composition(rng, depth - 1)})"
    op = rng.choice(["+", "*", "-", "/"])
    return f"({inner} {op} {composition(rng, depth - 1)})"


def _cases(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [composition(rng, rng.randint(1, 3)) for _ in range(count)]


def _agree(a: np.ndarray, b: np.ndarray) -> bool:
    finite = np.isfinite(a) & np.isfinite(b)
    scale = np.maximum(np.abs(b), 1.0)
    return bool(np.all(np.isnan(a) == np.isnan(b))
                and np.all(np.abs(a - b)[finite] <= 1e-7 * scale[finite]))


def run_every_path(text: str) -> str:
    """What happened on each path: "ok" or the jaxcalc error class; raises on anything else."""
    try:
        f = jc.Function(text)
    except jc.JaxcalcError as e:
        return type(e).__name__
    f = jc.Function(f, ("x",)) if not f.variables else f
    values = f(POINTS)
    assert values.shape == POINTS.shape and values.dtype == np.float64
    outcome = []
    derivatives = {}
    for method in ("ad", "symbolic"):
        try:
            derivatives[method] = np.asarray(jc.derivative(f, method=method)(POINTS))
            outcome.append("ok")
        except jc.JaxcalcError as e:
            outcome.append(type(e).__name__)
    if len(derivatives) == 2:  # both exact: they agree wherever both are finite
        assert _agree(derivatives["ad"], derivatives["symbolic"]), text
    for at in (0.9, 2.5):
        try:
            t = jc.tangent(f, at=at)
            assert isinstance(t.slope, float) and isinstance(str(t.line), str)
            outcome.append("ok")
        except jc.JaxcalcError as e:
            outcome.append(type(e).__name__)
    return ",".join(outcome)


@pytest.mark.parametrize("text", _cases(40, seed=20261201))
def test_every_path_works_or_says_why(text):
    run_every_path(text)


@pytest.mark.slow
@pytest.mark.parametrize("text", _cases(100, seed=14))
def test_every_path_sweep(text):
    run_every_path(text)


def test_the_generator_reaches_every_registered_function():
    used = " ".join(_cases(200, seed=14))
    missing = [name for name in UNARY + BINARY if f"{name}(" not in used]
    assert len(missing) <= len(UNARY + BINARY) // 4, missing
