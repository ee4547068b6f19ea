"""Files written whole or not at all: a temporary file beside the target, then a rename.

An error, a full disk or Ctrl-C while writing leaves no file at the target path, and an older
file there stays untouched.

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
import os
import tempfile
from pathlib import Path

from .._core.errors import InputError


def writable(path) -> Path:
    """``path`` as a Path whose folder exists (checked before any long work)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"`{path}`: the folder {str(path.parent)!r} does not exist; create it")
    return path


def temporary_beside(path) -> tuple[int, str]:
    """An open descriptor and the name of a new hidden temporary file in ``path``'s folder."""
    path = writable(path)
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"`{path}`: cannot write there ({e.strerror})") from e


def publish(temporary: str, path) -> None:
    """Give the finished ``temporary`` file ordinary permissions and move it onto ``path``."""
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file for writing; on success it replaces ``path``, else it vanishes."""
    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, mode) as out:
            yield out
        publish(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
