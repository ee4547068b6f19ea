"""The large-input call route on the CPU: one program over every point, reading the caller's
arrays where they lie and writing into memory backed by huge pages.

Why: a fresh 10^7-point float64 result allocated by XLA:CPU costs ~19 500 first-touch page
faults before a single value is computed, where NumPy's take ~600 (huge pages): plain jit
calls ran 2-3x slower than NumPy there. So the result is a buffer of
:func:`_core.fresh.uninitialized` (unwritten, advised for huge pages), donated to the kernel's
program, which writes the result there; XLA shares the loop out over its threads as in any call.

The inputs: XLA:CPU aliases host memory that starts on a 64-byte line and copies any other
(NumPy's large arrays start 16 bytes into a page: an 80 MB copy, as long as the work). So the
program reads each full input through a view that starts at the line holding its first point
and ends one line past its last (:func:`_piece`), at an offset it takes as an argument: one
program for every address and alignment, reading exactly the input's points. Where the view
would reach into a page the input does not touch, or the points are not aligned to their own
size, the input is copied first.

``out=`` (see ``_core.execute``) fills the caller's array :data:`CHUNK` points at a time
(one program for every size) on :data:`WORKERS` threads, each writing its chunks where its
previous one was and copying them into place: no temporary the size of the result. Values
are identical to one plain jit call (the same operations on the same points). Nothing is kept
between calls.

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
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
from jax import lax

from . import fresh, memory

#: Results of at least this many bytes (points times the working dtype's size) take this route
#: (on the CPU, host inputs). Below it glibc serves a result, once the previous one is freed,
#: from its heap again (its mmap threshold grows up to 32 MiB): a plain call writes into memory
#: already paged in; above it every plain result is fresh pages.
MIN_BYTES = 32 << 20
#: Points per program call of an ``out=`` fill: 2 MiB of float64 results, reused chunk to chunk
#: (f' of ``3*x**2 + 1`` at 10^7 float64 points: 11-12 ms against 14-17 and 15-27 with 2^17-
#: and 2^19-point chunks; NumPy's ``np.multiply(6, x, out=out)``: 7 ms).
CHUNK = 1 << 18
#: Threads filling an ``out=`` array, one per CPU this process may run on.
WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
LINE = 64  # bytes: XLA:CPU aliases host memory aligned like this instead of copying it


def aligned_empty(shape: Sequence[int], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + LINE, np.uint8)
    start = -raw.ctypes.data % LINE
    return raw[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


def _on_host(x: object) -> bool:
    if isinstance(x, jax.Array):
        return x.is_fully_addressable and {d.platform for d in x.devices()} == {"cpu"}
    return isinstance(x, (float, np.ndarray, np.generic))


def route(plans, batch: tuple[int, ...], dtype: np.dtype, leaves: Sequence[object],
          xs: Sequence[object]) -> Host | None:
    """This route for these inputs (``dtype``: the working one; ``plans``: the kernel's
    ``_core.execute._Plans``), or None where a plain call serves: small results, accelerators,
    inputs not in host memory, broadcasting other than scalar-with-array, results not
    elementwise over the points. Call inside ``_core.execute.precision``."""
    points = int(np.prod(batch, dtype=np.int64))
    if (points * np.dtype(dtype).itemsize < MIN_BYTES or jax.default_backend() != "cpu"
            or any(np.ndim(p) != 0 for p in leaves)
            or not all(_on_host(x) and np.size(x) in (1, points) for x in xs)):
        return None
    kinds = [np.dtype(getattr(x, "dtype", np.float64)) for x in xs]  # (a Python float's)
    pads = tuple(LINE // kind.itemsize if np.size(x) == points else 0
                 for x, kind in zip(xs, kinds, strict=True))
    result = plans.shape(dtype, leaves, [jax.ShapeDtypeStruct((points,) if pad else (), kind)
                                         for pad, kind in zip(pads, kinds, strict=True)])
    if result.shape[:1] != (points,):
        return None
    programs = [plans.program(dtype, split=split, reading=pads, few=False)
                for split in (True, False)]
    return Host(*programs, result, batch, pads)


def reading(body: Callable, pads: tuple[int, ...]) -> Callable:
    """``body(leaves, *xs)`` (elementwise over its flat inputs) as ``program(leaves, spent,
    *pieces)``: each input with a pad is given as ``view, shift`` (its points are
    ``view[shift : shift + len(view) - pad]``, see :func:`_piece`), the others as they are;
    the result, reshaped like ``spent``, is meant to be written where ``spent`` was (donated)."""

    def program(leaves, spent, *pieces):
        rest, xs = iter(pieces), []
        for pad in pads:
            x = next(rest)
            if pad:
                x = lax.dynamic_slice_in_dim(x, next(rest), x.shape[0] - pad)
            xs.append(x)
        return body(leaves, *xs).reshape(spent.shape)

    return program


class Host:
    """A plan of ``_core.execute`` on this route: ``program(leaves, spent, *pieces)`` (see
    :func:`reading`) over flat host inputs, split over XLA's threads, and ``chunks``, the same
    compiled for one thread (for ``out=``, whose chunks the threads share out); its ``result``
    (shape and dtype) was checked to fit before the first call."""

    def __init__(self, program, chunks, flat: jax.ShapeDtypeStruct, batch: tuple[int, ...],
                 pads: tuple[int, ...]):
        self.program, self.chunks, self.pads = program, chunks, pads
        self.points, self.tail = flat.shape[0], tuple(flat.shape[1:])
        self.shape, self.dtype = (*batch, *self.tail), np.dtype(flat.dtype)
        self.result = jax.ShapeDtypeStruct(self.shape, self.dtype)

    def entry(self) -> tuple:
        """``(run, x64, self)`` for ``_core.execute``'s table (this route scopes itself)."""
        return self, False, self

    def __call__(self, leaves, *xs) -> jax.Array:
        nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        memory.require_host(nbytes, f"the result ({self.points:,} points of {self.dtype.name})",
                            "use jc.evaluate(f, xs, reduce=...) or out='file.npy' to stream it")
        pieces = _pieces(_flat(xs, self.pads), self.pads, 0, self.points, self.points)
        with x64_scope(self.dtype == np.float64):  # else float64 host data reads as float32
            return self.program(leaves, fresh.uninitialized(self.shape, self.dtype), *pieces)

    def fill(self, out: np.ndarray, leaves, xs) -> None:
        """Write the result into ``out`` (the plan's shape and dtype): :data:`WORKERS` threads
        (the calling one among them) each take the next :data:`CHUNK` points, compute them
        where their previous chunk was and copy them into place."""
        if not out.flags.c_contiguous:
            np.copyto(out, np.asarray(self(leaves, *xs)))
            return
        flat, target = _flat(xs, self.pads), out.reshape(self.points, -1)
        chunks = iter(range(0, self.points, CHUNK))  # shared: next() is atomic under the GIL
        stop = threading.Event()

        def fill_share() -> None:
            try:
                with x64_scope(self.dtype == np.float64):
                    computed = fresh.uninitialized((CHUNK, *self.tail), self.dtype)
                    for lo in chunks:
                        if stop.is_set():
                            return
                        hi = min(lo + CHUNK, self.points)
                        pieces = _pieces(flat, self.pads, lo, hi, CHUNK)
                        computed = self.chunks(leaves, computed, *pieces)
                        target[lo:hi] = np.asarray(computed).reshape(CHUNK, -1)[: hi - lo]
            except BaseException:  # Ctrl-C or an error: the other shares stop after a chunk
                stop.set()
                raise

        helpers = min(WORKERS, -(-self.points // CHUNK)) - 1
        with ThreadPoolExecutor(max(helpers, 1), thread_name_prefix="jaxcalc-fill") as pool:
            shares = [pool.submit(fill_share) for _ in range(helpers)]
            fill_share()
            for share in shares:
                share.result()


def x64_scope(on: bool):
    """``with jax.enable_x64(True):`` where ``on`` (float64 work), else nothing."""
    return jax.enable_x64(True) if on else contextlib.nullcontext()


def _flat(xs: Sequence[object], pads: tuple[int, ...]) -> list[np.ndarray]:
    """Full inputs (with a pad) as flat host arrays (zero-copy where contiguous), the others as
    0-d ones."""
    return [np.asarray(x).reshape(-1 if pad else ()) for x, pad in zip(xs, pads, strict=True)]


def _pieces(flat: list[np.ndarray], pads: tuple[int, ...], lo: int, hi: int,
            length: int) -> list:
    """The program's inputs for the points ``lo:hi`` read as ``length`` points."""
    pieces = []
    for a, pad in zip(flat, pads, strict=True):
        pieces += _piece(a, lo, hi, length, pad) if pad else [a]
    return pieces


def _piece(a: np.ndarray, lo: int, hi: int, length: int, pad: int) -> list:
    """``[view, shift]`` with ``view[shift + i] == a[lo + i]`` for the ``length`` points from
    ``lo``: ``view`` is ``length + pad`` points (``pad`` points make a 64-byte line) from the
    line that holds ``a[lo]``, aliasing ``a``; where that cannot be (a short last chunk, points not
    aligned to their size, a view reaching into a page ``a`` does not touch), a copy of the
    points, padded with the last one, and shift 0."""
    part = a[lo:hi]
    start, size = part.ctypes.data, part.itemsize
    skew = start % LINE
    end = start + part.nbytes  # the view ends LINE - skew bytes past the points
    if hi - lo == length and skew % size == 0 and (end - 1) // mmap.PAGESIZE == (
            end + LINE - skew - 1) // mmap.PAGESIZE:
        return [np.asarray(_Memory(start - skew, length + pad, part)), np.int32(skew // size)]
    room = aligned_empty((length + pad,), a.dtype)
    room[: hi - lo] = part
    room[hi - lo :] = a[hi - 1]
    return [room, np.int32(0)]


class _Memory:
    """Host memory for NumPy to view (read-only): ``count`` points of ``owner``'s dtype from
    ``address``. Holds ``owner`` alive: its points are in that memory; the rest, in the same
    pages, is never read."""

    def __init__(self, address: int, count: int, owner: np.ndarray):
        self.owner = owner
        self.__array_interface__ = {"data": (address, True), "shape": (count,),
                                    "typestr": owner.dtype.str, "version": 3}
