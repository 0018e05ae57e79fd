"""What the pytest-benchmark suites share: sizes, seeded code sets, the
engines they compare (behind one interface) and the checks of their results.

Sizes come from environment variables (see :mod:`bench.conftest`).  Every
engine is built from a :class:`CodeSet` (packed ``uint8`` codes, the
FAISS binary layout, ids = row numbers) and answers

* ``knn(q, k) -> (D, I)``: int32 distances and int64 ids, ``-1`` pads;
* ``range(q, r) -> (lims, D, I)``: every code with distance ``<= r``
  (FAISS's strict ``<`` gets ``r + 1``), or is ``None`` where the engine
  has no range search.

Keys (the suites' ``engine`` parameter):

==================  ======================================  =====  =========
key                 name in the reports                     exact  needs
==================  ======================================  =====  =========
hamsearch-flat      hamsearch flat                          yes
hamsearch-mih       hamsearch MIH                           yes
faiss-flat          faiss IndexBinaryFlat                   yes    faiss-cpu
faiss-multihash     faiss IndexBinaryMultiHash              no     faiss-cpu
faiss-hash          faiss IndexBinaryHash                   no     faiss-cpu
faiss-ivf           faiss IndexBinaryIVF                    no     faiss-cpu
faiss-hnsw          faiss IndexBinaryHNSW                   no     faiss-cpu
usearch-exact       usearch exact                           yes    usearch
usearch-hnsw        usearch HNSW                            no     usearch
numpy               numpy popcount scan                     yes
==================  ======================================  =====  =========

The approximate FAISS hash indexes get the settings of
``bench.compare_mih``: ``IndexBinaryMultiHash`` with ``nbits / 16`` tables
of 16 bits and ``IndexBinaryHash`` on a 20-bit prefix, each at the smallest ``nflip`` in 0, 1, 2 whose tie-aware recall@10
reaches 0.99; ``IndexBinaryIVF`` with 1024 lists (fewer on small sets:
``n / 39``), ``nprobe`` 16; ``IndexBinaryHNSW`` with ``M = 16``,
``efSearch`` 64; usearch's HNSW with its defaults (connectivity 16,
expansion 64).  An engine whose package is missing is skipped with the
package to install.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

PAD = np.iinfo(np.int32).max


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        raise pytest.UsageError(f"{name} must be a number, got {value!r}") from None


N = _env_int("HAMSEARCH_BENCH_N", 20_000)
NQ = _env_int("HAMSEARCH_BENCH_NQ", 200)
THREADS = _env_int("HAMSEARCH_BENCH_THREADS", 2)
RERANK_N = _env_int("HAMSEARCH_BENCH_RERANK_N", max(1000, N // 10))
ENC_N = _env_int("HAMSEARCH_BENCH_ENC_N", 3000)
ROUNDS = _env_int("HAMSEARCH_BENCH_ROUNDS", 3)


def describe(benchmark, family: str, group: str, engine: str, baseline, **facts) -> dict:
    """Put a benchmark in group ``"<family>: <group>"`` and record what
    ``bench.report`` reads: the engine's name, the baseline of its group (a
    name, or a list meaning the fastest of them), ``items`` per call and
    their ``unit``, and any facts (exact, recall, settings)."""
    benchmark.group = f"{family}: {group}"
    info = benchmark.extra_info
    info.update(family=family, engine=engine, baseline=baseline, **facts)
    return info


class CodeSet:
    """Seeded database and queries (packed uint8), with exact answers from
    hamsearch's flat scan computed once (the reference of every check)."""

    def __init__(self, name: str, db: np.ndarray, q: np.ndarray, nbits: int):
        self.name, self.db, self.q, self.nbits = name, db, q, nbits
        self._flat = None
        self._knn, self._range = {}, {}

    def reference(self):
        if self._flat is None:
            import hamsearch

            self._flat = hamsearch.Index(self.nbits, method="flat")
            self._flat.add(self.db)
        return self._flat

    def exact_knn(self, k: int):
        if k not in self._knn:
            self._knn[k] = self.reference().search(self.q, k)
        return self._knn[k]

    def exact_range(self, r: int):
        if r not in self._range:
            self._range[r] = canonical_range(*self.reference().range_search(self.q, r))
        return self._range[r]


def make_codes(kind: str, nbits: int, n: int | None = None, nq: int | None = None) -> CodeSet:
    """``clustered-<p>`` (1000 centres, bit flips with probability p; queries
    drawn like the database, as ``bench.compare_flat`` / ``compare_mih``) or
    ``uniform``."""
    from hamsearch.synthetic import clustered_codes, uniform_codes

    n, nq = N if n is None else n, NQ if nq is None else nq
    if kind == "uniform":
        db, q = uniform_codes(n, nbits, seed=1), uniform_codes(nq, nbits, seed=2)
    else:
        p = float(kind.split("-")[1])
        db, centres = clustered_codes(n, nbits, ncenters=1000, flip=p, seed=1)
        q, _ = clustered_codes(nq, nbits, centres=centres, flip=p, seed=2)
    return CodeSet(f"{kind} {n:,} x {nbits}", db, q, nbits)

NAMES = {
    "hamsearch-flat": "hamsearch flat",
    "hamsearch-mih": "hamsearch MIH",
    "faiss-flat": "faiss IndexBinaryFlat",
    "faiss-multihash": "faiss IndexBinaryMultiHash",
    "faiss-hash": "faiss IndexBinaryHash",
    "faiss-ivf": "faiss IndexBinaryIVF",
    "faiss-hnsw": "faiss IndexBinaryHNSW",
    "usearch-exact": "usearch exact",
    "usearch-hnsw": "usearch HNSW",
    "numpy": "numpy popcount scan",
}
EXACT = {"hamsearch-flat", "hamsearch-mih", "faiss-flat", "usearch-exact", "numpy"}
#: engines that break distance ties by ascending id, like hamsearch
ID_TIES = {"hamsearch-flat", "hamsearch-mih", "numpy"}
EXHAUSTIVE = ["hamsearch-flat", "faiss-flat", "usearch-exact", "numpy"]
ALL = list(NAMES)


def need(module: str):
    """Import an optional peer, or skip the benchmark saying what to install."""
    pip = {"faiss": "faiss-cpu", "usearch": "usearch"}.get(module, module)
    return pytest.importorskip(module, reason=f"{module} is not installed (pip install {pip})")


# ------------------------------------------------------------------ numpy
def popcount_rows(x: np.ndarray) -> np.ndarray:
    """Bits set per row of a uint8 array (last axis summed), int32."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).sum(axis=-1, dtype=np.int32)
    table = np.array([bin(i).count("1") for i in range(256)], np.uint8)
    return table[x].sum(axis=-1, dtype=np.int32)


def _numpy_distances(db: np.ndarray, q: np.ndarray):
    """Yield ``(start, stop, D)`` with the distances of query chunks to ``db``."""
    step = max(1, (32 << 20) // max(1, db.size))
    for s in range(0, len(q), step):
        e = min(len(q), s + step)
        yield s, e, popcount_rows(q[s:e, None, :] ^ db[None, :, :])


def numpy_knn(db: np.ndarray, q: np.ndarray, k: int, ids: np.ndarray | None = None):
    """Exact k-NN by a plain numpy scan; ties broken by ascending id."""
    ids = np.arange(len(db), dtype=np.int64) if ids is None else ids
    kk = min(k, len(db))
    D = np.full((len(q), k), PAD, np.int32)
    I = np.full((len(q), k), -1, np.int64)
    if kk == 0:
        return D, I
    for s, _, d in _numpy_distances(db, q):
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk] if kk < d.shape[1] else None
        for j in range(d.shape[0]):
            row = d[j]
            kth = row.max() if part is None else row[part[j]].max()
            cand = np.flatnonzero(row <= kth)
            order = np.lexsort((ids[cand], row[cand]))[:kk]
            D[s + j, :kk], I[s + j, :kk] = row[cand[order]], ids[cand[order]]
    return D, I


def numpy_range(db: np.ndarray, q: np.ndarray, r: int):
    lims = [0]
    Ds, Is = [], []
    for _, _, d in _numpy_distances(db, q):
        for row in d:
            hit = np.flatnonzero(row <= r)
            order = np.lexsort((hit, row[hit]))
            Ds.append(row[hit[order]])
            Is.append(hit[order].astype(np.int64))
            lims.append(lims[-1] + hit.size)
    return (np.asarray(lims, np.int64), np.concatenate(Ds).astype(np.int32),
            np.concatenate(Is))


# ----------------------------------------------------------------- checks
def canonical_range(lims, D, I):
    """Range results sorted by (query, distance, id), int types."""
    lims = np.asarray(lims, np.int64)
    qi = np.repeat(np.arange(len(lims) - 1), np.diff(lims))
    D, I = np.asarray(D, np.int64), np.asarray(I, np.int64)
    order = np.lexsort((I, D, qi))
    return lims, D[order].astype(np.int32), I[order]


def true_distances(db, q, I):
    """Hamming distance of query i to db[I[i, j]] (``PAD`` where I < 0)."""
    out = np.full(I.shape, PAD, np.int32)
    ok = I >= 0
    rows = np.nonzero(ok)[0]
    out[ok] = popcount_rows(q[rows] ^ db[I[ok]])
    return out


def tie_aware_recall(exact_D, I, db, q, k) -> float:
    """Mean over queries of |returned ids within the true k-th distance| / k
    (Hamming distances tie a lot: any code as close as the k-th counts)."""
    kth = exact_D[:, k - 1]
    d = true_distances(db, q, I[:, :k])
    return float(((d <= kth[:, None]) & (I[:, :k] >= 0)).sum() / (k * len(q)))


# ---------------------------------------------------------------- engines
class Built:
    """A built engine: ``knn``, ``range`` (or None), and facts for the report."""

    def __init__(self, key, knn, range_=None, info=None):
        self.key = key
        self.name = NAMES[key]
        self.exact = key in EXACT
        self.knn = knn
        self.range = range_
        self.info = dict(info or {})


def _faiss_knn(index):
    def knn(q, k):
        D, I = index.search(q, k)
        return D.astype(np.int32, copy=False), I.astype(np.int64, copy=False)
    return knn


def _faiss_range(index):
    def rng(q, r):
        return index.range_search(q, r + 1)  # FAISS: distance < radius
    return rng


def _tune_nflip(index, data, knn):
    """Smallest nflip in 0, 1, 2 with tie-aware recall@10 >= 0.99 (else 2)."""
    exact_D, _ = data.exact_knn(10)
    for nflip in (0, 1, 2):
        index.nflip = nflip
        rec = tie_aware_recall(exact_D, knn(data.q, 10)[1], data.db, data.q, 10)
        if rec >= 0.99:
            break
    return nflip


def build(key: str, data, threads: int) -> Built:
    """Build engine ``key`` on ``data.db`` (a :class:`CodeSet`)."""
    db, nbits, n = data.db, data.nbits, len(data.db)
    if key in ("hamsearch-flat", "hamsearch-mih"):
        import hamsearch

        method = key.split("-")[1]
        index = hamsearch.Index(nbits, method=method)
        index.add(db)
        index.search(data.q[:1], 1)  # MIH: tables built now, not in the first timed call
        info = {"m": index.m} if method == "mih" else {}
        return Built(key, index.search, index.range_search, info)
    if key == "numpy":
        return Built(key, lambda q, k: numpy_knn(db, q, k), lambda q, r: numpy_range(db, q, r))
    if key.startswith("faiss-"):
        faiss = need("faiss")
        if key == "faiss-flat":
            index = faiss.IndexBinaryFlat(nbits)
            index.add(db)
            return Built(key, _faiss_knn(index), _faiss_range(index))
        if key == "faiss-multihash":
            nhash = max(1, nbits // 16)
            index = faiss.IndexBinaryMultiHash(nbits, nhash, 16)
            index.add(db)
            knn = _faiss_knn(index)
            nflip = _tune_nflip(index, data, knn)
            return Built(key, knn, _faiss_range(index), {"nhash": nhash, "b": 16, "nflip": nflip})
        if key == "faiss-hash":
            b = 20  # compare_mih's --hash-bits
            index = faiss.IndexBinaryHash(nbits, b)
            index.add(db)
            knn = _faiss_knn(index)
            nflip = _tune_nflip(index, data, knn)
            return Built(key, knn, _faiss_range(index), {"b": b, "nflip": nflip})
        if key == "faiss-ivf":
            nlist = int(min(1024, max(1, n // 39)))
            quant = faiss.IndexBinaryFlat(nbits)
            index = faiss.IndexBinaryIVF(quant, nbits, nlist)
            rng = np.random.default_rng(0)
            index.train(db[rng.choice(n, size=min(n, 50_000), replace=False)])
            index.add(db)
            index.nprobe = 16
            built = Built(key, _faiss_knn(index), _faiss_range(index),
                          {"nlist": nlist, "nprobe": 16})
            built.keep = quant  # the quantizer must live as long as the index
            return built
        if key == "faiss-hnsw":
            index = faiss.IndexBinaryHNSW(nbits, 16)
            index.add(db)
            index.hnsw.efSearch = 64
            return Built(key, _faiss_knn(index), None, {"M": 16, "efSearch": 64})
    if key.startswith("usearch-"):
        need("usearch")
        from usearch.index import Index as UIndex
        from usearch.index import MetricKind, ScalarKind
        from usearch.index import search as usearch_search

        def matches(m, k):
            keys = np.asarray(m.keys, dtype=np.int64).reshape(len(m.counts), -1)
            dist = np.asarray(m.distances).reshape(keys.shape)
            D = np.full((keys.shape[0], k), PAD, np.int32)
            I = np.full((keys.shape[0], k), -1, np.int64)
            w = min(k, keys.shape[1])
            ok = np.arange(w)[None, :] < np.asarray(m.counts)[:, None]
            D[:, :w] = np.where(ok, dist[:, :w], PAD).astype(np.int32)
            I[:, :w] = np.where(ok, keys[:, :w], -1)
            return D, I

        if key == "usearch-exact":
            def knn(q, k):
                return matches(usearch_search(db, q, k, MetricKind.Hamming, exact=True,
                                              threads=threads), k)
            return Built(key, knn)
        index = UIndex(ndim=nbits, metric=MetricKind.Hamming, dtype=ScalarKind.B1)
        index.add(np.arange(n, dtype=np.uint64), db, threads=threads)

        def knn(q, k):
            return matches(index.search(q, k, threads=threads), k)
        return Built(key, knn, None, {"connectivity": index.connectivity,
                                      "expansion_search": index.expansion_search})
    raise KeyError(f"unknown engine {key!r}")


def check_knn(built: Built, data, k: int, D, I, extra: dict) -> None:
    """Exact engines: distances equal hamsearch flat's (ids too where ties go
    by id); approximate ones: recall recorded.  Every engine's distances must
    be the true distances of the ids it returned."""
    D, I = np.asarray(D), np.asarray(I)
    assert D.shape == I.shape == (len(data.q), k), (D.shape, I.shape)
    valid = I >= 0
    assert ((I < len(data.db)) | ~valid).all(), "ids out of range"
    assert np.array_equal(np.where(valid, D, PAD), true_distances(data.db, data.q, I)), \
        f"{built.name}: reported distances are not the distances of the returned ids"
    ref_D, ref_I = data.exact_knn(k)
    kk = min(k, len(data.db))
    recall = tie_aware_recall(ref_D, I, data.db, data.q, kk)
    extra["recall"] = round(recall, 4)
    if built.exact:
        assert np.array_equal(D.astype(np.int32), ref_D), f"{built.name}: distances differ"
        if built.key in ID_TIES:
            assert np.array_equal(I, ref_I), f"{built.name}: ids differ"
        assert recall == 1.0


def check_range(built: Built, data, r: int, res, extra: dict) -> None:
    """Exact engines: the same (id, distance) sets as hamsearch flat;
    approximate: only true results, recall recorded."""
    lims, D, I = canonical_range(*res)
    rl, rD, rI = data.exact_range(r)
    assert len(lims) == len(data.q) + 1
    assert (D <= r).all(), f"{built.name}: a result beyond the radius"
    qi = np.repeat(np.arange(len(lims) - 1), np.diff(lims))
    if len(I):
        assert np.array_equal(D, popcount_rows(data.q[qi] ^ data.db[I])), \
            f"{built.name}: reported distances are not the distances of the returned ids"
        assert not ((np.diff(qi) == 0) & (np.diff(I) == 0)).any(), f"{built.name}: duplicates"
    found = len(I)
    total = int(rl[-1])
    extra["results"] = found
    extra["recall"] = round(found / total, 4) if total else 1.0
    if built.exact:
        assert np.array_equal(lims, rl) and np.array_equal(I, rI) and np.array_equal(D, rD), \
            f"{built.name}: range results differ from hamsearch flat"
