"""Memory budgets: whether a result fits in host RAM or device memory, checked before
anything is allocated.

Host RAM is the kernel's ``MemAvailable`` (``/proc/meminfo``; ``os.sysconf`` elsewhere), device
memory what the device reports (``memory_stats()``); one request may plan to use
:data:`HEADROOM` of it. A request that cannot fit raises :class:`~jaxcalc.ResourceError` stating
the need, what is available, the margin and the fix.

Example:
    >>> format_bytes(3 * 2**30), format_bytes(1e30)
    ('3.0 GiB', '8.88e+14 PiB')
"""

from __future__ import annotations

import os

import jax

from .errors import ResourceError

#: Share of the reported free memory that one run may plan to use.
HEADROOM = 0.8


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.{'1f' if n < 1e4 else '3g'}} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def host_available() -> int:
    """Bytes of RAM the system can give without swapping."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # pragma: no cover


def require(need: int, have: int | None, what: str, fix: str) -> None:
    """ResourceError unless ``need`` bytes fit in ``HEADROOM`` of ``have``."""
    if have is not None and need > HEADROOM * have:
        raise ResourceError(
            f"{what} needs {format_bytes(need)} but only {format_bytes(have)} is available "
            f"and one run may use {HEADROOM:.0%} of it ({format_bytes(HEADROOM * have)}); {fix}"
        )


def require_host(need: int, what: str, fix: str) -> None:
    require(need, host_available(), f"{what} (host memory)", fix)


def device_available(device) -> int | None:
    """Bytes free in ``device``'s memory, or None where the backend does not say (CPU)."""
    stats = getattr(device, "memory_stats", lambda: None)() or {}
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def require_result(need: int, what: str, fix: str) -> None:
    """ResourceError unless a result of ``need`` bytes fits where JAX puts it: host RAM on
    the CPU backend, the default device's memory on an accelerator."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        require_host(need, what, fix)
    else:
        require(need, device_available(device), f"{what} ({device.platform} memory)", fix)
