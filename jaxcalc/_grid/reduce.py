"""Streaming reductions: each block is reduced where it was computed, partials combine on host.

A reduction runs over the grid's points; a function with per-point vectors (a gradient,
shape ``(..., n)``) is reduced per component. Semantics follow NumPy on the materialized
values: ``max``/``min`` propagate NaN (``np.max``), ``argmax``/``argmin`` find the flat
C-order index of the first extreme (the first NaN if any), ``sum``/``mean`` add block partials
in float64 with ``math.fsum`` (so the total does not depend on how blocks were spread),
``integral`` is the trapezoid rule along every grid axis (for plain arrays: along the points
of a 1-D array, ``np.trapezoid(y, x)``).

The block partial is written once for both array modules (``xp`` is ``jax.numpy`` inside the
compiled block, ``numpy`` for plain Python callables). Inside ``jax.jit``/``grad``/``vmap`` the
whole grid is one block and :meth:`Reduction.whole` turns its partial into the result, in JAX
(differentiable where the reduction is).

Example:
    >>> import numpy as np
    >>> r = REDUCTIONS["argmax"]
    >>> y = np.array([1.0, 5.0, 2.0]); ok = np.ones(3, bool)
    >>> value, index = r.combine(r.start(), r.partial(np, y, ok, None), block_start=10)
    >>> float(value), int(index)
    (5.0, 11)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from .._core.errors import InputError


def _masked(xp, y, mask, fill):
    return xp.where(mask.reshape(mask.shape + (1,) * (y.ndim - mask.ndim)), y, fill)


def _flat(xp, y, mask):
    """Values ``(points, *extra)`` and the mask ``(points,)`` (mask covers the grid axes)."""
    points = mask.size
    return y.reshape((points,) + y.shape[mask.ndim :]), mask.reshape(points)


@dataclasses.dataclass(frozen=True)
class Reduction:
    name: str
    partial: Callable  # (xp, y, mask, weights) -> partial (array or tuple of arrays)
    combine: Callable  # (state, partial, block_start) -> state
    finish: Callable  # (state, points, dtype) -> value
    start: Callable = lambda: None
    whole: Callable = lambda part, points: part  # the one partial of a whole grid -> value

    def merge(self, first, second):
        """The state of two runs of blocks, ``first`` before ``second`` in grid order."""
        if first is None or second is None:
            return second if first is None else first
        if isinstance(first, list):
            return first + second
        return self.combine(first, second, 0)


def _extreme(op: str) -> Reduction:
    sign = 1 if op == "max" else -1

    def partial(xp, y, mask, weights):
        y, mask = _flat(xp, y, mask)
        fill = -sign * np.inf
        return getattr(xp, op)(_masked(xp, y, mask, fill), axis=0)

    def combine(state, value, block_start):
        value = np.asarray(value)
        return value if state is None else getattr(np, "maximum" if sign > 0 else "minimum")(
            state, value)

    return Reduction(op, partial, combine, lambda s, n, dtype: _scalar(s, dtype))


def _arg(op: str) -> Reduction:
    sign = 1 if op == "argmax" else -1

    def partial(xp, y, mask, weights):
        y, mask = _flat(xp, y, mask)
        masked = _masked(xp, y, mask, -sign * np.inf)
        nan = xp.isnan(masked)
        # The first NaN explicitly: a parallel (GPU) argmax may return any of several NaNs.
        index = xp.where(xp.any(nan, axis=0), xp.argmax(nan, axis=0),
                         getattr(xp, op)(xp.where(nan, -sign * np.inf, masked), axis=0))
        value = xp.take_along_axis(masked, xp.expand_dims(index, 0), axis=0)[0]
        return value, index

    def combine(state, part, block_start):
        value, index = (np.asarray(p) for p in part)
        index = index.astype(np.int64) + block_start
        if state is None:
            return value, index
        best, where = state
        beats = np.greater if sign > 0 else np.less  # no subtraction: -inf - -inf warns
        better = beats(value, best) | (np.isnan(value) & ~np.isnan(best))
        return np.where(better, value, best), np.where(better, index, where)

    def finish(state, points, dtype):
        index = state[1]
        return int(index) if index.ndim == 0 else index

    return Reduction(op, partial, combine, finish, whole=lambda part, points: part[1])


def _summed(name: str, weighted: bool) -> Reduction:
    def partial(xp, y, mask, weights):
        if weighted:
            y = y * weights.reshape(weights.shape + (1,) * (y.ndim - weights.ndim))
        y, mask = _flat(xp, y, mask)
        return xp.sum(_masked(xp, y, mask, 0), axis=0)

    def combine(state, value, block_start):
        state.append(np.asarray(value, np.float64))
        return state

    def finish(state, points, dtype):
        # Exactly rounded (math.fsum): the same total whatever the blocks, threads or devices.
        parts = np.stack(state)
        columns = parts.reshape(len(parts), -1).T
        total = np.array([math.fsum(c) for c in columns]).reshape(parts.shape[1:])
        return _scalar(total / points if name == "mean" else total, dtype)

    def whole(part, points):
        return part / points if name == "mean" else part

    return Reduction(name, partial, combine, finish, start=list, whole=whole)


def _scalar(value, dtype):
    value = np.asarray(value, dtype)
    return value[()] if value.ndim == 0 else value


REDUCTIONS = {
    "max": _extreme("max"),
    "min": _extreme("min"),
    "argmax": _arg("argmax"),
    "argmin": _arg("argmin"),
    "sum": _summed("sum", False),
    "mean": _summed("mean", False),
    "integral": _summed("integral", True),
}


def reduction(name: object) -> Reduction:
    """The reduction called ``name``; InputError listing the choices otherwise."""
    if name not in REDUCTIONS:
        raise InputError(f"`reduce` must be one of {', '.join(REDUCTIONS)}, got {name!r}")
    return REDUCTIONS[name]
