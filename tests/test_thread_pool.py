"""The kernels' worker pool: concurrent callers, thread-count changes while
searches run, and fork() (the pool must not be inherited half-alive).

Run with the threaded kernel paths forced on small inputs (the minimum work
per thread set to 0 where the backend has that knob), and checked against
a plain numpy scan.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import hamsearch
from hamsearch.synthetic import clustered_codes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reference(db, q, k):
    x = np.bitwise_count(np.bitwise_xor(q[:, None, :], db[None, :, :])).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(db.shape[0]), x.shape), x), axis=1)[:, :k]
    return np.take_along_axis(x, order, 1).astype(np.int32), order.astype(np.int64)


@pytest.fixture(scope="module")
def data():
    db, c = clustered_codes(6000, 128, ncenters=20, flip=0.1, seed=3)
    q, _ = clustered_codes(64, 128, centres=c, flip=0.1, seed=4)
    return db, q, _reference(db, q, 7)


def _force_threads():
    """Make the C kernels split even tiny inputs over threads (returns the
    previous setting, or None on the Numba backend)."""
    try:
        from hamsearch import _native
    except ImportError:
        return None
    if not hamsearch.backend().startswith("c-"):
        return None
    return _native._set_min_work_per_thread(0)


def _restore(old):
    if old is not None:
        from hamsearch import _native

        _native._set_min_work_per_thread(old)


def _set_spin(us):
    """The C pool's spin before sleeping, in us (None: leave it); the old
    value, or None on the Numba backend."""
    if us is None or not hamsearch.backend().startswith("c-"):
        return None
    from hamsearch._kernels import c as ckernels

    return ckernels._set_spin_ns(int(us * 1000))


# spin: None = the default (50 us); 0 = workers and waiting callers sleep at
# once; 20000 = they spin through whole searches (the spin-then-sleep paths
# of threads.c: a worker seeing a job while spinning, a caller seeing its
# worker's task finish while spinning, and both after sleeping)
@pytest.mark.parametrize("spin", [None, 0, 20000])
@pytest.mark.parametrize("method", ["flat", "mih"])
def test_concurrent_callers_and_thread_count_changes(data, method, spin):
    db, q, (rD, rI) = data
    index = hamsearch.Index(128, method=method)
    index.add(db)
    old_spin = _set_spin(spin)
    old = _force_threads()
    before = hamsearch.get_num_threads()
    errors = []
    stop = threading.Event()

    def caller(j):
        try:
            for r in range(40):
                i = (j * 7 + r) % 60
                D, I = index.search(q[i:i + 1 + r % 4], 7)
                np.testing.assert_array_equal(D, rD[i:i + 1 + r % 4])
                np.testing.assert_array_equal(I, rI[i:i + 1 + r % 4])
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    def toggler():
        t = 0
        while not stop.is_set():
            hamsearch.set_num_threads(1 + t % 4)
            t += 1

    try:
        tog = threading.Thread(target=toggler)
        tog.start()
        callers = [threading.Thread(target=caller, args=(j,)) for j in range(8)]
        for t in callers:
            t.start()
        for t in callers:
            t.join(timeout=120)
        stop.set()
        tog.join(timeout=30)
    finally:
        hamsearch.set_num_threads(before)
        _restore(old)
        if old_spin is not None:
            _set_spin(old_spin / 1000)
    assert not errors, errors[:3]


_FORK_SCRIPT = r"""
import os, sys, numpy as np, hamsearch
sys.path.insert(0, {root!r})
from tests.test_thread_pool import _force_threads, _reference
from hamsearch.synthetic import clustered_codes
db, c = clustered_codes(4000, 128, ncenters=20, flip=0.1, seed=3)
q, _ = clustered_codes(16, 128, centres=c, flip=0.1, seed=4)
rD, rI = _reference(db, q, 5)
_force_threads()
hamsearch.set_num_threads(4)
index = hamsearch.Index(128, method={method!r})
index.add(db)
assert (index.search(q, 5)[1] == rI).all()   # the pool is running now
pids = []
for child in range(3):
    pid = os.fork()
    if pid == 0:  # the child: the pool starts afresh, searches still exact
        try:
            for _ in range(5):
                D, I = index.search(q, 5)
                ok = (D == rD).all() and (I == rI).all()
                if not ok:
                    os._exit(3)
            os._exit(0)
        except BaseException:
            os._exit(4)
    pids.append(pid)
for pid in pids:
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
assert (index.search(q, 5)[1] == rI).all()  # and the parent's pool still works
print("ok")
"""


@pytest.mark.parametrize("method", ["flat", "mih"])
def test_pool_survives_fork(method):
    script = _FORK_SCRIPT.format(root=ROOT, method=method)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
