"""Speed and accuracy of f' side by side: jaxcalc against finite differences and SymPy codegen.

:func:`run_benchmark` times every method of :mod:`jaxcalc._tools.bench_methods` on every expression
and grid size and returns a :class:`~jaxcalc._tools.bench_report.BenchReport` (table, JSON, plot).
What each number means:

* **inputs**: ``n`` points drawn uniformly from [0.5, 3] (seed 0) in the requested dtype: a NumPy
  array, as users pass it, on CPU; on a GPU they are placed on it once (JAX or CuPy arrays), so
  host-device transfers are not timed.
* **seconds**: the median wall time of one call, result synced (``block_until_ready`` for JAX;
  on the CPU backend the result already is host memory; on a GPU it stays on the device), after
  one warm-up call. The methods of one expression and size are timed in interleaved rounds
  (``bench_measure.time_interleaved``: each method once per round, the order rotating), so
  their ratios come from one machine state; a method repeats until its calls took
  ``repeat_seconds`` (0.2 s) and it made 3 (one or two when a call takes over a second), at
  most 100 calls.
* **compile_seconds**: the one-time cost before that steady state: building the callable
  (differentiating, lambdify, ...) plus what the warm-up call took beyond a steady call (JIT
  compilation for the JAX methods), at that ``n``.
* **max_rel_error**: ``max_i |d_i - r_i| / max(|r_i|, 1e-3 * max_j |r_j|)`` over the first
  ``reference_points`` (512) points of the grid, where ``r`` is SymPy's exact f' evaluated by
  mpmath at 50 digits at those (dtype-rounded) points and kept as a double-double, so float64
  errors near 1e-16 are measured, not blurred by rounding the reference. The floor keeps a zero
  of f' from turning a tiny absolute error into a huge relative one; the tail case, whose f'
  has no zero but spans 15 decades, has none (``ERROR_FLOORS``); a non-finite result where
  the reference is finite counts as an infinite error (null in JSON). The reference is computed
  once per expression and point set.
* **roof_fraction**: ``points_per_second * 2 * itemsize / roof`` (one read of x, one write of
  f' per point) against a copy kernel measured in the same run on the benchmark's device:
  ``numpy.copyto`` into a preallocated array on CPU, a jitted ``jnp.copy`` on an accelerator.
* **cache_resident**: x and f' together (``2 * n * itemsize``) fit in the device's last-level
  cache (``bench_measure.cache_bytes``); the roof, a main-memory figure, does not apply there
  and the table shows "in cache" instead of a fraction.

The JSON schema and the table are documented in ``jaxcalc._tools.bench_report``; bench/README.md
says how to run it on CPU and GPU.

A cell whose time, extrapolated linearly from the previous size, would exceed
``max_call_seconds`` per call (or the rest of ``time_budget``), or that comes after the budget
is spent, is skipped and reported, as is a method that fails on an expression (e.g. numexpr
lacking a function).

Example:
    >>> report = run_benchmark(["x**3 - 1/x"], sizes=(1000,), methods=["numpy_symbolic"])
    >>> [r.method for r in report.results], report.results[0].max_rel_error < 1e-14
    (['numpy_symbolic'], True)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable, Mapping

import numpy as np
import sympy

from .._core import memory
from .._core.errors import InputError
from .bench_measure import (
    MIN_REPEATS,
    Timing,
    cache_resident,
    grid,
    max_relative_error,
    measure_roof,
    reference,
    time_interleaved,
)
from .bench_methods import ERROR_FLOOR, Case, Method, pick_methods
from .bench_report import BenchReport, Result, Skipped, machine_info, versions

#: The five test functions of the grids issue: the speed benchmark's cases.
GRID_FUNCTIONS: dict[str, str] = {
    "f1": "3*x**2 + 1",
    "f2": "x**3 - 1/x",
    "f3": "sin(x)*exp(-x**2/2) + log(1 + x**2)",
    "f4": " + ".join(f"x**{k}/{math.factorial(k)}" for k in range(40)),
    "f5": functools.reduce(lambda u, _: f"log(cosh({u})) + 1", range(10), "x"),
}
#: The accuracy tail case: on [0.5, 3] f' = 2(x + 5/3) sech((x + 5/3)**2)**2 falls from 1e-3 to
#: 1e-18, and the textbook rule ``1 - tanh(u)**2`` cancels to 0 once tanh(u) rounds to 1.
TAIL_CASE = "tanh((x + 5/3)**2)"
#: ``jaxcalc bench`` without expressions: f1..f5 and the tail case.
DEFAULT_EXPRESSIONS: dict[str, str] = {**GRID_FUNCTIONS, "tail": TAIL_CASE}
#: Error floors other than ``ERROR_FLOOR``, by expression text: f' of the tail case has no zero,
#: and a floor at 1e-3 * max |f'| would hide its tail (relative error is measured as it is).
ERROR_FLOORS: dict[str, float] = {TAIL_CASE: 0.0}
_BYTES_PER_POINT_FACTOR = 16  # peak memory per point, in units of itemsize (FD stencils, temps)


def _sizes(sizes) -> tuple[int, ...]:
    sizes = (sizes,) if isinstance(sizes, str) or np.ndim(sizes) == 0 else tuple(sizes)
    out = []
    for s in sizes:
        ok = isinstance(s, (int, float, np.integer, np.floating)) and not isinstance(s, bool)
        if not (ok and math.isfinite(s) and s >= 1 and s == int(s)):
            raise InputError(f"`sizes` must be whole numbers of points >= 1 such as 1e5; got {s!r}")
        out.append(int(s))
    if not out:
        raise InputError("`sizes` is empty; give at least one grid size, e.g. sizes=(10**5,)")
    return tuple(sorted(set(out)))


def _dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        pass
    if getattr(dtype, "name", None) not in ("float32", "float64"):
        raise InputError(f"`dtype` must be 'float32' or 'float64'; got {dtype!r}")
    return dtype


def cases(expressions=None) -> tuple[Case, ...]:
    """The benchmark's :class:`Case` objects for ``expressions`` (as :func:`run_benchmark`
    takes them), each with its error floor (``ERROR_FLOORS``)."""
    if expressions is None:
        expressions = DEFAULT_EXPRESSIONS
    elif isinstance(expressions, (str, sympy.Expr)):
        expressions = [expressions]
    if not isinstance(expressions, Mapping):
        expressions = {str(e): e for e in expressions}
    if not expressions:
        raise InputError("`expressions` is empty; pass None for the default functions "
                         "(f1..f5 and the tail case)")
    return tuple(Case.from_text(name, text, ERROR_FLOORS.get(str(text), ERROR_FLOOR))
                 for name, text in expressions.items())


def _check_memory(n: int, dtype: np.dtype) -> None:
    memory.require_host(n * (dtype.itemsize * _BYTES_PER_POINT_FACTOR + 8),
                        f"`sizes`: {n:.3g} {dtype} points", "pass smaller sizes")


class _Progress:
    """A rich progress bar on stderr (a line per cell without rich); nothing when off."""

    def __init__(self, enabled: bool, total: int):
        self.bar = self.task = None
        self.enabled, self.done = enabled, 0
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import Progress
            except ImportError:
                return
            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("bench", total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()

    def step(self, text: str) -> None:
        """A cell named ``text`` begins (the bar counts the cells before it as done)."""
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, description=text)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)
        self.done += 1


def run_benchmark(expressions=None, *, sizes=(10**4, 10**5), dtype="float64", methods=None,
                  progress=False, time_budget=None, max_call_seconds=10.0,
                  repeat_seconds=0.2, reference_points=512) -> BenchReport:
    """Time and check f' of each expression by each method at each size (module docstring).

    Args:
        expressions: text or SymPy expressions of one variable, a ``{name: expression}``
            mapping, or None for :data:`DEFAULT_EXPRESSIONS` (f1..f5 and the tail case).
        sizes: grid sizes (whole numbers; ``1e5`` is accepted).
        dtype: ``"float32"`` or ``"float64"``.
        methods: method names (see ``jaxcalc._tools.bench_methods``); default: all installed.
        progress: show a progress bar on stderr.
        time_budget: soft limit in seconds for the whole run: each cell's repeats shrink to
            fit it, and cells predicted to overrun it (or started after it) are skipped.
            None: no limit.
        max_call_seconds: skip a cell whose single call is predicted to take longer.
        repeat_seconds: time spent repeating each cell's calls (at least 3 calls).
        reference_points: how many grid points the error is measured on.

    Returns:
        A :class:`~jaxcalc._tools.bench_report.BenchReport`.

    Raises:
        InputError: bad arguments; ResourceError: a size that would not fit in memory.
    """
    started = time.perf_counter()
    machine = machine_info()  # first: its load average is the one the run began with
    chosen_cases, sizes, dtype = cases(expressions), _sizes(sizes), _dtype(dtype)
    chosen = pick_methods(methods)
    limits = {"time_budget": time_budget, "max_call_seconds": max_call_seconds,
              "repeat_seconds": repeat_seconds}
    for name, value in limits.items():
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise InputError(f"`{name}` must be a positive number of seconds; got {value!r}")
    for n in sizes:
        _check_memory(n, dtype)
    roof, roof_kernel = measure_roof()
    total = len(sizes) * len(chosen_cases) * len(chosen)
    cells = _Cells(dtype, roof, machine["cache_bytes"], math.inf, repeat_seconds,
                   max_call_seconds)
    if time_budget is not None:  # a budget also shortens each cell's repeats to fit
        cells.deadline = started + time_budget
        cells.repeat_seconds = min(repeat_seconds, time_budget / (4 * total))
    rows = []
    with _Progress(progress, total) as bar, np.errstate(all="ignore"):
        for n in sizes:
            xs, placed = grid(n, dtype), {}
            for case in chosen_cases:
                ref = reference(case, xs[: min(reference_points, n)])
                rows += cells.measure(case, chosen, xs, placed, ref, bar)
    return BenchReport(
        machine=machine, versions=versions(), roof_gbps=roof, roof_kernel=roof_kernel,
        dtype=dtype.name, expressions={c.name: c.text for c in chosen_cases},
        results=[r for r in rows if isinstance(r, Result)],
        skipped=[r for r in rows if isinstance(r, Skipped)],
        total_seconds=time.perf_counter() - started,
        error_floors={c.name: c.error_floor for c in chosen_cases})


def synced_call(method: Method, run, xs: np.ndarray, placed: dict) -> Callable[[], object]:
    """``run`` (what ``method.build`` made) as a zero-argument call on ``xs`` that returns
    once the result is ready: the thing every benchmark times. ``placed`` caches ``xs`` on
    each backend (pass the same dict for one ``xs``)."""
    backend = method.device()
    if backend.name not in placed:
        placed[backend.name] = backend.put(xs)
    xs_there = placed[backend.name]

    def call():
        out = run(xs_there)
        backend.sync(out)
        return out

    return call


@dataclasses.dataclass
class _Cells:
    """One run's measuring state: limits, built callables, timings so far, failures."""

    dtype: np.dtype
    roof_gbps: float
    cache_bytes: int
    deadline: float
    repeat_seconds: float
    max_call_seconds: float
    built: dict = dataclasses.field(default_factory=dict)
    last: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)

    def skip_reason(self, key: tuple[str, str], n: int) -> str | None:
        if key in self.failed:  # it failed at a smaller size: it would fail again
            return self.failed[key]
        remaining = self.deadline - time.perf_counter()
        if remaining <= 0:
            return "time budget spent"
        if key in self.last:
            seconds, previous = self.last[key]
            estimate = seconds * n / previous
            if estimate > self.max_call_seconds or (MIN_REPEATS + 1) * estimate > remaining:
                return f"estimated {estimate:.2g} s per call"
        return None

    def measure(self, case: Case, methods, xs: np.ndarray, placed: dict,
                ref: tuple[np.ndarray, np.ndarray], bar: _Progress) -> list[Result | Skipped]:
        """The cells of one expression at one size: each method is built and warmed up (a
        failure skips it), then all are timed in interleaved rounds. ``placed`` caches ``xs``
        on each backend."""
        n, rows, calls, first = xs.size, {}, {}, {}
        for method in methods:
            key = (case.name, method.name)
            bar.step(f"{case.name} {method.name} n={n:.0e}")
            reason = self.skip_reason(key, n)
            if reason is None:
                try:
                    call = self._prepare(case, method, xs, placed)
                    start = time.perf_counter()
                    call()
                    first[method.name] = time.perf_counter() - start
                    calls[method.name] = call
                except Exception as e:  # a baseline that cannot do this: report, go on
                    reason = self.failed[key] = (f"{type(e).__name__}: "
                                                 f"{' '.join(str(e).split())[:160]}")
            if reason is not None:
                rows[method.name] = Skipped(*key, self.dtype.name, n, reason)
        timings = time_interleaved(calls, self.repeat_seconds, warm_up=False)
        for method in methods:
            if method.name in timings:
                timing = timings[method.name]
                timing.first = first[method.name]
                rows[method.name] = self._result(case, method, n, timing, ref)
        return [rows[m.name] for m in methods]

    def _prepare(self, case: Case, method: Method, xs: np.ndarray, placed: dict):
        """The zero-argument call of ``method`` on ``xs`` (built once per expression)."""
        key = (case.name, method.name)
        if key not in self.built:
            start = time.perf_counter()
            self.built[key] = (method.build(case, self.dtype), time.perf_counter() - start)
        return synced_call(method, self.built[key][0], xs, placed)

    def _result(self, case: Case, method: Method, n: int, timing: Timing,
                ref: tuple[np.ndarray, np.ndarray]) -> Result:
        key = (case.name, method.name)
        seconds = timing.median
        host = method.device().host(timing.result[: ref[0].size])  # what the error check needs
        self.last[key] = (seconds, n)
        itemsize = self.dtype.itemsize
        return Result(*key, self.dtype.name, n, seconds, n / seconds,
                      self.built[key][1] + max(0.0, timing.first - seconds),
                      max_relative_error(host, ref, case.error_floor),
                      n / seconds * 2 * itemsize / (self.roof_gbps * 1e9), host.dtype.name,
                      cache_resident(n, itemsize, self.cache_bytes))
