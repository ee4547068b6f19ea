"""Compiled blocks for jaxcalc kernels: coordinates, kernel and reduction in one program.

Each block's program makes its own coordinates (``base + iota * step`` for a lazy axis, whole
later axes from small replicated arrays), evaluates the kernel, and — when reducing — reduces,
so a reduction over 10^10 points never holds more than a block per device. One step runs a
block on every device: the per-block parameters are one array of shape ``(devices, ...)``
sharded along its first axis (``devices.shardings``), the program is ``vmap``-ed over it, and
XLA runs the blocks side by side. Steps are dispatched a few at a time (``engine.pipeline``);
on a single CPU device, host threads dispatch contiguous shares of steps (``engine.in_shares``,
which stops them all on Ctrl-C). Outputs go to donated, reused buffers.

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
from .._core.execute import Kernel, param_names
from . import devices as _devices
from . import grids as _grid
from . import output as _output
from .engine import Engine, Kind, in_shares, pipeline, split
from .output import Progress
from .reduce import REDUCTIONS


def _check_params(kernel: Kernel, leaves: Sequence[object]) -> None:
    """InputError unless every param is one number: blocks of the grid stream through the
    kernel, so a param cannot vary over the points."""
    for name, leaf in zip(param_names(kernel, leaves), leaves, strict=True):
        if np.ndim(leaf) != 0:
            raise InputError(
                f"param `{name}` has shape {np.shape(leaf)}; `evaluate` streams the grid "
                "through one value per param: pass a number, or jax.vmap over stacked params")


def check_arity(grid, count: int) -> None:
    """InputError unless the grid has one axis (or array) per kernel input."""
    have = len(grid.axes) if isinstance(grid, _grid.Mesh) else len(grid.arrays)
    if have != count:
        what, one = ("axes", "axis") if isinstance(grid, _grid.Mesh) else ("arrays", "array")
        raise InputError(f"the grid has {have} {what} but the function takes {count} "
                         f"variable(s); give one {one} per variable")


class DeviceEngine(Engine):
    """jaxcalc kernels: coordinates, kernel and reduction fused in one program per block."""

    def __init__(self, fn, kernel: Kernel, grid, dtype, devices, chunk_size, reduce):
        check_arity(grid, kernel.n_inputs)
        _check_params(kernel, fn.leaves)
        self.kernel, self.leaves = kernel, [jnp.asarray(p, dtype) for p in fn.leaves]
        self.devices = _devices.pick_devices(devices)
        self.devices_used = len(self.devices)
        self.device_name = self.devices[0].device_kind
        cpu = self.devices[0].platform == "cpu"
        probe = [jax.ShapeDtypeStruct((8,), dtype)] * kernel.n_inputs
        self.extra = tuple(jax.eval_shape(kernel.raw, self.leaves, *probe).shape[1:])
        target = chunk_size or _devices.block_target(cpu, reduce is not None)
        if chunk_size is None and cpu and reduce is None:
            target = _devices.chunk_points(dtype, self.extra)
        super().__init__(grid, dtype, target, reduce)
        self._fit_device_memory()
        self._lock = threading.Lock()

    def _fit_device_memory(self) -> None:
        free = _devices.device_budget(self.devices)
        if free is None:
            return
        per_point = np.dtype(self.dtype).itemsize * max(1, math.prod(self.extra))
        while True:
            need = self.layout.block_points * per_point * _devices.WORKING_COPIES
            if need <= memory.HEADROOM * free:
                return
            if self.layout.rows == 1:
                memory.require(need, free, "one block of this grid (device memory)",
                               "use a mesh with shorter trailing axes or fewer variables")
            self.layout = dataclasses.replace(self.layout, rows=self.layout.rows // 2)
            self.total = _grid.count_blocks(self.grid.shape, self.layout, self.flat)

    # -- what each block's program receives ---------------------------------------------------

    def _constants(self):
        """Replicated arrays: whole trailing axes (and weights), the lazy axis' step/stop."""
        consts = {"axes": [], "weights": [], "step": 0.0, "stop": 0.0}
        if self.flat:
            return consts
        for axis, kind in zip(self.grid.axes, self.kinds(), strict=True):
            if kind is Kind.TRAILING:
                consts["axes"].append(np.asarray(_grid.axis_values(axis, 0, len(axis)),
                                                 self.dtype))
                consts["weights"].append(np.asarray(_grid.axis_weights(axis, 0, len(axis)),
                                                    self.dtype))
            elif kind is Kind.LAZY:
                last = axis.values(axis.size - 1, axis.size)[0]
                consts.update(step=np.asarray(axis.step, self.dtype),
                              stop=np.asarray(last, self.dtype))
        return consts

    def _per_block(self, group: Sequence[_grid.Block | None]):
        """Host arrays with one row per device: each block's coordinates and weights."""
        out = {"valid": [], "outer": [], "base": [], "last": [], "first": [], "weights": []}
        sent = self.kinds().count(Kind.ROWS)  # variables whose values go with each block
        rows = np.empty((len(group), sent, self.layout.rows), self.dtype)
        for block, values in zip(group, rows, strict=True):
            real = block or _grid.Block((0,) * self.layout.split, 0, 0, 0)
            out["valid"].append(real.valid)
            if self.flat:
                self._flat_block(real, out, values)
            else:
                self._mesh_block(real, out, values)
        arrays = {"valid": np.asarray(out["valid"], np.int32),
                  "outer": np.asarray(out["outer"], self.dtype).reshape(len(group), -1)}
        if out["base"]:
            arrays.update(base=np.asarray(out["base"], self.dtype),
                          last=np.asarray(out["last"], np.int32),
                          first=np.asarray(out["first"], bool))
        if sent:
            arrays["rows"] = rows
        if self.integral:
            arrays["weights"] = np.asarray(out["weights"], self.dtype)
        return arrays

    def _flat_block(self, block: _grid.Block, out: dict, values: np.ndarray) -> None:
        """Fill ``values`` (one row per sent variable) with the block's points."""
        lo, hi = block.offset, block.offset + block.valid
        arrays = self.grid.arrays
        out["outer"].append([a if a.ndim == 0 else 0.0 for a in arrays])
        for row, a in zip(values, (a for a in arrays if a.ndim), strict=True):
            if hi > lo:
                _grid.flat_range(np.broadcast_to(a, self.grid.shape), lo, hi, row)
            row[hi - lo :] = row[hi - lo - 1] if hi > lo else 0  # padding, masked out later
        if self.integral:
            weights = _grid.axis_weights(self.grid.arrays[0], lo, hi)
            out["weights"].append(_pad(weights, self.layout.rows))

    def _mesh_block(self, block: _grid.Block, out: dict, values: np.ndarray) -> None:
        """Fill ``values`` (the split axis' points, when sent) for the block."""
        lo, hi, rows, split = block.offset, block.offset + block.valid, self.layout.rows, \
            self.layout.split
        axes = self.grid.axes
        coords = [_grid.axis_values(axes[k], i, i + 1)[0] for k, i in enumerate(block.outer)]
        weight = math.prod(float(_grid.axis_weights(axes[k], i, i + 1)[0])
                           for k, i in enumerate(block.outer)) if self.integral else 1.0
        out["outer"].append(coords + [0.0] * (len(axes) - split))
        axis = axes[split]
        if self.kinds()[split] is Kind.LAZY:
            out["base"].append(axis.start + lo * axis.step)
            out["last"].append(min(axis.size - 1 - lo, rows))
            out["first"].append(lo == 0)
            out["weights"].append(weight)
        else:
            values[0] = _pad(axis[lo:hi], rows)
            out["weights"].append(_pad(_grid.axis_weights(axis, lo, hi), rows) * weight
                                  if self.integral else weight)

    # -- running --------------------------------------------------------------------------------

    def run(self, out, progress: Progress):
        """Reduce the grid, or write it to ``out`` (see ``output.destination``)."""
        self._prepare(progress)
        if self.reduce is not None:
            return self._reduce()
        sink = _output.destination(out, self.grid.shape, self.extra, self.dtype, self.flat)
        return _output.finish(sink, lambda: in_shares(
            functools.partial(self._write_share, sink=sink), self._shares()))

    def _prepare(self, progress: Progress) -> None:
        """Put the replicated data on the devices and compile the step program."""
        count = len(self.devices)
        self._split, replicated = _devices.shardings(self.devices)
        self._consts = jax.device_put(self._constants(), replicated)
        self._device_leaves = jax.device_put(self.leaves, replicated)
        self._program = _program(self.kernel, self._static(), count, tuple(self.devices))
        self._progress, self._counted = progress, 0

    def _shares(self) -> list[range]:
        """The steps, in contiguous shares: one per host thread on a single CPU device (XLA:CPU
        runs a program on the thread that dispatched it), else one thread feeds all devices."""
        count = len(self.devices)
        cpu_only = count == 1 and self.devices[0].platform == "cpu"
        return split(range(-(-self.total // count)), _devices.workers() if cpu_only else 1)

    def _reduce(self):
        state = self.reduce.start()
        for part in in_shares(self._reduce_share, self._shares()):  # in grid order
            state = self.reduce.merge(state, part)
        return self.reduce.finish(state, self.grid.size, self.dtype)

    def _groups(self, share: range):
        """The step groups (one block per device) of a share of steps."""
        return itertools.islice(_groups(self.blocks(), len(self.devices)), share.start,
                                share.stop)

    def _launch(self, group, *buffer):
        """Dispatch one step (asynchronously); ``buffer``: an output buffer to donate."""
        per_block = jax.device_put(self._per_block(group), self._split)
        return self._program(*buffer, self._device_leaves, self._consts, per_block)

    def _done(self, group, result) -> None:
        """Count a finished step (the first one also tells which devices really worked)."""
        with self._lock:
            if self._counted == 0:
                leaf = jax.tree_util.tree_leaves(result)[0]
                self.devices_used = len(leaf.sharding.device_set)
            self._counted += 1
        self._progress.advance(sum(b is not None for b in group), self.total)

    def _reduce_share(self, share: range, stop: threading.Event):
        state = self.reduce.start()

        def combine(group, result):
            nonlocal state
            parts = jax.device_get(result)
            for j, block in enumerate(group):
                if block is not None:
                    part = jax.tree_util.tree_map(lambda p, j=j: p[j], parts)
                    state = self.reduce.combine(state, part, block.start)
            self._done(group, result)

        pipeline(self._groups(share), self._launch, combine, _devices.DEPTH, stop)
        return state

    def _write_share(self, share: range, stop: threading.Event, sink) -> None:
        shape = (len(self.devices), *self.block_shape(self.layout.rows), *self.extra)
        empty = _empty(shape, self.dtype, tuple(self.devices))
        free = [empty() for _ in range(_devices.DEPTH)]  # a ring of donated output buffers
        flat_shape = self.flat_shape(self.extra)

        def write(group, result):
            values = np.asarray(result)
            for j, block in enumerate(group):
                if block is not None:
                    sink.write(block, values[j, : block.valid], flat_shape)
            del values
            self._done(group, result)
            free.append(result)

        pipeline(self._groups(share), lambda group: self._launch(group, free.pop()), write,
                 _devices.DEPTH, stop)

    def _static(self):
        return _Static(self.kinds(), self.layout.rows, self.layout.trailing, self.dtype,
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
    kinds: tuple[Kind, ...]
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
        if kind is Kind.OUTER:
            xs.append(per["outer"][v])
        elif kind is Kind.LAZY:
            x = per["base"] + j.astype(dtype) * consts["step"]
            xs.append(jnp.where(j == per["last"], consts["stop"], x).reshape(column))
            if integral:
                end = (j == per["last"]) | ((j == 0) & per["first"])
                w = jnp.where(end, 0.5, 1.0).astype(dtype) * consts["step"]
                w = jnp.where((j == per["last"]) & (j == 0) & per["first"], 0.0, w)
                weights.append(w.reshape(column) * per["weights"])
        elif kind is Kind.ROWS:
            xs.append(per["rows"][row_values].reshape(column))
            row_values += 1
        else:
            shape = [1] * ndim
            shape[1 + trailing] = static.trailing[trailing]
            xs.append(consts["axes"][trailing].reshape(shape))
            if integral:
                weights.append(consts["weights"][trailing].reshape(shape))
            trailing += 1
    if integral and Kind.LAZY not in static.kinds:
        weights.append(per["weights"].reshape(column) if per["weights"].ndim else per["weights"])
    y = kernel.raw(leaves, *xs)
    block = (rows, *static.trailing)
    y = jnp.broadcast_to(y, block + y.shape[ndim:]) if y.shape[:ndim] != block else y
    if static.reduce is None:
        return y
    mask = jnp.broadcast_to((j < per["valid"]).reshape(column), block)
    weight = functools.reduce(jnp.multiply, weights, jnp.ones(block, dtype)) if integral \
        else None
    return REDUCTIONS[static.reduce].partial(jnp, y, mask, weight)


@functools.lru_cache(maxsize=64)
def _empty(shape, dtype, devices: tuple):
    """A compiled maker of uninitialised step outputs (the buffers donated to ``_program``)."""
    split_sharding, _ = _devices.shardings(devices)
    return jax.jit(lambda: jnp.empty(shape, dtype), out_shardings=split_sharding)


@functools.lru_cache(maxsize=256)
def _program(kernel, static: _Static, count: int, devices: tuple):
    """The compiled step: one block per device (vmapped), sharded along the device axis."""
    one = functools.partial(_block_values, kernel, static)
    many = jax.vmap(one, in_axes=(None, None, 0))
    split_sharding, _ = _devices.shardings(devices)
    if static.reduce is not None:
        return jax.jit(many, out_shardings=split_sharding)

    def step(buffer, leaves, consts, per):
        del buffer  # donated: its memory holds the result
        return many(leaves, consts, per)

    return jax.jit(step, donate_argnums=0, keep_unused=True, out_shardings=split_sharding)
