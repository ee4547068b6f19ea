"""Every cache jaxcalc keeps, found in one place and cleared by :func:`clear_caches`.

jaxcalc caches what is costly to redo: lowered kernels, derivative choices, compiled programs
(each bounded: ``functools.lru_cache(maxsize=...)``, or the per-kernel call tables of
``_core.execute``). None of them holds a result: arrays belong to the caller alone. The registry
is this module: module-level ``lru_cache`` functions of the core and evaluation layers are found
where they are defined (a new one is covered without being listed), other caches register a
clearing function with :func:`on_clear`.

Example:
    >>> import jaxcalc as jc
    >>> _ = jc.Function("x**2 + 1")(2.0)
    >>> jc.clear_caches()  # the next call compiles again
    >>> float(jc.Function("x**2 + 1")(2.0))
    5.0
"""

from __future__ import annotations

import sys
from collections.abc import Callable

#: Packages whose module-level ``lru_cache`` functions :func:`clear_caches` clears.
PACKAGES = ("jaxcalc._core", "jaxcalc._grid")

_CLEARERS: list[Callable[[], None]] = []


def on_clear(clear: Callable[[], None]) -> Callable[[], None]:
    """Register ``clear`` (a function of no arguments) to run in :func:`clear_caches`."""
    _CLEARERS.append(clear)
    return clear


def lru_caches() -> list:
    """The module-level ``functools.lru_cache`` functions of :data:`PACKAGES` now imported."""
    found = []
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(PACKAGES):
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info") \
                    and getattr(value, "__module__", None) == name:
                found.append(value)
    return found


def clear_caches() -> None:
    """Forget every kernel, derivative choice and compiled program jaxcalc has cached.

    Functions keep working: the next call of each builds and compiles again. Useful to bound
    memory in long-running processes that build many formulas, or to time first calls. JAX's
    own caches of other programs are left alone (``jax.clear_caches()`` clears those).
    """
    for cache in lru_caches():
        cache.cache_clear()
    for clear in _CLEARERS:
        clear()
