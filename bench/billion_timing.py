"""The timings of ``bench.billion``: a streamed MIH build, MIH vs the flat scan, the re-open.

:func:`build` streams seeded codes (:mod:`bench.billion_codes`) into one
index; :func:`table` times MIH and the flat scan for each k and checks
that MIH returns the scan's ids and distances; :func:`variants_table` does
the same for other tables over the same codes; :func:`reopen` times the
save and the ``mmap=True`` load.  Times are seconds of one thread's work
(the caller pins the thread count).
"""

from __future__ import annotations

import gc
from functools import partial

import numpy as np

from ._common import timed
from .billion_codes import SOURCES, chunks, queries

#: Norouzi et al., TPAMI 2014, Table 3: speed-up of MIH over linear scan
#: on 1B LSH codes of SIFT, k = 1, 10, 100, 1000.
PAPER_SPEEDUP = {64: {1: 788, 10: 750, 100: 570, 1000: 317},
                 128: {1: 826, 10: 472, 100: 237, 1000: 103},
                 256: {1: 284, 10: 138, 100: 68, 1000: 31}}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def peak_rss() -> int:
    """The process's peak resident memory so far (bytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build(kind: str, n: int, nbits: int, chunk: int, seed: int, m: int | None = None,
          workers: int = 1):
    """Stream ``n`` seeded codes of ``kind`` into one MIH index.

    Returns
    -------
    source
        The code source (for the queries).
    index : hamsearch.Index
        One sealed segment, ids as a range, no inline codes.
    info : dict
        ``build_s`` (without the generation), ``gen_s``, ``bytes_per_code``
        (what the index holds), ``rss_per_code`` (growth of the resident
        memory) and ``m``.
    """
    import hamsearch

    src = SOURCES[kind](nbits, seed)
    gen_s = [0.0]
    rss0 = _rss()
    index, total = timed(lambda: hamsearch.Index.from_chunks(
        chunks(src, n, chunk, timer=gen_s, workers=workers), nbits, n=n, method="mih", m=m,
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
    build_s = timed(partial(t.sync, seg.codes, None))[1]
    st = t._state
    return spec, st, build_s, f"m={st.m} {'/'.join(mih.kind_names(st.main[0]))}"


def _auto_prefers_mih(index, k) -> bool:
    view = index.snapshot().views[0]
    p = index.planner
    return p.rule.prefer_mih(view.codes, index.nbits, index.m, False, k=k, holder=view.seg)


def table(index, src, ks, nq: int, flat_nq: int, single_nq: int = 5):
    """Rows of the side-by-side table, and whether every sample was exact.

    The flat scan is timed twice: one batch of ``flat_nq`` queries (its best
    case: the batch shares each pass over the codes) and ``single_nq``
    one-query calls, their median (the paper's baseline: a linear scan per
    query)."""
    q = queries(src, max(nq, flat_nq))
    out, exact_all = [], True
    _mih_knn(index, q[:nq], ks[0])  # warm the tables and the codes
    for k in ks:
        _mih_knn(index, q[:1], k)
        mih_s = timed(partial(_mih_knn, index, q[:nq], k))[1] / nq
        stats = index.planner.last_mih_stats
        fb = float(stats[:, 2].mean()) if stats is not None else float("nan")
        (Df, If), flat_s = timed(partial(_flat_knn, index, q[:flat_nq], k))
        flat_s /= flat_nq
        single_s = float(np.median([timed(partial(_flat_knn, index, q[i : i + 1], k))[1]
                                    for i in range(max(1, min(single_nq, len(q))))]))
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
        (Df, If), flat_s = timed(partial(_flat_knn, index, q[:flat_nq], k))
        flat_s /= flat_nq
        row = [k, f"{flat_s * 1e3:.1f}"]
        for _, st, _, _ in variants:
            _mih_knn(index, q[:1], k, st)
            mih_s = timed(partial(_mih_knn, index, q[:nq], k, st))[1] / nq
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
    save_s = timed(partial(index.save, directory, directory=True))[1]
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

