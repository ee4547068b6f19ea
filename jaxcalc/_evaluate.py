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
import functools
import itertools
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _grid, _shard, _stream
from ._errors import InputError, ResourceError
from ._execute import Kernel, precision, resolve_dtype
from ._reduce import Reduction, reduction

#: Points per block per device by (backend is CPU, reducing): cache-sized blocks on the CPU
#: (where outputs are copied to host); large ones on accelerators (bandwidth-bound).
_TARGET = {(True, False): 1 << 17, (True, True): 1 << 20, (False, False): 1 << 25,
           (False, True): 1 << 27}
_WORKING_COPIES = 8  # block-sized buffers a step may hold per device (ring + temporaries)


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
        27.111111111111111
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
            engine = _Device(fn, kernel, grid, working, devices, chunk_size, red)
        else:
            engine = _Host(fn, grid, working, chunk_size, red)
        value = engine.run(out, _Progress(progress))
    return Result(value, grid.size, engine.devices_used, engine.device_name,
                  time.perf_counter() - began)


def _as_callable(fn):
    if isinstance(fn, str) or type(fn).__module__.startswith("sympy"):
        from ._function import Function

        return Function(fn)
    if not callable(fn):
        raise InputError(f"`fn` must be a jaxcalc callable, text, or a function of arrays, got "
                         f"{type(fn).__name__}")
    return fn


def _kernel(fn) -> Kernel | None:
    kernel = getattr(fn, "kernel", None)
    return kernel if isinstance(kernel, Kernel) and hasattr(fn, "leaves") else None


def _check_arity(grid, count: int) -> None:
    have = len(grid.axes) if isinstance(grid, _grid.Mesh) else len(grid.arrays)
    if have != count:
        what = "axes" if isinstance(grid, _grid.Mesh) else "arrays"
        raise InputError(f"the grid has {have} {what} but the function takes {count} "
                         f"variable(s); give one {what[:-1]} per variable")


# -- destinations ---------------------------------------------------------------------------

class _ArrayOut:
    def __init__(self, array: np.ndarray, flat: bool):
        self.array, self.flat = array, flat

    def write(self, block: _grid.Block, values: np.ndarray, flat_shape) -> None:
        if self.flat:
            view = self.array.reshape(flat_shape)
            view[block.offset : block.offset + block.valid] = values
        else:
            self.array[block.outer + (slice(block.offset, block.offset + block.valid),)] = values

    def close(self):
        return self.array

    def abort(self):
        pass


class _FileOut:
    """A ``.npy`` written front to back into a temporary file beside ``path``, then renamed."""

    def __init__(self, path: str, shape, dtype):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        fd, self.temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                         suffix=".tmp")
        self.file = os.fdopen(fd, "wb")
        try:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                      "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(self.file, header)
            size = self.file.tell() + math.prod(shape) * np.dtype(dtype).itemsize
            try:  # reserve the space now: a full disk fails here, not half-way
                os.posix_fallocate(self.file.fileno(), 0, size)
            except (AttributeError, OSError) as e:
                if getattr(e, "errno", None) == 28:
                    raise
        except BaseException:
            self.abort()
            raise

    def write(self, block, values: np.ndarray, flat_shape) -> None:
        self.file.write(np.ascontiguousarray(values).data)

    def close(self):
        self.file.close()
        os.replace(self.temp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self):
        self.file.close()
        if os.path.exists(self.temp):
            os.unlink(self.temp)


def _destination(out, shape, dtype, flat: bool):
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    fix = "pass reduce=... to stream a reduction, or out='file.npy' to write to disk"
    if out is None:
        _shard.require_host(nbytes, f"the output ({math.prod(shape):,} values of {dtype})", fix)
        return _ArrayOut(_stream.aligned_empty(shape, dtype), flat)
    if isinstance(out, np.ndarray):
        if out.shape != tuple(shape) or not out.flags.writeable:
            raise InputError(f"`out` must be a writeable array of shape {tuple(shape)}, got "
                             f"{out.shape}")
        if flat and not out.flags.c_contiguous:
            raise InputError("`out` must be C-contiguous when the grid is plain arrays")
        return _ArrayOut(out, flat)
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if not path.endswith(".npy"):
            raise InputError(f"`out` must be a path ending in .npy, got {path!r}")
        _shard.require_disk(nbytes + 4096, os.path.dirname(os.path.abspath(path)),
                            "choose another folder or a smaller grid, or pass reduce=...")
        return _FileOut(path, shape, dtype)
    raise InputError(f"`out` must be None, a NumPy array, or a .npy path, got {type(out).__name__}")


def _finish(sink, steps, launch, finish, depth: int):
    try:
        _stream.pipeline(steps, launch, finish, depth)
    except OSError as e:
        sink.abort()
        if e.errno == 28:
            raise ResourceError(f"the disk filled up while writing: {e}") from e
        raise
    except BaseException:
        sink.abort()
        raise
    return sink.close()


# -- progress -------------------------------------------------------------------------------

class _Progress:
    """A rich progress bar on stderr, shown only once a run has taken ``delay`` seconds."""

    def __init__(self, enabled: bool, delay: float = 2.0):
        self.enabled, self.delay = enabled, delay
        self.began = time.perf_counter()
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.began < self.delay:
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("evaluating", total=total)
        self.bar.update(self.task, completed=done)
        if done >= total:
            self.bar.stop()


# -- engines --------------------------------------------------------------------------------

class _Engine:
    devices_used = 1
    device_name = "host"

    def __init__(self, grid, dtype, target: int, reduce: Reduction | None):
        self.grid, self.dtype, self.reduce = grid, dtype, reduce
        self.flat = isinstance(grid, _grid.Points)
        self.layout = _grid.layout(grid.shape, _grid.pow2_at_most(target), self.flat)
        self.total = _grid.count_blocks(grid.shape, self.layout, self.flat)

    def _block_shape(self, rows: int) -> tuple[int, ...]:
        return (rows, *self.layout.trailing)

    def _flat_shape(self, extra):
        return (self.grid.size, *extra) if self.flat else None


class _Host(_Engine):
    """Plain callables: each block's coordinates as NumPy arrays, one block at a time."""

    def __init__(self, fn: Callable, grid, dtype, chunk_size, reduce):
        super().__init__(grid, dtype, chunk_size or _TARGET[True, False], reduce)
        self.fn = fn
        if isinstance(grid, _grid.Points):
            self.arity = len(grid.arrays)
        else:
            self.arity = len(grid.axes)

    def _inputs(self, block: _grid.Block):
        lo, hi = block.offset, block.offset + block.valid
        if self.flat:
            return [a.astype(self.dtype) for a in self.grid.flat(lo, hi)], None
        axes, split = self.grid.axes, self.layout.split
        coords, weights = [], []
        for k, axis in enumerate(axes):
            if k < split:
                i = block.outer[k]
                lo_k, hi_k = i, i + 1
            elif k == split:
                lo_k, hi_k = lo, hi
            else:
                lo_k, hi_k = 0, len(axis)
            shape = [1] * (len(axes) - split)
            if k >= split:
                shape[k - split] = hi_k - lo_k
            values = _grid._axis_values(axis, lo_k, hi_k).astype(self.dtype)
            coords.append(values.reshape(shape) if k >= split else values[0])
            if self.reduce is not None and self.reduce.name == "integral":
                w = _grid.axis_weights(axis, lo_k, hi_k)
                weights.append(w.reshape(shape) if k >= split else w[0])
        weight = functools.reduce(np.multiply, weights) if weights else None
        return coords, weight

    def _evaluate(self, block):
        coords, weight = self._inputs(block)
        shape = (block.valid, *self.layout.trailing)
        coords = [np.broadcast_to(c, shape) for c in coords] if not self.flat else coords
        values = np.asarray(self.fn(*coords))
        if values.ndim == 0:  # a constant function
            values = np.broadcast_to(values, shape)
        if values.shape[: len(shape)] != shape:
            raise InputError(f"`fn` returned shape {values.shape} for points of shape {shape}; "
                             "it must be elementwise (a per-point shape may follow)")
        return values.astype(self.dtype, copy=False), weight

    def run(self, out, progress: _Progress):
        blocks = _grid.blocks(self.grid.shape, self.layout, self.flat)
        done = 0

        def tick():
            nonlocal done
            done += 1
            progress(done, self.total)

        if self.reduce is not None:
            state = self.reduce.start()
            for block in blocks:
                values, weight = self._evaluate(block)
                mask = np.ones(values.shape[: 1 + len(self.layout.trailing)], bool)
                part = self.reduce.partial(np, values, mask, weight)
                state = self.reduce.combine(state, part, block.start)
                tick()
            return self.reduce.finish(state, self.grid.size, self.dtype)
        first = next(blocks)
        values, _ = self._evaluate(first)
        extra = values.shape[1 + len(self.layout.trailing) :]
        sink = _destination(out, (*self.grid.shape, *extra), self.dtype, self.flat)
        flat_shape = self._flat_shape(extra)

        def launch(block):
            return values if block is first else self._evaluate(block)[0]

        def finish(block, result):
            sink.write(block, result, flat_shape)
            tick()

        return _finish(sink, itertools.chain([first], blocks), launch, finish, 1)


class _Device(_Engine):
    """jaxcalc kernels: coordinates, kernel and reduction fused in one program per block."""

    def __init__(self, fn, kernel: Kernel, grid, dtype, devices, chunk_size, reduce):
        _check_arity(grid, kernel.n_inputs)
        self.kernel, self.leaves = kernel, [jnp.asarray(p, dtype) for p in fn.leaves]
        self.devices = _shard.pick_devices(devices)
        self.devices_used = len(self.devices)
        self.device_name = self.devices[0].device_kind
        cpu = self.devices[0].platform == "cpu"
        probe = [jax.ShapeDtypeStruct((8,), dtype)] * kernel.n_inputs
        self.extra = tuple(jax.eval_shape(kernel.raw, self.leaves, *probe).shape[1:])
        target = chunk_size or _TARGET[cpu, reduce is not None]
        if chunk_size is None and cpu and reduce is None:
            target = _stream.chunk_points(dtype, self.extra)
        super().__init__(grid, dtype, target, reduce)
        self._fit_device_memory()

    def _fit_device_memory(self) -> None:
        free = _shard.device_budget(self.devices)
        if free is None:
            return
        per_point = np.dtype(self.dtype).itemsize * max(1, math.prod(self.extra))
        while True:
            need = self.layout.block_points * per_point * _WORKING_COPIES
            if need <= _shard.HEADROOM * free:
                return
            if self.layout.rows == 1:
                _shard.require(need, free, "one block of this grid (device memory)",
                               "use a mesh with shorter trailing axes or fewer variables")
            self.layout = dataclasses.replace(self.layout, rows=self.layout.rows // 2)
            self.total = _grid.count_blocks(self.grid.shape, self.layout, self.flat)

    # Each variable is one of: "outer" (one coordinate per block), "lazy" (split axis, made
    # from iota), "rows" (split axis values sent per block), "trailing" (a whole later axis).
    def _kinds(self) -> tuple[str, ...]:
        if self.flat:
            return tuple("rows" if a.ndim else "outer" for a in self.grid.arrays)
        split = self.layout.split
        return tuple("outer" if k < split else "trailing" if k > split else
                     "lazy" if isinstance(a, _grid.Axis) else "rows"
                     for k, a in enumerate(self.grid.axes))

    def _constants(self):
        """Replicated arrays: whole trailing axes (and weights), the lazy axis' step/stop."""
        consts = {"axes": [], "weights": [], "step": 0.0, "stop": 0.0, "size": 0}
        if self.flat:
            return consts
        split = self.layout.split
        for k, axis in enumerate(self.grid.axes):
            if k > split:
                consts["axes"].append(np.asarray(_grid._axis_values(axis, 0, len(axis)),
                                                 self.dtype))
                consts["weights"].append(np.asarray(_grid.axis_weights(axis, 0, len(axis)),
                                                    self.dtype))
            elif k == split and isinstance(axis, _grid.Axis):
                last = axis.values(axis.size - 1, axis.size)[0]
                consts.update(step=np.asarray(axis.step, self.dtype),
                              stop=np.asarray(last, self.dtype))
        return consts

    def _per_block(self, group: Sequence[_grid.Block | None]):
        """Host arrays with one row per device: each block's coordinates and weights."""
        rows, dtype, kinds = self.layout.rows, self.dtype, self._kinds()
        integral = self.reduce is not None and self.reduce.name == "integral"
        out = {"valid": [], "outer": [], "base": [], "last": [], "first": [], "rows": [],
               "weights": []}
        split = self.layout.split
        for block in group:
            real = block or _grid.Block((0,) * split, 0, 0, 0)
            lo, hi = real.offset, real.offset + real.valid
            out["valid"].append(real.valid)
            if self.flat:
                arrays = self.grid.flat(lo, hi)
                out["outer"].append([a if a.ndim == 0 else 0.0 for a in arrays])
                out["rows"].append([_pad(a, rows) for a in arrays if a.ndim])
                if integral:
                    out["weights"].append(_pad(self._flat_weights(lo, hi), rows))
                continue
            axes = self.grid.axes
            coords = [_grid._axis_values(axes[k], i, i + 1)[0] for k, i in enumerate(real.outer)]
            weight = math.prod(float(_grid.axis_weights(axes[k], i, i + 1)[0])
                               for k, i in enumerate(real.outer)) if integral else 1.0
            out["outer"].append(coords + [0.0] * (len(axes) - split))
            axis = axes[split]
            if kinds[split] == "lazy":
                out["base"].append(axis.start + lo * axis.step)
                out["last"].append(min(axis.size - 1 - lo, rows))
                out["first"].append(lo == 0)
                out["weights"].append(weight)
            else:
                out["rows"].append([_pad(axis[lo:hi], rows)])
                out["weights"].append(_pad(_grid.axis_weights(axis, lo, hi), rows) * weight
                                      if integral else weight)
        arrays = {"valid": np.asarray(out["valid"], np.int32),
                  "outer": np.asarray(out["outer"], dtype).reshape(len(group), -1)}
        if out["base"]:
            arrays.update(base=np.asarray(out["base"], dtype), last=np.asarray(out["last"],
                          np.int32), first=np.asarray(out["first"], bool))
        if out["rows"]:
            arrays["rows"] = np.asarray(out["rows"], dtype)
        if integral:
            arrays["weights"] = np.asarray(out["weights"], dtype)
        return arrays

    def _flat_weights(self, lo, hi):
        return _grid.axis_weights(self.grid.arrays[0].astype(np.float64), lo, hi)

    def run(self, out, progress: _Progress):
        count = len(self.devices)
        split_sharding, replicated = _shard.shardings(self.devices)
        consts = jax.device_put(self._constants(), replicated)
        leaves = jax.device_put(self.leaves, replicated)
        program = _program(self.kernel, self._static(), count, tuple(self.devices))
        groups = _groups(_grid.blocks(self.grid.shape, self.layout, self.flat), count)
        done = 0

        def tick(group, result):
            nonlocal done
            if done == 0:  # the devices that really held the first step's results
                leaf = jax.tree_util.tree_leaves(result)[0]
                self.devices_used = len(leaf.sharding.device_set)
            done += sum(b is not None for b in group)
            progress(done, self.total)

        if self.reduce is not None:
            state = self.reduce.start()

            def launch(group):
                return program(leaves, consts, jax.device_put(self._per_block(group),
                                                              split_sharding))

            def finish(group, result):
                nonlocal state
                parts = jax.device_get(result)
                for j, block in enumerate(group):
                    if block is not None:
                        part = jax.tree_util.tree_map(lambda p, j=j: p[j], parts)
                        state = self.reduce.combine(state, part, block.start)
                tick(group, result)

            _stream.pipeline(groups, launch, finish, _stream.DEPTH)
            return self.reduce.finish(state, self.grid.size, self.dtype)

        sink = _destination(out, (*self.grid.shape, *self.extra), self.dtype, self.flat)
        flat_shape = self._flat_shape(self.extra)
        shape = (count, *self._block_shape(self.layout.rows), *self.extra)
        empty = _empty(shape, self.dtype, tuple(self.devices))
        free = [empty() for _ in range(_stream.DEPTH)]

        def launch(group):
            return program(free.pop(), leaves, consts,
                           jax.device_put(self._per_block(group), split_sharding))

        def finish(group, result):
            values = np.asarray(result)
            for j, block in enumerate(group):
                if block is not None:
                    sink.write(block, values[j, : block.valid], flat_shape)
            del values
            tick(group, result)
            free.append(result)

        return _finish(sink, groups, launch, finish, _stream.DEPTH)

    def _static(self):
        return _Static(self._kinds(), self.layout.rows, self.layout.trailing, self.dtype,
                       None if self.reduce is None else self.reduce.name, self.flat)


def _pad(values: np.ndarray, rows: int) -> np.ndarray:
    """``values`` extended to ``rows`` by repeating the last (masked out later)."""
    values = np.asarray(values)
    return np.pad(values, (0, rows - len(values)), mode="edge") if len(values) else \
        np.zeros(rows, values.dtype)


def _groups(blocks, count: int):
    """Blocks in groups of ``count`` (one per device), the last padded with None."""
    group = []
    for block in blocks:
        group.append(block)
        if len(group) == count:
            yield tuple(group)
            group = []
    if group:
        yield tuple(group + [None] * (count - len(group)))


@dataclasses.dataclass(frozen=True)
class _Static:
    kinds: tuple[str, ...]
    rows: int
    trailing: tuple[int, ...]
    dtype: np.dtype
    reduce: str | None
    flat: bool


def _block_values(kernel, static: _Static, leaves, consts, per):
    """One block (inside the compiled program): coordinates, kernel, optional reduction."""
    rows, dtype = static.rows, static.dtype
    ndim = 1 + len(static.trailing)
    j = lax.iota(jnp.int32, rows)
    column = (rows,) + (1,) * (ndim - 1)
    xs, weights, trailing, row_values = [], [], 0, 0
    integral = static.reduce == "integral"
    for v, kind in enumerate(static.kinds):
        if kind == "outer":
            xs.append(per["outer"][v])
        elif kind == "lazy":
            x = per["base"] + j.astype(dtype) * consts["step"]
            xs.append(jnp.where(j == per["last"], consts["stop"], x).reshape(column))
            if integral:
                end = (j == per["last"]) | ((j == 0) & per["first"])
                w = jnp.where(end, 0.5, 1.0).astype(dtype) * consts["step"]
                w = jnp.where((j == per["last"]) & (j == 0) & per["first"], 0.0, w)
                weights.append(w.reshape(column) * per["weights"])
        elif kind == "rows":
            xs.append(per["rows"][row_values].reshape(column))
            row_values += 1
        else:
            shape = [1] * ndim
            shape[1 + trailing] = static.trailing[trailing]
            xs.append(consts["axes"][trailing].reshape(shape))
            if integral:
                weights.append(consts["weights"][trailing].reshape(shape))
            trailing += 1
    if integral and not any(k == "lazy" for k in static.kinds):
        weights.append(per["weights"].reshape(column) if per["weights"].ndim else per["weights"])
    y = kernel.raw(leaves, *xs)
    block = (rows, *static.trailing)
    y = jnp.broadcast_to(y, block + y.shape[ndim:]) if y.shape[:ndim] != block else y
    if static.reduce is None:
        return y
    from ._reduce import REDUCTIONS

    mask = jnp.broadcast_to((j < per["valid"]).reshape(column), block)
    weight = functools.reduce(jnp.multiply, weights, jnp.ones(block, dtype)) if integral \
        else None
    return REDUCTIONS[static.reduce].partial(jnp, y, mask, weight)


@functools.lru_cache(maxsize=64)
def _empty(shape, dtype, devices: tuple):
    """A compiled maker of uninitialised step outputs (the buffers donated to ``_program``)."""
    split_sharding, _ = _shard.shardings(list(devices))
    return jax.jit(lambda: jnp.empty(shape, dtype), out_shardings=split_sharding)


@functools.lru_cache(maxsize=256)
def _program(kernel, static: _Static, count: int, devices: tuple):
    """The compiled step: one block per device (vmapped), sharded along the device axis."""
    one = functools.partial(_block_values, kernel, static)
    many = jax.vmap(one, in_axes=(None, None, 0))
    split_sharding, _ = _shard.shardings(list(devices))
    if static.reduce is not None:
        return jax.jit(many, out_shardings=split_sharding)

    def step(buffer, leaves, consts, per):
        del buffer  # donated: its memory holds the result
        return many(leaves, consts, per)

    return jax.jit(step, donate_argnums=0, keep_unused=True, out_shardings=split_sharding)
