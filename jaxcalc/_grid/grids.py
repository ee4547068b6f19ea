"""Grids that never materialize: lazy 1-D axes, their N-D products, and plain arrays.

A grid describes points; :func:`jaxcalc.evaluate` walks it in *blocks* (the unit of work sent
to one device) and generates each block's coordinates where the work runs — for a lazy axis
as ``base + iota * step`` inside the compiled program — so a 10^10-point grid costs no memory.

* :class:`Axis` (made by :func:`linspace` and :func:`arange`): ``start + i * step`` for
  ``i < size``; a linspace's last point is exactly ``stop``, as in NumPy.
* :class:`Mesh` (made by :func:`mesh`): the product of 1-D axes (lazy or plain 1-D arrays),
  ``indexing="ij"``: axis k feeds the function's k-th variable; shape ``(n_0, ..., n_k)``.
* Plain arrays (:class:`Points`): one array per variable, broadcast together (lazily: a block
  copies only its own points, so ``(4000, 1)`` and ``(1, 70000)`` never become full-size).

A grid holds at most :data:`MAX_POINTS` points. Converting a lazy axis to an array
(``np.asarray(axis)``, or calling a function on it) checks the host-memory budget first, as
:func:`jaxcalc.evaluate` does, instead of silently allocating gigabytes.

Blocks have power-of-two lengths along one axis (the last block is padded), so grids of many
different sizes share a handful of compiled programs.

Example:
    >>> g = linspace(0.0, 1.0, 5)
    >>> g.shape, np.asarray(g).tolist(), g.point(3)
    ((5,), [0.0, 0.25, 0.5, 0.75, 1.0], 0.75)
    >>> mesh(g, arange(3)).shape
    (5, 3)
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Iterator, Sequence

import jax
import numpy as np

from .._core import memory
from .._core.errors import InputError

#: Points a grid may hold: beyond 2**53 float64 indices and coordinates are no longer exact.
MAX_POINTS = 2**53


def _finite(value: object, name: str) -> float:
    if isinstance(value, jax.core.Tracer):
        raise InputError(f"`{name}` is traced (inside jax.jit/grad/vmap): a lazy grid needs "
                         "concrete numbers; pass an array such as jnp.linspace(...) as the grid")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"`{name}` must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"`{name}` must be finite, got {value!r}")
    return float(value)


def whole_number(value: object, name: str) -> int:
    """``value`` as an int from 1 to :data:`MAX_POINTS` (1e9 is fine); InputError otherwise."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # 1e9 reads as a float
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"`{name}` must be a whole number >= 1, got {value!r}")
    return _at_most_max(int(value), f"`{name}`")


def _flat_index(index: object, shape: tuple[int, ...]) -> int:
    """``index`` (a flat C-order index, negative from the end, or one index per axis) as a
    flat index into ``shape``; InputError when it is not one."""
    size = math.prod(shape)
    try:
        if isinstance(index, tuple):
            return int(np.ravel_multi_index(tuple(operator.index(i) for i in index), shape))
        flat = operator.index(index)
    except (TypeError, ValueError):
        flat = None
    if flat is None or not -size <= flat < size:
        raise InputError(f"`index` must be a flat index below {size:,} or one index per axis "
                         f"of shape {shape}, got {index!r}")
    return flat % size


def _at_most_max(points: int, what: str) -> int:
    if points > MAX_POINTS:
        raise InputError(f"{what} asks for {points:.3g} points; a grid holds at most 2**53 "
                         f"(about {MAX_POINTS:.2g}) points; use fewer points or a coarser step")
    return points


@dataclasses.dataclass(frozen=True)
class Axis:
    """A lazy 1-D grid: ``start + i * step`` for ``0 <= i < size`` (see :func:`linspace`,
    :func:`arange`); ``last`` pins the final point exactly (a linspace's ``stop``)."""

    start: float
    step: float
    size: int
    last: float | None = None

    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    def values(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Points ``lo..hi-1`` as float64 (NumPy's formula ``i * step + start``)."""
        hi = self.size if hi is None else min(hi, self.size)
        out = np.arange(lo, hi, dtype=np.float64) * self.step + self.start
        if self.last is not None and hi == self.size and hi > lo:
            out[-1] = self.last
        return out

    def __len__(self) -> int:
        return self.size

    def point(self, index: int | tuple[int]) -> float:
        """The coordinate at ``index`` (what ``argmax`` returns for this axis)."""
        i = _flat_index(index, self.shape)
        return float(self.values(i, i + 1)[0])

    def __array__(self, dtype=None, copy=None):
        """All points as an array, after the same host-memory check as ``evaluate``: the points
        and a result of the same size must fit (a call ``f(axis)`` converts it this way)."""
        itemsize = np.dtype(dtype or np.float64).itemsize
        memory.require_host(self.size * (8 + 2 * itemsize),
                            f"{self.size:,} points of a lazy grid as an array",
                            "stream them with jc.evaluate(f, grid, reduce=...) or "
                            "out='file.npy' instead of converting the grid")
        return self.values().astype(dtype or np.float64)


def linspace(start: float, stop: float, num: int, *, endpoint: bool = True) -> Axis:
    """``num`` evenly spaced points from ``start`` to ``stop``, like ``np.linspace``, lazily.

    Example:
        >>> np.asarray(linspace(0, 1, 3)).tolist()
        [0.0, 0.5, 1.0]
    """
    start, stop = _finite(start, "start"), _finite(stop, "stop")
    num = whole_number(num, "num")
    divisions = num - 1 if endpoint else num
    step = (stop - start) / divisions if divisions > 0 else 0.0
    return Axis(start, step, num, stop if endpoint and num > 1 else None)


def arange(start: float, stop: float | None = None, step: float = 1.0) -> Axis:
    """Points ``start, start + step, ...`` below ``stop``, like ``np.arange``, lazily.

    Example:
        >>> np.asarray(arange(0, 1, 0.25)).tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    if stop is None:
        start, stop = 0.0, start
    start, stop, step = _finite(start, "start"), _finite(stop, "stop"), _finite(step, "step")
    if step == 0:
        raise InputError("`step` must not be 0")
    count = (stop - start) / step
    if not math.isfinite(count):
        raise InputError(f"arange({start}, {stop}, {step}) has too many points; use a larger "
                         "`step`")
    size = _at_most_max(math.ceil(count), f"arange({start}, {stop}, {step})")
    if size < 1:
        raise InputError(f"arange({start}, {stop}, {step}) has no points; check the signs")
    return Axis(start, step, size)


def _as_axis(axis: object, index: int) -> Axis | np.ndarray:
    if isinstance(axis, Axis):
        return axis
    values = np.asarray(axis, dtype=np.float64) if _is_real_array(axis) else None
    if values is None or values.ndim != 1 or values.size == 0:
        raise InputError(f"mesh axis {index} must be a linspace/arange or a non-empty 1-D "
                         f"array of numbers, got {type(axis).__name__}")
    return values


def _is_real_array(x: object) -> bool:
    kind = np.asarray(x).dtype.kind if not isinstance(x, (str, bytes)) else "U"
    return kind in "biuf"


@dataclasses.dataclass(frozen=True, eq=False)
class Mesh:
    """The product of 1-D axes (``indexing="ij"``); see :func:`mesh`. ``arrays``: the plain
    arrays it was read from, when it was (their dtypes choose the working dtype)."""

    axes: tuple[Axis | np.ndarray, ...]
    arrays: tuple[np.ndarray, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def point(self, index: int | tuple[int, ...]) -> tuple[float, ...]:
        """The coordinates of the point at ``index``: one index per axis (what ``argmax``
        returns for a mesh of several axes) or a flat C-order index."""
        where = np.unravel_index(_flat_index(index, self.shape), self.shape)
        return tuple(float(axis_values(a, int(i), int(i) + 1)[0])
                     for a, i in zip(self.axes, where, strict=True))


def mesh(*axes) -> Mesh:
    """The grid of all combinations of ``axes`` (linspace/arange or 1-D arrays), lazily.

    Example:
        >>> m = mesh(linspace(0, 1, 3), [10.0, 20.0])
        >>> m.shape, m.point(5)
        ((3, 2), (1.0, 20.0))
    """
    if not axes:
        raise InputError("`mesh` needs at least one axis, e.g. mesh(linspace(0, 1, 100))")
    grid = Mesh(tuple(_as_axis(a, i) for i, a in enumerate(axes)))
    _at_most_max(grid.size, f"a mesh of shape {grid.shape}")
    return grid


def axis_values(axis: Axis | np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Points lo..hi-1 of a lazy axis (float64) or a plain one (its own dtype)."""
    return axis.values(lo, hi) if isinstance(axis, Axis) else axis[lo:hi]


def axis_weights(axis: Axis | np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Trapezoid-rule weights of points lo..hi-1 of an axis: (x[i+1] - x[i-1]) / 2, one-sided
    at the ends (0 for a one-point axis); the weighted sum of f integrates f over the axis."""
    size = len(axis)
    first, stop = max(lo - 1, 0), min(hi + 1, size)
    x = axis_values(axis, first, stop)
    x = x.astype(np.float64) if isinstance(x, np.ndarray) else x  # (a traced array stays one)
    i = np.arange(lo, min(hi, size))
    return (x[np.minimum(i + 1, size - 1) - first] - x[np.maximum(i - 1, 0) - first]) / 2


@dataclasses.dataclass(frozen=True, eq=False)
class Points:
    """Plain arrays as a grid: one per variable, broadcast to ``shape`` (lazily), walked in
    flat C order. One-value arrays are kept as 0-d scalars."""

    arrays: tuple[np.ndarray, ...]
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def flat(self, lo: int, hi: int) -> list[np.ndarray]:
        """Each variable's points lo..hi-1 (flat C order), copying only those; scalars 0-d."""
        return [a if a.ndim == 0 else flat_range(np.broadcast_to(a, self.shape), lo, hi)
                for a in self.arrays]

    def point(self, index: int | tuple[int, ...]) -> tuple[float, ...]:
        """The coordinates at ``index`` (one index per axis, or a flat C-order index)."""
        flat = _flat_index(index, self.shape)
        return tuple(float(x) for x in (a if a.ndim == 0 else a[0] for a in
                                        self.flat(flat, flat + 1)))


def flat_range(a: np.ndarray, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
    """Items ``lo..hi-1`` of ``a`` in flat C order, copying only those (``a`` may be any view,
    a broadcast one included), into ``out`` (1-D, at least ``hi - lo`` long) when given."""
    out = np.empty(hi - lo, a.dtype) if out is None else out
    if a.ndim <= 1:
        out[: hi - lo] = a[lo:hi]
        return out[: hi - lo]
    inner = math.prod(a.shape[1:])
    first, last = lo // inner, (hi - 1) // inner
    if first == last:
        return flat_range(a[first], lo - first * inner, hi - first * inner, out)
    done = 0
    if lo > first * inner:  # a partial first row
        done = len(flat_range(a[first], lo - first * inner, inner, out))
        first += 1
    whole_end = last + 1 if hi == (last + 1) * inner else last
    if whole_end > first:  # whole rows: one broadcasting copy
        count = (whole_end - first) * inner
        np.copyto(out[done : done + count].reshape((whole_end - first, *a.shape[1:])),
                  a[first:whole_end])
        done += count
    if whole_end == last:  # a partial last row
        flat_range(a[last], 0, hi - last * inner, out[done:])
    return out[: hi - lo]


def as_grid(grid: object) -> Mesh | Points:
    """A :class:`Mesh` (an :class:`Axis` is a one-axis mesh) or :class:`Points` for arrays
    (big-endian arrays are read in the native byte order)."""
    if isinstance(grid, Mesh):
        return grid
    if isinstance(grid, Axis):
        return Mesh((grid,))
    arrays = list(grid) if isinstance(grid, (tuple, list)) else [grid]
    if not arrays or not all(_is_real_array(a) for a in arrays):
        raise InputError("`grid` must be a linspace/arange/mesh, an array, or a tuple of arrays "
                         f"(one per variable), got {type(grid).__name__}")
    arrays = [_native(np.asarray(a)) for a in arrays]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as e:
        raise InputError(f"`grid` arrays do not broadcast: {[a.shape for a in arrays]}") from e
    _at_most_max(math.prod(shape), f"arrays of shape {shape}")
    if _is_outer_product(arrays, shape):  # e.g. (4000, 1) and (1, 70000): walked as a mesh
        return Mesh(tuple(a.reshape(-1) for a in arrays), tuple(arrays))
    return Points(tuple(a.reshape(()) if a.size == 1 else a for a in arrays), shape)


def _is_outer_product(arrays: Sequence[np.ndarray], shape: tuple[int, ...]) -> bool:
    """Whether array k varies along axis k only, for every k (then they are a mesh's axes)."""
    return len(arrays) == len(shape) > 1 and all(
        a.shape == tuple(n if j == k else 1 for j, n in enumerate(shape))
        for k, a in enumerate(arrays))


def _native(a: np.ndarray) -> np.ndarray:
    """``a`` in the machine's byte order (a converted copy only when it is not)."""
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


@dataclasses.dataclass(frozen=True)
class Block:
    """One unit of work: rows ``offset..offset+valid-1`` of axis ``split`` (all later axes
    whole) at the fixed earlier coordinates ``outer`` (mesh); or flat points (Points)."""

    outer: tuple[int, ...]
    offset: int
    valid: int
    start: int  # flat C-order index of the block's first point


def pow2_at_most(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def pow2_at_least(n: int) -> int:
    return 1 << (max(1, n) - 1).bit_length()


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a grid is cut into blocks of ``rows`` (a power of two) along axis ``split``."""

    split: int
    rows: int
    trailing: tuple[int, ...]  # sizes of the axes after `split` (whole in every block)

    @property
    def block_points(self) -> int:
        return self.rows * math.prod(self.trailing)


def layout(shape: Sequence[int], target: int, flat: bool = False) -> Layout:
    """Blocks of about ``target`` points: the first axis whose trailing product fits is split."""
    if flat:
        shape = (math.prod(shape),)
    split = len(shape) - 1
    while split > 0 and math.prod(shape[split:]) <= target:
        split -= 1
    trailing = tuple(shape[split + 1 :])
    rows = min(pow2_at_least(shape[split]), pow2_at_most(target // max(1, math.prod(trailing))))
    return Layout(split, rows, trailing)


def blocks(shape: Sequence[int], plan: Layout, flat: bool = False) -> Iterator[Block]:
    """The blocks of a grid of ``shape`` in C order (so outputs are written front to back)."""
    if flat:
        shape = (math.prod(shape),)
    outer_shape, n = tuple(shape[: plan.split]), shape[plan.split]
    per_row = math.prod(plan.trailing)
    for outer in np.ndindex(*outer_shape):
        row0 = int(np.ravel_multi_index(outer, outer_shape)) * n if outer_shape else 0
        for offset in range(0, n, plan.rows):
            valid = min(plan.rows, n - offset)
            yield Block(tuple(int(i) for i in outer), offset, valid, (row0 + offset) * per_row)


def count_blocks(shape: Sequence[int], plan: Layout, flat: bool = False) -> int:
    if flat:
        shape = (math.prod(shape),)
    return math.prod(shape[: plan.split]) * -(-shape[plan.split] // plan.rows)
