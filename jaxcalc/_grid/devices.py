"""Devices and budgets: which devices share the work, whether it fits, and every tuning constant.

Work is spread over devices with :mod:`jax.sharding`: every step computes one block per device
as one array of shape ``(devices, *block)`` sharded along its first axis (``NamedSharding``
over a 1-D ``Mesh`` named ``"d"``), so XLA runs the blocks side by side. Budgets are checked
before anything is allocated: host RAM (:mod:`jaxcalc._core.memory`, the one probe), device
memory (``Device.memory_stats()`` where the backend reports it) and disk space; a request that
cannot fit raises :class:`~jaxcalc.ResourceError` naming what to change.

Example:
    >>> devices = pick_devices(None)
    >>> len(devices) >= 1, block_target(cpu=True, reducing=True)
    (True, 1048576)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._core.errors import InputError, ResourceError
from .._core.memory import format_bytes

# -- tuning constants (all of them) ----------------------------------------------------------

#: Points per block per device when reducing: cache-sized on the CPU, large on accelerators
#: (bandwidth-bound; the device-memory check below shrinks blocks that do not fit).
REDUCE_POINTS = {"cpu": 1 << 20, "accelerator": 1 << 30}
#: Points per block per device when keeping the values (they are copied to the host).
KEEP_POINTS = {"cpu": 1 << 17, "accelerator": 1 << 25}
#: Bytes of output per block on the CPU: large enough that the ~10-50 us of dispatch per block
#: is amortised, small enough to stay in the last-level cache until copied out (2-core machine,
#: float64, min of 3 interleaved runs against 1 MiB: 1.1-1.5x faster at 10^6 points, 1.5-2.5x at
#: 10^7, the same at 10^5, for f' of ``3*x**2 + 1`` and ``x**3 - 1/x``, ``exp(x)`` and a
#: gradient; 8 MiB no better).
CHUNK_BYTES = 4 << 20
#: Steps in flight per host thread (dispatched asynchronously, finished in order).
DEPTH = 3
#: Block-sized buffers one step may hold per device (ring of outputs + temporaries).
WORKING_COPIES = 8
#: Grid-sized arrays a traced evaluation (inside ``jax.jit``/``grad``/``vmap``) may hold at once:
#: coordinates, values, and what reverse-mode AD keeps for the backward pass.
TRACED_COPIES = 6
#: Host threads that dispatch blocks, at most (XLA:CPU runs a program on the dispatching thread).
MAX_WORKERS = 8
#: Seconds a run must have taken before its progress bar appears.
PROGRESS_DELAY = 2.0


def block_target(cpu: bool, reducing: bool) -> int:
    """Points per block per device (see :data:`REDUCE_POINTS`, :data:`KEEP_POINTS`)."""
    table = REDUCE_POINTS if reducing else KEEP_POINTS
    return table["cpu" if cpu else "accelerator"]


def chunk_points(dtype, extra: Sequence[int] = ()) -> int:
    """Points per CPU block: a power of two whose output is about :data:`CHUNK_BYTES`."""
    per_point = np.dtype(dtype).itemsize * max(1, int(np.prod(extra, dtype=np.int64)))
    return 1 << max(10, int(CHUNK_BYTES // per_point).bit_length() - 1)


def workers() -> int:
    """Host threads that dispatch blocks: one per core this process may use (at most
    :data:`MAX_WORKERS`). XLA:CPU runs a computation on the thread that dispatched it, so threads
    are what spread compute-bound blocks over cores (measured: 2 threads ~2x on 2 cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


# -- devices ---------------------------------------------------------------------------------

def pick_devices(devices) -> list[jax.Device]:
    """``devices``: None (all local devices of the default backend), a count, or a list."""
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise InputError(f"`devices` must be between 1 and {len(local)} here, got {devices}")
        return local[:devices]
    devices = list(devices) if isinstance(devices, (list, tuple)) else []
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise InputError("`devices` must be None, a count, or a list of jax devices")
    if len(set(devices)) != len(devices):
        raise InputError(f"`devices` lists a device more than once: {devices}")
    return devices


def shardings(devices: Sequence[jax.Device]):
    """(split along the first axis, replicated) shardings over ``devices``."""
    grid = Mesh(np.array(list(devices)), ("d",))
    return NamedSharding(grid, PartitionSpec("d")), NamedSharding(grid, PartitionSpec())


# -- budgets ---------------------------------------------------------------------------------

def device_available(device: jax.Device) -> int | None:
    """Free bytes on an accelerator (None where the backend does not say: the CPU)."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without stats raise various errors
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def device_budget(devices: Sequence[jax.Device]) -> int | None:
    """The smallest free memory over ``devices`` (None when no device reports it)."""
    free = [device_available(d) for d in devices]
    known = [f for f in free if f is not None]
    return min(known) if known else None


def require_disk(need: int, directory: str, fix: str) -> None:
    try:
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise InputError(f"cannot write to {directory!r}: {e.strerror}") from e
    if need > free:
        raise ResourceError(f"writing {format_bytes(need)} to {directory!r} needs more disk space "
                            f"than the {format_bytes(free)} free; {fix}")
