"""The benchmark's instruments: its grid, the 50-digit reference and error measure, the
memory-bandwidth roof, the cache size, and the timers. What they measure is documented in
``jaxcalc._tools.bench``; every benchmark of the project (``jaxcalc bench``, the ``bench/``
scripts, the pytest-benchmark suite) times and checks with these.

Timing anything (the per-call benchmark does this)::

    calls = {"jaxcalc": lambda: d(xs).block_until_ready(),
             "plain jit": lambda: g(xs).block_until_ready()}
    timings = time_interleaved(calls, repeat_seconds=1.0)   # warm-up, then interleaved rounds
    timings["jaxcalc"].median, timings["jaxcalc"].first      # seconds; first = the warm-up call

Each call must return once its work is done (sync JAX results inside it). Interleaving (every
contestant once per round, the order rotating) exposes all of them to the same machine state,
so their ratios are fair on a noisy machine.

Example:
    >>> import numpy as np
    >>> from jaxcalc._tools.bench_methods import Case
    >>> case = Case.from_text("f1", "3*x**2 + 1")
    >>> xs = grid(4, np.dtype("float64"))
    >>> err = max_relative_error(6 * xs, reference(case, xs))  # 6*x rounds: half an ulp at most
    >>> bool(0 < err <= 2**-53)
    True
    >>> t = time_interleaved({"sum": lambda: sum(range(100))}, repeat_seconds=0.001)["sum"]
    >>> t.result, len(t.times) >= MIN_REPEATS, t.best <= t.median
    (4950, True, True)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import sympy

from .bench_methods import ERROR_FLOOR, Case

INTERVAL = (0.5, 3.0)
REFERENCE_DIGITS = 50
MIN_REPEATS, MAX_REPEATS = 3, 100
LONG_CALL_SECONDS = 1.0  # calls this long stop repeating after 1 s (1 or 2 calls)
ACCELERATOR_CACHE_BYTES = 64 * 2**20  # an H100/H200 has 50-60 MB of L2; JAX does not report it
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


def relative_errors(values, ref: tuple[np.ndarray, np.ndarray],
                    floor: float = ERROR_FLOOR) -> np.ndarray:
    """Per point ``|d_i - r_i| / max(|r_i|, floor * max_j |r_j|)`` of ``values`` against
    ``reference``: NaN where the reference is not finite, inf where only ``values`` is not."""
    hi, lo = ref
    got = np.asarray(values, np.float64).ravel()[: hi.size]
    finite = np.isfinite(hi)
    if not finite.any():
        return np.full(hi.shape, np.nan)
    scale = np.maximum(np.abs(hi), floor * np.max(np.abs(hi[finite])))
    with np.errstate(all="ignore"):
        error = np.abs((got - hi) - lo) / scale
    error = np.where(np.isfinite(got), error, np.inf)
    return np.where(finite, error, np.nan)


def max_relative_error(values, ref: tuple[np.ndarray, np.ndarray],
                       floor: float = ERROR_FLOOR) -> float:
    """The benchmark's error measure: the largest of :func:`relative_errors` (NaN when the
    reference is nowhere finite)."""
    errors = relative_errors(values, ref, floor)
    return math.nan if np.isnan(errors).all() else float(np.nanmax(errors))


def copy_kernel(nbytes: int | None = None) -> tuple[Callable[[], None], int, str]:
    """The roof's kernel on the benchmark's device: a zero-argument copy, the bytes it moves
    (read + write) and its name. ``numpy.copyto`` between two preallocated arrays of ``nbytes``
    (default 256 MiB) on CPU, a jitted ``jnp.copy`` of ``nbytes`` (default 1 GiB) on an
    accelerator."""
    import jax
    import jax.numpy as jnp

    if jax.default_backend() == "cpu":
        src = np.ones((nbytes or 2**28) // 8)
        dst = np.empty_like(src)

        def copy():
            np.copyto(dst, src)

        return copy, 2 * src.nbytes, "numpy.copyto"
    jitted = jax.jit(jnp.copy)
    src = jnp.ones((nbytes or 2**30) // 4, jnp.float32)

    def copy():
        jitted(src).block_until_ready()

    return copy, 2 * src.nbytes, "jax.jit(jnp.copy)"


def measure_roof(nbytes: int | None = None, repeats: int = 10) -> tuple[float, str]:
    """Copy bandwidth (GB/s, read + write bytes) of the benchmark's device and the kernel's
    name: the best of ``repeats`` calls of :func:`copy_kernel` after a warm-up."""
    copy, moved, kernel = copy_kernel(nbytes)
    timing = time_interleaved({kernel: copy}, repeat_seconds=0, min_repeats=repeats)[kernel]
    return moved / timing.best / 1e9, kernel


def _cpu_cache_bytes(cpu: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int | None:
    """The largest data cache of the CPU (the last level), from Linux's sysfs."""
    sizes = []
    for index in cpu.glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes, default=None)


@functools.cache
def cache_bytes() -> int:
    """The benchmark device's last-level cache in bytes: read from the OS on CPU (32 MiB when
    it does not say), :data:`ACCELERATOR_CACHE_BYTES` on an accelerator."""
    import jax

    if jax.default_backend() != "cpu":
        return ACCELERATOR_CACHE_BYTES
    return _cpu_cache_bytes() or 32 * 2**20


def cache_resident(n: int, itemsize: int, cache: int) -> bool:
    """Whether f' over ``n`` points (read x, write f') fits in a cache of ``cache`` bytes: then
    the copy roof, a DRAM figure, says nothing about it.

    >>> cache_resident(10**5, 8, 32 * 2**20), cache_resident(10**7, 8, 32 * 2**20)
    (True, False)
    """
    return 2 * n * itemsize <= cache


@dataclasses.dataclass
class Timing:
    """One contestant's timings: ``first`` (the warm-up call, None if not timed here),
    ``times`` (wall seconds of each steady call), ``cpu_times`` (this process's CPU seconds
    of each, ``time.process_time``: above the wall time when several cores work) and the last
    ``result``."""

    first: float | None
    times: list[float] = dataclasses.field(default_factory=list)
    cpu_times: list[float] = dataclasses.field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


def _timed(call: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def time_interleaved(calls: Mapping[str, Callable[[], object]], repeat_seconds: float = 0.2, *,
                     warm_up: bool = True, min_repeats: int = MIN_REPEATS,
                     max_repeats: int = MAX_REPEATS) -> dict[str, Timing]:
    """Time zero-argument ``calls`` (each returns when its work is done) in interleaved rounds.

    One warm-up call each (unless ``warm_up=False``: the caller did it), then rounds in which
    every contestant still running is called once, the order rotating. A contestant stops
    after ``max_repeats`` calls, or once its calls took ``repeat_seconds`` in all and it made
    ``min_repeats`` of them (or 1 s has passed: long calls repeat once or twice). Exactly
    ``k`` rounds: ``repeat_seconds=0, min_repeats=k, max_repeats=k``. To time many tiny calls,
    make each contestant a batch that returns its call count and divide ``times`` by it.
    """
    timings = {name: Timing(None) for name in calls}
    if warm_up:
        for name, call in calls.items():
            timings[name].first, _, timings[name].result = _timed(call)
    running = list(calls)
    round_ = 0
    while running:
        shift = round_ % len(running)
        for name in running[shift:] + running[:shift]:
            timing = timings[name]
            wall, cpu, timing.result = _timed(calls[name])
            timing.times.append(wall)
            timing.cpu_times.append(cpu)
        round_ += 1
        running = [name for name in running if not _done(timings[name].times, repeat_seconds,
                                                          min_repeats, max_repeats)]
    return timings


def _done(times: list[float], repeat_seconds: float, min_repeats: int, max_repeats: int) -> bool:
    spent = sum(times)
    return len(times) >= max_repeats or (
        spent >= repeat_seconds and (len(times) >= min_repeats or spent >= LONG_CALL_SECONDS))
