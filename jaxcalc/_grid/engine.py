"""How a grid is walked: blocks in a pipeline, shares on host threads, the host engine.

An engine cuts the grid into blocks (``grids.layout``) and either reduces them or writes them to
a destination (``output``). The blocks are split into contiguous *shares*, one per host thread
(:func:`in_shares`); each share streams its blocks through :func:`pipeline`, which checks a stop
flag before every block. Ctrl-C (or an error in any share) sets the flag, so every thread stops
after the block it is on, all threads are joined, and the exception is re-raised: nothing keeps
running after :func:`jaxcalc.evaluate` returns or raises.

:class:`HostEngine` serves any function of NumPy arrays (a :class:`~jaxcalc.Tangent`,
``np.hypot``...): each block's coordinates are built with NumPy and passed in, one block at a
time. Compiled jaxcalc kernels use ``fused.DeviceEngine``.

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

import collections
import contextlib
import enum
import functools
import signal
import threading
from collections.abc import Callable, Iterable, Sequence

import jax
import numpy as np

from .._core.errors import InputError
from . import grids as _grid
from . import output as _output
from .output import Progress
from .reduce import Reduction


class Cancelled(Exception):
    """Raised inside a share when another share failed or the run was interrupted."""


class Traced(Exception):  # noqa: N818 - a signal, not an error
    """A plain callable returned a JAX tracer: the caller is inside ``jax.jit``/``grad``/
    ``vmap``, so :func:`jaxcalc.evaluate` runs the grid as one traced JAX computation."""


def pipeline(steps: Iterable, launch: Callable, finish: Callable, depth: int,
             stop: threading.Event | None = None) -> None:
    """For each step, ``launch(step)`` (asynchronous JAX work), then ``finish(step, result)``
    in order, keeping up to ``depth`` launched steps in flight; :class:`Cancelled` as soon as
    ``stop`` is set (checked before every step)."""
    pending = collections.deque()
    for step in steps:
        if stop is not None and stop.is_set():
            raise Cancelled
        pending.append((step, launch(step)))
        if len(pending) >= depth:
            finish(*pending.popleft())
    while pending:
        finish(*pending.popleft())


def split(items: Sequence, parts: int) -> list[Sequence]:
    """``items`` in ``parts`` contiguous runs of near-equal length (empty runs dropped)."""
    bounds = [len(items) * k // parts for k in range(parts + 1)]
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def in_shares(work: Callable, shares: Sequence) -> list:
    """``[work(share, stop) for share in shares]``, each share on its own host thread (the
    calling thread waits, so Ctrl-C reaches it at once). ``work`` must check ``stop`` between
    blocks (:func:`pipeline` does). On an error or interrupt anywhere, ``stop`` is set, every
    thread is joined, and the first exception is re-raised; no thread outlives the call."""
    stop = threading.Event()
    if len(shares) <= 1:
        return [work(share, stop) for share in shares]
    results, errors = [None] * len(shares), []
    done = [threading.Event() for _ in shares]
    x64 = jax.config.jax_enable_x64  # JAX's scoped x64 is per thread: carry it over

    def run(k):
        try:
            with jax.enable_x64(x64):
                results[k] = work(shares[k], stop)
        except Cancelled:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            errors.append(e)
            stop.set()
        finally:
            done[k].set()

    threads = [threading.Thread(target=run, args=(k,), name=f"jaxcalc-share-{k}", daemon=True)
               for k in range(len(shares))]
    try:
        with _signals_held():  # Ctrl-C inside Thread.start() would leave a thread unjoined
            for thread in threads:
                thread.start()
        for finished in done:
            while not finished.wait(0.05):
                pass
    finally:
        stop.set()
        _join_all(threads, done)
    if errors:
        raise errors[0]
    return results


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait (pending) until the block ends; threads started inside it keep
    them blocked, so that the calling thread receives them."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _join_all(threads: Sequence[threading.Thread], done: Sequence[threading.Event]) -> None:
    """Wait for every started thread to finish, even through further Ctrl-C (each stops
    within one block). Waits on ``done`` events: on CPython 3.11 a ``Thread.join`` interrupted
    by Ctrl-C can mark a live thread as stopped."""
    interrupted = None
    started = [(t, d) for t, d in zip(threads, done, strict=True) if t.ident is not None]
    for _, finished in started:
        while True:
            try:
                if finished.wait(0.05):
                    break
            except KeyboardInterrupt as e:
                interrupted = e
    with _signals_held():  # the threads are at their last line: join them uninterrupted
        for thread, _ in started:
            thread.join()
    if interrupted is not None:
        raise interrupted


class Kind(enum.Enum):
    """How a variable's coordinates reach a block."""

    OUTER = "one coordinate per block"
    LAZY = "the split axis, made inside the program from its start and step"
    ROWS = "the split axis (or flat points), its values sent with each block"
    TRAILING = "a whole later axis, the same for every block"


class Engine:
    """What both engines share: the grid, its blocks and the output's shape."""

    devices_used = 1
    device_name = "host"

    def __init__(self, grid, dtype, target: int, reduce: Reduction | None):
        self.grid, self.dtype, self.reduce = grid, dtype, reduce
        self.flat = isinstance(grid, _grid.Points)
        self.layout = _grid.layout(grid.shape, _grid.pow2_at_most(target), self.flat)
        self.total = _grid.count_blocks(grid.shape, self.layout, self.flat)

    @property
    def integral(self) -> bool:
        return self.reduce is not None and self.reduce.name == "integral"

    def blocks(self):
        return _grid.blocks(self.grid.shape, self.layout, self.flat)

    def kinds(self) -> tuple[Kind, ...]:
        """Each variable's :class:`Kind` under the current layout."""
        if self.flat:
            return tuple(Kind.ROWS if a.ndim else Kind.OUTER for a in self.grid.arrays)
        split = self.layout.split
        return tuple(Kind.OUTER if k < split else Kind.TRAILING if k > split else
                     Kind.LAZY if isinstance(a, _grid.Axis) else Kind.ROWS
                     for k, a in enumerate(self.grid.axes))

    def block_shape(self, rows: int) -> tuple[int, ...]:
        return (rows, *self.layout.trailing)

    def flat_shape(self, extra):
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
        coords, weights = [], []
        ndim = len(self.grid.axes) - self.layout.split
        for axis, kind, k in zip(self.grid.axes, self.kinds(), range(len(self.grid.axes)),
                                 strict=True):
            shape = [1] * ndim
            if kind is Kind.OUTER:
                lo_k, hi_k = block.outer[k], block.outer[k] + 1
            else:
                lo_k, hi_k = (lo, hi) if kind in (Kind.LAZY, Kind.ROWS) else (0, len(axis))
                shape[k - self.layout.split] = hi_k - lo_k
            values = _grid.axis_values(axis, lo_k, hi_k).astype(self.dtype)
            coords.append(values[0] if kind is Kind.OUTER else values.reshape(shape))
            if self.integral:
                w = _grid.axis_weights(axis, lo_k, hi_k)
                weights.append(w[0] if kind is Kind.OUTER else w.reshape(shape))
        weight = functools.reduce(np.multiply, weights) if weights else None
        return coords, weight

    def _evaluate(self, block):
        coords, weight = self._inputs(block)
        shape = self.block_shape(block.valid)
        coords = [np.broadcast_to(c, shape) for c in coords] if not self.flat else coords
        values = self.fn(*coords)
        if isinstance(values, jax.core.Tracer):
            raise Traced
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise InputError(f"`fn` returned values of dtype {values.dtype}; it must return real "
                             "numbers")
        if values.ndim == 0:  # a constant function
            values = np.broadcast_to(values, shape)
        if values.shape[: len(shape)] != shape:
            raise InputError(f"`fn` returned shape {values.shape} for points of shape {shape}; "
                             "it must be elementwise (a per-point shape may follow)")
        return values.astype(self.dtype, copy=False), weight

    def run(self, out, progress: Progress):
        if self.reduce is not None:
            state = self.reduce.start()
            for block in self.blocks():
                values, weight = self._evaluate(block)
                mask = np.ones(values.shape[: 1 + len(self.layout.trailing)], bool)
                part = self.reduce.partial(np, values, mask, weight)
                state = self.reduce.combine(state, part, block.start)
                progress.advance(1, self.total)
            return self.reduce.finish(state, self.grid.size, self.dtype)
        blocks = self.blocks()
        first = next(blocks)
        values, _ = self._evaluate(first)
        extra = values.shape[1 + len(self.layout.trailing) :]
        sink = _output.destination(out, self.grid.shape, extra, self.dtype, self.flat)
        flat_shape = self.flat_shape(extra)

        def write(block, result):
            sink.write(block, result, flat_shape)
            progress.advance(1, self.total)

        write(first, values)
        return _output.finish(sink, lambda: pipeline(
            blocks, lambda block: self._evaluate(block)[0], write, 1))
