"""Shared test helpers: dtype tolerances, 50-digit mpmath references, a re-trace counter.

JAX's global configuration is left alone (``jax_enable_x64`` stays off): float64 is asked for
with ``dtype=`` or a scoped ``jax.enable_x64(True)``, exactly as users do.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Mapping

import jax
import numpy as np
import pytest
import sympy
from jax import monitoring

DTYPES = ("float32", "float64")

#: Largest accepted :func:`relative_error` at smooth points, per working dtype.
TOLERANCE = {"float32": 1e-5, "float64": 1e-13}

#: Below this magnitude :func:`relative_error` measures absolute error (scaled by it) instead,
#: so that values at or near 0 are not judged by a relative error that blows up.
FLOOR = 1e-2

REFERENCE_DIGITS = 50


@pytest.fixture(params=DTYPES)
def dtype(request) -> str:
    """Each working dtype in turn."""
    return request.param


def float64(values) -> np.ndarray:
    """A jaxcalc result (or reference) as a NumPy float64 array, for comparisons."""
    return np.asarray(values, dtype=np.float64)


def rounded(point: float, dtype: str) -> float:
    """``point`` as the working dtype sees it: references are computed at the rounded input."""
    return float(np.asarray(point, dtype))


def relative_error(actual, expected, floor: float = FLOOR) -> float:
    """``max |actual - expected| / max(|expected|, floor)``; NaN in both places counts as equal."""
    actual, expected = float64(actual), float64(expected)
    both_nan = np.isnan(actual) & np.isnan(expected)
    same_inf = np.isinf(expected) & (actual == expected)
    with np.errstate(invalid="ignore"):
        error = np.abs(actual - expected) / np.maximum(np.abs(expected), floor)
    error = np.where(both_nan | same_inf, 0.0, error)
    return float(np.max(error, initial=0.0)) if not np.isnan(error).any() else math.inf


#: SymPy's step heads (derivative 0 off their jumps), as the registry's ``step`` kind lists them.
_STEPS = (sympy.sign, sympy.floor, sympy.ceiling, sympy.Heaviside)


def mpmath_value(expr: sympy.Expr, point, wrt: str | None = None, n: int = 0) -> float:
    """The value (``n = 0``) or ``n``-th derivative of ``expr`` at ``point``, to 50 digits.

    ``point`` is a number (for an expression of one variable) or ``{name: number}``. The
    derivative is SymPy's (Dirac deltas and steps' derivatives dropped, jaxcalc's convention at
    jumps), evaluated by ``evalf`` (mpmath) at the exact binary value of the floats; the result
    is rounded to a Python float, NaN where it is not a finite real number.
    """
    symbols = {s.name: s for s in expr.free_symbols}
    if not isinstance(point, Mapping):
        (name,) = symbols or ("x",)
        point = {name: point}
    if n:
        wrt = wrt or next(iter(symbols))
        expr = sympy.diff(expr, symbols.get(wrt, sympy.Symbol(wrt, real=True)), n)
        expr = expr.replace(sympy.DiracDelta, lambda *_: sympy.Integer(0))  # see _core.lower
        # SymPy leaves a step's derivative unevaluated where it cannot prove the argument real
        # (`sign(asin(tanh(x)/2))`): 0 off the jumps, the same convention
        expr = expr.replace(lambda e: isinstance(e, sympy.Derivative)
                            and isinstance(e.expr, _STEPS), lambda e: sympy.Integer(0))
    assert not expr.has(sympy.Derivative), f"no closed-form derivative to compare with: {expr}"
    exact = {s: sympy.Rational(float(point[name])) for name, s in symbols.items()}
    value = sympy.N(expr.xreplace(exact), REFERENCE_DIGITS)  # exact: Max(x, x) is no 0.e-160
    if value.has(sympy.zoo, sympy.nan) or not value.is_number:
        return math.nan
    real, imag = (float(part) for part in value.as_real_imag())
    return real if imag == 0 else math.nan


def jaxpr_primitives(fn, *args) -> list[str]:
    """Names of the primitives ``fn(*args)`` traces to, nested jaxprs included."""
    names = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            names.append(eqn.primitive.name)
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return names


@contextlib.contextmanager
def compilations(callable_):
    """Count the compilations of a jaxcalc callable's kernel inside the block (equinox-style
    "assert not re-traced"): ``with compilations(f) as count: ...; assert count() == 1``."""
    kernel = callable_.kernel
    before = kernel.compiles
    yield lambda: kernel.compiles - before


@contextlib.contextmanager
def cpu_budget(seconds: float):
    """Fails when the block takes more than ``seconds`` of this thread's CPU time: the work
    itself, not JAX's background threads nor a collection of the whole test process's heap
    (garbage collection is paused during the block: one late in the suite took ~1 s). Yields
    a list that holds the seconds spent once the block is done."""
    gc.disable()
    spent = []
    start = time.thread_time()
    try:
        yield spent
    finally:
        spent.append(time.thread_time() - start)
        gc.enable()
    assert spent[0] < seconds, f"took {spent[0]:.2f} s of CPU; the budget is {seconds} s"


@pytest.fixture
def backend_compiles():
    """Count XLA backend compiles (jax.monitoring, public API) inside the test: call it
    for the number so far."""
    events, listening = [], [True]

    def listen(name, secs, **kw):
        if listening and name == "/jax/core/compile/backend_compile_duration":
            events.append(secs)

    monitoring.register_event_duration_secs_listener(listen)
    yield lambda: len(events)
    listening.clear()
    unregister = getattr(monitoring, "unregister_event_duration_listener", None)
    if unregister is not None:  # JAX 0.8 has none: the listener stays, silenced
        unregister(listen)
