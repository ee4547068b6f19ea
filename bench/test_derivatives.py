"""f' of the five grid-issue functions by every installed method, timed by pytest-benchmark.

The same contestants, inputs and error measure as ``jaxcalc bench`` (``jaxcalc._tools.bench``);
pytest-benchmark does the timing and keeps history (``--benchmark-autosave``,
``--benchmark-compare``). Each benchmark records in ``extra_info`` its points per second,
the warm-up (compile) seconds and the max relative error against the 50-digit reference.
``JAXCALC_BENCH_SIZES`` (default ``"1e4 1e5"``) and ``JAXCALC_BENCH_DTYPE`` (``float64``)
choose the grids.
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np
import pytest

from jaxcalc._tools.bench import DEFAULT_EXPRESSIONS
from jaxcalc._tools.bench_measure import grid, max_relative_error, reference
from jaxcalc._tools.bench_methods import METHODS, Backend, Case, available_methods

SIZES = tuple(int(float(s)) for s in os.environ.get("JAXCALC_BENCH_SIZES", "1e4 1e5").split())
DTYPE = np.dtype(os.environ.get("JAXCALC_BENCH_DTYPE", "float64"))
_ROUND_SECONDS = 0.5  # time budget of one benchmark's rounds (at least 3 rounds)


@functools.cache
def _case(name: str) -> Case:
    return Case.from_text(name, DEFAULT_EXPRESSIONS[name])


@functools.cache
def _inputs(n: int, backend: Backend):
    return backend.put(grid(n, DTYPE))


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
@pytest.mark.parametrize("method", available_methods())
@pytest.mark.parametrize("expression", list(DEFAULT_EXPRESSIONS))
def test_derivative(benchmark, expression, method, n):
    case, chosen = _case(expression), METHODS[method]
    backend = chosen.device()
    xs = _inputs(n, backend)
    run = chosen.build(case, DTYPE)

    def call():
        out = run(xs)
        backend.sync(out)
        return out

    with np.errstate(all="ignore"):
        start = time.perf_counter()
        call()
        warm_up = time.perf_counter() - start
        call()
        steady = time.perf_counter() - start - warm_up
        rounds = max(3, min(100, int(_ROUND_SECONDS / max(steady, 1e-6))))
        benchmark.group = f"{expression} {DTYPE.name} n={n:.0e}"
        out = benchmark.pedantic(call, rounds=rounds)
    k = min(512, n)
    benchmark.extra_info.update(
        points_per_second=n / benchmark.stats.stats.median,
        warm_up_seconds=warm_up,
        max_rel_error=max_relative_error(backend.host(out[:k]), reference(case, grid(k, DTYPE))),
    )


def test_copy_roof(benchmark):
    """The memory-bandwidth roof: numpy.copyto between preallocated 256 MiB arrays."""
    src = np.ones(2**25)
    dst = np.empty_like(src)
    benchmark.group = "roof"
    benchmark.pedantic(np.copyto, (dst, src), rounds=10, warmup_rounds=1)
    benchmark.extra_info["gbps"] = 2 * src.nbytes / benchmark.stats.stats.min / 1e9
