"""Tangent lines of one-variable functions, at one point or a batch of points."""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy

from .derive import _as_function, derivative
from .errors import InputError
from .function import Function, symbol, symbolic_derivative


@dataclasses.dataclass(frozen=True)
class Tangent:
    """The tangent ``y = value + slope·(x - point)`` of f at ``point`` (arrays when batched).

    ``line`` is the tangent as a SymPy expression (exact where SymPy can evaluate f and f' at
    the point, else with float coefficients; NaN where f or f' is not finite) for a scalar
    point, None for a batch. Values are NumPy arrays in the working dtype. Calling
    the tangent evaluates it: ``t(xs)`` has shape ``point.shape + xs.shape``.
    """

    variable: str
    point: np.ndarray
    value: np.ndarray
    slope: np.ndarray
    line: sympy.Expr | None

    @property
    def intercept(self) -> np.ndarray:
        return self.value - self.slope * self.point

    def __call__(self, xs) -> np.ndarray:
        xs = np.asarray(xs, self.slope.dtype)
        expand = (...,) + (None,) * xs.ndim
        return self.value[expand] + self.slope[expand] * (xs - self.point[expand])


def _exact_line(f: Function, at: float, value: float, slope: float) -> sympy.Expr:
    x = symbol(f.variables[0])
    if not (np.isfinite(value) and np.isfinite(slope)):
        return sympy.nan
    floats = {symbol(k): sympy.Float(float(v)) for k, v in f.params.items() if np.ndim(v) == 0}
    point = sympy.nsimplify(at, rational=True)
    try:
        exact_value = f.expr.xreplace(floats).subs(x, point)
        exact_slope = symbolic_derivative(f.expr, x, 1).xreplace(floats).subs(x, point)
        if exact_value.is_finite and exact_slope.is_finite and exact_value.is_real \
                and exact_slope.is_real:
            return sympy.expand(exact_slope * (x - point) + exact_value)
    except (TypeError, ValueError, RecursionError, ZeroDivisionError):
        pass
    return sympy.Float(slope) * x + sympy.Float(value - slope * at)


def tangent(f, at, *, dtype=None) -> Tangent:
    """The tangent line of a one-variable ``f`` at ``at`` (a number or an array of points).

    Example:
        >>> import jaxcalc as jc
        >>> t = jc.tangent("x**3 - 1/x", at=1.0)
        >>> t.line, float(t.slope), float(t.intercept)
        (4*x - 4, 4.0, -4.0)
    """
    f = _as_function(f)
    if len(f.variables) != 1:
        raise InputError(
            f"a tangent line needs a function of one variable; `{f.expr}` has {f.variables}"
        )
    value = np.asarray(f(at, dtype=dtype))
    slope = np.asarray(derivative(f)(at, dtype=dtype))
    point = np.asarray(at, value.dtype)
    line = None
    if point.ndim == 0:
        line = _exact_line(f, float(point), float(value), float(slope))
    return Tangent(f.variables[0], point, value, slope, line)
