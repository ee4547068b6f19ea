"""Files written whole or not at all (``_grid.files``): no trace on failure, the permissions an
ordinary write gives, and the named-temporary fallback with its clean-up of stale files."""

from __future__ import annotations

import fcntl
import os
import stat

import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._grid import files as _files


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=["unnamed", "named"])
def kind(request, monkeypatch):
    """Both ways of writing: Linux unnamed files, and the named-temporary fallback."""
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif not hasattr(os, "O_TMPFILE"):
        pytest.skip("no unnamed files on this OS")
    return request.param


def test_out_file_respects_the_umask(tmp_path, umask, kind):
    umask(0o027)
    jc.evaluate("x", jc.linspace(0, 1, 10), out=tmp_path / "a.npy")
    assert mode(tmp_path / "a.npy") == 0o640
    umask(0o077)
    with _files.atomic_write(tmp_path / "b.txt", "w") as out:
        out.write("b")
    assert mode(tmp_path / "b.txt") == 0o600
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.txt"]


def test_replacing_a_file_keeps_its_mode(tmp_path, kind):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(2))
    os.chmod(path, 0o600)
    got = jc.evaluate("2*x", jc.linspace(0, 1, 3), out=path, dtype="float64")
    assert got.tolist() == [0.0, 1.0, 2.0] and np.load(path).tolist() == [0.0, 1.0, 2.0]
    assert mode(path) == 0o600 and os.listdir(tmp_path) == ["a.npy"]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, kind):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), _files.atomic_write(tmp_path / "a.txt", "w") as out:
        out.write("new")
        raise RuntimeError("disk on fire")
    assert os.listdir(tmp_path) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_unnamed_files_are_used_on_linux(tmp_path):
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no unnamed files on this OS")
    target = _files.AtomicFile(tmp_path / "a.bin")
    try:
        os.write(target.fd, b"data")
        assert target.temporary is None and os.listdir(tmp_path) == []  # nothing to leave
        target.publish()
    finally:
        target.discard()
    assert (tmp_path / "a.bin").read_bytes() == b"data"


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    stale = tmp_path / ".a.npy.0123abcd.tmp"  # left by a killed writer: nobody holds its lock
    stale.write_bytes(b"half")
    alive = tmp_path / ".a.npy.89abcdef.tmp"  # a writer still at work holds its lock
    alive.write_bytes(b"busy")
    other = tmp_path / ".b.npy.0123abcd.tmp"  # another target's: not ours to judge
    other.write_bytes(b"other")
    held = os.open(alive, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        jc.evaluate("x", jc.linspace(0, 1, 4), out=tmp_path / "a.npy")
    finally:
        os.close(held)
    assert sorted(os.listdir(tmp_path)) == sorted(["a.npy", alive.name, other.name])


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(jc.InputError, match=r"the folder .* does not exist; create it"):
        jc.evaluate("x", jc.linspace(0, 1, 4), out=tmp_path / "no" / "a.npy")
