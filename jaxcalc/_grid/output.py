"""Where evaluated values go (a NumPy array or a ``.npy`` file), and the one progress bar.

A ``.npy`` output is written into an :class:`~jaxcalc._grid.files.AtomicFile` (each block at
its own offset, so blocks may arrive from several threads) that appears at its path only when
every value is in: an error, a full disk, Ctrl-C, SIGTERM or SIGKILL leaves no file (an older
file there stays untouched). Disk space is reserved up front, so a disk that cannot hold the
file fails before any work. The file gets the permissions an ordinary write would give.

Example:
    >>> import numpy as np
    >>> sink = destination(None, (4,), (), np.float64, flat=True)
    >>> sink.write(Block((), 0, 4, 0), np.arange(4.0), (4,))
    >>> finish(sink, lambda: None).tolist()
    [0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import errno
import math
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from .._core import memory
from .._core.errors import InputError, ResourceError
from .._core.hostcall import aligned_empty
from . import devices as _devices
from .files import AtomicFile, writable
from .grids import Block


class ArrayOut:
    def __init__(self, array: np.ndarray, flat: bool):
        self.array, self.flat = array, flat

    def write(self, block: Block, values: np.ndarray, flat_shape) -> None:
        if self.flat:
            view = self.array.reshape(flat_shape)
            view[block.offset : block.offset + block.valid] = values
        else:
            self.array[block.outer + (slice(block.offset, block.offset + block.valid),)] = values

    def close(self):
        return self.array

    def abort(self):
        pass


class FileOut:
    """A ``.npy`` written block by block into an :class:`AtomicFile`, published when complete."""

    def __init__(self, path: str, shape, extra, dtype):
        self.path = path
        self.file = AtomicFile(path)
        try:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                      "fortran_order": False, "shape": (*shape, *extra)}
            with os.fdopen(os.dup(self.file.fd), "wb") as out:
                np.lib.format.write_array_header_1_0(out, header)
                self.start = out.tell()
            self.point_bytes = math.prod(extra) * np.dtype(dtype).itemsize  # per grid point
            size = self.start + math.prod(shape) * self.point_bytes
            try:  # reserve the space now: a full disk fails here, not half-way
                os.posix_fallocate(self.file.fd, 0, size)
            except (AttributeError, OSError) as e:
                if getattr(e, "errno", None) == errno.ENOSPC:
                    raise
                os.ftruncate(self.file.fd, size)
        except BaseException:
            self.abort()
            raise

    def write(self, block, values: np.ndarray, flat_shape) -> None:
        # Blocks are contiguous in C order: each lands at its own offset, from any thread.
        data = np.ascontiguousarray(values).data.cast("B")
        position = self.start + block.start * self.point_bytes
        while data:
            written = os.pwrite(self.file.fd, data, position)
            data, position = data[written:], position + written

    def close(self):
        self.file.publish()
        return np.load(self.path, mmap_mode="r")

    def abort(self):
        self.file.discard()


def destination(out, grid_shape, extra, dtype, flat: bool):
    """The sink for values of ``dtype`` and shape ``grid_shape + extra``: a new array
    (``out=None``, within the host-memory budget), ``out`` itself, or a ``.npy`` file."""
    shape = (*grid_shape, *extra)
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    fix = "pass reduce=... to stream a reduction, or out='file.npy' to write to disk"
    if out is None:
        memory.require_host(nbytes, f"the output ({math.prod(shape):,} values of {dtype})", fix)
        return ArrayOut(aligned_empty(shape, dtype), flat)
    if isinstance(out, np.ndarray):
        if out.shape != tuple(shape) or not out.flags.writeable:
            raise InputError(f"`out` must be a writeable array of shape {tuple(shape)}, got "
                             f"{out.shape}")
        if out.dtype.newbyteorder("=") != np.dtype(dtype):  # byte order is no cast
            raise InputError(f"`out` has dtype {out.dtype} but the values are {np.dtype(dtype)}; "
                             f"pass an array of {np.dtype(dtype)}: values are never cast "
                             "silently")
        if flat and not out.flags.c_contiguous:
            raise InputError("`out` must be C-contiguous when the grid is plain arrays")
        return ArrayOut(out, flat)
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if not path.endswith(".npy"):
            raise InputError(f"`out` must be a path ending in .npy, got {path!r}")
        _devices.require_disk(nbytes + 4096, str(writable(path).parent.absolute()),
                              "choose another folder or a smaller grid, or pass reduce=...")
        return FileOut(path, grid_shape, extra, dtype)
    raise InputError(f"`out` must be None, a NumPy array, or a .npy path, got {type(out).__name__}")


def finish(sink, work: Callable[[], object]):
    """Run ``work`` (which fills ``sink``), then close the sink; on any failure, abort it."""
    try:
        work()
    except OSError as e:
        sink.abort()
        if e.errno == errno.ENOSPC:
            raise ResourceError(f"the disk filled up while writing: {e}") from e
        raise
    except BaseException:
        sink.abort()
        raise
    return sink.close()


class Progress:
    """A rich progress bar on stderr, shown only once the work has taken ``delay`` seconds
    (default :data:`~jaxcalc._grid.devices.PROGRESS_DELAY`); nothing when not ``enabled``.
    Safe to advance from several threads. Use as a context manager, or call :meth:`close`.

    Example:
        >>> with Progress(False, label="bench") as bar:
        ...     bar.advance(1, total=3, label="f1 jax")
    """

    def __init__(self, enabled: bool, *, label: str = "evaluating", delay: float | None = None):
        self.enabled, self.label = enabled, label
        self.delay = _devices.PROGRESS_DELAY if delay is None else delay
        self.began = time.perf_counter()
        self.done, self.bar, self.task = 0, None, None
        self.lock = threading.Lock()

    def advance(self, steps: int, total: int, label: str | None = None) -> None:
        """``steps`` more of ``total`` are done (``label``: what runs now)."""
        with self.lock:
            self.done += steps
            if not self.enabled:
                return
            if self.bar is None:
                if time.perf_counter() - self.began < self.delay:
                    return
                from rich.console import Console
                from rich.progress import Progress as Bar

                self.bar = Bar(console=Console(stderr=True), transient=True)
                self.bar.start()
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=self.done, total=total,
                            description=label or self.label)

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.stop()
                self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
