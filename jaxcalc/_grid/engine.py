"""How a grid is walked: blocks, and the engine for plain NumPy callables.

An engine cuts the grid into blocks (``_grid.layout``) and either reduces them or writes them
to a destination (``_output``). :class:`HostEngine` serves any function of NumPy arrays (a
:class:`~jaxcalc.Tangent`, ``np.hypot``...): each block's coordinates are built with NumPy and
passed in, one block at a time. Compiled jaxcalc kernels use ``_fused.DeviceEngine``.

Example:
    >>> import numpy as np
    >>> from jaxcalc._grid.grids import linspace, as_grid
    >>> from jaxcalc._grid.reduce import reduction
    >>> engine = HostEngine(np.sin, as_grid(linspace(0, 3, 301)), np.float64, 64,
    ...                     reduction("argmax"))
    >>> engine.run(None, Progress(False))
    157
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np

from .._core.errors import InputError
from . import grids as _grid
from . import output as _output
from . import stream as _stream
from .output import Progress
from .reduce import Reduction

#: Points per block per device by (backend is CPU, reducing): cache-sized blocks on the CPU
#: (where outputs are copied to host); large ones on accelerators (bandwidth-bound).
TARGET = {(True, False): 1 << 17, (True, True): 1 << 20, (False, False): 1 << 25,
          (False, True): 1 << 30}


class Engine:
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


class HostEngine(Engine):
    """Plain callables: each block's coordinates as NumPy arrays, one block at a time."""

    def __init__(self, fn: Callable, grid, dtype, chunk_size: int, reduce):
        super().__init__(grid, dtype, chunk_size, reduce)
        self.fn = fn

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
            values = _grid.axis_values(axis, lo_k, hi_k).astype(self.dtype)
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

    def run(self, out, progress: Progress):
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
        sink = _output.destination(out, self.grid.shape, extra, self.dtype, self.flat)
        flat_shape = self._flat_shape(extra)

        def launch(block):
            return values if block is first else self._evaluate(block)[0]

        def finish(block, result):
            sink.write(block, result, flat_shape)
            tick()

        steps = itertools.chain([first], blocks)
        return _output.finish(sink, lambda: _stream.pipeline(steps, launch, finish, 1))
