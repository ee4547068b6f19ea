"""Finite differences in plain NumPy: the baselines jaxcalc's exact derivatives are compared to.

Everything here is vectorized (``f`` is called once per stencil on the whole array) and honest: the
weights are exact (Fornberg's algorithm in rational arithmetic, rounded once), and the step is made
exactly representable, so the only errors are the truncation error of the stencil and rounding.

Step-size rule (``h=None``), per element and in the dtype of ``x``::

    h = eps ** (1 / (n + accuracy)) * max(1, |x|),    then  h = (x + h) - x

where ``eps`` is the machine epsilon of the dtype, ``n`` the derivative order and ``accuracy`` the
order of the truncation error. It balances truncation (~h**accuracy) against rounding (~eps / h**n);
e.g. a central first derivative with accuracy 2 uses ``cbrt(eps)`` (6.1e-6 in float64, 4.9e-3 in
float32). The second line makes ``x + h`` a float, so the division uses the step actually taken.
The rule assumes ``f`` varies on the scale ``max(1, |x|)``; near a singularity (``1/x`` close to 0)
or for a rapidly varying ``f``, pass a smaller ``h``.

Float inputs keep their dtype (float32 in, float32 out); integers and bools compute in float64.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .._core.errors import InputError

__all__ = ["Estimate", "default_step", "difference", "misc_derivative", "richardson", "weights"]

_KINDS = ("forward", "backward", "central")


class Estimate(NamedTuple):
    """A derivative estimate and an estimate of its absolute error (arrays of the same shape)."""

    value: np.ndarray
    error: np.ndarray


def _is_int(v, low):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _validate(*, n, x=None, h=None, kind="central", accuracy=2, levels=2, order=None, dx=1.0,
              offsets=None):
    """Every argument check of this module, at the door; returns ``x`` as floats and ``h`` cast."""
    low = 0 if offsets is not None else 1
    if not _is_int(n, low):
        raise InputError(f"`n` must be an integer >= {low} (the derivative order); got {n!r}. "
                         "Pass n=1 for the first derivative.")
    if offsets is not None and (len(set(offsets)) != len(offsets) or len(offsets) <= n):
        raise InputError(f"`offsets` must be more than n = {n} distinct points; got "
                         f"{[str(o) for o in offsets]}. Add points or remove duplicates.")
    if kind not in _KINDS:
        raise InputError(f"`kind` must be one of {_KINDS}; got {kind!r}.")
    if kind == "central" and not (_is_int(accuracy, 2) and accuracy % 2 == 0):
        raise InputError(f"`accuracy` must be an even integer >= 2 for kind='central'; got "
                         f"{accuracy!r}. Use 2, 4, 6 or 8, or a one-sided kind for odd orders.")
    if not _is_int(accuracy, 1):
        raise InputError(f"`accuracy` must be an integer >= 1 (the order of the truncation "
                         f"error); got {accuracy!r}. Use 1, 2, 3, ...")
    if not _is_int(levels, 2):
        raise InputError(f"`levels` must be an integer >= 2 (the number of step halvings + 1); "
                         f"got {levels!r}. Use levels=4.")
    if order is not None and not _is_int(order, 1):
        raise InputError(f"`order` must be an odd integer (points in the stencil); got {order!r}.")
    if order is not None and order % 2 == 0:
        raise InputError(f"`order` must be odd (points of a centred stencil); got {order}. "
                         f"Use order={order + 1}.")
    if order is not None and order < n + 1:
        raise InputError(f"`order` must be at least n + 1 = {n + 1} points for the n-th "
                         f"derivative; got {order}. Use order={n + 1 + n % 2}.")
    if not (_is_real(dx) and np.isfinite(dx) and dx > 0):
        raise InputError(f"`dx` must be a positive finite number (the step); got {dx!r}.")
    if x is None:
        return None, None
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype.kind != "f":
        raise InputError(f"`x` must hold real numbers (float or int); got dtype {x.dtype}. "
                         "Pass a real float array.")
    if h is not None:
        h = np.asarray(h, dtype=x.dtype)
        if not np.all(np.isfinite(h) & (h > 0)):
            raise InputError(f"`h` must be positive and finite; got {h!r}. "
                             "Pass h=None for the default step.")
        fits = zip(h.shape[::-1], x.shape[::-1], strict=False)
        if h.ndim > x.ndim or any(a not in (1, b) for a, b in fits):
            raise InputError(f"`h` must broadcast to the shape of `x`, {x.shape}; got shape "
                             f"{h.shape}. Pass a scalar step or one per point.")
        h = ((x + h) - x).astype(x.dtype)  # the step actually taken
        if np.any(h == 0):
            raise InputError("`h` must exceed half the float spacing at `x` (else x + h == x); "
                             "got a step that rounds to 0. Pass a larger h, or h=None.")
    return x, h


@lru_cache(maxsize=256)
def _fornberg(offsets, n):
    """Fornberg (1988) recursion in exact rational arithmetic; weights at 0 for ``offsets``."""
    c = [[Fraction(0)] * (n + 1) for _ in offsets]
    c[0][0] = Fraction(1)
    c1, c4 = Fraction(1), offsets[0]
    for i in range(1, len(offsets)):
        c2, c5, c4 = Fraction(1), c4, offsets[i]
        for j in range(i):
            c3 = offsets[i] - offsets[j]
            c2 *= c3
            if j == i - 1:
                for k in range(min(i, n), 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2
            for k in range(min(i, n), 0, -1):
                c[j][k] = (c4 * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = c4 * c[j][0] / c3
        c1 = c2
    return tuple(row[n] for row in c)


def weights(offsets, n=1, *, exact=False):
    """Finite-difference weights for the ``n``-th derivative on a stencil (Fornberg's algorithm).

    ``sum(w[k] * f(x + offsets[k] * h)) / h**n`` approximates the ``n``-th derivative at ``x``.
    Computed exactly with fractions and cached, then rounded once to float64.

    Args:
        offsets: distinct stencil points in units of the step (ints, fractions or floats).
        n: derivative order, ``len(offsets) > n``.
        exact: return a tuple of :class:`fractions.Fraction` instead of a float64 array.

    >>> weights([-1, 0, 1])
    array([-0.5,  0. ,  0.5])
    >>> [str(w) for w in weights([-1, 0, 1], n=2, exact=True)]
    ['1', '-2', '1']
    """
    offsets = tuple(Fraction(o) for o in offsets)
    _validate(n=n, offsets=offsets)
    w = _fornberg(offsets, n)
    return w if exact else np.array([float(v) for v in w])


def _offsets(n, kind, accuracy):
    """Stencil with error O(h**accuracy), exact for polynomials of degree < n + accuracy."""
    if kind == "central":
        r = (n - 1) // 2 + accuracy // 2
        return tuple(range(-r, r + 1))
    m = n + accuracy
    return tuple(range(m)) if kind == "forward" else tuple(range(1 - m, 1))


def default_step(x, *, n=1, accuracy=2):
    """The default step for ``x`` (see the module docstring), exactly representable at ``x``.

    >>> print(default_step(0.0))
    6.055454452393343e-06
    >>> x = np.float32(100.0)
    >>> h = default_step(x)
    >>> print(h.dtype, (x + h) - x == h)
    float32 True
    """
    x, _ = _validate(n=n, x=x, kind="forward", accuracy=accuracy)
    h = np.finfo(x.dtype).eps ** (1 / (n + accuracy)) * np.maximum(1, np.abs(x))
    return ((x + h) - x).astype(x.dtype)


def difference(f, x, *, n=1, kind="central", accuracy=2, h=None):
    """The ``n``-th derivative of an elementwise NumPy function by finite differences.

    Args:
        f: vectorized function of one array (called once, on all stencil points stacked).
        x: points, any shape; the result has this shape and a float dtype (float32 stays float32,
            integers become float64).
        n: derivative order.
        kind: ``"central"``, ``"forward"`` or ``"backward"`` stencil.
        accuracy: order of the truncation error: even for central, any >= 1 one-sided.
        h: step (scalar or broadcastable to ``x``); default: the module's step rule. Either way the
            step actually used is ``(x + h) - x``.

    Returns:
        The derivative estimates, shaped like ``x`` (a NumPy scalar for scalar ``x``).

    Raises:
        InputError: for a bad ``n``, ``kind``, ``accuracy``, ``h`` or non-real ``x``.

    >>> print(round(float(difference(np.sin, 0.0)), 9))
    1.0
    >>> round(float(difference(np.exp, 1.0, n=2, accuracy=4)), 8)
    2.71828183
    """
    x, h = _validate(n=n, x=x, h=h, kind=kind, accuracy=accuracy)
    h = default_step(x, n=n, accuracy=accuracy) if h is None else h
    offsets = _offsets(n, kind, accuracy)
    w = weights(offsets, n)
    keep = w != 0
    k = np.array(offsets, dtype=x.dtype)[keep].reshape((-1,) + (1,) * x.ndim)
    points = x + k * h
    fx = np.broadcast_to(np.asarray(f(points), dtype=x.dtype), points.shape)
    return (np.tensordot(w[keep].astype(x.dtype), fx, axes=1) / h**n)[()]


def richardson(f, x, *, n=1, h=None, levels=4):
    """Richardson extrapolation of central differences: steps h, h/2, ..., h/2**(levels-1).

    Central differences have error c1 h**2 + c2 h**4 + ...; each level cancels one more term, so
    the result has truncation error O(h**(2 * levels)).

    Args:
        f: vectorized function of one array (called ``levels + 1`` times).
        x: points, any shape (dtype handling as in :func:`difference`).
        n: derivative order.
        h: largest step; default ``default_step(x, n=n, accuracy=2 * levels)``.
        levels: number of steps (>= 2).

    Returns:
        ``Estimate(value, error)``. ``error`` = ``|value - the previous-order estimate|`` (the
        truncation error of that estimate, so usually an overestimate) plus a rounding bound
        ``eps * |f(x)|`` carried through the same extrapolation (it assumes ``f`` is evaluated to
        about one ulp, and so can underestimate where ``f`` cancels, e.g. near its zeros).

    >>> est = richardson(np.exp, 0.0)
    >>> print(abs(float(est.value) - 1) < 1e-13, float(est.error) < 1e-11)
    True True
    """
    x, h = _validate(n=n, x=x, h=h, levels=levels)
    h = default_step(x, n=n, accuracy=2 * levels) if h is None else h
    spread = np.abs(weights(_offsets(n, "central", 2), n)).sum()
    noise0 = np.finfo(x.dtype).eps * spread * np.abs(np.asarray(f(x), dtype=x.dtype))
    table = [(difference(f, x, n=n, h=h / 2**i), noise0 / (h / 2**i) ** n) for i in range(levels)]
    for j in range(1, levels):
        c = 4**j
        prev, table = table, [((c * b - a) / (c - 1), (c * rb + ra) / (c - 1))
                              for (a, ra), (b, rb) in zip(table[:-1], table[1:], strict=True)]
    (value, noise), = table
    return Estimate(value, (np.abs(value - prev[-1][0]) + noise).astype(x.dtype))


def misc_derivative(func, x0, dx=1.0, n=1, args=(), order=3):
    """The removed ``scipy.misc.derivative``: central difference with ``order`` points.

    Same semantics and results as SciPy's (its tabulated weights are exactly Fornberg's rationals
    rounded to float64): ``sum(w[k] * func(x0 + (k - order // 2) * dx, *args)) / dx**n``.

    Beware the default ``dx=1.0``: a huge step. The result is exact only for polynomials (of
    degree below ``order``, or up to ``order`` for even ``n``) and otherwise badly wrong: ``exp``
    at 0 gives sinh(1) = 1.1752 instead of 1, ``x**3 - 1/x`` at 2 gives 13.33 instead of 12.25
    (and at 1 the stencil lands on the pole at 0). Use jaxcalc's exact derivatives instead
    (``jaxcalc.derivative`` for automatic differentiation, ``Function.diff`` for symbolic), or
    :func:`difference` for a finite difference with a tuned step.

    Args:
        func: function of ``x`` (and ``*args``).
        x0: point(s) at which to differentiate.
        dx: step, > 0.
        n: derivative order.
        args: extra positional arguments for ``func``.
        order: number of points, odd and >= n + 1.

    >>> print(misc_derivative(lambda x: 3 * x**2 + 1, 2.0))
    12.0
    >>> print(round(misc_derivative(np.exp, 0.0), 4))
    1.1752
    """
    if not callable(func):
        raise InputError(f"`func` must be a function of x such as `lambda x: 3*x**2 + 1`; got "
                         f"{type(func).__name__}. For a formula use jaxcalc.derivative.")
    x0, _ = _validate(n=n, x=x0, order=order, dx=dx)
    w = weights(range(-(order // 2), order // 2 + 1), n)
    val = 0.0
    for k in range(order):
        val += w[k] * func(x0 + (k - order // 2) * dx, *args)
    return val / np.prod((dx,) * n, axis=0)
