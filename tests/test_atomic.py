"""hamsearch._atomic.atomic_write: the one atomic file replacement."""

import os

import pytest

from hamsearch import _atomic
from hamsearch._atomic import TEMP_SUFFIX, atomic_write


def test_text_and_binary_replace_and_keep_the_mode(tmp_path):
    target = tmp_path / "a.json"
    with atomic_write(target, "w") as fh:
        fh.write("é1")
    assert target.read_text(encoding="utf-8") == "é1"
    os.chmod(target, 0o640)
    with atomic_write(str(target)) as fh:
        fh.write(b"2")
    assert target.read_bytes() == b"2" and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["a.json"]


def test_file_and_directory_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(
        "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b))[1])
    with atomic_write(tmp_path / "x") as fh:
        fh.write(b"x")
    assert events == ["file", "rename", "dir"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep"]


def test_named_temporary_symlink_and_errors(tmp_path):
    real = tmp_path / "real"
    link = tmp_path / "link"
    real.write_bytes(b"0")
    link.symlink_to(real)
    temp = tmp_path / ("real" + TEMP_SUFFIX)
    temp.write_bytes(b"left by a crash, longer than the new content")
    with atomic_write(link, temp=temp) as fh:
        fh.write(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new" and not temp.exists()
    with pytest.raises(FileNotFoundError, match="cannot save thing to .*does not exist"):
        atomic_write(tmp_path / "no" / "x", what="thing").__enter__()
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        atomic_write(tmp_path).__enter__()
    with pytest.raises(ValueError, match="mode"):
        atomic_write(tmp_path / "y", "a").__enter__()


def test_fsync_directory_raises_real_errors(tmp_path, monkeypatch):
    def eio(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError, match="I/O"):
        _atomic.fsync_directory(tmp_path)
