"""Flat kernels (hamming_matrix, hamming_rows, knn, range_search) of every
available backend against the numpy references in tests/reference.py.

Backends: the C extension once per kernel variant this CPU can run
(``portable``, ``popcnt``, ``avx2``, ``avx512``), and the Numba kernels when
``hamsearch._numba`` provides them.  For the C variants the threading
threshold is set to zero so that small inputs also take the threaded paths
(split over queries, and split over the database when there are fewer
queries than threads).
"""

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference import (
    PAD_DISTANCE,
    clustered_words,
    hamming_matrix,
    knn,
    random_words,
    range_search,
    words_to_bits,
)
from tests.variants import c_variants

# 192-3072 bits: the unrolled wide-code widths of the AVX-512 kernels (3-48
# words) and their neighbours; 4096 (64 words) the widest unrolled one
NBITS = [8, 16, 24, 56, 64, 72, 128, 192, 200, 256, 320, 384, 448, 512, 640, 768, 896,
         1024, 1536, 2048, 3072, 4096]
KERNELS = ("hamming_matrix", "hamming_rows", "knn", "range_search")


def _native_params():
    from hamsearch import _native

    if not _native.available():
        return [pytest.param(None, marks=pytest.mark.skip(_native.unavailable_reason()))]
    params = []
    for short, name, ok in c_variants():
        marks = () if ok else pytest.mark.skip(f"this CPU cannot run {name}")
        params.append(pytest.param(("c", short, name), id=f"c-{short}", marks=marks))
    return params


def _numba_param():
    try:
        mod = importlib.import_module("hamsearch._numba")
    except ImportError as exc:
        return pytest.param(("numba", None, None), id="numba",
                            marks=pytest.mark.skip(f"no hamsearch._numba ({exc})"))
    missing = [f for f in KERNELS if not callable(getattr(mod, f, None))]
    if missing:
        return pytest.param(("numba", None, None), id="numba",
                            marks=pytest.mark.skip(f"hamsearch._numba lacks {missing}"))
    return pytest.param(("numba", None, None), id="numba")


@pytest.fixture(params=_native_params() + [_numba_param()], scope="module")
def backend(request):
    kind, isa, name = request.param
    if kind == "numba":
        yield importlib.import_module("hamsearch._numba")
        return
    from hamsearch import _native

    before_isa = _native.isa()
    before_work = _native._set_min_work_per_thread(0)
    assert _native.set_isa(isa) == name
    assert _native.isa() == name
    assert _native.NAME == "c-" + _native.isa()
    try:
        yield _native
    finally:
        _native.set_isa(before_isa)
        _native._set_min_work_per_thread(before_work)


# ---------------------------------------------------------------------------
# data

def _ids(rng, n, kind):
    """Distinct non-negative int64 ids, not in position order."""
    if kind == "sequential":
        return np.arange(n, dtype=np.int64)
    if kind == "reversed":
        return np.arange(n, dtype=np.int64)[::-1].copy()
    # arbitrary large distinct ids, shuffled (include the int64 extremes)
    raw = np.unique(rng.integers(0, 2**63 - 1, size=2 * n + 2, dtype=np.int64))
    raw = rng.permutation(raw)[:n]
    if n >= 2:
        raw[0], raw[-1] = 0, 2**63 - 1
    return rng.permutation(raw).astype(np.int64)


def _limit(n, nbits):
    """Cap the database size of wide codes (the numpy reference is an int32
    matrix product over unpacked bits, slow for 4096-bit codes)."""
    return min(n, max(300, 600_000 // nbits))


def _codes(rng, n, nbits, kind):
    w = (nbits + 63) // 64
    if n == 0:
        return np.zeros((0, w), dtype=np.uint64)
    if kind == "random":
        return random_words(rng, n, nbits)
    if kind == "clustered":
        return clustered_words(rng, n, nbits, ncenters=int(rng.integers(1, 6)), p=0.05)
    if kind == "duplicates":
        base = random_words(rng, int(rng.integers(1, 6)), nbits)
        return base[rng.integers(0, len(base), size=n)].copy()
    # "sparse": few set bits, so many codes tie at small distances
    bits = np.zeros((n, nbits), dtype=np.uint8)
    for _ in range(3):
        bits[np.arange(n), rng.integers(0, nbits, size=n)] = 1
    packed = np.packbits(bits, axis=1, bitorder="little")
    raw = np.zeros((n, w * 8), dtype=np.uint8)
    raw[:, : packed.shape[1]] = packed
    return raw.view(np.uint64).reshape(n, w)


CODE_KINDS = st.sampled_from(["random", "clustered", "duplicates", "sparse"])
ID_KINDS = st.sampled_from(["sequential", "reversed", "arbitrary"])
SIZES = st.one_of(st.integers(0, 40), st.integers(41, 3000))
THREADS = st.sampled_from([1, 2, 3, 7])

SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def _queries(rng, db, nq, nbits):
    """Half fresh random codes, half copies of database rows (distance 0)."""
    q = random_words(rng, nq, nbits)
    if len(db):
        take = rng.integers(0, len(db), size=nq // 2)
        q[: len(take)] = db[take]
    return q


def _check_knn(backend, db, ids, q, k, nthreads):
    D, I = backend.knn(db, ids, q, k, nthreads)
    Dr, Ir = knn(db, ids, q, k)
    assert D.dtype == np.int32 and I.dtype == np.int64
    assert D.shape == (len(q), k) and I.shape == (len(q), k)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


def _check_range(backend, db, ids, q, radius, nthreads):
    lims, D, I = backend.range_search(db, ids, q, radius, nthreads)
    lr, Dr, Ir = range_search(db, ids, q, radius)
    assert lims.dtype == np.int64 and D.dtype == np.int32 and I.dtype == np.int64
    np.testing.assert_array_equal(lims, lr)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


# ---------------------------------------------------------------------------
# property tests

@pytest.mark.parametrize("nbits", NBITS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=SIZES,
       nq=st.integers(0, 20), kind=CODE_KINDS, nthreads=THREADS)
def test_hamming_matrix(backend, seed, nbits, n, nq, kind, nthreads):
    rng = np.random.default_rng(seed)
    n = _limit(n, nbits)
    db = _codes(rng, n, nbits, kind)
    q = _queries(rng, db, nq, nbits)
    got = backend.hamming_matrix(q, db, nthreads)
    assert got.dtype == np.int32 and got.shape == (nq, n)
    np.testing.assert_array_equal(got, hamming_matrix(q, db))


@pytest.mark.parametrize("nbits", NBITS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1),
       n=st.integers(0, 500), kind=CODE_KINDS)
def test_hamming_rows(backend, seed, nbits, n, kind):
    rng = np.random.default_rng(seed)
    a = _codes(rng, n, nbits, kind)
    b = _codes(rng, n, nbits, "random")
    got = backend.hamming_rows(a, b)
    assert got.dtype == np.int32 and got.shape == (n,)
    expect = (words_to_bits(a) != words_to_bits(b)).sum(axis=1)
    np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("nbits", NBITS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=SIZES,
       nq=st.integers(1, 20), kmode=st.sampled_from(["small", "mid", "n", "beyond"]),
       kind=CODE_KINDS, idkind=ID_KINDS, nthreads=THREADS)
def test_knn(backend, seed, nbits, n, nq, kmode, kind, idkind, nthreads):
    rng = np.random.default_rng(seed)
    n = _limit(n, nbits)
    db = _codes(rng, n, nbits, kind)
    ids = _ids(rng, n, idkind)
    q = _queries(rng, db, nq, nbits)
    k = {"small": int(rng.integers(1, 11)),
         "mid": int(rng.integers(1, 300)),
         "n": max(1, n),
         "beyond": n + int(rng.integers(1, 20))}[kmode]
    _check_knn(backend, db, ids, q, k, nthreads)


@pytest.mark.parametrize("nbits", NBITS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=SIZES,
       nq=st.integers(1, 20), rfrac=st.floats(0, 1), kind=CODE_KINDS,
       idkind=ID_KINDS, nthreads=THREADS)
def test_range_search(backend, seed, nbits, n, nq, rfrac, kind, idkind, nthreads):
    rng = np.random.default_rng(seed)
    n = _limit(n, nbits)
    db = _codes(rng, n, nbits, kind)
    ids = _ids(rng, n, idkind)
    q = _queries(rng, db, nq, nbits)
    radius = int(round(rfrac * nbits))
    _check_range(backend, db, ids, q, radius, nthreads)


# ---------------------------------------------------------------------------
# targeted cases

_SPLIT_CASES = {}


def _split_case(nbits, nq):
    """Data and reference answers, computed once for all backends."""
    key = (nbits, nq)
    if key not in _SPLIT_CASES:
        rng = np.random.default_rng(nbits * 100 + nq)
        db = clustered_words(rng, 12000, nbits, ncenters=4, p=0.1)
        ids = _ids(rng, len(db), "arbitrary")
        q = _queries(rng, db, nq, nbits)
        refs = {k: knn(db, ids, q, k) for k in (1, 10, 100)}
        rref = range_search(db, ids, q, nbits // 4)
        _SPLIT_CASES[key] = (db, ids, q, refs, rref)
    return _SPLIT_CASES[key]


@pytest.mark.parametrize("nbits", [64, 128, 256, 200])
@pytest.mark.parametrize("nq,nthreads", [(1, 2), (3, 4), (1, 1), (24, 2), (5, 3)])
def test_knn_threads_split(backend, nbits, nq, nthreads):
    """Fewer and more queries than threads: both split strategies agree."""
    db, ids, q, refs, rref = _split_case(nbits, nq)
    for k, (Dr, Ir) in refs.items():
        D, I = backend.knn(db, ids, q, k, nthreads)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)
    for got, ref in zip(backend.range_search(db, ids, q, nbits // 4, nthreads), rref):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("nbits", [8, 64, 128])
def test_knn_ties_by_id_not_position(backend, nbits):
    """All codes equal: the result is the k smallest ids, in id order."""
    rng = np.random.default_rng(1)
    n = 5000
    db = np.repeat(random_words(rng, 1, nbits), n, axis=0)
    ids = rng.permutation(np.arange(10**9, 10**9 + 3 * n, 3, dtype=np.int64))
    q = random_words(rng, 3, nbits)
    for nthreads in (1, 2, 5):
        D, I = backend.knn(db, ids, q, 50, nthreads)
        np.testing.assert_array_equal(I, np.tile(np.sort(ids)[:50], (3, 1)))
        assert (D == D[:, :1]).all()


@pytest.mark.parametrize("nbits", [8, 16, 64])
def test_knn_heavy_ties(backend, nbits):
    """Few distinct distances, shuffled ids, k around the buffer sizes:
    exercises the threshold's id bound and the buffer compaction."""
    rng = np.random.default_rng(nbits)
    db = _codes(rng, 20000, nbits, "sparse" if nbits > 8 else "random")
    ids = _ids(rng, len(db), "arbitrary")
    q = _queries(rng, db, 6, nbits)
    for k in (1, 5, 64, 257, 1000):
        Dr, Ir = knn(db, ids, q, k)
        for nthreads in (1, 3):
            D, I = backend.knn(db, ids, q, k, nthreads)
            np.testing.assert_array_equal(D, Dr)
            np.testing.assert_array_equal(I, Ir)


@pytest.mark.parametrize("nbits", [8, 64, 512])
@pytest.mark.parametrize("idkind", ["rows", "sequential", "reversed", "arbitrary"])
def test_knn_many_exact_duplicates(backend, nbits, idkind):
    """Every code repeated hundreds of times: the top-k fills with ties at
    the k-th distance (often 0) early, and the scan may only leave out codes
    whose ids cannot win the tie (the block-minimum rule of the C scan needs
    nq * words >= 16, so 20 queries)."""
    rng = np.random.default_rng(nbits)
    base = _codes(rng, 40, nbits, "random")
    db = base[rng.integers(0, len(base), size=12000)]
    ids = None if idkind == "rows" else _ids(rng, len(db), idkind)
    ref_ids = np.arange(len(db)) if ids is None else ids
    q = np.concatenate([base[:10], _codes(rng, 10, nbits, "random")])
    for k in (1, 10, 299, 1000):
        Dr, Ir = knn(db, ref_ids, q, k)
        for nthreads in (1, 3):
            D, I = backend.knn(db, ids, q, k, nthreads)
            np.testing.assert_array_equal(D, Dr)
            np.testing.assert_array_equal(I, Ir)


@pytest.mark.parametrize("nbits", [320, 768, 5000, 65536])
def test_very_wide_codes(backend, nbits):
    """Codes up to 65,536 bits (1,024 words): odd word counts, a run-time
    width past every unrolled one, clustered codes with many ties."""
    rng = np.random.default_rng(nbits)
    n = 301 if nbits > 5000 else 1003
    db = _codes(rng, n, nbits, "clustered")
    ids = _ids(rng, n, "arbitrary")
    q = _queries(rng, db, 5, nbits)
    np.testing.assert_array_equal(backend.hamming_matrix(q, db, 2), hamming_matrix(q, db))
    np.testing.assert_array_equal(backend.hamming_rows(db[:len(q)], q),
                                  (words_to_bits(db[:len(q)]) != words_to_bits(q)).sum(axis=1))
    for nthreads in (1, 3):
        _check_knn(backend, db, ids, q, 7, nthreads)
        _check_range(backend, db, ids, q, int(0.1 * nbits), nthreads)


def test_knn_padding(backend):
    rng = np.random.default_rng(2)
    db = random_words(rng, 7, 128)
    ids = np.array([5, 3, 9, 1, 100, 7, 2], dtype=np.int64)
    q = random_words(rng, 4, 128)
    D, I = backend.knn(db, ids, q, 12, 2)
    assert (I[:, 7:] == -1).all() and (D[:, 7:] == PAD_DISTANCE).all()
    assert sorted(I[0, :7]) == sorted(ids)
    _check_knn(backend, db, ids, q, 12, 2)


def test_empty_database(backend):
    db = np.zeros((0, 2), dtype=np.uint64)
    ids = np.zeros(0, dtype=np.int64)
    q = random_words(np.random.default_rng(3), 3, 128)
    D, I = backend.knn(db, ids, q, 4, 2)
    assert (I == -1).all() and (D == PAD_DISTANCE).all()
    lims, D, I = backend.range_search(db, ids, q, 128, 2)
    np.testing.assert_array_equal(lims, np.zeros(4, dtype=np.int64))
    assert len(D) == 0 and len(I) == 0
    assert backend.hamming_matrix(q, db, 2).shape == (3, 0)


def test_range_inclusive_boundary(backend):
    """A code at distance exactly `radius` is returned; one at radius+1 is not."""
    q = np.zeros((1, 2), dtype=np.uint64)
    db = np.array([[0b111, 0], [0b1111, 0], [0b11, 0]], dtype=np.uint64)
    ids = np.array([30, 10, 20], dtype=np.int64)
    lims, D, I = backend.range_search(db, ids, q, 3, 1)
    np.testing.assert_array_equal(lims, [0, 2])
    np.testing.assert_array_equal(D, [2, 3])
    np.testing.assert_array_equal(I, [20, 30])
    lims, D, I = backend.range_search(db, ids, q, 0, 1)
    np.testing.assert_array_equal(lims, [0, 0])


def test_read_only_inputs(backend):
    """Memory-mapped (read-only) databases are searched without copies."""
    rng = np.random.default_rng(4)
    db = random_words(rng, 1000, 256)
    ids = rng.permutation(1000).astype(np.int64)
    q = random_words(rng, 5, 256)
    for a in (db, ids, q):
        a.setflags(write=False)
    _check_knn(backend, db, ids, q, 10, 2)
    _check_range(backend, db, ids, q, 100, 2)


# ---------------------------------------------------------------------------
# the C extension's own surface

def test_native_surface():
    from hamsearch import _native

    if not _native.available():
        assert _native.unavailable_reason()
        pytest.skip(_native.unavailable_reason())
    assert _native.unavailable_reason() == ""
    feats = _native.cpu_features()
    assert isinstance(feats, list) and all(isinstance(f, str) for f in feats)
    before = _native.isa()
    try:
        assert _native.set_isa("portable") == "portable"
        assert _native.NAME == "c-portable"
        best = _native.set_isa(None)
        avx512 = {"avx512f", "avx512bw", "avx512vbmi", "avx512vpopcntdq", "avx2"}
        expected = ("avx512-vpopcntdq" if avx512 <= set(feats)
                    else "avx2" if "avx2" in feats and "popcnt" in feats
                    else "popcnt" if "popcnt" in feats else "portable")
        assert best == expected
        with pytest.raises(ValueError, match="set_isa"):
            _native.set_isa("sse9")
        assert _native.isa() == best  # unchanged by the failed call
    finally:
        _native.set_isa(before)


@pytest.mark.parametrize("isa", ["portable", "popcnt"])
def test_env_var_forces_isa(isa):
    """HAMSEARCH_ISA picks the variant at load time (never above the CPU's)."""
    import os
    import subprocess
    import sys

    from hamsearch import _native

    if not _native.available():
        pytest.skip(_native.unavailable_reason())
    if isa == "popcnt" and "popcnt" not in _native.cpu_features():
        pytest.skip("no POPCNT on this CPU")
    env = dict(os.environ, HAMSEARCH_ISA=isa)
    out = subprocess.run(
        [sys.executable, "-c", "from hamsearch import _native; print(_native.NAME)"],
        env=env, capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.stdout.strip() == f"c-{isa}"


def test_native_import_without_extension():
    """Importing _native never raises; without the build it says why."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['hamsearch._hamsearch_c'] = None\n"
        "from hamsearch import _native as n\n"
        "assert not n.available() and 'not built' in n.unavailable_reason()\n"
        "try:\n"
        "    n.isa()\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.stdout.strip() == "ok"
