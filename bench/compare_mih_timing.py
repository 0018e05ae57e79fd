"""The timings of ``bench.compare_mih``: every engine on one code set, and k-NN vs n.

:func:`run_case` builds hamsearch's MIH and flat indexes and the FAISS
peers asked for over one code set, checks MIH against the flat scan, and
times k-NN and radius queries; :func:`scaling_point` times k = 10 at one
database size.  Figures are queries per second, the best of ``repeats``
after a warm-up call (:func:`bench._common.best_time`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ._common import best_time, timed
from .compare_mih_data import make_data

KS = (1, 10, 100)
RADII = (2, 4, 8, 16)
#: tie-aware recall@10 an approximate FAISS index must reach at its smallest nflip
RECALL_TARGET = 0.99


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def tie_aware_recall(true_d: np.ndarray, dbw: np.ndarray, qw: np.ndarray, I: np.ndarray,
                     k: int) -> float:
    """Mean over queries of |returned items within the true k-th distance| / k.

    Parameters
    ----------
    true_d : ndarray
        Exact k-NN distances, ``(nq, >= k)``.
    dbw, qw : ndarray of uint64
        Database and query codes as words.
    I : ndarray
        The ids an engine returned (row numbers; ``-1`` pads).
    k : int

    Returns
    -------
    float
    """
    import hamsearch

    kth = true_d[:, k - 1]
    hits = 0
    for i in range(len(qw)):
        ids = I[i, :k]
        ids = ids[ids >= 0]
        if len(ids):
            d = hamsearch.hamming_distances(qw[i : i + 1], dbw[ids], qw.shape[1] * 64)[0]
            hits += int((d <= kth[i]).sum())
    return hits / (k * len(qw))


class Timer:
    """Queries per second of a search call: the best of ``repeats`` runs."""

    def __init__(self, repeats: int):
        self.repeats = repeats

    def qps(self, fn: Callable[[], Any], nq: int) -> float:
        """``nq`` over the best time of ``fn()``."""
        # the warm-up call also compiles Numba kernels
        return nq / best_time(fn, self.repeats, warmup=True)


def _built(index, db):
    """``index`` after ``index.add(db)`` (what a build timing measures)."""
    index.add(db)
    return index


@dataclass
class _Case:
    """What every engine of one code set is timed and checked with."""

    q: np.ndarray  # the queries, packed
    qw: np.ndarray  # the queries and the database as words (for the recall)
    dbw: np.ndarray
    exact_d10: np.ndarray  # the exact 10-NN distances
    timer: Timer
    radii: list


def _time_queries(R: dict, index, case: _Case, strict: bool) -> None:
    """k-NN for every k of :data:`KS` and range search for every radius into ``R``
    (``k1``, ``r4``, ...); ``strict``: FAISS's range search (``< radius``) gets
    ``radius + 1``, so every engine returns the codes within the radius."""
    q, nq = case.q, len(case.q)
    for k in KS:
        R[f"k{k}"] = case.timer.qps(partial(index.search, q, k), nq)
    for r in case.radii:
        R[f"r{r}"] = case.timer.qps(partial(index.range_search, q, r + 1 if strict else r), nq)


def _hash_peer(R: dict, make: Callable[[], Any], db: np.ndarray, nflips, case: _Case) -> None:
    """An approximate FAISS hash index (``make()``) over ``db``: its build, its
    memory (the growth of the resident set while it builds), then timed at
    the smallest nflip whose tie-aware recall@10 reaches :data:`RECALL_TARGET`
    (or the largest tried)."""
    r0 = _rss()
    index, build = timed(lambda: _built(make(), db))
    R["build"], R["bpc"] = build, max(0, _rss() - r0) / len(db)
    chosen = None
    for nflip in nflips:
        index.nflip = nflip
        _, I = index.search(case.q, 10)
        rec = tie_aware_recall(case.exact_d10, case.dbw, case.qw, I, 10)
        chosen = (nflip, rec)
        if rec >= RECALL_TARGET:
            break
    index.nflip = chosen[0]
    R["recall10"] = chosen[1]
    R["note"] = f"nflip={chosen[0]}"
    _time_queries(R, index, case, strict=True)


def _ivf(faiss, nbits: int, db: np.ndarray):
    """``IndexBinaryIVF`` with 1024 lists (trained on 50,000 codes), nprobe 16,
    and its quantizer (kept alive beside it)."""
    n = len(db)
    quant = faiss.IndexBinaryFlat(nbits)
    ivf = faiss.IndexBinaryIVF(quant, nbits, 1024)
    rng = np.random.default_rng(0)
    ivf.train(db[rng.choice(n, size=min(n, 50_000), replace=False)])
    ivf.add(db)
    ivf.nprobe = 16
    return quant, ivf


def run_case(args, faiss, kind: str, nbits: int, n: int, timer: Timer):
    """Every engine of ``args.peers`` over one code set, timed.

    Returns
    -------
    rows : dict
        Per engine, in table order: ``build`` (s), ``bpc`` (bytes per code),
        ``k<k>`` and ``r<r>`` queries/s, ``recall10`` and ``note`` where they
        apply; the MIH row also has auto's ``plans`` and their text (``auto``).
    stats : dict
        Per k, MIH's mean probes, codes verified and share of queries that
        fell back to a scan.
    mih : hamsearch.Index
        The MIH index (its segments are printed).
    """
    import hamsearch

    db, q = make_data(kind, n, args.nq, nbits, centres=args.centres)
    nq = len(q)
    rows = {}

    def row(name):
        return rows.setdefault(name, {"build": float("nan"), "bpc": float("nan")})

    # --- hamsearch MIH, checked against the flat scan
    mih, build = timed(lambda: _built(hamsearch.Index(nbits, method="mih"), db))
    R = row("hamsearch MIH")
    R["build"], R["bpc"] = build, mih.nbytes / n  # codes, ids and tables
    R["note"] = f"m={mih.m}"
    flat = hamsearch.Index(nbits, method="flat")
    flat.add(db)
    row("hamsearch flat")["bpc"] = flat.nbytes / n
    row("hamsearch flat")["build"] = 0.0
    exact = {k: flat.search(q, k) for k in KS}
    case = _Case(q, hamsearch.codes.as_words(q, nbits, "q"), flat.codes, exact[10][0], timer,
                 args.radius)
    stats = {}
    for k in KS:
        rows["hamsearch MIH"][f"k{k}"] = timer.qps(partial(mih.search, q, k), nq)
        st = mih.planner.last_mih_stats
        stats[k] = (st[:, 0].mean(), st[:, 1].mean(), st[:, 2].mean())
        D, I = mih.search(q, k)
        assert (D == exact[k][0]).all() and (I == exact[k][1]).all(), "MIH differs from flat"
        rows["hamsearch flat"][f"k{k}"] = timer.qps(partial(flat.search, q, k), nq)
    for r in args.radius:
        rows["hamsearch MIH"][f"r{r}"] = timer.qps(partial(mih.range_search, q, r), nq)
        rows["hamsearch flat"][f"r{r}"] = timer.qps(partial(flat.range_search, q, r), nq)

    # --- FAISS
    if "faiss-flat" in args.peers:
        R = row("faiss BinaryFlat")
        fi, R["build"] = timed(lambda: _built(faiss.IndexBinaryFlat(nbits), db))
        R["bpc"] = nbits / 8
        _time_queries(R, fi, case, strict=True)
        del fi
    nhash = max(1, nbits // 16)
    for peer, name, make in (
            ("faiss-mhash", f"faiss MultiHash({nhash}x16)",
             partial(faiss.IndexBinaryMultiHash, nbits, nhash, 16)),
            ("faiss-hash", f"faiss BinaryHash(b={args.hash_bits})",
             partial(faiss.IndexBinaryHash, nbits, args.hash_bits))):
        if peer in args.peers:
            _hash_peer(row(name), make, db, args.nflips, case)
    if "faiss-ivf" in args.peers:
        R = row("faiss IVF1024 np16")
        (quant, ivf), R["build"] = timed(lambda: _ivf(faiss, nbits, db))
        R["bpc"] = nbits / 8 + 8
        _, I = ivf.search(q, 10)
        R["recall10"] = tie_aware_recall(case.exact_d10, case.dbw, case.qw, I, 10)
        R["note"] = "approximate"
        _time_queries(R, ivf, case, strict=True)
        del ivf, quant
    plans = auto_plans(mih, args.radius)
    rows["hamsearch MIH"]["plans"] = plans
    rows["hamsearch MIH"]["auto"] = " ".join(f"{key[0]}={key[1:]}:{v}"
                                             for key, v in plans.items())
    return rows, stats, mih


def auto_plans(index, radii) -> dict:
    """What ``method="auto"`` would run for each k and radius on these codes:
    ``{"k10": "flat", "r4": "mih", ...}``."""
    import hamsearch

    auto = hamsearch.Index(index.nbits, method="auto")
    auto.add(index.codes, ids=index.ids)
    out = {f"k{k}": auto.plan(k=k) for k in KS}
    out.update({f"r{r}": auto.plan(radius=r) for r in radii})
    return out


def records(kind: str, nbits: int, rows: dict, plans: dict) -> list[dict]:
    """One record per query type: MIH and flat queries/s and auto's pick
    (what ``--json`` writes and ``--backend`` compares)."""
    out = []
    for key, pick in plans.items():
        out.append({"data": kind, "nbits": nbits, "query": key, "auto": pick,
                    "mih": rows["hamsearch MIH"][key], "flat": rows["hamsearch flat"][key]})
    return out


def scaling_point(kind: str, n: int, nbits: int, args, faiss, timer: Timer) -> dict:
    """k-NN (k = 10) time per query of MIH, hamsearch flat and FAISS flat over
    ``n`` codes of one kind, with MIH's build; the indexes go when it returns
    (10M codes of each do not all fit at once)."""
    import hamsearch

    db, q = make_data(kind, n, args.nq, nbits, centres=args.centres)
    mih, build = timed(lambda: _built(hamsearch.Index(nbits, method="mih"), db))
    flat = hamsearch.Index(nbits, method="flat")
    flat.add(db)
    fi = faiss.IndexBinaryFlat(nbits)
    fi.add(db)
    return {"m": mih.m, "build": build, "bpc": mih.nbytes / n,
            "MIH": 1 / timer.qps(partial(mih.search, q, 10), len(q)),
            "hamsearch flat": 1 / timer.qps(partial(flat.search, q, 10), len(q)),
            "faiss flat": 1 / timer.qps(partial(fi.search, q, 10), len(q))}
