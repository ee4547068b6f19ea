"""Where evaluated values go: a NumPy array, a ``.npy`` file written aside, and progress.

A ``.npy`` output is written into a temporary file beside its final name (each block at its
own offset, so blocks may arrive from several threads) and renamed into place only when every
value is in: an error, a full disk or Ctrl-C leaves no file at that path (an older file there
stays untouched). Disk space is reserved up front, so a disk that cannot hold the file fails
before any work.

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
import time
from collections.abc import Callable

import numpy as np

from .._core import memory
from .._core.errors import InputError, ResourceError
from .._core.hostcall import aligned_empty
from . import shard as _shard
from .files import publish, temporary_beside
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
    """A ``.npy`` written front to back into a temporary file beside ``path``, then renamed."""

    def __init__(self, path: str, shape, extra, dtype):
        self.path = path
        fd, self.temp = temporary_beside(path)
        self.file = os.fdopen(fd, "wb")
        try:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                      "fortran_order": False, "shape": (*shape, *extra)}
            np.lib.format.write_array_header_1_0(self.file, header)
            self.file.flush()
            self.start = self.file.tell()
            self.point_bytes = math.prod(extra) * np.dtype(dtype).itemsize  # per grid point
            size = self.start + math.prod(shape) * self.point_bytes
            try:  # reserve the space now: a full disk fails here, not half-way
                os.posix_fallocate(self.file.fileno(), 0, size)
            except (AttributeError, OSError) as e:
                if getattr(e, "errno", None) == errno.ENOSPC:
                    raise
        except BaseException:
            self.abort()
            raise

    def write(self, block, values: np.ndarray, flat_shape) -> None:
        # Blocks are contiguous in C order: each lands at its own offset, from any thread.
        data = np.ascontiguousarray(values).data.cast("B")
        position = self.start + block.start * self.point_bytes
        while data:
            written = os.pwrite(self.file.fileno(), data, position)
            data, position = data[written:], position + written

    def close(self):
        self.file.close()
        publish(self.temp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self):
        self.file.close()
        if os.path.exists(self.temp):
            os.unlink(self.temp)


def destination(out, grid_shape, extra, dtype, flat: bool):
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
        if flat and not out.flags.c_contiguous:
            raise InputError("`out` must be C-contiguous when the grid is plain arrays")
        return ArrayOut(out, flat)
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if not path.endswith(".npy"):
            raise InputError(f"`out` must be a path ending in .npy, got {path!r}")
        _shard.require_disk(nbytes + 4096, os.path.dirname(os.path.abspath(path)),
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


#: Seconds a run must have taken before its progress bar appears.
PROGRESS_DELAY = 2.0


class Progress:
    """A rich progress bar on stderr, shown only once a run has taken ``PROGRESS_DELAY`` s."""

    def __init__(self, enabled: bool):
        self.enabled, self.delay = enabled, PROGRESS_DELAY
        self.began = time.perf_counter()
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.began < self.delay:
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("evaluating", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
