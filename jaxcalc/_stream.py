"""Streaming elementwise work through cache-sized chunks on the CPU (the large-input call path).

Why: on the CPU, a jit call on a big array pays for fresh memory page by page twice — XLA
copies the NumPy input into a new buffer and writes a new output buffer, both first-touched in
4 KiB pages (≈1 µs each) — so ``jit(f)(xs)`` at 10^7 points was 2–8× slower than NumPy.
:func:`call` avoids both: the input is read in place (a zero-copy view of the NumPy array), each
chunk of ``CHUNK_BYTES`` is computed into one of a few *donated* device buffers that XLA reuses
call after call (no new pages, cache-resident), and chunks are copied into one 64-byte aligned
NumPy output (which NumPy advises the kernel to back with huge pages), returned as a zero-copy
``jax.Array``. Chunks are dispatched asynchronously, ``DEPTH`` in flight, so XLA computes the
next chunk while Python copies the last. Results are identical to one ``jit`` call: the same
elementwise program runs on every point (all chunks have one shape: the last one overlaps the
one before instead of being shorter, so there is one compilation per kernel and dtype).

Example:
    >>> import numpy as np, jax
    >>> from jaxcalc._function import Function
    >>> f = Function("3*x**2 + 1")
    >>> xs = np.linspace(0.0, 1.0, 2**20)
    >>> with jax.enable_x64(True):
    ...     ys = call(f.kernel, f.leaves, [xs], np.dtype("float64"))
    >>> bool(np.allclose(ys, 3 * xs**2 + 1)), ys.dtype
    (True, dtype('float64'))
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import os
from collections.abc import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _shard

#: Bytes of output per chunk: small enough to stay in the L2 cache, large enough that the
#: ~10–50 µs of dispatch per chunk is amortised (measured in bench/bench_grid.py).
CHUNK_BYTES = 1 << 20
#: Chunks in flight.
DEPTH = 3
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


def pipeline(steps: Iterable, launch: Callable, finish: Callable, depth: int = DEPTH) -> None:
    """For each step, ``launch(step)`` (asynchronous JAX work), then ``finish(step, result)``
    in order, keeping up to ``depth`` launched steps in flight."""
    pending = collections.deque()
    for step in steps:
        pending.append((step, launch(step)))
        if len(pending) >= depth:
            finish(*pending.popleft())
    while pending:
        finish(*pending.popleft())


def workers() -> int:
    """Host threads that dispatch chunks: one per core this process may use (at most 8).
    XLA:CPU runs a computation on the thread that dispatched it, so threads are what spread
    compute-bound chunks over cores (measured: 2 threads ~2x on 2 cores for f5)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def split(items: Sequence, parts: int) -> list[Sequence]:
    """``items`` in ``parts`` contiguous runs of near-equal length (empty runs dropped)."""
    bounds = [len(items) * k // parts for k in range(parts + 1)]
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def in_parallel(work: Callable, parts: Sequence) -> list:
    """``[work(part) for part in parts]``, the parts on host threads; errors propagate."""
    global _POOL
    if len(parts) <= 1:
        return [work(part) for part in parts]
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="jaxcalc")
    x64 = jax.config.jax_enable_x64  # JAX's scoped x64 is per thread: carry it over

    def scoped(part):
        with jax.enable_x64(x64):
            return work(part)

    futures = [_POOL.submit(scoped, part) for part in parts]
    return [f.result() for f in futures]


def chunk_points(dtype: np.dtype, extra: Sequence[int] = ()) -> int:
    """Points per chunk: a power of two whose output is about ``CHUNK_BYTES``."""
    per_point = np.dtype(dtype).itemsize * max(1, int(np.prod(extra, dtype=np.int64)))
    return 1 << max(10, int(CHUNK_BYTES // per_point).bit_length() - 1)


@functools.lru_cache(maxsize=256)
def _step(kernel, size: int, full: tuple[bool, ...]):
    """One chunk: ``kernel`` on ``size`` points from ``offset`` of each full-length input
    (scalars are used whole), written into the donated ``buffer``."""

    def step(buffer, leaves, offset, *xs):
        del buffer  # donated: XLA writes the result into its memory
        chunk = [lax.dynamic_slice_in_dim(x, offset, size) if f else x
                 for x, f in zip(xs, full, strict=True)]
        return kernel.raw(leaves, *chunk)

    return jax.jit(step, donate_argnums=0, keep_unused=True)


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


def _align(a: np.ndarray, head: int) -> np.ndarray:
    """``a`` itself if element ``head`` is 64-byte aligned, else an aligned copy such that it is."""
    if (a.ctypes.data + head * a.itemsize) % _ALIGN == 0:
        return a
    pad = (_ALIGN - head * a.itemsize % _ALIGN) // a.itemsize % (_ALIGN // a.itemsize)
    copy = aligned_empty((a.size + pad,), a.dtype)[pad:]
    np.copyto(copy, a)
    return copy


def is_large(xs: Sequence[object]) -> bool:
    """Whether ``xs`` are host arrays large enough for :func:`call` (a cheap first check)."""
    sizes = [getattr(x, "size", 0) for x in xs]
    return (jax.default_backend() == "cpu" and bool(sizes)
            and MIN_POINTS <= max(sizes) < 2**31 and all(hasattr(x, "dtype") for x in xs))


def call(kernel, leaves: Sequence[object], xs: Sequence[object], dtype: np.dtype):
    """``kernel`` on large CPU host inputs, chunked (see module docstring); None when the
    inputs do not qualify (small, on an accelerator, or broadcasting in other ways), in which
    case the caller runs one plain jit call. Call inside :func:`jaxcalc._execute.precision`."""
    found = _host_inputs(xs, dtype)
    if found is None:
        return None
    shape, flat = found
    n = int(np.prod(shape, dtype=np.int64))
    full = tuple(a.ndim == 1 for a in flat)
    leaves = [jnp.asarray(p, dtype) for p in leaves]
    probe = [jax.ShapeDtypeStruct((8,) if f else (), dtype) for f in full]
    extra = jax.eval_shape(kernel.raw, leaves, *probe).shape[1:]
    size = chunk_points(dtype, extra)
    first = next(a for a in flat if a.ndim == 1)
    head = -first.ctypes.data % _ALIGN // first.itemsize  # points before the first aligned one
    if n - head < size:
        return None
    nbytes = n * int(np.prod(extra, dtype=np.int64)) * np.dtype(dtype).itemsize
    _shard.require_host(nbytes, f"the result ({n:,} points of {np.dtype(dtype).name})",
                        "use jc.evaluate(f, xs, reduce=...) or out='file.npy' to stream it")
    inputs = [as_device(_align(a, head)[head:]) if a.ndim == 1 else jnp.asarray(a) for a in flat]
    out = aligned_empty((n, *extra), dtype)
    if head:
        first_chunk = [a[:_ALIGN] if a.ndim == 1 else a for a in flat]  # one shape for every head
        out[:head] = np.asarray(kernel.jitted(leaves, *first_chunk))[:head]
    step = _step(kernel, size, full)
    offsets = [*range(0, n - head - size, size), n - head - size]

    def work(part):
        free = collections.deque(jnp.empty((size, *extra), dtype) for _ in range(DEPTH))

        def launch(offset):
            return step(free.popleft(), leaves, offset, *inputs)

        def finish(offset, result):
            out[head + offset : head + offset + size] = np.asarray(result)
            free.append(result)

        pipeline(part, launch, finish, DEPTH)

    in_parallel(work, split(offsets, workers()))
    return as_device(out.reshape(*shape, *extra))
