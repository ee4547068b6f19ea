"""``evaluate``: a callable over a grid, into an array, a ``.npy`` file, or a reduction.

For jaxcalc callables (a Function, a derivative, gradient or Hessian: anything with a
``.kernel`` and ``.leaves``) each block is one compiled program that makes its own coordinates
(``base + iota * step`` for a lazy axis), evaluates the kernel and — when reducing — reduces,
so a reduction over 10^10 points never holds more than a block per device. One step runs a
block on every device (see ``_shard``); steps are dispatched asynchronously a few at a time
(``_stream.pipeline``). Other callables (a :class:`~jaxcalc.Tangent`, any NumPy function of
arrays) get each block's coordinates as NumPy arrays, one block at a time.

Outputs: ``out=None`` returns a NumPy array; ``out=array`` fills it; ``out="file.npy"`` writes
a ``.npy`` file beside its final name and renames it into place only when every value is in
(an error, a full disk or Ctrl-C leaves no file at that path), then returns it memory-mapped.
"""

from __future__ import annotations

import dataclasses
import time

from .._core.errors import InputError
from .._core.execute import Kernel, precision, resolve_dtype
from . import grids as _grid
from .engine import TARGET, HostEngine
from .fused import DeviceEngine
from .output import Progress
from .reduce import reduction


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
            into a Function), or any function of NumPy arrays (one per variable).
        grid: :func:`~jaxcalc.linspace`/:func:`~jaxcalc.arange` (one variable),
            :func:`~jaxcalc.mesh` (one axis per variable), an array, or a tuple of arrays that
            broadcast (one per variable).
        chunk_size: points per block per device (rounded down to a power of two); default:
            cache-sized on the CPU, large on accelerators, always within device memory.
        reduce: None, or ``"max"``, ``"min"``, ``"sum"``, ``"mean"``, ``"argmax"``,
            ``"argmin"`` (flat C-order index), ``"integral"`` (trapezoid rule).
        out: None (return a NumPy array), an array to fill, or a ``.npy`` path to write.
        dtype: working float dtype; default: the arrays' float dtype, else JAX's default float.
        devices: None (all local devices), a count, or a list of devices to shard blocks over.
        progress: show a progress bar on stderr (rich) when the run takes over ~2 s.

    Returns:
        The values (shape ``grid.shape`` + the per-point shape of ``fn``), the filled ``out``,
        the file memory-mapped read-only, or the reduction (a NumPy scalar, or an int index).

    Raises:
        ResourceError: up front, when the output cannot fit in memory or on disk.
        InputError: for bad arguments.

    Example:
        >>> import jaxcalc as jc
        >>> d = jc.derivative("x**3 - 1/x")
        >>> float(jc.evaluate(d, jc.linspace(0.5, 3, 10**6), reduce="max", dtype="float64"))
        27.11111111111111
        >>> jc.evaluate("x*y", jc.mesh(jc.linspace(0, 1, 3), [1.0, 2.0])).tolist()
        [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]
    """
    return run(fn, grid, chunk_size=chunk_size, reduce=reduce, out=out, dtype=dtype,
               devices=devices, progress=progress).value


def run(fn, grid, *, chunk_size=None, reduce=None, out=None, dtype=None, devices=None,
        progress=False) -> Result:
    """:func:`evaluate`, returning a :class:`Result` with timing and the devices used."""
    began = time.perf_counter()
    fn = _as_callable(fn)
    grid = _grid.as_grid(grid)
    red = None if reduce is None else reduction(reduce)
    if red is not None and out is not None:
        raise InputError("pass either `reduce` or `out`, not both")
    kernel = _kernel(fn)
    working = resolve_dtype(grid.arrays if isinstance(grid, _grid.Points) else (), dtype)
    if red is not None and red.name == "integral" and isinstance(grid, _grid.Points) \
            and (len(grid.arrays) != 1 or len(grid.shape) != 1):
        raise InputError("`reduce='integral'` over plain arrays needs one 1-D array of points; "
                         "use a linspace or mesh for several variables")
    with precision(working):
        if kernel is not None:
            engine = DeviceEngine(fn, kernel, grid, working, devices, chunk_size, red)
        else:
            engine = HostEngine(fn, grid, working, chunk_size or TARGET[True, False], red)
        bar = Progress(progress)
        try:
            value = engine.run(out, bar)
        finally:
            bar.close()
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


def _kernel(fn) -> Kernel | None:
    kernel = getattr(fn, "kernel", None)
    return kernel if isinstance(kernel, Kernel) and hasattr(fn, "leaves") else None
