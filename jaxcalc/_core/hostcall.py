"""The large-input call path on the CPU: whole host arrays read in place, one program per shape.

Why: a plain jit call on a 10^7-point NumPy array paid for memory twice — XLA copied the
(usually 16-byte-aligned) input into a new buffer and wrote a fresh output, first-touched in
4 KiB pages — so it ran 2–3× slower than NumPy. :func:`call` avoids both: each input is read in
place (a zero-copy view that starts at the 64-byte boundary at or before it; the program
slices the few items ahead of it off), and the result is written into a :class:`Recycler`-held
earlier result of the same shape that nobody references any more (XLA's donation), else into
fresh memory. The whole input is one program (XLA splits its loops over the cores), so
results are identical to one ``jit`` call; it compiles once per input length and dtype.
Measured (bench/bench_grid.py, 2 cores, float64, 10^7 points): f1' 35 → 13 ms, numexpr 15 ms.

Example:
    >>> import numpy as np, jax
    >>> from jaxcalc._core.function import Function
    >>> f = Function("3*x**2 + 1")
    >>> xs = np.linspace(0.0, 1.0, 2**20)
    >>> with jax.enable_x64(True):
    ...     ys = call(f.kernel, f.leaves, [xs], np.dtype("float64"))
    >>> bool(np.allclose(ys, 3 * xs**2 + 1)), ys.dtype
    (True, dtype('float64'))
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import memory

#: Inputs smaller than this many points take the plain single-call path.
MIN_POINTS = 1 << 18
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

class _Span:
    """Exposes ``base`` and the ``before`` items ahead of its data (see :func:`_aligned_view`)
    as one array interface, keeping ``base`` alive."""

    def __init__(self, base: np.ndarray, before: int):
        self.base = base
        self.__array_interface__ = {
            "version": 3, "shape": (base.size + before,), "typestr": base.dtype.str,
            "data": (base.ctypes.data - before * base.itemsize, True)}


def _aligned_view(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``(view, before)``: a read-only view of flat ``a`` that starts on the 64-byte boundary
    at or before its first item, ``before`` items early, so that XLA aliases it instead of
    copying ``a``. The items ahead of ``a`` lie in the 64-byte line of ``a[0]``, hence in a
    mapped page, and :func:`_program` slices them off: they are never read."""
    if a.ctypes.data % a.itemsize:  # not even item-aligned (rare): an aligned copy
        copy = aligned_empty(a.shape, a.dtype)
        np.copyto(copy, a)
        return copy, 0
    before = a.ctypes.data % _ALIGN // a.itemsize
    return (np.asarray(_Span(a, before)) if before else a), before


@functools.lru_cache(maxsize=256)
def _program(kernel, shape: tuple[int, ...], before: tuple[int | None, ...], reuse: bool):
    """``kernel`` on whole inputs as one program. Input ``i`` is a flat view ``before[i]``
    items early (``None``: a scalar); the result has ``shape`` plus the kernel's extra dims.
    With ``reuse``, XLA writes the result into the donated first argument."""
    n = int(np.prod(shape, dtype=np.int64))
    # XLA:CPU's loops over an odd count ran 3x slower (measured: f5' at 10^7 - 1 points), so
    # an odd count is computed as a multiple of 8 and a short tail.
    bounds = [0, n - n % 8, n] if n % 2 else [0, n]

    def run(leaves, *xs):
        parts = [kernel.raw(leaves, *(x if b is None else lax.slice_in_dim(x, b + lo, b + hi)
                                      for x, b in zip(xs, before, strict=True)))
                 for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        result = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
        return result.reshape(*shape, *result.shape[1:])

    if not reuse:
        return jax.jit(run)
    return jax.jit(lambda buffer, leaves, *xs: run(leaves, *xs), donate_argnums=0,
                   keep_unused=True)

class Recycler:
    """Results of :func:`call` kept so that a later call of the same shape and dtype writes
    into one its user has dropped instead of into fresh memory. At most ``slots`` results of
    at most ``max_bytes`` in all. A result is reused only when nothing but the recycler
    references its ``jax.Array``; one with a NumPy view alive is not donatable, and JAX then
    writes a fresh buffer instead."""

    def __init__(self, slots: int, max_bytes: int):
        self.slots, self.max_bytes = slots, max_bytes
        self.held: collections.deque[jax.Array] = collections.deque()
        self.lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> jax.Array | None:
        """A held result of ``shape`` and ``dtype`` referenced by nobody else, or None."""
        with self.lock:
            for _ in range(len(self.held)):
                candidate = self.held.popleft()
                # 2 references: the name `candidate` and getrefcount's argument.
                if (candidate.shape == shape and candidate.dtype == dtype
                        and sys.getrefcount(candidate) == 2 and not candidate.is_deleted()):
                    return candidate
                self.held.append(candidate)
                del candidate
            return None

    def keep(self, result: jax.Array) -> None:
        """Hold ``result`` (the oldest held ones go beyond the limits)."""
        if result.nbytes > self.max_bytes:
            return
        with self.lock:
            self.held.append(result)
            while len(self.held) > self.slots or sum(a.nbytes for a in self.held) > self.max_bytes:
                self.held.popleft()


#: Results held for reuse by :func:`call`: two, so that ``ys = d(xs)`` in a loop (the old
#: ``ys`` is alive while the new one is computed) alternates between two buffers.
RECYCLER = Recycler(slots=2, max_bytes=1 << 29)


def _host_inputs(xs: Sequence[object], dtype: np.dtype):
    """Inputs as flat host arrays of one length (or 0-d scalars), or None if they do not
    qualify: not CPU NumPy-like arrays, or broadcasting other than scalar-with-array."""
    arrays = []
    for x in xs:
        if isinstance(x, jax.Array):
            if x.is_fully_addressable and {d.platform for d in x.devices()} == {"cpu"}:
                x = np.asarray(x)  # zero-copy on the CPU
            else:
                return None
        arrays.append(np.asarray(x))
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        return None
    flat = []
    for a in arrays:
        if a.size == 1:
            flat.append(np.asarray(a.reshape(()), dtype))
        elif a.shape == shape:
            flat.append(np.ascontiguousarray(a, dtype).reshape(-1))
        else:
            return None
    return shape, flat


def is_large(xs: Sequence[object]) -> bool:
    """Whether ``xs`` are host arrays large enough for :func:`call` (a cheap first check)."""
    sizes = [getattr(x, "size", 0) for x in xs]
    return (jax.default_backend() == "cpu" and bool(sizes)
            and MIN_POINTS <= max(sizes) < 2**31 and all(hasattr(x, "dtype") for x in xs))


@functools.lru_cache(maxsize=256)
def _extra_dims(kernel, dtype: np.dtype, leaf_shapes: tuple, full: tuple[bool, ...]):
    """The dims the kernel adds per point (a gradient's ``(n,)``), traced once per signature."""
    leaves = [jax.ShapeDtypeStruct(s, dtype) for s in leaf_shapes]
    probe = [jax.ShapeDtypeStruct((8,) if f else (), dtype) for f in full]
    return jax.eval_shape(kernel.raw, leaves, *probe).shape[1:]


def call(kernel, leaves: Sequence[object], xs: Sequence[object], dtype: np.dtype):
    """``kernel`` on large CPU host inputs, read in place, written into a recycled result
    where one is free (see module docstring); None when the inputs do not qualify (small, on
    an accelerator, or broadcasting in other ways), in which case the caller runs one plain
    jit call. Call inside :func:`jaxcalc._core.execute.precision`."""
    found = _host_inputs(xs, dtype)
    if found is None:
        return None
    shape, flat = found
    n = int(np.prod(shape, dtype=np.int64))
    leaves = [jnp.asarray(p, dtype) for p in leaves]
    extra = _extra_dims(kernel, np.dtype(dtype), tuple(p.shape for p in leaves),
                        tuple(a.ndim > 0 for a in flat))
    nbytes = n * int(np.prod(extra, dtype=np.int64)) * np.dtype(dtype).itemsize
    memory.require_host(nbytes, f"the result ({n:,} points of {np.dtype(dtype).name})",
                        "use jc.evaluate(f, xs, reduce=...) or out='file.npy' to stream it")
    views = [_aligned_view(a) if a.ndim else (a, None) for a in flat]
    inputs = [jnp.asarray(v) if before is None else as_device(v) for v, before in views]
    before = tuple(b for _, b in views)
    buffer = RECYCLER.take((*shape, *extra), np.dtype(dtype))
    if buffer is None:
        result = _program(kernel, shape, before, False)(leaves, *inputs)
    else:
        result = _program(kernel, shape, before, True)(buffer, leaves, *inputs)
        del buffer
    RECYCLER.keep(result)
    return result
