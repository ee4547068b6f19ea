"""The benchmark's instruments: its grid, the 50-digit reference and error measure, the
memory-bandwidth roof and the timer. What they measure is documented in ``jaxcalc._tools.bench``.

Example:
    >>> import numpy as np
    >>> from jaxcalc._tools.bench_methods import Case
    >>> case = Case.from_text("f1", "3*x**2 + 1")
    >>> xs = grid(4, np.dtype("float64"))
    >>> err = max_relative_error(6 * xs, reference(case, xs))  # 6*x rounds: half an ulp at most
    >>> bool(0 < err <= 2**-53)
    True
"""

from __future__ import annotations

import functools
import math
import statistics
import time

import numpy as np
import sympy

from .bench_methods import Case

INTERVAL = (0.5, 3.0)
REFERENCE_DIGITS = 50
ERROR_FLOOR = 1e-3  # relative to max |f'| over the reference points
MIN_REPEATS, _MAX_REPEATS = 3, 100
_SEED = 0


def grid(n: int, dtype: np.dtype) -> np.ndarray:
    """The benchmark's inputs: ``n`` uniform points on [0.5, 3]; the first k points are the
    same for every ``n`` (one reference serves all sizes)."""
    return np.random.default_rng(_SEED).uniform(*INTERVAL, n).astype(dtype, copy=False)


@functools.lru_cache(maxsize=64)
def _reference(expr: sympy.Expr, x: sympy.Symbol, points: bytes) -> tuple[np.ndarray, ...]:
    import mpmath

    fn = sympy.lambdify(x, expr, "mpmath", cse=True)
    hi, lo = [], []
    with mpmath.workdps(REFERENCE_DIGITS):
        for p in np.frombuffer(points, np.float64):
            try:
                value = mpmath.mpmathify(fn(mpmath.mpf(float(p))))
            except (ZeroDivisionError, ValueError, OverflowError):
                value = mpmath.nan
            if isinstance(value, mpmath.mpc):
                value = value.real if value.imag == 0 else mpmath.nan
            first = float(value)
            hi.append(first)
            lo.append(float(value - first) if math.isfinite(first) else 0.0)
    return np.array(hi), np.array(lo)


def reference(case: Case, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f' at ``points`` to 50 digits, as a double-double ``(hi, lo)`` (cached)."""
    points = np.ascontiguousarray(points, np.float64)
    return _reference(case.derivative, case.symbol, points.tobytes())


def max_relative_error(values, ref: tuple[np.ndarray, np.ndarray]) -> float:
    """The benchmark's error measure (module docstring) of ``values`` against ``reference``."""
    hi, lo = ref
    got = np.asarray(values, np.float64).ravel()[: hi.size]
    finite = np.isfinite(hi)
    if not finite.any():
        return math.nan
    hi, lo, got = hi[finite], lo[finite], got[finite]
    scale = np.maximum(np.abs(hi), ERROR_FLOOR * np.max(np.abs(hi)))
    with np.errstate(all="ignore"):
        error = np.abs((got - hi) - lo) / scale
    return float(np.max(np.where(np.isfinite(got), error, np.inf)))


def measure_roof(repeats: int = 10) -> tuple[float, str]:
    """Copy bandwidth (GB/s, read + write bytes) of the benchmark's device, and the kernel:
    ``numpy.copyto`` between two preallocated 256 MiB arrays on CPU, a jitted ``jnp.copy`` of
    1 GiB on an accelerator; the best of ``repeats`` copies."""
    import jax
    import jax.numpy as jnp

    if jax.default_backend() == "cpu":
        nbytes, kernel = 2**28, "numpy.copyto"
        src = np.ones(nbytes // 8)
        dst = np.empty_like(src)

        def copy():
            np.copyto(dst, src)
    else:
        nbytes, kernel, jitted = 2**30, "jax.jit(jnp.copy)", jax.jit(jnp.copy)
        src = jnp.ones(nbytes // 4, jnp.float32)

        def copy():
            jitted(src).block_until_ready()
    copy()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        copy()
        best = min(best, time.perf_counter() - start)
    return 2 * nbytes / best / 1e9, kernel


def time_calls(run, xs, sync, repeat_seconds: float) -> tuple[float, float, object]:
    """(first-call seconds, median steady seconds, last result) of ``run(xs)``."""
    start = time.perf_counter()
    out = run(xs)
    sync(out)
    first = time.perf_counter() - start
    times = []
    while len(times) < _MAX_REPEATS:
        start = time.perf_counter()
        out = run(xs)
        sync(out)
        times.append(time.perf_counter() - start)
        spent = sum(times)
        if spent >= repeat_seconds and (len(times) >= MIN_REPEATS or spent >= 1.0):
            break
    return first, statistics.median(times), out
