"""File-system behaviour of load and save (issue 11 items 7-10).

mmap verification, non-regular files, temporary files of killed saves, file
modes and symlinks.  Anything that could hang or crash runs in a subprocess
with a timeout.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import hamsearch
from hamsearch.storage import TEMP_SUFFIX, IndexFileError, remove_stale_temp_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _index(n=2000, nbits=64, seed=0, features=False):
    rng = np.random.default_rng(seed)
    index = hamsearch.Index(nbits)
    index.add(rng.integers(0, 256, (n, nbits // 8), dtype=np.uint8),
              ids=rng.permutation(10 * n)[:n],
              features=rng.standard_normal((n, 4)) if features else None)
    return index


def _corrupt(path, pos, xor=0xFF):
    data = bytearray(path.read_bytes())
    data[pos] ^= xor
    path.write_bytes(bytes(data))


def _section(path, name):
    from .file_probe import split

    header, _ = split(path.read_bytes())
    sec = next(s for s in header["sections"] if s["name"] == name)
    return sec["offset"], sec["nbytes"]


def _temp_files(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(TEMP_SUFFIX))


def _run(code, timeout=60, **kw):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, **kw)


# ------------------------------------------------------------ item 7: mmap
def test_mmap_load_verifies_in_the_background(tmp_path):
    index = _index(features=True)
    path = tmp_path / "a.hsx"
    index.save(path)
    _corrupt(path, path.stat().st_size - 5)  # inside the last section (features)
    with pytest.raises(IndexFileError, match="checksum"):
        hamsearch.load(path)  # plain load: checked before returning
    mapped = hamsearch.load(path, mmap=True)  # opens at once ...
    with pytest.raises(IndexFileError, match="checksum"):
        mapped.verify(timeout=60)  # ... and the background check finds it
    for call in (lambda: mapped.search(index.codes[:2], 3), lambda: len(mapped.ids),
                 lambda: mapped.range_search(index.codes[:1], 2),
                 lambda: mapped.reconstruct(index.ids[:1]), lambda: 5 in mapped,
                 lambda: mapped.add(np.zeros((1, 8), np.uint8), features=np.zeros((1, 4)))):
        with pytest.raises(IndexFileError, match="refuses every call"):
            call()


def test_mmap_verify_choices(tmp_path):
    index = _index()
    path = tmp_path / "a.hsx"
    index.save(path)
    _corrupt(path, _section(path, "codes")[0] + 100)  # the codes: only the CRC tells
    with pytest.raises(IndexFileError):
        hamsearch.load(path, mmap=True, verify=True)
    unchecked = hamsearch.load(path, mmap=True, verify=False)
    assert len(unchecked) == len(index)  # the caller opted out: no error yet
    with pytest.raises(IndexFileError):
        unchecked.verify()  # runs the check now
    with pytest.raises(ValueError, match="verify"):
        hamsearch.load(path, verify="sometimes")


def test_clean_mmap_load_verifies_and_answers(tmp_path):
    index = _index(features=True)
    path = tmp_path / "a.hsx"
    index.save(path)
    mapped = hamsearch.load(path, mmap=True)
    mapped.verify(timeout=60)
    assert mapped._filecheck.done
    for a, b in zip(index.search(index.codes[:5], 4), mapped.search(index.codes[:5], 4)):
        np.testing.assert_array_equal(a, b)


def test_save_over_a_mapped_file_keeps_the_mapped_index(tmp_path):
    """save() replaces (renames): a mapped index keeps its pages, no SIGBUS."""
    code = f"""
        import numpy as np, hamsearch
        rng = np.random.default_rng(0)
        a = hamsearch.Index(64); a.add(rng.integers(0, 256, (50_000, 8), dtype=np.uint8))
        a.save({str(tmp_path / 'm.hsx')!r})
        mapped = hamsearch.load({str(tmp_path / 'm.hsx')!r}, mmap=True)
        D0, I0 = mapped.search(a.codes[:10], 5)
        b = hamsearch.Index(64); b.add(np.zeros((10, 8), np.uint8))
        b.save({str(tmp_path / 'm.hsx')!r})           # replaced under the mapping
        D1, I1 = mapped.search(a.codes[:10], 5)
        assert (D0 == D1).all() and (I0 == I1).all() and len(mapped) == 50_000
        assert len(hamsearch.load({str(tmp_path / 'm.hsx')!r})) == 10
        print("ok")
    """
    proc = _run(code)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


# ------------------------------------------------- item 8: non-regular files
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = _run(f"""
        import hamsearch
        from hamsearch.storage import IndexFileError
        for mmap in (False, True):
            try:
                hamsearch.load({str(fifo)!r}, mmap=mmap)
            except IndexFileError as exc:
                assert "FIFO" in str(exc), exc
            else:
                raise SystemExit("loaded a FIFO")
        print("ok")
    """, timeout=30)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


@pytest.mark.parametrize("path, word", [("/dev/zero", "device"), ("/dev/null", "device")])
def test_devices_are_refused(path, word):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    proc = _run(f"""
        import hamsearch
        from hamsearch.storage import IndexFileError
        try:
            hamsearch.load({path!r})
        except IndexFileError as exc:
            assert {word!r} in str(exc), exc
            print("ok")
    """, timeout=30)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(IndexFileError, match="directory"):
        hamsearch.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        hamsearch.load(tmp_path / "nope.hsx")


# ---------------------------------------------- item 9: temp files of saves
_SAVER = """
import sys, numpy as np, hamsearch
rng = np.random.default_rng(0)
index = hamsearch.Index(64)
index.add(rng.integers(0, 256, ({n}, 8), dtype=np.uint8))
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


def test_kill_during_save_leaves_the_file_intact_and_temp_files_are_cleaned(tmp_path):
    # Each trial kills the saver once its temporary file exists (plus a random
    # 0-30 ms, to land in the write, the fsync or the rename), so every kill
    # lands mid-save whatever the speed of the machine's disk; a random sleep
    # alone missed every save on a fast CI machine.
    target = tmp_path / "idx.hsx"
    small = _index(n=10)
    small.save(target)
    rng = np.random.default_rng(0)
    left = 0
    for trial in range(6):
        err = tmp_path / f"saver-{trial}.err"
        with open(err, "w") as stderr:
            proc = subprocess.Popen([sys.executable, "-c", _SAVER.format(n=2_000_000), str(target)],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", err.read_text()
            deadline = time.monotonic() + 60
            while not any(f".{proc.pid}." in name for name in _temp_files(tmp_path)):
                assert proc.poll() is None, f"the saver exited: {err.read_text()}"
                assert time.monotonic() < deadline, "the saver wrote no temporary file in 60 s"
                time.sleep(0.0005)
            time.sleep(float(rng.uniform(0.0, 0.03)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, err.read_text()
        left += len(_temp_files(tmp_path))
        loaded = hamsearch.load(target)  # old or new, never half
        assert len(loaded) in (10, 2_000_000)
    assert left > 0, "no kill landed mid-save (the test proves nothing then)"
    small.save(target)  # the next save removes what killed saves left
    assert _temp_files(tmp_path) == []
    assert len(hamsearch.load(target)) == 10


def test_a_live_save_temp_file_is_not_removed(tmp_path):
    target = tmp_path / "idx.hsx"
    tmp = tmp_path / f".idx.hsx.{os.getpid() + 1}.abcdef{TEMP_SUFFIX}"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(tmp)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        _index(n=10).save(target)
        assert tmp.exists(), "a locked (in-progress) temp file was removed"
    finally:
        holder.kill()
        holder.wait(30)
    # its writer is gone now: stale (the pid in the name is not ours and the lock died)
    os.rename(tmp, tmp_path / f".idx.hsx.{2**22 + 12345}.abcdef{TEMP_SUFFIX}")
    removed = remove_stale_temp_files(target)
    assert len(removed) == 1 and _temp_files(tmp_path) == []


def test_other_files_are_never_removed(tmp_path):
    target = tmp_path / "idx.hsx"
    keep = [".other.hsx.1.abc" + TEMP_SUFFIX, ".idx.hsx.notapid.abc" + TEMP_SUFFIX,
            "idx.hsx.1.abc" + TEMP_SUFFIX, ".idx.hsx.1.abc.tmp"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    _index(n=10).save(target)
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["idx.hsx"])


# ------------------------------------------------- item 10: modes, symlinks
def test_save_keeps_an_existing_files_mode(tmp_path):
    target = tmp_path / "idx.hsx"
    _index(n=10).save(target)
    os.chmod(target, 0o644)
    _index(n=20).save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    os.chmod(target, 0o640)
    _index(n=20).save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o022, 0o644)])
def test_new_file_honours_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        _index(n=10).save(tmp_path / "new.hsx")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.hsx").st_mode) == mode


def test_save_writes_through_a_symlink(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "idx.hsx"
    _index(n=10).save(real)
    link = tmp_path / "link.hsx"
    os.symlink(real, link)
    _index(n=30).save(link)
    assert os.path.islink(link), "the symlink was replaced by a file"
    assert len(hamsearch.load(real)) == 30
    assert len(hamsearch.load(link)) == 30
    assert _temp_files(real_dir) == [] and _temp_files(tmp_path) == []


def test_save_to_a_directory_or_missing_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("not an index")
    with pytest.raises(IsADirectoryError):  # not empty, no manifest: never written into
        _index(n=10).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(FileNotFoundError):
        _index(n=10).save(tmp_path / "no" / "such.hsx")
    assert _temp_files(tmp_path) == []


def test_save_does_not_block_writers(tmp_path):
    """save() works from one snapshot without the index lock."""
    index = _index(n=1_000_000)
    import threading

    done = threading.Event()
    added = []

    def writer():
        while not done.is_set():
            index.add(np.zeros((1, 8), np.uint8))
            added.append(1)

    t = threading.Thread(target=writer)
    t.start()
    try:
        while not added:
            time.sleep(0.001)
        before = len(added)
        index.save(tmp_path / "big.hsx")
        during = len(added) - before
    finally:
        done.set()
        t.join()
    loaded = hamsearch.load(tmp_path / "big.hsx")
    assert 1_000_000 <= len(loaded) <= 1_000_000 + len(added)
    np.testing.assert_array_equal(loaded.codes, index.codes[: len(loaded)])
    assert during > 1, "adds waited for the whole save"
