"""Devices and memory: which devices share the work, and whether the work fits.

Work is spread over devices with :mod:`jax.sharding`: every step computes one block per device
as one array of shape ``(devices, *block)`` sharded along its first axis (``NamedSharding``
over a 1-D ``Mesh`` named ``"d"``), so XLA runs the blocks side by side. Budgets are checked
before anything is allocated: host RAM (``/proc/meminfo`` MemAvailable, else ``os.sysconf``),
device memory (``Device.memory_stats()`` where the backend reports it) and disk space; a
request that cannot fit raises :class:`~jaxcalc.ResourceError` naming what to change.

Example:
    >>> devices = pick_devices(None)
    >>> len(devices) >= 1
    True
"""

from __future__ import annotations

import shutil

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._core.errors import InputError, ResourceError
from .._core.memory import format_bytes


def pick_devices(devices) -> list[jax.Device]:
    """``devices``: None (all local devices of the default backend), a count, or a list."""
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise InputError(f"`devices` must be between 1 and {len(local)} here, got {devices}")
        return local[:devices]
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise InputError("`devices` must be None, a count, or a list of jax devices")
    return devices


def shardings(devices: list[jax.Device]):
    """(split along the first axis, replicated) shardings over ``devices``."""
    grid = Mesh(np.array(devices), ("d",))
    return NamedSharding(grid, PartitionSpec("d")), NamedSharding(grid, PartitionSpec())


def device_available(device: jax.Device) -> int | None:
    """Free bytes on an accelerator (None where the backend does not say: the CPU)."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without stats raise various errors
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def require_disk(need: int, directory: str, fix: str) -> None:
    try:
        free = shutil.disk_usage(directory).free
    except OSError as e:
        raise InputError(f"cannot write to {directory!r}: {e.strerror}") from e
    if need > free:
        raise ResourceError(f"writing {format_bytes(need)} to {directory!r} needs more disk space "
                            f"than the {format_bytes(free)} free; {fix}")


def device_budget(devices: list[jax.Device]) -> int | None:
    """The smallest free memory over ``devices`` (None when no device reports it)."""
    free = [device_available(d) for d in devices]
    known = [f for f in free if f is not None]
    return min(known) if known else None
