"""Files written whole or not at all, with the permissions an ordinary write would give.

:class:`AtomicFile` writes into a file with no name in the target's folder (Linux
``O_TMPFILE``) and links it into place only when complete, so an error, Ctrl-C, SIGTERM and even
SIGKILL leave nothing behind: the kernel frees an unnamed file when its process ends, and an
older file at the target stays untouched until the finished one replaces it. Where the folder's
filesystem has no unnamed files (not Linux, some network filesystems), the file is a hidden
``.NAME.XXXXXXXX.tmp`` beside the target, locked while written; a write that is killed can leave
it, and the next write to the same target removes every such temporary whose writer is gone.
(Replacing an existing target links the finished file to such a name and renames it over the
target: a kill in the microseconds between leaves it, and the next write removes it.)

Permissions are those of an ordinary write: a new file gets ``0o666`` less the umask; a file that
replaces another keeps the other's mode.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(folder / "a.txt", "w") as out:
    ...     _ = out.write("done")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from .._core.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

#: Errors with which a filesystem (or OS) refuses unnamed files.
_NO_UNNAMED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV,
               errno.EPERM, errno.EACCES}


def writable(path) -> Path:
    """``path`` as a Path whose folder exists (checked before any long work)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"`{path}`: the folder {str(path.parent)!r} does not exist; create it")
    return path


class AtomicFile:
    """An open file (``fd``) that appears at ``path`` only on :meth:`publish`; :meth:`discard`
    (or the end of the process) removes every trace of it (see the module docstring)."""

    def __init__(self, path):
        self.path = writable(path)
        self.temporary: str | None = None  # a named temporary, where unnamed files don't work
        try:
            self.folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise InputError(f"`{self.path}`: cannot write there ({e.strerror})") from e
        try:
            self.fd = self._open()
        except BaseException:
            os.close(self.folder)
            raise

    def _open(self) -> int:
        unnamed = getattr(os, "O_TMPFILE", 0)
        if unnamed and os.path.isdir("/proc/self/fd"):
            try:
                return os.open(".", unnamed | os.O_RDWR, 0o666, dir_fd=self.folder)
            except OSError as e:
                if e.errno not in _NO_UNNAMED:
                    raise InputError(f"`{self.path}`: cannot write there ({e.strerror})") from e
        self._remove_stale()
        self.temporary = self._spare_name()
        try:
            fd = os.open(self.temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666,
                         dir_fd=self.folder)
        except OSError as e:
            raise InputError(f"`{self.path}`: cannot write there ({e.strerror})") from e
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the process ends: "my writer is alive"
        return fd

    def _spare_name(self) -> str:
        return f".{self.path.name}.{secrets.token_hex(4)}.tmp"

    def _remove_stale(self) -> None:
        """Remove temporaries of this target left by writers that were killed."""
        prefix = f".{self.path.name}."
        for name in os.listdir(self.folder):
            if not (name.startswith(prefix) and name.endswith(".tmp")
                    and len(name) == len(prefix) + 12):
                continue
            with contextlib.suppress(OSError):
                fd = os.open(name, os.O_RDONLY, dir_fd=self.folder)
                try:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails: a live writer
                    os.unlink(name, dir_fd=self.folder)
                finally:
                    os.close(fd)

    def publish(self) -> None:
        """Put the complete file at ``path`` (replacing any file there, keeping its mode)."""
        name = self.path.name
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(self.fd, os.stat(name, dir_fd=self.folder).st_mode & 0o7777)
        if self.temporary is None:
            source = f"/proc/self/fd/{self.fd}"
            try:  # no file there: link straight into place (atomic, never a second name)
                os.link(source, name, dst_dir_fd=self.folder, follow_symlinks=True)
                self._close()
                return
            except FileExistsError:
                self.temporary = self._spare_name()
                os.link(source, self.temporary, dst_dir_fd=self.folder, follow_symlinks=True)
        os.replace(self.temporary, name, src_dir_fd=self.folder, dst_dir_fd=self.folder)
        self.temporary = None
        self._close()

    def discard(self) -> None:
        """Forget the file (nothing was published); safe to call more than once."""
        if self.temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temporary, dir_fd=self.folder)
            self.temporary = None
        self._close()

    def _close(self) -> None:
        for fd in (self.fd, self.folder):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fd = self.folder = -1


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a file for writing that replaces ``path`` when the block succeeds, else vanishes."""
    target = AtomicFile(path)
    try:
        with os.fdopen(os.dup(target.fd), mode) as out:
            yield out
        target.publish()
    except BaseException:
        target.discard()
        raise
