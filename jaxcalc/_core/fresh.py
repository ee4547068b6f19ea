"""Result buffers for large CPU calls: XLA memory nothing has written yet, on huge pages.

Why: the first write to fresh memory faults its pages in, and XLA:CPU asks the kernel for 4 KiB
ones. A 10^7-point float64 result took ~19 500 faults (10-20 ms on the 2-core benchmark
machine, more than computing ``6*x``), where NumPy's large arrays take ~600, as NumPy advises
the kernel to back them with transparent huge pages. The advice must come between allocating
and writing, so :func:`uninitialized` makes XLA allocate a buffer without writing it (a custom
call that does nothing: XLA's ``AllocateBuffer`` exists only on GPU and TPU), advises it
(``madvise(MADV_HUGEPAGE)``, Linux), and the caller donates it to the program that writes the
result there (``_core.hostcall``).

The custom call's handler is a ``ctypes`` function registered through ``jax.ffi``: XLA's C
interface asks it once for its API version (read from the header jaxlib ships) and then
calls it once per allocation, when it only returns. Where any of this is unavailable, and
under ``jax_debug_nans``/``jax_debug_infs`` (which check the values of every jit output), the
buffer is a plain ``jnp.empty`` (written with zeros: correct, only slower).

Example:
    >>> import numpy as np
    >>> buffer = uninitialized((2**20,), np.float32)
    >>> buffer.shape, buffer.dtype
    ((1048576,), dtype('float32'))
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

#: The custom call's name in XLA's registry of FFI handlers (CPU).
TARGET = "jaxcalc_uninitialized"
_HUGE_PAGE = 2 << 20  # bytes: the x86-64 and arm64 (4 KiB base pages) transparent huge page
_METADATA = 1  # XLA_FFI_Extension_Metadata: the call that asks a handler for its API version


def uninitialized(shape: tuple[int, ...], dtype) -> jax.Array:
    """A ``jax.Array`` of ``shape`` and ``dtype`` on the default (CPU) device whose memory
    nothing has written (values undefined), advised for huge pages where it spans any; only to
    be donated to a program that writes all of it. (float64: inside JAX's x64 scope.)"""
    unwritten = not (jax.config.jax_debug_nans or jax.config.jax_debug_infs)  # (they check
    buffer = _allocator(tuple(shape), np.dtype(dtype), unwritten)()  # every jit output's values)
    buffer.block_until_ready()  # (the pointer is read with the GIL held: nothing left to wait)
    _advise(buffer.unsafe_buffer_pointer(), buffer.nbytes)
    return buffer


@functools.lru_cache(maxsize=64)
def _allocator(shape: tuple[int, ...], dtype: np.dtype, unwritten: bool):
    if unwritten and _registered():
        return jax.jit(lambda: jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(shape, dtype))())
    return jax.jit(lambda: jnp.empty(shape, dtype))


def _advise(pointer: int, nbytes: int) -> None:
    """``madvise(MADV_HUGEPAGE)`` over the whole huge pages of ``[pointer, pointer + nbytes)``
    (a hint: nothing happens where the OS has no such advice)."""
    start = -(-pointer // _HUGE_PAGE) * _HUGE_PAGE
    stop = (pointer + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if stop > start and _MADVISE is not None:
        _MADVISE(start, stop - start, mmap.MADV_HUGEPAGE)


def _madvise():
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise()


class _Extension(ctypes.Structure):  # XLA_FFI_Extension_Base
    pass


_Extension._fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int),
                       ("next", ctypes.POINTER(_Extension))]


class _Version(ctypes.Structure):  # XLA_FFI_Api_Version
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major", ctypes.c_int), ("minor", ctypes.c_int)]


class _Metadata(ctypes.Structure):  # XLA_FFI_Metadata
    _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", _Version),
                ("traits", ctypes.c_uint32)]


class _MetadataExtension(ctypes.Structure):  # XLA_FFI_Metadata_Extension
    _fields_ = [("base", _Extension), ("metadata", ctypes.POINTER(_Metadata))]


class _CallFrame(ctypes.Structure):  # the leading fields of XLA_FFI_CallFrame
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.POINTER(_Extension))]


def _api_version() -> tuple[int, int] | None:
    """``(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR)`` of the installed jaxlib's FFI header."""
    try:
        header = Path(jax.ffi.include_dir(), "xla", "ffi", "api", "c_api.h").read_text()
    except (AttributeError, OSError):
        return None
    found = [re.search(rf"#define XLA_FFI_API_{part} (\d+)", header) for part in ("MAJOR", "MINOR")]
    return None if None in found else (int(found[0].group(1)), int(found[1].group(1)))


@ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_CallFrame))
def _handler(frame):
    """The custom call: answers XLA's version query, and otherwise returns (no error)."""
    extension = frame.contents.extension_start
    while extension:
        if extension.contents.type == _METADATA:
            metadata = ctypes.cast(extension, ctypes.POINTER(_MetadataExtension))
            version = metadata.contents.metadata.contents.api_version
            version.major, version.minor = _VERSION
        extension = extension.contents.next
    return None


_VERSION = _api_version()


_REGISTERED: list[bool] = []  # process state, not a cache: set once by _registered()


def _registered() -> bool:
    """Register :data:`TARGET` with XLA (once); False where that is not possible."""
    if not _REGISTERED:
        _REGISTERED.append(_register())
    return _REGISTERED[0]


def _register() -> bool:
    if _VERSION is None or jax.default_backend() != "cpu":
        return False
    try:
        capsule = jax.ffi.pycapsule(ctypes.cast(_handler, ctypes.c_void_p).value)
        jax.ffi.register_ffi_target(TARGET, capsule, platform="cpu")
    except Exception:  # noqa: BLE001 (any jaxlib refusal: the zero-filled buffer serves)
        return False
    return True
