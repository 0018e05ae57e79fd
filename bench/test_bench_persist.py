"""pytest-benchmark: add, save and load vs FAISS and numpy (``bench.engine_io``).

Seeded uniform codes (``bench.engine_io``'s data), ``HAMSEARCH_BENCH_N`` of
them, 64 and 128 bits, a flat index with default ids; throughput in codes/s.

* add: hamsearch ``Index.add`` in one batch and in 1000 batches,
  ``faiss.IndexBinaryFlat.add``, a numpy copy of the array (the floor).
  Baseline ``faiss IndexBinaryFlat.add``.
* save: ``Index.save`` to one file and to a new index directory,
  ``faiss.write_index_binary``, ``np.save``.  Baseline ``faiss write_index_binary``.
* load: ``hamsearch.load`` of the file and of the directory, each read and
  memory-mapped (``mmap=True``: the data check runs in the background; the
  next round waits for it, untimed), the mapped file plus its first search,
  ``faiss.read_index_binary`` read and mapped (``IO_FLAG_MMAP``), ``np.load``
  read and mapped.  Baseline ``faiss read_index_binary``.

Checks: what was added, saved or loaded answers queries exactly as the
original index does (hamsearch: distances and ids; FAISS: distances; numpy:
the same array); a mapped file passes its data check (``Index.verify()``).
"""

import os
import shutil
import tempfile

import numpy as np
import pytest

from ._suites import N, ROUNDS, describe, need

NBITS = [64, 128]
ADD = {"hamsearch-1": "hamsearch Index.add, 1 batch",
       "hamsearch-1000": "hamsearch Index.add, 1000 batches",
       "faiss": "faiss IndexBinaryFlat.add", "numpy": "numpy copy"}
SAVE = {"hamsearch-file": "hamsearch save, file", "hamsearch-dir": "hamsearch save, directory",
        "faiss": "faiss write_index_binary", "numpy": "numpy np.save"}
LOAD = {"hamsearch-file": "hamsearch load, file",
        "hamsearch-file-mmap": "hamsearch load, file, mmap",
        "hamsearch-file-mmap-search": "hamsearch load, file, mmap + 1st search",
        "hamsearch-dir": "hamsearch load, directory",
        "hamsearch-dir-mmap": "hamsearch load, directory, mmap",
        "faiss": "faiss read_index_binary", "faiss-mmap": "faiss read_index_binary, mmap",
        "numpy": "numpy np.load", "numpy-mmap": "numpy np.load, mmap"}


class Saved:
    """One code set, its index, and every format saved once (for the loads)."""

    def __init__(self, nbits, tmp):
        import hamsearch
        from hamsearch.synthetic import uniform_codes

        self.nbits, self.tmp = nbits, tmp
        self.codes = uniform_codes(N, nbits, seed=0)
        self.q = self.codes[:: max(1, N // 50)][:50] ^ np.uint8(1)  # near some stored codes
        self.index = hamsearch.Index(nbits, method="flat")
        self.index.add(self.codes)
        self.ref = self.index.search(self.q, 10)
        self.file = os.path.join(tmp, f"i{nbits}.hsx")
        self.index.save(self.file)
        self.dir = os.path.join(tmp, f"d{nbits}")
        os.mkdir(self.dir)
        self.index.save(self.dir)
        self.npy = os.path.join(tmp, f"c{nbits}.npy")
        np.save(self.npy, self.codes)
        self.faiss_file = None

    def faiss_path(self, faiss):
        if self.faiss_file is None:
            ix = faiss.IndexBinaryFlat(self.nbits)
            ix.add(self.codes)
            self.faiss_file = os.path.join(self.tmp, f"f{self.nbits}.faissb")
            faiss.write_index_binary(ix, self.faiss_file)
        return self.faiss_file

    def check_index(self, ix, name):
        D, I = ix.search(self.q, 10)
        assert np.array_equal(D, self.ref[0]), f"{name}: distances differ from the original"
        assert np.array_equal(I, self.ref[1]), f"{name}: ids differ from the original"

    def check_faiss(self, ix, name):
        assert ix.ntotal == len(self.codes), name
        D, _ = ix.search(self.q, 10)
        assert np.array_equal(D.astype(np.int32), self.ref[0]), f"{name}: distances differ"


@pytest.fixture(scope="module")
def saved():
    tmp = tempfile.mkdtemp(prefix="hs-bench-persist-")
    cache = {}

    def get(nbits):
        if nbits not in cache:
            cache[nbits] = Saved(nbits, tmp)
        return cache[nbits]

    try:
        yield get
    finally:
        cache.clear()
        shutil.rmtree(tmp, ignore_errors=True)


def _describe(benchmark, what, engine, baseline, s, threads):
    return describe(benchmark, what, f"uniform {N:,} x {s.nbits}", engine, baseline,
                    items=N, unit="codes", exact=True, threads=threads)


@pytest.mark.parametrize("nbits", NBITS)
@pytest.mark.parametrize("engine", list(ADD))
def test_add(benchmark, saved, threads, engine, nbits):
    import hamsearch

    s = saved(nbits)
    _describe(benchmark, "add", ADD[engine], ADD["faiss"], s, threads)
    codes = s.codes
    if engine.startswith("hamsearch"):
        step = max(1, N // 1000) if engine == "hamsearch-1000" else N

        def setup():
            return (hamsearch.Index(nbits, method="flat"),), {}

        def add(ix):
            for start in range(0, N, step):
                ix.add(codes[start : start + step])
            return ix

        ix = benchmark.pedantic(add, setup=setup, rounds=ROUNDS)
        assert len(ix) == N
        s.check_index(ix, ADD[engine])
    elif engine == "faiss":
        faiss = need("faiss")

        def add(ix):
            ix.add(codes)
            return ix

        ix = benchmark.pedantic(add, setup=lambda: ((faiss.IndexBinaryFlat(nbits),), {}),
                                rounds=ROUNDS)
        s.check_faiss(ix, ADD[engine])
    else:
        out = benchmark(np.array, codes, copy=True)
        assert np.array_equal(out, codes)


@pytest.mark.parametrize("nbits", NBITS)
@pytest.mark.parametrize("engine", list(SAVE))
def test_save(benchmark, saved, threads, engine, nbits):
    import hamsearch

    s = saved(nbits)
    _describe(benchmark, "save", SAVE[engine], SAVE["faiss"], s, threads)
    out = os.path.join(s.tmp, f"save-{engine}-{nbits}")
    if engine == "hamsearch-file":
        benchmark(s.index.save, out)
        s.check_index(hamsearch.load(out), SAVE[engine])
    elif engine == "hamsearch-dir":
        def fresh():  # a first (full) save each round: a new, empty directory
            shutil.rmtree(out, ignore_errors=True)
            os.mkdir(out)

        report = benchmark.pedantic(s.index.save, args=(out,), setup=fresh, rounds=ROUNDS)
        assert report["bytes_written"] > 0
        s.check_index(hamsearch.load(out), SAVE[engine])
    elif engine == "faiss":
        faiss = need("faiss")
        ix = faiss.IndexBinaryFlat(nbits)
        ix.add(s.codes)
        benchmark(faiss.write_index_binary, ix, out)
        s.check_faiss(faiss.read_index_binary(out), SAVE[engine])
    else:
        out += ".npy"
        benchmark(np.save, out, s.codes)
        assert np.array_equal(np.load(out), s.codes)


@pytest.mark.parametrize("nbits", NBITS)
@pytest.mark.parametrize("engine", list(LOAD))
def test_load(benchmark, saved, threads, engine, nbits):
    import hamsearch

    s = saved(nbits)
    _describe(benchmark, "load", LOAD[engine], LOAD["faiss"], s, threads)
    name = LOAD[engine]
    if engine.startswith("hamsearch"):
        path = s.dir if "-dir" in engine else s.file
        if "mmap" not in engine:
            ix = benchmark(hamsearch.load, path)
        else:
            last = []

            def settle():  # untimed: the previous map's background data check ends
                while last:
                    last.pop().verify()

            def open_mapped():
                ix = hamsearch.load(path, mmap=True)
                if engine.endswith("search"):
                    ix.search(s.q[:1], 10)
                last.append(ix)
                return ix

            ix = benchmark.pedantic(open_mapped, setup=settle, rounds=10 * ROUNDS)
            ix.verify()
        s.check_index(ix, name)
    elif engine.startswith("faiss"):
        faiss = need("faiss")
        flags = faiss.IO_FLAG_MMAP if engine.endswith("mmap") else 0
        ix = benchmark(faiss.read_index_binary, s.faiss_path(faiss), flags)
        s.check_faiss(ix, name)
    else:
        arr = benchmark(np.load, s.npy, mmap_mode="r" if engine.endswith("mmap") else None)
        assert np.array_equal(arr, s.codes)
