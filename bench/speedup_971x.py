"""The 971x measurement of Lin et al. (2015), on this machine: ``python -m bench.speedup_971x``.

Lin et al. (CVPRW 2015) report that comparing 128-bit binary codes by
Hamming distance is 971.3x faster than comparing 4096-d float features by
Euclidean distance (0.113 ms vs 109.767 ms).  This benchmark measures the same
thing in one run, on one seeded synthetic corpus (4096-d non-negative
float32 features lifted from a clustered 64-d latent space, a stand-in for
F7 activations; 128-bit codes = signs of random projections of them):

(a) per pair: one 4096-d float32 L2 distance vs one 128-bit Hamming
    distance, both with the hamsearch C kernels in tight loops over operands
    that sit in cache (ns per pair and their ratio);
(b) per query, exhaustive k-NN over N items on 1 thread: L2 over the N x
    4096 float32 features (numpy/BLAS and ``faiss.IndexFlatL2``) vs Hamming
    over the N x 128-bit codes (hamsearch, and ``faiss.IndexBinaryFlat``
    beside it), one query at a time and in a batch of 100 queries, and
    hierarchical search (Hamming pool + L2 re-rank of the pool) as a
    fraction of the exhaustive L2 search, with its recall of the exact L2
    top k.

Every ratio is between two figures of the same run.  ``--n`` above a few
hundred thousand stores the features as float16 in a memory-mapped file
(1M x 4096 = 8 GB) and skips the peers that need them as float32 in memory.
``hamsearch speedup`` (from a source checkout) runs this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import time

from hamsearch.errors import InvalidArgumentError

from bench._common import best_time, format_table, median_time
from bench.speedup_corpus import (D_FEAT, NBITS, Corpus, exact_l2_numpy, exact_l2_numpy_batch,
                                  mmap_index)
from bench.speedup_corpus import norms as norms_of

PAPER = {"hamming_ms": 0.113, "l2_ms": 109.767, "ratio": 971.3}


def add_arguments(p):
    """Add the options of the measurement to the argparse parser ``p``."""
    p.add_argument("--n", type=int, default=100_000, help="database size (default 100k, up to 1M)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--single", type=int, default=20,
                   help="single L2 queries timed, median (default 20; Hamming: 25x more)")
    p.add_argument("--batch", type=int, default=100, help="batch size (default 100)")
    p.add_argument("--pool-sizes", default="100,1000",
                   help="hierarchical pool sizes, comma-separated (default 100,1000)")
    p.add_argument("--mmap", action="store_true",
                   help="float16 memory-mapped features even for small --n")
    p.add_argument("--ram-gb", type=float, default=4.0,
                   help="largest float32 feature matrix kept in memory (default 4 GB); "
                        "beyond it features are float16 and memory-mapped")
    p.add_argument("--workdir", default=None,
                   help="directory for the memory-mapped files (default: a temporary one)")
    p.add_argument("--no-faiss", action="store_true", help="do not run the FAISS peers")
    p.add_argument("--clock", choices=sorted(_CLOCK), default="cpu",
                   help="cpu: CPU time of the calling thread (default; robust on a shared "
                        "machine, every timed call runs on 1 thread); wall: wall-clock time")
    p.add_argument("--seed", type=int, default=0)


def main(argv=None) -> int:
    """``python -m bench.speedup_971x [options]``; returns the exit status."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.speedup_971x", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


# ------------------------------------------------------------------ helpers
_CLOCK = {"cpu": time.thread_time, "wall": time.perf_counter}
_clock = time.thread_time


def _median(fn, items, runs, reps=3):
    """Median over ``runs`` items of the best of ``reps`` timings of ``fn(item)``."""
    return median_time(fn, items, runs, reps=reps, clock=_clock)


def _best(fn, repeats=3):
    return best_time(fn, repeats, clock=_clock)


# ---------------------------------------------------------------------- run
def _machine_line(np, hamsearch, faiss) -> str:
    import platform

    from hamsearch.rerank import _rerank_kernels

    isa = "numba"
    if _rerank_kernels().__name__ == "hamsearch._native":
        from hamsearch._native_rerank import rerank_isa

        isa = "c-" + rerank_isa()
    fv = f"faiss {faiss.__version__}" if faiss is not None else "no faiss"
    return (f"{platform.machine()}, {os.cpu_count()} CPUs (1 thread used), hamsearch backend "
            f"{hamsearch.backend()} (re-rank {isa}), {fv}, numpy {np.__version__}")


def run(args) -> int:
    """Measure and print the tables for parsed ``args`` (see :func:`add_arguments`)."""
    import numpy as np

    import hamsearch

    if args.n < 1000 or args.k < 1 or args.single < 1 or args.batch < 1:
        raise InvalidArgumentError(
            "--n must be >= 1000; --k, --single and --batch must be positive")
    if args.k >= args.n:
        raise InvalidArgumentError("--k must be smaller than --n")
    try:
        pool_sizes = [int(s) for s in str(args.pool_sizes).split(",") if s.strip()]
    except ValueError:
        pool_sizes = [0]
    if any(m < 1 for m in pool_sizes):
        raise InvalidArgumentError("--pool-sizes must be positive integers")
    faiss = None
    if not args.no_faiss:
        try:
            import faiss
        except ImportError:
            print("(faiss-cpu not installed: the FAISS peers are skipped)")
    limiter = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(1)  # BLAS of numpy (and of faiss when loaded)
    except ImportError:  # pragma: no cover
        pass
    from hamsearch import _backend

    old_threads = _backend._num_threads  # restored afterwards (the command may run in-process)
    hamsearch.set_num_threads(1)
    old_omp = None
    if faiss is not None:
        old_omp = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)

    use_mmap = bool(args.mmap or args.n * D_FEAT * 4 > args.ram_gb * 2**30)
    workdir = tempfile.mkdtemp(prefix="hamsearch-speedup-", dir=args.workdir) if use_mmap else None
    try:
        return _measure(args, np, hamsearch, faiss, use_mmap, workdir, pool_sizes)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if limiter is not None:
            limiter.restore_original_limits()
        _backend._num_threads = old_threads
        if old_omp is not None:
            faiss.omp_set_num_threads(old_omp)


def _measure(args, np, hamsearch, faiss, use_mmap, workdir, pool_sizes) -> int:
    from hamsearch._backend import kernels
    from hamsearch.codes import as_words
    from hamsearch.rerank import _rerank_kernels

    global _clock
    _clock = _CLOCK[args.clock]
    n, k = args.n, args.k
    nq = max(args.single, args.batch)
    print(f"hamsearch {hamsearch.__version__} speedup -- Lin et al. (CVPRW 2015): 128-bit Hamming "
          f"search {PAPER['ratio']}x faster than 4096-d L2\n  ({PAPER['l2_ms']} ms vs "
          f"{PAPER['hamming_ms']} ms per query on their machine)")
    print(_machine_line(np, hamsearch, faiss))
    print("timing: " + ("CPU time of the calling thread (--clock wall for wall-clock)"
                        if args.clock == "cpu" else "wall-clock time")
          + "; single queries: median over queries of the best of 3 runs"
          + ("\n        (memory-mapped features: CPU time leaves out waiting for the disk)"
             if use_mmap and args.clock == "cpu" else ""))
    t0 = time.perf_counter()
    if use_mmap:
        corpus = Corpus(n, nq, args.seed, np.float16, os.path.join(workdir, "features.f16"))
    else:
        corpus = Corpus(n, nq, args.seed, np.float32)
    X, codes, qX, qcodes = corpus.X, corpus.codes, corpus.qX, corpus.qcodes
    fdesc = "float16, memory-mapped" if use_mmap else "float32, in memory"
    print(f"corpus: N={n:,} seeded synthetic 4096-d ReLU features ({fdesc}, "
          f"{X.nbytes / 2**30:.2f} GiB) and their {NBITS}-bit codes ({codes.nbytes / 2**20:.2f} MiB), "
          f"k={k}; generated in {time.perf_counter() - t0:.1f} s\n")

    K = kernels()
    RK = _rerank_kernels()
    words = as_words(codes, NBITS)
    qwords = as_words(qcodes, NBITS)
    ids = np.arange(n, dtype=np.int64)

    # ---------------------------------------------------------- (a) per pair
    block = np.ascontiguousarray(np.asarray(X[:16], dtype=np.float32))  # 256 KiB: in L2 cache
    pos = np.tile(np.arange(16, dtype=np.int64), 4096)
    q0 = np.ascontiguousarray(qX[0])
    RK.feature_distances(block, q0, pos, 0)
    t_l2 = _best(lambda: RK.feature_distances(block, q0, pos, 0), 7) / pos.size
    cblock = np.ascontiguousarray(words[:8192])  # 128 KiB
    cq = np.ascontiguousarray(qwords[:64])
    npairs = cq.shape[0] * cblock.shape[0]
    K.hamming_matrix(cq, cblock, 1)
    t_ham = _best(lambda: K.hamming_matrix(cq, cblock, 1), 7) / npairs
    print("(a) per pair, operands in cache, hamsearch C kernels, 1 thread, each distance")
    print("    computed and written to an output array")
    print(f"    4096-d float32 L2 distance (AVX2/FMA)  {t_l2 * 1e9:10.2f} ns")
    print(f"    128-bit Hamming distance (popcount)    {t_ham * 1e9:10.3f} ns")
    print(f"    ratio                                  {t_l2 / t_ham:10.0f}x   "
          f"(bytes read per pair: 16 KiB vs 16 B = 1024x)\n")

    # ------------------------------------------------------- (b) per query
    single = list(range(args.single))
    single_h = list(range(min(nq, 25 * args.single)))
    rows = []  # (name, 1-query s, batch s per query or None)
    chunk = 16384 if use_mmap else None
    if use_mmap:
        # the index file holds the features; every peer reads them from its map
        index = mmap_index(corpus, os.path.join(workdir, "index.hsx"))
        X = index.features
        corpus.X = None
        os.unlink(os.path.join(workdir, "features.f16"))
    else:
        index = hamsearch.Index(NBITS, features_dtype="float32")
        index.add(codes, features=X)
    Xf = X if not use_mmap else None
    norms = norms_of(X)
    exact = {}

    def l2_one(i):
        exact[i] = exact_l2_numpy(X, norms, qX[i], k, chunk)

    Qb = qX[: args.batch]
    l2_reps = 1 if use_mmap else 3
    if use_mmap:  # numpy's float16 conversion (no F16C) would dominate single queries
        tb = _best(lambda: exact_l2_numpy_batch(X, norms, Qb, k, chunk), 1) / args.batch
        rows.append(("L2 exhaustive, numpy/BLAS (f16->f32), batch only", None, tb))
    else:
        t1 = _median(l2_one, single, args.single, l2_reps)
        tb = _best(lambda: exact_l2_numpy_batch(X, norms, Qb, k, chunk), 2) / args.batch
        rows.append(("L2 exhaustive, numpy/BLAS", t1, tb))

    if faiss is not None and Xf is not None:
        fl2 = faiss.IndexFlatL2(D_FEAT)
        fl2.add(Xf)
        t1 = _median(lambda i: fl2.search(qX[i : i + 1], k), single, args.single, l2_reps)
        tb = _best(lambda: fl2.search(Qb, k), 2) / args.batch
        rows.append(("L2 exhaustive, faiss.IndexFlatL2", t1, tb))
        del fl2

    def l2_kernel(i):
        d = RK.feature_distances(X, qX[i], ids, 0)
        top = np.argpartition(d, k)[:k]
        exact.setdefault(i, top[np.argsort(d[top])])

    t1 = _median(l2_kernel, single, args.single if use_mmap else max(3, args.single // 4), 1)
    rows.append((f"L2 exhaustive, hamsearch C kernel ({X.dtype.name})", t1, None))
    n_l2 = len(rows)


    if faiss is not None:
        fb = faiss.IndexBinaryFlat(NBITS)
        fb.add(codes)
        fb.search(qcodes[:1], k)
        t1 = _median(lambda i: fb.search(qcodes[i : i + 1], k), single_h, len(single_h))
        tb = _best(lambda: fb.search(qcodes[: args.batch], k), 5) / args.batch
        rows.append(("Hamming, faiss.IndexBinaryFlat", t1, tb))
        del fb
    flat = hamsearch.Index(NBITS, method="flat")
    flat.add(codes)
    for name, idx in (("Hamming, hamsearch Index(method='flat')", flat),
                      ("Hamming, hamsearch Index (auto: MIH when cheaper)", index)):
        idx.search(qcodes[:2], k)
        t1 = _median(lambda i, idx=idx: idx.search(qcodes[i : i + 1], k), single_h, len(single_h))
        tb = _best(lambda idx=idx: idx.search(qcodes[: args.batch], k), 5) / args.batch
        rows.append((name, t1, tb))
    ham_row = len(rows) - 2
    del flat
    t1 = _median(lambda i: K.knn(words, ids, qwords[i : i + 1], k, 1), single_h, len(single_h))
    tb = _best(lambda: K.knn(words, ids, qwords[: args.batch], k, 1), 5) / args.batch
    rows.append(("Hamming, hamsearch kernel (no Python checks)", t1, tb))

    hier = []
    for m in pool_sizes:
        def h_one(i, m=m):
            return index.search(qcodes[i : i + 1], k, query_features=qX[i : i + 1], pool_size=m)

        h_one(0)
        t1 = _median(h_one, single, args.single)
        tb = _best(lambda m=m: index.search(qcodes[: args.batch], k, query_features=Qb,
                                            pool_size=m), 2) / args.batch
        recall = np.mean([
            len(set(h_one(i)[1][0].tolist()) & set(exact[i].tolist())) / k for i in single
        ])
        pool = np.mean([_pool_len(index, qcodes[i : i + 1], m) for i in single])
        rows.append((f"hierarchical, pool_size={m} (mean pool {pool:.0f})", t1, tb))
        hier.append((rows[-1][0], t1, tb, recall))

    # reference: the fastest exhaustive L2 peer, single and batched separately
    ref1 = min((r for r in rows[:n_l2] if r[1] is not None), key=lambda r: r[1])
    refb = min((r for r in rows[:n_l2] if r[2] is not None), key=lambda r: r[2])
    ref = (None, ref1[1], refb[2])
    print(f"(b) per query, exhaustive over N={n:,}, 1 thread; ratio = fastest exhaustive L2 / row")
    print(f"    (fastest L2: single query '{ref1[0]}', batched '{refb[0]}')")
    table = [[name,
              "-" if t1 is None else f"{t1 * 1e3:.3f}", "" if t1 is None else _ratio(ref[1] / t1),
              "" if tb is None else f"{tb * 1e3:.3f}", "" if tb is None else _ratio(ref[2] / tb)]
             for name, t1, tb in rows]
    table.append(["paper (Lin et al. 2015, their machine)", f"{PAPER['hamming_ms']:.3f}",
                  _ratio(PAPER["ratio"]), f"(L2: {PAPER['l2_ms']} ms)", ""])
    print(textwrap.indent(format_table(["", "1 query ms", "ratio", f"batch of {args.batch}, ms/q",
                                        "ratio"], table, align="lrrrr"), "    "))
    print()
    ham = rows[ham_row]
    auto = rows[ham_row + 1]
    print(f"single-query flat Hamming search (Index.search) vs exhaustive L2: {ref[1] / ham[1]:,.0f}x "
          f"(paper {PAPER['ratio']}x); batched: {ref[2] / ham[2]:,.0f}x")
    print(f"with the default method (MIH when cheaper): {ref[1] / auto[1]:,.0f}x single, "
          f"{ref[2] / auto[2]:,.0f}x batched")
    for name, t1, tb, recall in hier:
        print(f"{name}: {100 * t1 / ref[1]:.2f}% of the exhaustive L2 time per single query "
              f"({100 * tb / ref[2]:.2f}% batched), recall@{k} of the exact L2 top {k}: {recall:.3f}")
    print()
    print(_EXPLANATION.format(n=n, fkb=fbytes_kib(X), cmb=codes.nbytes / 2**20,
                              fgb=X.nbytes / 2**30))
    return 0


def _ratio(r: float) -> str:
    return f"{r:.2f}x" if r < 10 else f"{r:,.1f}x" if r < 1000 else f"{r:,.0f}x"


def fbytes_kib(X):
    return X.dtype.itemsize * X.shape[1] / 1024


def _pool_len(index, q, m):
    """Size of the pool_size=m pool (ties at the boundary included)."""
    D, _ = index.search(q, m)
    lims, _, _ = index.range_search(q, int(D[0, -1]))
    return int(lims[-1])


_EXPLANATION = """\
Why the ratios are what they are: one L2 comparison reads a {fkb:.0f} KiB feature row,
one Hamming comparison a 16-byte code -- 1024x fewer bytes (512x with float16
features), the ceiling for a scan bound by memory bandwidth.
(a) With both operands in cache, both kernels run near cache bandwidth, but the
    Hamming kernel also writes a 4-byte result per 16 bytes read and spends its
    time in popcount instructions, so the per-pair ratio stays below the ceiling.
(b) Per query, the N codes ({cmb:.1f} MiB) sit in the CPU caches while the N feature
    rows ({fgb:.2f} GiB) stream from DRAM: the exhaustive ratio reaches or passes the
    ceiling (cache bandwidth beats DRAM bandwidth), as the paper's 971.3x did.
    Batching turns exhaustive L2 into a matrix product that reads each feature row
    once for all the queries, so L2 gets far cheaper per query while Hamming search
    gains little: the batched ratio is the honest one for throughput-bound serving.
Hierarchical search pays one Hamming search plus the L2 distances of its pool only."""


if __name__ == "__main__":
    import sys

    sys.exit(main())
