"""The large-input call route on the CPU: cache-sized blocks through one compiled program, into
memory NumPy allocates.

Why: a fresh 10^7-point float64 result allocated by XLA:CPU costs ~19 500 first-touch page faults
(4 KiB pages, ~35 ms of kernel time on the 2-core benchmark machine) before a single value is
computed, while NumPy asks the kernel for transparent huge pages (~600 faults): plain jit calls
ran 2-3x slower than NumPy there. So the result is allocated by NumPy (64-byte aligned), and
:data:`WORKERS` threads, one per CPU (the calling thread one of them), each take the next
block of :data:`BLOCK` points (none waits on a share fixed in advance): each runs the
kernel's one-thread program on its block (one program for every input size, address and
alignment; a cheap kernel's runs inline on the worker, see ``_core.threads``) and
copies the result into place while it is still in the core's cache. XLA writes each block's
result where the worker's previous one was (donated): a fresh 1 MiB output per block cost up
to 3 000 page faults per 10^7 points, as glibc trimmed the workers' heaps between blocks.
The blocks start at the first input's first 64-byte aligned point, where XLA aliases them; a
block it cannot alias (the few points before, the padded last block, inputs aligned
otherwise) is first copied into the worker's own aligned block. The cores stream the data
side by side, where XLA's own threads would hand off every block. Values are identical to one
plain jit call (the same operations on the same points). Nothing is kept between calls;
``out=`` (see ``_core.execute``) fills the caller's own array instead.

Example:
    >>> import numpy as np
    >>> from jaxcalc._core.function import Function
    >>> xs = np.linspace(0.0, 1.0, 2**22 + 1)
    >>> ys = Function("3*x**2 + 1")(xs)  # 32 MiB of float64 results: this route
    >>> bool(np.allclose(ys, 3 * xs**2 + 1)), ys.dtype
    (True, dtype('float64'))
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

from . import memory, threads

#: Points per block, the programs' one shape: 1 MiB of float64 inputs and as much of results,
#: resident in a core's cache between computing and copying.
BLOCK = 1 << 17
#: Results of at least this many bytes (points times the working dtype's size) take the blocked
#: route (on the CPU, host inputs). Below it glibc serves a result, once the previous one is
#: freed, from its heap again (its mmap threshold grows up to 32 MiB): a plain call writes into
#: memory already paged in, and beats the blocks (``x**3 - 1/x``: 4.8 against 7.5 ms at
#: 4·10^6 float64 points); above it every plain result is fresh pages (14 against 8 ms at 5·10^6).
MIN_BYTES = 32 << 20
#: Threads filling a result, one per CPU this process may run on.
WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
_ALIGN = 64  # bytes: XLA:CPU aliases host memory aligned like this instead of copying it


def aligned_empty(shape: Sequence[int], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


def as_device(host: np.ndarray) -> jax.Array:
    """``host`` as a ``jax.Array`` on the default device: zero-copy where XLA can alias it."""
    return jax.device_put(host, may_alias=True)


def _on_host(x: object) -> bool:
    if isinstance(x, jax.Array):
        return x.is_fully_addressable and {d.platform for d in x.devices()} == {"cpu"}
    return isinstance(x, (float, np.ndarray, np.generic))


def route(programs, batch: tuple[int, ...], dtype: np.dtype, leaves: Sequence[object],
          xs: Sequence[object]) -> Blocked | None:
    """The blocked route for these inputs (``dtype``: the working one), or None where a plain
    call serves: small results, accelerators, inputs not in host memory, broadcasting other
    than scalar-with-array. ``programs(split=False, inline=...)`` gives the program of one
    block, which runs on the calling thread (``_core.threads``: the blocks are shared out over
    threads here). Call inside ``_core.execute.precision``."""
    points = int(np.prod(batch, dtype=np.int64))
    if (points * np.dtype(dtype).itemsize < MIN_BYTES or jax.default_backend() != "cpu"
            or any(np.ndim(p) != 0 for p in leaves)
            or not all(_on_host(x) and np.size(x) in (1, points) for x in xs)):
        return None
    full = tuple(np.size(x) == points for x in xs)
    flat = _flat(xs, full)
    pieces = _pieces(flat, _rooms(flat, full), 0, BLOCK)
    traced = programs(split=False).trace(leaves, *pieces)
    block = traced.out_info
    if block.shape[:1] != (BLOCK,):  # not elementwise over the points: one plain call
        return None
    inline = threads.inline_spec(traced, (BLOCK,), pieces, max_steps=None)
    program = programs(split=False, inline=inline, reusing=True)
    result = jax.ShapeDtypeStruct((*batch, *block.shape[1:]), block.dtype)
    return Blocked(program, block, result, points, full)


def _flat(xs: Sequence[object], full: tuple[bool, ...]) -> list[np.ndarray]:
    """Full inputs as flat host arrays (zero-copy where contiguous), the others as 0-d ones."""
    return [np.asarray(x).reshape(-1) if f else np.asarray(x).reshape(())
            for x, f in zip(xs, full, strict=True)]


def _rooms(flat: list[np.ndarray], full: tuple[bool, ...]) -> list[np.ndarray | None]:
    """An aligned block per full input (to copy a block XLA cannot alias into), None for the
    others."""
    return [aligned_empty((BLOCK,), a.dtype) if f else None
            for a, f in zip(flat, full, strict=True)]


def _pieces(flat: list[np.ndarray], rooms: list[np.ndarray | None], lo: int, hi: int) -> list:
    """The inputs of the block of points ``lo:hi`` (see :func:`_block`)."""
    return [a if room is None else _block(a, lo, hi, room)
            for a, room in zip(flat, rooms, strict=True)]


class Blocked:
    """``program(leaves, spent, *block inputs)`` over flat host inputs in blocks (``spent``:
    the worker's previous ``block`` result, whose memory XLA reuses); a plan of
    ``_core.execute`` whose ``result`` (shape and dtype) was checked to fit before the first
    call."""

    def __init__(self, program, block: jax.ShapeDtypeStruct, result: jax.ShapeDtypeStruct,
                 points: int, full: tuple[bool, ...]):
        self.program, self.block, self.result, self.full = program, block, result, full
        self.shape, self.dtype = tuple(result.shape), np.dtype(result.dtype)
        self.points = points

    def entry(self) -> tuple:
        """``(run, x64, self)`` for ``_core.execute``'s table (this route scopes itself)."""
        return self, False, self

    def __call__(self, leaves, *xs) -> jax.Array:
        nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        memory.require_host(nbytes, f"the result ({self.points:,} points of {self.dtype.name})",
                            "use jc.evaluate(f, xs, reduce=...) or out='file.npy' to stream it")
        out = aligned_empty(self.shape, self.dtype)
        self.fill(out, leaves, xs)
        with x64_scope(self.dtype == np.float64):  # else float64 host data reads as float32
            return as_device(out)

    def fill(self, out: np.ndarray, leaves, xs) -> None:
        """Write the result into ``out`` (the plan's shape and dtype)."""
        if not out.flags.c_contiguous:
            np.copyto(out, np.asarray(self(leaves, *xs)))
            return
        flat = _flat(xs, self.full)
        target = out.reshape(self.points, -1)
        spans = _spans(flat, self.full, self.points)
        blocks = iter(spans)  # shared: each worker takes the next block (a list iterator's
        stop = threading.Event()  # next() is atomic under the GIL)

        def fill_share() -> None:
            rooms = _rooms(flat, self.full)
            with x64_scope(self.dtype == np.float64):
                computed = jax.device_put(np.empty(self.block.shape, self.block.dtype),
                                          may_alias=False)  # owned by XLA: reusable
                for lo, hi in blocks:
                    if stop.is_set():
                        return
                    computed = self.program(leaves, computed, *_pieces(flat, rooms, lo, hi))
                    _copy(target, lo, hi, computed)

        helpers = min(WORKERS, len(spans)) - 1  # the calling thread is a worker too
        with ThreadPoolExecutor(max(helpers, 1), thread_name_prefix="jaxcalc-fill") as pool:
            try:
                shares = [pool.submit(fill_share) for _ in range(helpers)]
                fill_share()
                for share in shares:
                    share.result()
            except BaseException:  # Ctrl-C or an error: the other shares stop after a block
                stop.set()
                raise


def x64_scope(on: bool):
    """``with jax.enable_x64(True):`` where ``on`` (float64 work), else nothing."""
    return jax.enable_x64(True) if on else contextlib.nullcontext()


def _spans(flat: list[np.ndarray], full: tuple[bool, ...], points: int) -> list[tuple]:
    """The blocks ``(lo, hi)``: every :data:`BLOCK` points from the first point at which the
    first full input is aligned for XLA, after one block of the points before it (NumPy's own
    large arrays start 16 bytes into a page: without the shift every block would be copied)."""
    first = next(a for a, f in zip(flat, full, strict=True) if f)
    skew = first.ctypes.data % _ALIGN
    head = min(-skew % _ALIGN // first.itemsize if skew % first.itemsize == 0 else 0, points)
    bounds = sorted({0, *range(head, points, BLOCK), points})
    return list(itertools.pairwise(bounds))


def _block(a: np.ndarray, lo: int, hi: int, room: np.ndarray) -> np.ndarray:
    """Points ``lo:hi`` of ``a`` as one block: a view where XLA can alias it, else copied into
    ``room`` (a block of the same dtype), the last block padded with its last point."""
    if hi - lo == BLOCK and (a.ctypes.data + lo * a.itemsize) % _ALIGN == 0:
        return a[lo:hi]
    room[: hi - lo] = a[lo:hi]
    room[hi - lo :] = a[hi - 1]
    return room


def _copy(target: np.ndarray, lo: int, hi: int, computed: jax.Array) -> None:
    target[lo:hi] = np.asarray(computed).reshape(BLOCK, -1)[: hi - lo]
