"""Compiled blocks for jaxcalc kernels: coordinates, kernel and reduction in one program.

Each block's program makes its own coordinates (``base + iota * step`` for a lazy axis, whole
later axes from small replicated arrays), evaluates the kernel, and — when reducing — reduces,
so a reduction over 10^10 points never holds more than a block per device. One step runs a
block on every device: the per-block parameters are one array of shape ``(devices, ...)``
sharded along its first axis (``_shard``), the program is ``vmap``-ed over it, and XLA runs the
blocks side by side. Steps are dispatched a few at a time (``_stream.pipeline``); on a single CPU
device, host threads dispatch contiguous runs of steps. Outputs go to donated, reused buffers.

Example:
    >>> import numpy as np
    >>> from jaxcalc import Function
    >>> from jaxcalc._grid.grids import linspace, as_grid
    >>> from jaxcalc._grid.reduce import reduction
    >>> f = Function("x**2")
    >>> engine = DeviceEngine(f, f.kernel, as_grid(linspace(-1, 2, 31)), np.float32, None, 8,
    ...                       reduction("max"))
    >>> float(engine.run(None, Progress(False)))
    4.0
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import threading
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core import memory
from .._core.errors import InputError
from .._core.execute import Kernel
from . import grids as _grid
from . import output as _output
from . import shard as _shard
from . import stream as _stream
from .engine import TARGET, Engine
from .output import Progress

_WORKING_COPIES = 8  # block-sized buffers a step may hold per device (ring + temporaries)


def check_arity(grid, count: int) -> None:
    """InputError unless the grid has one axis (or array) per kernel input."""
    have = len(grid.axes) if isinstance(grid, _grid.Mesh) else len(grid.arrays)
    if have != count:
        what = "axes" if isinstance(grid, _grid.Mesh) else "arrays"
        raise InputError(f"the grid has {have} {what} but the function takes {count} "
                         f"variable(s); give one {what[:-1]} per variable")


class DeviceEngine(Engine):
    """jaxcalc kernels: coordinates, kernel and reduction fused in one program per block."""

    def __init__(self, fn, kernel: Kernel, grid, dtype, devices, chunk_size, reduce):
        check_arity(grid, kernel.n_inputs)
        self.kernel, self.leaves = kernel, [jnp.asarray(p, dtype) for p in fn.leaves]
        self.devices = _shard.pick_devices(devices)
        self.devices_used = len(self.devices)
        self.device_name = self.devices[0].device_kind
        cpu = self.devices[0].platform == "cpu"
        probe = [jax.ShapeDtypeStruct((8,), dtype)] * kernel.n_inputs
        self.extra = tuple(jax.eval_shape(kernel.raw, self.leaves, *probe).shape[1:])
        target = chunk_size or TARGET[cpu, reduce is not None]
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
            if need <= memory.HEADROOM * free:
                return
            if self.layout.rows == 1:
                memory.require(need, free, "one block of this grid (device memory)",
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
        consts = {"axes": [], "weights": [], "step": 0.0, "stop": 0.0}
        if self.flat:
            return consts
        split = self.layout.split
        for k, axis in enumerate(self.grid.axes):
            if k > split:
                consts["axes"].append(np.asarray(_grid.axis_values(axis, 0, len(axis)),
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
            coords = [_grid.axis_values(axes[k], i, i + 1)[0] for k, i in enumerate(real.outer)]
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

    def run(self, out, progress: Progress):
        count = len(self.devices)
        split_sharding, replicated = _shard.shardings(self.devices)
        consts = jax.device_put(self._constants(), replicated)
        leaves = jax.device_put(self.leaves, replicated)
        program = _program(self.kernel, self._static(), count, tuple(self.devices))
        steps = -(-self.total // count)
        # One device on the CPU: host threads dispatch contiguous runs of steps (XLA:CPU runs a
        # program on the thread that dispatched it); otherwise one thread feeds all devices.
        threads = _stream.workers() if count == 1 and self.devices[0].platform == "cpu" else 1
        runs = _stream.split(range(steps), threads)
        lock = threading.Lock()
        done = 0

        def groups(run_):
            blocks = _grid.blocks(self.grid.shape, self.layout, self.flat)
            return itertools.islice(_groups(blocks, count), run_.start, run_.stop)

        def tick(group, result):
            nonlocal done
            with lock:
                if done == 0:  # the devices that really held the first step's results
                    leaf = jax.tree_util.tree_leaves(result)[0]
                    self.devices_used = len(leaf.sharding.device_set)
                done += sum(b is not None for b in group)
                progress(done, self.total)

        def launch_with(*first):
            return lambda group: program(*first, leaves, consts,
                                         jax.device_put(self._per_block(group), split_sharding))

        if self.reduce is not None:
            def reduce_run(run_):
                state = self.reduce.start()

                def finish(group, result):
                    nonlocal state
                    parts = jax.device_get(result)
                    for j, block in enumerate(group):
                        if block is not None:
                            part = jax.tree_util.tree_map(lambda p, j=j: p[j], parts)
                            state = self.reduce.combine(state, part, block.start)
                    tick(group, result)

                _stream.pipeline(groups(run_), launch_with(), finish, _stream.DEPTH)
                return state

            state = self.reduce.start()
            for part in _stream.in_parallel(reduce_run, runs):  # in grid order
                state = self.reduce.merge(state, part)
            return self.reduce.finish(state, self.grid.size, self.dtype)

        sink = _output.destination(out, self.grid.shape, self.extra, self.dtype, self.flat)
        flat_shape = self._flat_shape(self.extra)
        empty = _empty((count, *self._block_shape(self.layout.rows), *self.extra), self.dtype,
                       tuple(self.devices))

        def write_run(run_):
            free = [empty() for _ in range(_stream.DEPTH)]

            def launch(group):
                return launch_with(free.pop())(group)

            def finish(group, result):
                values = np.asarray(result)
                for j, block in enumerate(group):
                    if block is not None:
                        sink.write(block, values[j, : block.valid], flat_shape)
                del values
                tick(group, result)
                free.append(result)

            _stream.pipeline(groups(run_), launch, finish, _stream.DEPTH)

        return _output.finish(sink, lambda: _stream.in_parallel(write_run, runs))

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
    from .reduce import REDUCTIONS

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
