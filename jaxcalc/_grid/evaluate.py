"""``evaluate``: a callable over a grid, into an array, a ``.npy`` file, or a reduction.

For jaxcalc callables (a Function, a derivative, gradient or Hessian: anything with a
``.kernel`` and ``.leaves``) each block is one compiled program that makes its own coordinates
(``base + iota * step`` for a lazy axis), evaluates the kernel and — when reducing — reduces,
so a reduction over 10^10 points never holds more than a block per device (``fused``). Other
callables (a :class:`~jaxcalc.Tangent`, any NumPy function of arrays) get each block's
coordinates as NumPy arrays, one block at a time (``engine.HostEngine``). Ctrl-C stops every
thread within a block and re-raises :class:`KeyboardInterrupt` (``engine.in_shares``).

Inside ``jax.jit``/``grad``/``vmap`` (a traced param, traced grid arrays, or a jit trace), the
grid is evaluated as one JAX computation instead, reductions included, so the result is
differentiable (an ``integral`` in a loss, for instance); that needs the grid to fit in memory
at once, else :class:`~jaxcalc.InputError` says so.

Outputs: ``out=None`` returns a NumPy array; ``out=array`` fills it (its dtype is the default
working dtype; another dtype than the values' is an error, never a silent cast);
``out="file.npy"`` writes a file that appears only when complete (``output``, ``files``) and
returns it memory-mapped.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from .._core import execute as _execute
from .._core import memory
from .._core.errors import InputError
from .._core.execute import Kernel, precision, resolve_dtype
from . import devices as _devices
from . import grids as _grid
from .engine import HostEngine, Traced
from .fused import DeviceEngine, check_arity
from .output import Progress
from .reduce import Reduction, reduction


@dataclasses.dataclass(frozen=True)
class Result:
    """What :func:`run` did: the ``value`` and how (``devices`` = devices that did the work)."""

    value: object
    points: int
    devices: int
    device: str
    seconds: float


def evaluate(fn, grid, *, chunk_size: int | None = None, reduce: str | None = None, out=None,
             dtype=None, devices=None, progress: bool = False):
    """Evaluate ``fn`` at every point of ``grid``, in bounded memory.

    Args:
        fn: a :class:`~jaxcalc.Function`, a derivative/gradient/Hessian, a tangent, text (made
            into a Function; a constant such as ``"5"`` fills the grid), or any function of
            NumPy arrays (one per variable).
        grid: :func:`~jaxcalc.linspace`/:func:`~jaxcalc.arange` (one variable),
            :func:`~jaxcalc.mesh` (one axis per variable), an array, or a tuple of arrays that
            broadcast (one per variable; broadcast lazily, never copied to full size).
        chunk_size: points per block per device (a whole number, rounded down to a power of
            two); default: cache-sized on the CPU, large on accelerators, within device memory.
        reduce: None, or ``"max"``, ``"min"``, ``"sum"``, ``"mean"``, ``"argmax"``,
            ``"argmin"`` (the index of the first extreme: an int for a 1-D grid, one int per
            axis for more, so ``values[index]`` is the extreme and ``grid.point(index)`` its
            coordinates), ``"integral"`` (trapezoid rule along every axis).
        out: None (return a NumPy array), an array to fill, or a ``.npy`` path to write.
        dtype: working float dtype; default: ``out``'s dtype for an array ``out``, else the
            arrays' float dtype, else JAX's default float.
        devices: None (all local devices), a count, or a list of devices to shard blocks over.
        progress: show a progress bar on stderr (rich) when the run takes over ~2 s.

    Returns:
        The values (shape ``grid.shape`` + the per-point shape of ``fn``), the filled ``out``,
        the file memory-mapped read-only, or the reduction (a NumPy scalar, or an index).
        Inside ``jax.jit``/``grad``/``vmap``: a JAX array (see the module docstring).

    Raises:
        ResourceError: up front, when the output cannot fit in memory or on disk.
        InputError: for bad arguments, or a grid too large to trace whole inside a transform.
        KeyboardInterrupt: on Ctrl-C, once every worker thread has stopped (no file is left).

    Example:
        >>> import jaxcalc as jc
        >>> d = jc.derivative("x**3 - 1/x")
        >>> float(jc.evaluate(d, jc.linspace(0.5, 3, 10**6), reduce="max", dtype="float64"))
        27.11111111111111
        >>> jc.evaluate("x*y", jc.mesh(jc.linspace(0, 1, 3), [1.0, 2.0])).tolist()
        [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]
        >>> jc.evaluate("x*y", jc.mesh(jc.linspace(0, 1, 3), [1.0, 2.0]), reduce="argmax")
        (2, 1)
        >>> f = jc.Function("a*x**2", params={"a": 1.0})
        >>> area = lambda f: jc.evaluate(f, jc.linspace(0, 1, 101), reduce="integral")
        >>> round(float(jax.grad(area)(f).params["a"]), 4)  # d/da of the integral of a*x**2
        0.3334
    """
    return run(fn, grid, chunk_size=chunk_size, reduce=reduce, out=out, dtype=dtype,
               devices=devices, progress=progress).value


def run(fn, grid, *, chunk_size=None, reduce=None, out=None, dtype=None, devices=None,
        progress=False) -> Result:
    """:func:`evaluate`, returning a :class:`Result` with timing and the devices used."""
    began = time.perf_counter()
    fn = _as_callable(fn)
    red = None if reduce is None else reduction(reduce)
    if red is not None and out is not None:
        raise InputError("pass either `reduce` or `out`, not both")
    if chunk_size is not None:
        chunk_size = _grid.whole_number(chunk_size, "chunk_size")
    if dtype is None and isinstance(out, np.ndarray) and out.dtype.kind == "f":
        dtype = out.dtype.newbyteorder("=")
    if _is_traced(fn, grid):
        return _traced_result(fn, grid, red, out, dtype, began)
    raw_grid, grid = grid, _grid.as_grid(grid)
    fn = _over(fn, grid)
    kernel = _kernel(fn, grid)
    working = resolve_dtype(grid.arrays, dtype)
    if red is not None and red.name == "integral" and isinstance(grid, _grid.Points) \
            and (len(grid.arrays) != 1 or len(grid.shape) != 1):
        raise InputError("`reduce='integral'` over plain arrays needs one 1-D array of points; "
                         "use a linspace or mesh for several variables")
    with precision(working), Progress(progress) as bar:
        if kernel is not None:
            engine = DeviceEngine(fn, kernel, grid, working, devices, chunk_size, red)
        else:
            engine = HostEngine(fn, grid, working,
                                chunk_size or _devices.block_target(True, False), red)
        try:
            value = engine.run(out, bar)
        except Traced:  # a plain callable that closes over a tracer
            return _traced_result(fn, raw_grid, red, out, dtype, began)
    if red is not None and red.name.startswith("arg"):
        value = _index(value, grid.shape, np)
    return Result(value, grid.size, engine.devices_used, engine.device_name,
                  time.perf_counter() - began)


def _as_callable(fn):
    if isinstance(fn, str) or type(fn).__module__.startswith("sympy"):
        from .._core.function import Function

        return Function(fn)
    if not callable(fn):
        raise InputError(f"`fn` must be a jaxcalc callable, text, or a function of arrays, got "
                         f"{type(fn).__name__}")
    return fn


def _kernel(fn, grid) -> Kernel | None:
    """``fn``'s kernel (None for plain callables), checked against the grid's variables."""
    kernel = getattr(fn, "kernel", None)
    if not (isinstance(kernel, Kernel) and hasattr(fn, "leaves")):
        return None
    check_arity(grid, kernel.n_inputs)
    return kernel


def _over(fn, grid):
    """A constant Function (no variables) as a Function of the grid's variables, so that it
    fills the grid (in the working dtype); anything else unchanged."""
    from .._core.function import Function

    if not (isinstance(fn, Function) and not fn.variables):
        return fn
    count = len(grid.axes) if isinstance(grid, _grid.Mesh) else len(grid.arrays)
    names = [name for name in (f"x{k}" for k in range(count + len(fn.params)))
             if name not in fn.params][:count]
    return Function(fn.expr, variables=names, params=fn.params)


def _index(flat, shape: tuple[int, ...], xp):
    """A flat argmax/argmin as the caller's index: an int on a 1-D grid, a tuple of ints (one
    per axis; arrays of them for per-component reductions) on an N-D grid."""
    if len(shape) == 1:
        return flat
    where = xp.unravel_index(flat, shape)
    return tuple(int(i) if np.ndim(i) == 0 and xp is np else i for i in where)


# -- inside jax.jit / grad / vmap ---------------------------------------------------------------

def _is_traced(fn, grid) -> bool:
    """Whether ``evaluate`` runs under a JAX transform: a traced param or grid array, or a
    jit trace (where every JAX operation is staged, constants included)."""
    arrays = grid if isinstance(grid, (tuple, list)) else (grid,)
    leaves = jax.tree_util.tree_leaves(fn) if hasattr(fn, "leaves") else []
    if any(isinstance(x, jax.core.Tracer) for x in (*arrays, *leaves)):
        return True
    return isinstance(jnp.zeros(()), jax.core.Tracer)


def _traced_result(fn, grid, red, out, dtype, began) -> Result:
    value, points = _traced(fn, grid, red, out, dtype)
    return Result(value, points, 1, "traced", time.perf_counter() - began)


def _traced(fn, grid, red: Reduction | None, out, dtype):
    """The whole grid as one JAX computation (see the module docstring): (value, points)."""
    if out is not None:
        raise InputError("`out` cannot be filled inside jax.jit/grad/vmap: return the values "
                         "(out=None), or call evaluate outside the transform")
    lazy = isinstance(grid, (_grid.Axis, _grid.Mesh))
    described = _grid.as_grid(grid) if lazy else _Arity(grid)
    fn = _over(fn, described)
    kernel = _kernel(fn, described)
    if lazy:  # checked before any coordinate exists
        _check_traced_size(described.size, kernel, getattr(fn, "leaves", ()))
    coords, weights, shape = _traced_grid(grid, red is not None and red.name == "integral")
    size = math.prod(shape)
    coords = [jnp.asarray(c) for c in coords]  # JAX's precision rule (float64 only in x64)
    if kernel is None:
        working = jax.dtypes.canonicalize_dtype(resolve_dtype(coords, dtype))
        values = jnp.asarray(fn(*(c.astype(working) for c in coords)))
    else:
        values = _execute.call(kernel, fn.leaves, coords, dtype)
    values = jnp.broadcast_to(values, shape + values.shape[len(shape):]) \
        if values.shape[: len(shape)] != shape else values
    if red is None:
        return values, size
    if weights is not None:
        weights = jnp.asarray(weights, values.dtype)
    part = red.partial(jnp, values, jnp.ones(shape, bool), weights)
    value = red.whole(part, size)
    return (_index(value, shape, jnp) if red.name.startswith("arg") else value), size


class _Arity:
    """Plain (maybe traced) grid arrays, for :func:`_kernel`'s arity check."""

    def __init__(self, grid):
        self.arrays = tuple(grid) if isinstance(grid, (tuple, list)) else (grid,)


def _traced_grid(grid, integral: bool):
    """(coordinates that broadcast to the grid's shape, trapezoid weights or None, shape)."""
    if isinstance(grid, (_grid.Axis, _grid.Mesh)):
        axes = _grid.as_grid(grid).axes
        ndim, coords, weights = len(axes), [], None
        for k, axis in enumerate(axes):
            shape = [1] * ndim
            shape[k] = len(axis)
            coords.append(_grid.axis_values(axis, 0, len(axis)).reshape(shape))
            if integral:
                w = _grid.axis_weights(axis, 0, len(axis)).reshape(shape)
                weights = w if weights is None else weights * w
        return coords, weights, tuple(len(a) for a in axes)
    arrays = list(grid) if isinstance(grid, (tuple, list)) else [grid]
    for a in arrays:
        kind = "U" if isinstance(a, str) else (a.dtype if hasattr(a, "dtype") else
                                               np.asarray(a).dtype).kind
        if kind not in "biuf":
            raise InputError("`grid` must be a linspace/arange/mesh, an array, or a tuple of "
                             f"arrays (one per variable), got {type(grid).__name__}")
    arrays = [a if isinstance(a, jax.Array) else np.asarray(a) for a in arrays]
    try:
        shape = tuple(jnp.broadcast_shapes(*(jnp.shape(a) for a in arrays)))
    except ValueError as e:
        raise InputError(f"`grid` arrays do not broadcast: {[jnp.shape(a) for a in arrays]}") \
            from e
    if not integral:
        return arrays, None, shape
    if len(arrays) != 1 or len(shape) != 1:
        raise InputError("`reduce='integral'` over plain arrays needs one 1-D array of points; "
                         "use a linspace or mesh for several variables")
    return arrays, _grid.axis_weights(arrays[0], 0, shape[0]), shape


def _check_traced_size(size: int, kernel: Kernel | None, leaves) -> None:
    """InputError unless the whole lazy grid, traced as one array, fits in memory."""
    extra = ()
    if kernel is not None:
        probe = [jax.ShapeDtypeStruct((8,), jnp.float32)] * kernel.n_inputs
        extra = jax.eval_shape(kernel.raw, [jax.ShapeDtypeStruct(jnp.shape(p), jnp.float32)
                                            for p in leaves], *probe).shape[1:]
    need = size * 8 * max(1, math.prod(extra)) * _devices.TRACED_COPIES
    have = _devices.device_budget(jax.local_devices()[:1]) or memory.host_available()
    if need > memory.HEADROOM * have:
        raise InputError(
            f"inside jax.jit/grad/vmap, `evaluate` computes the whole grid as one JAX array: "
            f"{size:,} points need about {memory.format_bytes(need)} but "
            f"{memory.format_bytes(have)} is available; use a coarser grid inside the "
            "transform, or call evaluate outside it (where grids of any size stream)")
