"""Tangent lines of one-variable functions, at one point or a batch of points."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from .derive import derivative
from .errors import InputError, ResourceError
from .execute import is_traced, read_input
from .function import Function, as_function, require_one_formula, symbol
from .parse import DEFAULT_LIMITS, ParseLimits
from .symbolic import short


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["f", "point", "value", "slope"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Tangent:
    """The tangent ``y = value + slope·(x - point)`` of ``f`` at ``point``.

    For one point, ``point``, ``value``, ``slope`` and ``intercept`` are Python floats and
    ``line`` is the tangent as a SymPy expression: exact where SymPy evaluates f and f' at the
    point with numbers of at most ``ParseLimits.max_digits`` digits, else with float
    coefficients; NaN where f or f' is not finite. For an array of points they are NumPy
    arrays in the working dtype and ``line`` is None; inside ``jax.jit``/``grad``/``vmap`` they
    are JAX arrays (and ``line`` is None): a Tangent is a pytree. Calling the tangent
    evaluates it: ``t(xs)`` has shape ``point.shape + xs.shape``.
    """

    f: Function
    point: float | np.ndarray
    value: float | np.ndarray
    slope: float | np.ndarray

    @property
    def variable(self) -> str:
        return self.f.variables[0]

    @property
    def intercept(self) -> float | np.ndarray:
        return self.value - self.slope * self.point

    @functools.cached_property
    def line(self) -> sympy.Expr | None:
        """The line as a SymPy expression (scalar point only); raises
        :class:`~jaxcalc.UnsupportedFunctionError` when f holds a function given as a JAX
        callable, which SymPy cannot differentiate."""
        if not isinstance(self.point, float):
            return None
        return _line(self.f, self.point, self.value, self.slope)

    def __repr__(self) -> str:
        return (f"Tangent(at {self.variable} = {self.point}: value {self.value}, "
                f"slope {self.slope})")

    def __call__(self, xs) -> np.ndarray | jax.Array:
        if is_traced((xs, self.point, self.value, self.slope)):
            point, value, slope, xs = map(jnp.asarray, (self.point, self.value, self.slope, xs))
        else:
            point, value, slope = map(np.asarray, (self.point, self.value, self.slope))
            xs = np.asarray(read_input(xs), slope.dtype)
        expand = (...,) + (None,) * xs.ndim
        return value[expand] + slope[expand] * (xs - point[expand])


def _line(f: Function, at: float, value: float, slope: float) -> sympy.Expr:
    x = symbol(f.variables[0])
    if not (np.isfinite(value) and np.isfinite(slope)):
        return sympy.nan
    fallback = sympy.Float(slope) * x + sympy.Float(value - slope * at)
    try:
        exact = derivative(f, method="symbolic")
    except ResourceError:  # SymPy's derivative outgrows its limit
        return fallback
    floats = {symbol(k): sympy.Float(float(v)) for k, v in f.params.items() if np.ndim(v) == 0}
    point = sympy.nsimplify(at, rational=True)
    try:
        line = sympy.expand(exact.expr.xreplace(floats).subs(x, point) * (x - point)
                            + f.expr.xreplace(floats).subs(x, point))
        if line.is_finite and line.is_real and _printable(line) and str(line):
            return line  # str: printing may evaluate, e.g. floor(exp(350)), and fail
    except (ArithmeticError, TypeError, ValueError, RecursionError):  # SymPy evaluating
        pass
    return fallback


def _printable(expr: sympy.Expr) -> bool:
    """Whether every exact number in ``expr`` has at most the parser's digit limit (so that it
    prints, and parses again)."""
    bound = 10 ** DEFAULT_LIMITS.max_digits
    return all(max(abs(n.p), n.q) < bound for n in expr.atoms(sympy.Rational))


def tangent(f, at, *, dtype=None, limits: ParseLimits = DEFAULT_LIMITS) -> Tangent:
    """The tangent line of a one-variable ``f`` (any Function: a derivative too) at ``at``
    (a number or an array of points). f is differentiated once.

    Example:
        >>> import jaxcalc as jc
        >>> t = jc.tangent("x**3 - 1/x", at=1.0)
        >>> t.line, t.slope, t.intercept
        (4*x - 4, 4.0, -4.0)
    """
    f = as_function(f, limits=limits)
    if len(f.variables) != 1:
        raise InputError(f"a tangent line needs a function of one variable; "
                         f"`{short(f.kernel.label())}` has {f.variables}")
    require_one_formula(f, "a tangent line")
    value, slope = f(at, dtype=dtype), derivative(f)(at, dtype=dtype)
    if is_traced((value, slope)):  # inside jax.jit/grad/vmap
        return Tangent(f, jnp.asarray(at, value.dtype), value, slope)
    value, slope = np.asarray(value), np.asarray(slope)
    point = np.asarray(at, value.dtype)
    if point.ndim == 0:
        return Tangent(f, float(point), float(value), float(slope))
    return Tangent(f, point, value, slope)
