"""f' of the benchmark's functions by every installed method, timed by pytest-benchmark.

The harness of ``jaxcalc bench`` (``jaxcalc._tools.bench``) supplies everything but the clock:
the cases (f1..f5 and the tail case, with their error floors), the contestants and their synced
calls, the inputs, the repeat limits, the 50-digit reference and error measure, and the copy
roof's kernel. pytest-benchmark does the timing and keeps history (``--benchmark-autosave``,
``--benchmark-compare``). Each benchmark records in ``extra_info`` its points per second, the
warm-up (compile) seconds and the max relative error. ``JAXCALC_BENCH_SIZES`` (default
``"1e4 1e5"``) and ``JAXCALC_BENCH_DTYPE`` (``float64``) choose the grids (``conftest.py``).
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest
from conftest import DTYPE, SIZES

from jaxcalc._tools.bench import cases, synced_call
from jaxcalc._tools.bench_measure import (
    MAX_REPEATS,
    MIN_REPEATS,
    copy_kernel,
    grid,
    max_relative_error,
    reference,
)
from jaxcalc._tools.bench_methods import METHODS, available_methods

CASES = {case.name: case for case in cases()}
_REPEAT_SECONDS = 0.5  # time one benchmark's rounds should take
_REFERENCE_POINTS = 512


def rounds_for(steady_seconds: float, repeat_seconds: float = _REPEAT_SECONDS) -> int:
    """The harness's repeat count for pytest-benchmark, which needs it up front: enough calls
    of ``steady_seconds`` to fill ``repeat_seconds``, within [MIN_REPEATS, MAX_REPEATS]."""
    wanted = math.ceil(repeat_seconds / max(steady_seconds, 1e-9))
    return max(MIN_REPEATS, min(MAX_REPEATS, wanted))


@functools.cache
def _inputs(n: int) -> tuple[np.ndarray, dict]:
    """The grid of ``n`` points and its per-backend copies (shared by every benchmark)."""
    return grid(n, DTYPE), {}


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
@pytest.mark.parametrize("method", available_methods())
@pytest.mark.parametrize("expression", list(CASES))
def test_derivative(benchmark, expression, method, n):
    case, chosen = CASES[expression], METHODS[method]
    xs, placed = _inputs(n)
    call = synced_call(chosen, chosen.build(case, DTYPE), xs, placed)
    with np.errstate(all="ignore"):
        start = time.perf_counter()
        call()
        warm_up = time.perf_counter() - start
        call()
        steady = time.perf_counter() - start - warm_up
        benchmark.group = f"{expression} {DTYPE.name} n={n:.0e}"
        out = benchmark.pedantic(call, rounds=rounds_for(steady))
    k = min(_REFERENCE_POINTS, n)
    benchmark.extra_info.update(
        points_per_second=n / benchmark.stats.stats.median,
        warm_up_seconds=warm_up,
        max_rel_error=max_relative_error(chosen.device().host(out[:k]), reference(case, xs[:k]),
                                         case.error_floor),
    )


def test_copy_roof(benchmark):
    """The memory-bandwidth roof: the copy kernel of ``jaxcalc bench`` on this device."""
    copy, moved, kernel = copy_kernel()
    benchmark.group = "roof"
    benchmark.pedantic(copy, rounds=10, warmup_rounds=1)
    benchmark.extra_info.update(kernel=kernel, gbps=moved / benchmark.stats.stats.min / 1e9)
