"""A billion codes on one machine: the multi-index hashing paper's 1B table.

``python -m bench.billion --n 1000000000 --nbits 64 [--data clustered,lsh]``
``python -m bench.billion --scaling plot.png [--max-n 100000000]``

Norouzi, Punjani & Fleet (*Fast Exact Search in Hamming Space with
Multi-Index Hashing*, TPAMI 2014, Table 3) report exact k-NN speed-ups of
multi-index hashing over a linear scan on 1B LSH codes of SIFT descriptors.
This script generates seeded codes chunk by chunk, builds one index by
streaming (:meth:`hamsearch.Index.from_chunks`: one sealed segment, ids as a
range, tables by a chunked counting sort, no inline codes), and prints, for
k in {1, 10, 100, 1000}: the MIH time per query, the flat scan's time per
query (measured on a sample of the queries, one batch), their ratio beside
the paper's, and whether MIH returned exactly the flat scan's ids and
distances on that sample.  Also the build time, bytes per code (what the
index holds, and the growth of the process's resident memory), and with
``--dir`` the save, the ``mmap=True`` re-open, first-query and warm times.

Data (``--data``):

* ``clustered``: as ``bench.compare_mih`` (1000 centre codes, independent
  bit flips), here with flip probability 1/16 (the AND of four random
  words: fast enough for 10^9 codes);
* ``lsh``: random-hyperplane LSH (``sign(W^T x)``, W Gaussian, 128 x
  nbits) of a seeded mixture of 1000 Gaussians in 128-d -- a stand-in for
  SIFT.  The projection of a mixture point is drawn directly in nbits-d
  (``W^T c + sigma L g`` with ``L L^T = W^T W``, ``g`` standard normal,
  drawn by a 16-bit inverse-CDF table): the same distribution as projecting
  128-d points, at a fraction of the cost (above 128 bits ``W^T W`` is
  singular and 128-d noise is projected).

Both generators are a function of ``(seed, row)``: rows are drawn in
blocks of :data:`BLOCK` seeded by ``(seed, block)``, so any chunk size
gives the same codes (tests/test_streaming.py checks it).  Queries come
from a separate stream (same distribution, not database rows).

``--variants auto,m3`` builds, beside the index's own tables (``auto``: the
m and table kinds the build chose), other tables over the same codes and
times them with the same queries against the same flat scan (``m3``: three
dense tables; ``m2-sparse``: two sparse ones, ...).

Threads: one (``--threads``), as the paper's single-core timings.  Figures
are ratios within one run; absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from ._common import machine_line, print_table, timed

#: Rows drawn per seeded block (chunk boundaries never change the codes).
BLOCK = 1 << 16
NCENTRES = 1000
DIM = 128
#: Within-component standard deviation relative to the centres' (lsh).
SIGMA = 0.5
#: Norouzi et al., TPAMI 2014, Table 3: speed-up of MIH over linear scan
#: on 1B LSH codes of SIFT, k = 1, 10, 100, 1000.
PAPER_SPEEDUP = {64: {1: 788, 10: 750, 100: 570, 1000: 317},
                 128: {1: 826, 10: 472, 100: 237, 1000: 103},
                 256: {1: 284, 10: 138, 100: 68, 1000: 31}}
_DB_STREAM, _Q_STREAM = 0, 1


def _rng(seed: int, stream: int, block: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream), int(block)])


class ClusteredSource:
    """Clustered codes: centre code of a random component, bits flipped
    with probability 1/16."""

    def __init__(self, nbits: int, seed: int = 1):
        self.nbits, self.seed = int(nbits), int(seed)
        self.w = -(-self.nbits // 64)
        rng = _rng(seed, 99, 0)
        self.centres = rng.integers(0, 2**63, size=(NCENTRES, self.w), dtype=np.uint64) * 2 \
            + rng.integers(0, 2, size=(NCENTRES, self.w), dtype=np.uint64)
        self.centres &= self._mask()

    def _mask(self):
        mask = np.full(self.w, np.uint64(2**64 - 1), dtype=np.uint64)
        if self.nbits % 64:
            mask[-1] = np.uint64((1 << (self.nbits % 64)) - 1)
        return mask

    def block(self, stream: int, b: int, rows: int) -> np.ndarray:
        rng = _rng(self.seed, stream, b)
        lab = rng.integers(0, NCENTRES, size=rows)
        flips = rng.integers(0, 2**64 - 1, size=(4, rows, self.w), dtype=np.uint64,
                             endpoint=True)
        f = flips[0] & flips[1] & flips[2] & flips[3]
        return (self.centres[lab] ^ f) & self._mask()


_LUT = []


def _NORMAL_LUT() -> np.ndarray:
    """Standard normal quantiles of the 65,536 midpoints ``(u + 1/2) / 2**16``:
    indexed by random uint16, a normal draw quantized to 16 bits (tails cut
    at about 4.3 sigma), several times cheaper than ``standard_normal``."""
    if not _LUT:
        from statistics import NormalDist

        inv = NormalDist().inv_cdf
        _LUT.append(np.array([inv((u + 0.5) / 65536) for u in range(65536)],
                             dtype=np.float32))
    return _LUT[0]


class LSHSource:
    """Random-hyperplane LSH codes of a seeded Gaussian mixture in 128-d."""

    def __init__(self, nbits: int, seed: int = 1):
        self.nbits, self.seed = int(nbits), int(seed)
        self.w = -(-self.nbits // 64)
        rng = _rng(seed, 98, 0)
        centres = rng.standard_normal((NCENTRES, DIM))
        W = rng.standard_normal((DIM, self.nbits))
        self.proj_centres = (centres @ W).astype(np.float32)  # W^T c
        if self.nbits <= DIM:  # W^T z ~ N(0, W^T W): draw it in nbits-d
            self.L = (SIGMA * np.linalg.cholesky(W.T @ W)).astype(np.float32)
        else:  # W^T W is singular: project 128-d noise
            self.L, self.W = None, (SIGMA * W).astype(np.float32)

    def block(self, stream: int, b: int, rows: int) -> np.ndarray:
        rng = _rng(self.seed, stream, b)
        lab = rng.integers(0, NCENTRES, size=rows)
        d = self.nbits if self.L is not None else DIM
        g = _NORMAL_LUT()[np.frombuffer(rng.bytes(rows * d * 2), dtype=np.uint16)]
        g = g.reshape(rows, d)
        y = g @ self.L.T if self.L is not None else g @ self.W
        y += self.proj_centres[lab]
        bits = np.packbits(y > 0, axis=1, bitorder="little")
        out = np.zeros((rows, self.w * 8), dtype=np.uint8)
        out[:, : bits.shape[1]] = bits
        return out.view(np.uint64)


SOURCES = {"clustered": ClusteredSource, "lsh": LSHSource}


def rows(source, start: int, stop: int, stream: int = _DB_STREAM) -> np.ndarray:
    """Rows ``start .. stop-1`` of a source's stream (uint64 words)."""
    out = np.empty((max(0, stop - start), source.w), dtype=np.uint64)
    at = start
    while at < stop:
        b = at // BLOCK
        blk = source.block(stream, b, BLOCK)
        lo, hi = at - b * BLOCK, min(BLOCK, stop - b * BLOCK)
        out[at - start : at - start + hi - lo] = blk[lo:hi]
        at += hi - lo
    return out


def chunks(source, n: int, chunk: int = 1 << 20, stream: int = _DB_STREAM, timer=None):
    """The first ``n`` rows of a stream, ``chunk`` rows at a time;
    ``timer`` (a one-element list) accumulates the generation seconds."""
    chunk = max(BLOCK, chunk // BLOCK * BLOCK)  # whole blocks: each drawn once
    for a in range(0, n, chunk):
        part, seconds = timed(lambda a=a: rows(source, a, min(n, a + chunk), stream))
        if timer is not None:
            timer[0] += seconds
        yield part


def queries(source, nq: int) -> np.ndarray:
    return rows(source, 0, nq, _Q_STREAM)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build(kind: str, n: int, nbits: int, chunk: int, seed: int, m=None):
    import hamsearch

    src = SOURCES[kind](nbits, seed)
    gen_s = [0.0]
    rss0 = _rss()
    index, total = timed(lambda: hamsearch.Index.from_chunks(
        chunks(src, n, chunk, timer=gen_s), nbits, n=n, method="mih", m=m,
        inline_codes=False))
    info = {"build_s": total - gen_s[0], "gen_s": gen_s[0], "bytes_per_code": index.nbytes / n,
            "rss_per_code": (_rss() - rss0) / n, "m": index.m}
    return src, index, info


def _flat_knn(index, q, k):
    from hamsearch._backend import kernels

    view = index.snapshot().views[0]
    return kernels().knn(view.codes, None, q, k, 1)


def _mih_knn(index, q, k, state=None):
    view = index.snapshot().views[0]
    st = view.seg.mih if state is None else state
    return index.planner._tables.knn(q, k, 1, state=st)


def variant_tables(index, spec: str):
    """Tables over the index's codes for a ``--variants`` entry: ``auto``
    (the index's own: m and kinds as the build chose them), ``mN`` (N
    substrings, kinds by the default rule) or ``mN-KIND`` (every table
    forced to KIND: dense, sparse, hash).  Returns ``(label, state,
    build seconds or None, description)``."""
    from hamsearch import mih

    seg = index.snapshot().views[0].seg
    if spec == "auto":
        st = seg.mih
        return spec, st, None, f"m={st.m} {'/'.join(mih.kind_names(st.main[0]))}"
    m, _, kind = spec[1:].partition("-")
    own = seg.mih
    if own is not None and int(m) == own.m and (not kind or mih.kind_names(own.main[0])
                                                 == [kind] * own.m):
        # the index's own tables already (no second copy in memory)
        return spec, own, None, f"m={own.m} {'/'.join(mih.kind_names(own.main[0]))} (= auto)"
    t = mih.MultiIndexTables(index.nbits, m=int(m), inline_codes=False,
                             table_kind=kind or None)
    build_s = timed(lambda: t.sync(seg.codes, None))[1]
    st = t._state
    return spec, st, build_s, f"m={st.m} {'/'.join(mih.kind_names(st.main[0]))}"


def _auto_prefers_mih(index, k) -> bool:
    view = index.snapshot().views[0]
    p = index.planner
    return p.rule.prefer_mih(view.codes, index.nbits, index.m, False, k=k, holder=view.seg)


def table(index, src, ks, nq: int, flat_nq: int, single_nq: int = 2):
    """Rows of the side-by-side table, and whether every sample was exact.

    The flat scan is timed twice: one batch of ``flat_nq`` queries (its best
    case: the batch shares each pass over the codes) and ``single_nq``
    one-query calls (the paper's baseline: a linear scan per query)."""
    q = queries(src, max(nq, flat_nq))
    out, exact_all = [], True
    _mih_knn(index, q[:nq], ks[0])  # warm the tables and the codes
    for k in ks:
        _mih_knn(index, q[:1], k)
        mih_s = timed(lambda: _mih_knn(index, q[:nq], k))[1] / nq
        stats = index.planner.last_mih_stats
        fb = float(stats[:, 2].mean()) if stats is not None else float("nan")
        (Df, If), flat_s = timed(lambda: _flat_knn(index, q[:flat_nq], k))
        flat_s /= flat_nq
        single_s = sum(timed(lambda i=i: _flat_knn(index, q[i : i + 1], k))[1]
                       for i in range(single_nq)) / max(1, single_nq)
        Dm, Im = _mih_knn(index, q[:flat_nq], k)
        exact = bool(np.array_equal(Dm, Df) and np.array_equal(Im, If))
        exact_all &= exact
        paper = PAPER_SPEEDUP.get(index.nbits, {}).get(k)
        out.append([k, f"{mih_s * 1e3:.3f}", f"{flat_s * 1e3:.1f}", f"{flat_s / mih_s:.0f}x",
                    f"{single_s * 1e3:.1f}", f"{single_s / mih_s:.0f}x",
                    f"{paper}x" if paper else "-", f"{fb:.2f}",
                    "mih" if _auto_prefers_mih(index, k) else "flat",
                    "yes" if exact else "NO"])
    return out, exact_all


def variants_table(index, src, variants, ks, nq: int, flat_nq: int):
    """The flat scan once, then each variant's tables over the same codes
    with the same queries (interleaved per k, so load drifts hit them
    alike): rows, and whether every variant matched the scan everywhere."""
    q = queries(src, max(nq, flat_nq))
    out, exact_all = [], True
    for _, st, _, _ in variants:
        _mih_knn(index, q[:nq], ks[0], st)  # warm the tables and the codes
    for k in ks:
        (Df, If), flat_s = timed(lambda: _flat_knn(index, q[:flat_nq], k))
        flat_s /= flat_nq
        row = [k, f"{flat_s * 1e3:.1f}"]
        for _, st, _, _ in variants:
            _mih_knn(index, q[:1], k, st)
            mih_s = timed(lambda: _mih_knn(index, q[:nq], k, st))[1] / nq
            stats = index.planner.last_mih_stats
            Dm, Im = _mih_knn(index, q[:flat_nq], k, st)
            exact = bool(np.array_equal(Dm, Df) and np.array_equal(Im, If))
            exact_all &= exact
            row += [f"{mih_s * 1e3:.3f}", f"{flat_s / mih_s:.0f}x",
                    f"{float(stats[:, 1].mean()):.0f}", f"{float(stats[:, 2].mean()):.2f}",
                    "yes" if exact else "NO"]
        paper = PAPER_SPEEDUP.get(index.nbits, {}).get(k)
        row.append(f"{paper}x" if paper else "-")
        out.append(row)
    head = ["k", "flat ms/q"]
    for label, _, _, _ in variants:
        head += [f"{label} ms/q", "speed-up", "verified", "fallback", "exact"]
    head.append("paper (T3)")
    return head, out, exact_all


def reopen(holder: list, directory: str, src, k: int = 10, nq: int = 20):
    """Save ``holder[0]`` to ``directory``, drop it (the caller keeps no
    other reference: at 10^9 codes the index and the mapped file's page
    cache do not both fit), load with mmap: timings."""
    import hamsearch

    index = holder.pop()
    save_s = timed(lambda: index.save(directory, directory=True))[1]
    q = queries(src, nq)
    ref = _mih_knn(index, q, k)
    del index
    gc.collect()
    idx, open_s = timed(lambda: hamsearch.load(directory, mmap=True))
    tables_mapped = idx.snapshot().views[0].seg.mih is not None
    first_s = timed(lambda: idx.search(q[:1], k))[1]
    for _ in range(2):
        idx.search(q, k)
    (D, I), warm_s = timed(lambda: idx.search(q, k))
    warm_s /= nq
    same = bool(np.array_equal(D, ref[0]) and np.array_equal(I, ref[1]))
    idx.verify()
    return {"save_s": save_s, "open_s": open_s, "first_s": first_s, "warm_s": warm_s,
            "tables_mapped": tables_mapped, "same_results": same}, idx


def run_table(args) -> int:
    import hamsearch

    hamsearch.set_num_threads(args.threads)
    print(f"# {machine_line()}; threads {args.threads}; n={args.n:,} x {args.nbits}-bit; "
          f"{time.strftime('%Y-%m-%d')}")
    ok = True
    for kind in args.data:
        src, index, info = build(kind, args.n, args.nbits, args.chunk, args.seed, args.m)
        print(f"\n## {kind}: m={info['m']}, build {info['build_s']:.1f} s (+ generation "
              f"{info['gen_s']:.1f} s), index {info['bytes_per_code']:.2f} B/code, resident "
              f"growth {info['rss_per_code']:.2f} B/code, peak RSS "
              f"{_peak_rss() / 2**30:.2f} GiB")
        if args.variants:
            from hamsearch.mih import state_nbytes

            variants = [variant_tables(index, v) for v in args.variants]
            seg = index.snapshot().views[0].seg
            for label, st, bs, desc in variants:
                bpc = (seg.codes.nbytes + state_nbytes(st)) / args.n
                took = info["build_s"] if bs is None else bs
                print(f"  {label}: {desc}, tables built in {took:.1f} s, index {bpc:.2f} B/code")
            head, rows_, exact = variants_table(index, src, variants, args.ks, args.nq,
                                                args.flat_nq)
            del variants
            ok &= exact
            print_table(head, rows_)
        else:
            rows_, exact = table(index, src, args.ks, args.nq, args.flat_nq)
            ok &= exact
            print_table(["k", "MIH ms/q", "flat ms/q", "speed-up", "1-query flat ms",
                         "speed-up (1-query)", "paper (T3)", "fallback",
                         "auto", "MIH == flat"], rows_)
        if args.dir:
            d = os.path.join(args.dir, f"{kind}-{args.n}-{args.nbits}")
            shutil.rmtree(d, ignore_errors=True)
            holder = [index]
            del index
            r, index = reopen(holder, d, src)
            print(f"save {r['save_s']:.1f} s; load(mmap=True) {r['open_s'] * 1e3:.1f} ms "
                  f"(tables mapped: {r['tables_mapped']}); first query "
                  f"{r['first_s'] * 1e3:.1f} ms; warm {r['warm_s'] * 1e3:.3f} ms/q (k=10); "
                  f"same results: {r['same_results']}")
            ok &= r["same_results"]
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
        del index
        gc.collect()
    print(f"\nrecall 1.0 (MIH == flat, ids and distances, every sampled query): "
          f"{'yes' if ok else 'NO'}")
    return 0 if ok else 1


def run_scaling(args) -> int:
    import hamsearch

    hamsearch.set_num_threads(args.threads)
    ns = [10**e for e in range(6, 10) if 10**e <= args.max_n]
    print(f"# {machine_line()}; threads {args.threads}; {args.nbits}-bit; "
          f"{time.strftime('%Y-%m-%d')}")
    curves = {}
    for kind in args.data:
        pts = []
        for n in ns:
            src, index, info = build(kind, n, args.nbits, args.chunk, args.seed)
            r, _ = table(index, src, [args.scaling_k], args.nq, args.flat_nq)
            mih_ms, flat_ms = float(r[0][1]), float(r[0][2])
            pts.append((n, mih_ms, flat_ms, r[0][6], info["bytes_per_code"], r[0][7]))
            del index
            gc.collect()
        curves[kind] = pts
        print(f"\n## {kind}, k={args.scaling_k}")
        print_table(["n", "m", "MIH ms/q", "flat ms/q", "speed-up", "auto", "B/code", "exact"],
                    [[f"{n:,}", hamsearch.mih.choose_m(args.nbits, n), f"{a:.3f}", f"{b:.1f}",
                      f"{b / a:.0f}x", au, f"{bpc:.2f}", ex]
                     for n, a, b, au, bpc, ex in pts])
    if args.scaling:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for kind, pts in curves.items():
            n = [p[0] for p in pts]
            ax.loglog(n, [p[1] for p in pts], "o-", label=f"MIH ({kind})")
            ax.loglog(n, [p[2] for p in pts], "s--", label=f"flat ({kind})")
            for p in pts:
                ax.annotate(p[3], (p[0], p[1]), fontsize=7, textcoords="offset points",
                            xytext=(0, 6))
        ax.set_xlabel("codes n")
        ax.set_ylabel(f"ms per query (k={args.scaling_k}, 1 thread)")
        ax.set_title(f"{args.nbits}-bit: MIH vs flat (labels: auto's choice)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.scaling, dpi=120)
        print(f"\nplot written to {args.scaling}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--nbits", type=int, default=64)
    p.add_argument("--data", default="clustered,lsh")
    p.add_argument("--ks", default="1,10,100,1000")
    p.add_argument("--nq", type=int, default=100, help="queries timed with MIH")
    p.add_argument("--flat-nq", type=int, default=10,
                   help="queries timed with the flat scan (one batch) and checked")
    p.add_argument("--chunk", type=int, default=1 << 20, help="rows generated per chunk")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", default=None,
                   help="save each index under this directory and re-open it with mmap")
    p.add_argument("--keep", action="store_true", help="keep the saved directories")
    p.add_argument("--m", type=int, default=None,
                   help="substrings of the index's own tables (default: the build's choice, "
                        "AutoRule.pick_m); e.g. 2 to measure the other candidate at 10^9, "
                        "where the tables of both do not fit beside each other")
    p.add_argument("--variants", default="",
                   help="comma-separated tables to compare over the same codes, same "
                        "queries: auto (the index's own), mN (N substrings), mN-KIND "
                        "(KIND: dense, sparse, hash); e.g. auto,m3")
    p.add_argument("--scaling", nargs="?", const="", default=None, metavar="PNG",
                   help="scaling run n = 10^6 .. --max-n (plot written to PNG if given)")
    p.add_argument("--max-n", type=int, default=10**8)
    p.add_argument("--scaling-k", type=int, default=10)
    args = p.parse_args(argv)
    args.data = [d for d in args.data.split(",") if d]
    args.ks = [int(k) for k in args.ks.split(",")]
    args.variants = [v for v in args.variants.split(",") if v]
    for d in args.data:
        if d not in SOURCES:
            p.error(f"--data: unknown {d!r} (choose from {sorted(SOURCES)})")
    if args.scaling is not None:
        return run_scaling(args)
    return run_table(args)


if __name__ == "__main__":
    sys.exit(main())
