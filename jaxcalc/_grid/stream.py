"""The chunk pipeline of grid evaluation: chunk sizes, asynchronous steps, host threads.

The grid engines (``fused``, ``engine``) stream blocks through reused buffers with these tools.

Example:
    >>> out = []
    >>> pipeline(range(3), launch=lambda k: k * k, finish=lambda k, r: out.append(r))
    >>> out
    [0, 1, 4]
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
from collections.abc import Callable, Iterable, Sequence

import jax
import numpy as np

#: Bytes of output per chunk: small enough to stay in the L2 cache, large enough that the
#: ~10–50 µs of dispatch per chunk is amortised (measured in bench/bench_grid.py).
CHUNK_BYTES = 1 << 20
#: Chunks in flight.
DEPTH = 3


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


