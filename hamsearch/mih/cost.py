"""``method="auto"``: flat scan or MIH?  The cost model.

:class:`AutoRule` predicts the cost of one query by MIH and by the flat
scan from a sample of the stored codes, and picks the number of
substrings of a sealed segment (:meth:`AutoRule.pick_m`).  The prices it
applies (:data:`BACKEND_COSTS`, one set per kernel backend, and
:data:`FLAT_WORD_COST`, fitted with ``bench.fit_auto``) and the pricing
functions live in :mod:`hamsearch.mih.pricing`; their names are re-exported
here.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._backend import kernels
from . import pricing as _pricing
from .layout import choose_m, extract_substring, paper_m, substring_layout, suffix_bits, table_kind

# the prices, re-exported (the rule calls them as _pricing.X, so a test's
# patch of hamsearch.mih.pricing reaches it too)
from .pricing import (  # noqa: F401
    AUTO_MARGIN, BACKEND_COSTS, BUDGET_FACTOR, FLAT_WORD_COST, KERNEL_PROBE_WORK,
    KERNEL_RANDOM_WORK, MIH_TERMS, backend_costs, cost_constants, costs_key, flat_word_cost,
    predicted_flat_cost, predicted_mih_costs, work_budget,
)

#: Below this many codes ``auto`` always scans.
AUTO_MIN_N = 20_000
#: ``k`` of the query :meth:`AutoRule.pick_m` weighs m for.
PICK_M_K = 10
CACHED_TABLE_BITS = 17
#: Codes larger than this are verified out of cache (``verify_random_dram``).
RANDOM_CACHED_BYTES = 8 << 20
#: k-NN distances are predicted per profiled query: the pooled ``k / n``
#: quantile shifted by that query's distance to its SHIFT_RANK-th nearest
#: sampled code minus the pooled quantile at that rank.
SHIFT_RANK = 4
#: The query profile: the first PROFILE_QUERIES query codes searched, at most
#: PROFILE_PER_CALL from one call; used once it holds PROFILE_MIN, and
#: republished (so plans are made again) each time it doubles.
PROFILE_QUERIES = 32
PROFILE_PER_CALL = 32
PROFILE_MIN = 8
_SAMPLE_QUERIES = 32
_SAMPLE_CODES = 8192



@functools.lru_cache(maxsize=4096)
def _level_probes(b: int, kind: str, r: int) -> int:
    """Probes of one table of ``b``-bit substrings at radius ``r``: its keys
    (``C(b, r)``), or for a sparse table the prefix buckets the grouped
    enumeration visits."""
    if kind == "sparse":
        sb = suffix_bits(b)
        return sum(math.comb(b - sb, h) for h in range(max(0, r - sb), min(r, b - sb) + 1))
    return math.comb(b, r)


class AutoRule:
    """Decides between the flat scan and MIH for ``Index(method="auto")``.

    The rule, for ``n`` codes of ``w`` words and ``m`` substrings of
    lengths ``b_j``:

    1. ``n < AUTO_MIN_N`` (20,000): flat.
    2. The *queries* of the model: the planner's profile (the first 32
       query codes searched, spread over the calls' queries; used once
       it holds 8, renewed at 16 and 32) or, before that, 32 stored
       codes; their distances to
       8,192 other stored codes (a sample drawn once per doubling of ``n``,
       per segment) and, per substring, the distances of their substrings.
       Estimate, per query, the distance ``d`` its search must reach: the
       radius for a radius search; for k-NN, the ``k / n`` quantile of the
       pooled distances, shifted by how far that query's 4th nearest
       sampled code lies from the pooled 4-in-8,192 quantile (a dense
       neighbourhood reaches its k-th neighbour sooner).  The results per
       query ``H``: ``k``, or ``n`` times the pooled fraction within the
       radius.
    3. Predicted MIH counts of each query, its tables' radii ``s_j``
       chosen as the kernels choose them: radius 0 of every table, then
       each next radius to the table whose next one is predicted cheapest
       (its last radius's work times ``(b_j - s_j) / (s_j + 1)``), ``d + 1``
       radii in all (the kernel stops once ``d < sum_j (s_j + 1)``; level
       order would give ``s_j = s`` for ``j <= d - s m`` and ``s - 1``
       after, ``s = floor(d / m)``), so probes ``P = sum_j sum_{i <= s_j}
       C(b_j, i)`` and verified codes ``V = n sum_j F_j(s_j)`` (``F_j``:
       that query's sampled fraction of substring-``j`` distances within
       ``s_j``), arranged as the terms of :data:`MIH_TERMS`: a probe
       is ``probe`` while the dense offsets fit in L2 (``b <= 17``), else
       ``probe_uncached``; a verified code ``verify_word`` per word (inline
       codes) or a random access into the codes, ``verify_random`` while
       they fit in 8 MiB and ``verify_random_dram`` beyond; sparse tables
       (the 32-bit substrings of 10^7+ codes): ``P`` counts prefix-bucket
       visits (``sum_{s' <= s} sum_h C(b - 8, h)``, ``s' - 8 <= h <= s'``),
       ``probe_sparse``, and ``V`` grows by the suffix matches of other
       keys, ``P n / 2**b``; ``m H`` times ``hit_per_table``.
    4. Its cost: the terms times the backend's constants
       (:data:`BACKEND_COSTS`), unless the kernel's own count of that work
       (:data:`KERNEL_PROBE_WORK`, :data:`KERNEL_RANDOM_WORK`) passes its
       budget (:func:`work_budget`): such a query pays the share done
       before the budget ran out and then the whole scan
       (:func:`predicted_mih_costs`).  MIH cost: the mean over the
       queries.  Flat cost (:func:`predicted_flat_cost`): ``f n w + c n +
       h H`` with ``f`` the scan's cost per word (the backend's
       ``flat_word``, else :data:`FLAT_WORD_COST`: 0.4 for
       avx512-vpopcntdq, 1 for avx2), ``c`` its cost per code
       (``flat_code``) and ``h`` a result's (``hit_knn`` for k-NN,
       ``hit_flat`` for a radius search).
    5. MIH when its predicted cost is below 0.8 times the flat cost.

    The constants of each backend were fitted with ``bench.fit_auto``
    (bounded least squares on the relative error of the kernel's measured
    time from its own counts, pulled towards the previous constants) to 40
    points on a 2-core AMD Zen 3 (AVX2): 1M ITQ codes of Fashion-MNIST (64,
    128 and 256 bits) and 1M clustered 64- and 256-bit codes, k-NN (k = 1,
    10, 100) and radius (2 to 16) searches.  Whatever the choice, results
    are identical; MIH queries that overrun their work budget finish with a
    scan anyway.
    """

    def __init__(self):
        # (n sampled, profile version, sorted pooled distances, per-query
        # sorted distances, substring-distance CDFs, query rows, codes): one
        # tuple replaced whole, so concurrent searches never mix two samples
        self._sampled = None
        # (version, the query codes the model uses): published at
        # PROFILE_MIN codes, then at each doubling of the ones collected
        self._profile = (0, None)
        self._collected = None  # up to PROFILE_QUERIES query codes seen

    @property
    def profile_version(self) -> int:
        """Bumped whenever :meth:`observe` changes the query profile (plans
        cached under an older version are planned again)."""
        return self._profile[0]

    def observe(self, queries) -> None:
        """Keep the first :data:`PROFILE_QUERIES` query codes searched (a
        few rows of each call, spread over it): the k-NN distances the model
        predicts are those of the queries the index is asked, which need not
        look like its rows (held-out images, for one).  The profile the model
        uses (and :attr:`profile_version`) changes at :data:`PROFILE_MIN`
        codes and at each doubling, so one-query callers cause a handful of
        new plans, not one per query.  ``queries``: code words (uint64, as
        the kernels take them); other arrays are ignored."""
        have = self._collected
        got = 0 if have is None else have.shape[0]
        if got >= PROFILE_QUERIES or queries is None or queries.shape[0] == 0 \
                or queries.dtype != np.uint64 or queries.ndim != 2:
            return
        take = min(PROFILE_QUERIES - got, queries.shape[0], PROFILE_PER_CALL)
        rows = np.linspace(0, queries.shape[0] - 1, take).astype(np.int64)
        new = np.ascontiguousarray(queries[rows], dtype=np.uint64)
        if have is not None:
            if have.shape[1] != new.shape[1]:
                return
            new = np.concatenate([have, new])
        self._collected = new  # replaced whole
        version, used = self._profile
        published = 0 if used is None else used.shape[0]
        if new.shape[0] >= max(PROFILE_MIN, 2 * published) or new.shape[0] >= PROFILE_QUERIES:
            self._profile = (version + 1, new)  # replaced whole: a new plan

    def _query_rows(self, db_rows):
        """The rows the model treats as queries: the profile once it holds
        :data:`PROFILE_MIN` queries, else rows of the segment."""
        version, prof = self._profile
        if prof is not None and prof.shape[0] >= PROFILE_MIN and prof.shape[1] == db_rows.shape[1]:
            return version, prof
        return -1, db_rows

    def _sample(self, codes, lengths, starts, holder=None):
        """``(n, sorted pooled distances, per-query sorted distances,
        substring-distance CDFs)`` for the substring layout ``(starts,
        lengths)`` (per substring, an array of one CDF per sampled query).  The codes sampled are drawn once
        per doubling of ``n`` and cached whole in the holder; the distances
        are recomputed when the query profile changes."""
        n = codes.shape[0]
        cur = self._sampled if holder is None else holder.sample
        if cur is None or not (cur[0] / 2 <= n <= 2 * cur[0]) or len(cur) != 7:
            rng = np.random.default_rng(n)
            nq = min(_SAMPLE_QUERIES, n // 2)
            pick = rng.choice(n, size=min(n, nq + _SAMPLE_CODES), replace=False)
            q, db = codes[pick[:nq]], codes[pick[nq:]]
            cur = (n, None, None, None, {}, np.ascontiguousarray(q), np.ascontiguousarray(db))
        version, q = self._query_rows(cur[5])
        if cur[1] != version:
            per = np.sort(kernels().hamming_matrix(q, cur[6], 1), axis=1)
            cur = (cur[0], version, np.sort(per.ravel()), per, {}, cur[5], cur[6])
        key = (tuple(int(x) for x in starts), tuple(int(x) for x in lengths))
        cdf = cur[4].get(key)
        if cdf is None:  # one CDF per substring: their spreads differ (ITQ bits)
            cdf = []
            for s0, b0 in zip(*key):
                kq = extract_substring(q, s0, b0)
                kd = extract_substring(cur[6], s0, b0)
                sub = np.bitwise_count(kq[:, None] ^ kd[None, :]).astype(np.int64)
                sub += (b0 + 1) * np.arange(sub.shape[0])[:, None]  # one histogram a query
                hist = np.bincount(sub.ravel(), minlength=(b0 + 1) * sub.shape[0])
                cdf.append(hist.reshape(sub.shape[0], b0 + 1).cumsum(axis=1)
                           / max(1, sub.shape[1]))
            cdfs = dict(cur[4])
            cdfs[key] = cdf
            cur = cur[:4] + (cdfs,) + cur[5:]  # replaced whole
        if holder is None:
            self._sampled = cur
        else:
            holder.sample = cur
        return cur[0], cur[2], cur[3], cdf

    def _mih_terms(self, n, w, m, lengths, kinds, cdf, d, hits, inline, codes_bytes):
        """The MIH cost terms (:data:`MIH_TERMS`) of each sampled query were
        its search to reach distance ``d`` (one for all, or one per query):
        an array ``(queries, terms)``."""
        # the kernels' order (csrc/mih_impl.h, search_one): radius 0 of
        # every table, then each next radius to the table whose next one is
        # predicted cheapest (its last radius's work x (len - r) / (r + 1));
        # a search that reaches distance d takes d + 1 radii in all (it
        # stops once d < sum_j (rad_j + 1)), or fewer when one table is
        # searched whole; each query's choices do not depend on its d, so
        # one pass serves every d, each query stopping at its own
        nq = cdf[0].shape[0]
        d = np.broadcast_to(np.asarray(d, dtype=np.int64), (nq,))
        unit = w if inline else KERNEL_RANDOM_WORK
        lens = np.array([int(b) for b in lengths], dtype=np.int64)
        cum = [n * c for c in cdf]  # codes within radius r of substring j, per query
        rad = np.full((nq, m), -1, dtype=np.int64)
        last = np.zeros((nq, m))
        probes = np.zeros(nq)
        verified = np.zeros(nq)
        live = np.ones(nq, dtype=bool)
        rows = np.arange(nq)
        for step in range(int(d.max(initial=-1)) + 1):
            live &= step <= d
            if step < m:
                pick = np.full(nq, step)
            else:
                # (rows still at radius -1 are queries already stopped)
                est = last * (lens - rad) / np.maximum(rad + 1, 1)
                cand = est <= est.min(axis=1, keepdims=True)
                rmin = np.where(cand, rad, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
                pick = (cand & (rad == rmin)).argmax(axis=1)
            for j in np.unique(pick[live]).tolist():
                at = rows[live & (pick == j)]
                b, kind = int(lens[j]), kinds[j]
                r = rad[at, j] + 1
                col = np.minimum(r, cum[j].shape[1] - 1)
                got = cum[j][at, col] - np.where(r > 0, cum[j][at, np.maximum(col - 1, 0)], 0)
                pr = np.array([_level_probes(b, kind, int(x)) for x in r], dtype=float)
                probes[at] += pr
                verified[at] += got
                last[at, j] = KERNEL_PROBE_WORK * pr + unit * got
                rad[at, j] = r
                live[at[r >= b]] = False  # table j searched whole: every code met
            if not live.any():
                break
        out = np.zeros((verified.size, len(MIH_TERMS)))
        if "sparse" in kinds:
            probe = "probe_sparse"
            # suffix matches of other keys (uniform keys: n / 2**b per probe)
            verified += probes * n / 2.0 ** float(max(lengths))
        elif max(lengths) <= CACHED_TABLE_BITS:
            probe = "probe"
        else:
            probe = "probe_uncached"
        out[:, MIH_TERMS.index(probe)] = probes
        if inline:
            out[:, MIH_TERMS.index("verify_word")] = verified * w
        elif codes_bytes > RANDOM_CACHED_BYTES:
            out[:, MIH_TERMS.index("verify_random_dram")] = verified
        else:
            out[:, MIH_TERMS.index("verify_random")] = verified
        out[:, MIH_TERMS.index("hit_per_table")] = m * hits
        return out

    def _query_terms(self, codes, nbits, m, inline, k, radius, holder):
        """``(MIH terms per query, flat words, results per query)``, or None
        when MIH is out of the question (``k >= n``)."""
        n, w = codes.shape[0], max(1, codes.shape[1])
        starts, lengths = substring_layout(nbits, m)
        _, dists, per, cdf = self._sample(codes, lengths, starts, holder)
        kinds = [table_kind(int(b), n) for b in lengths]
        args = (n, w, m, lengths, kinds, cdf)
        cb = n * w * 8
        if radius is not None:
            d = int(radius)
            hits = n * float(np.searchsorted(dists, d, side="right")) / dists.size
            return self._mih_terms(*args, d, hits, inline, cb), n * w, hits
        if k >= n:
            return None
        at = int(np.ceil(k / n * dists.size))
        d_pool = int(dists[min(at, dists.size - 1)])
        # per query: the pooled k-NN distance shifted by how far that query's
        # SHIFT_RANK-th nearest sampled code is from the pooled one
        t = min(SHIFT_RANK, per.shape[1]) - 1
        ref = int(dists[min((t + 1) * per.shape[0] - 1, dists.size - 1)])
        ds = np.clip(d_pool + per[:, t].astype(np.int64) - ref, 0, nbits)
        return self._mih_terms(*args, ds, float(k), inline, cb), n * w, float(k)

    def terms(self, codes, nbits: int, m: int, inline: bool, k=None, radius=None,
              holder=None):
        """The model's counts behind :meth:`costs` (for fitting its
        constants, ``bench.fit_auto``): a dict of each of :data:`MIH_TERMS`
        (the mean over the sampled queries), ``flat_words`` (``n w``) and
        ``hits`` (results per query), or None when ``k >= n``."""
        got = self._query_terms(codes, nbits, m, inline, k, radius, holder)
        if got is None:
            return None
        per, words, hits = got
        return {**dict(zip(MIH_TERMS, per.mean(axis=0).tolist())), "flat_words": float(words),
                "hits": float(hits)}

    def costs(self, codes, nbits: int, m: int, inline: bool, k=None, radius=None,
              holder=None):
        """Predicted ``(mih, flat)`` costs of one query (see the class
        docstring), or None when MIH is out of the question (``k >= n``)."""
        got = self._query_terms(codes, nbits, m, inline, k, radius, holder)
        if got is None:
            return None
        per, words, hits = got
        c = _pricing.backend_costs()
        flat = _pricing.predicted_flat_cost(words, hits, c, _pricing.flat_word_cost(),
                                            n=codes.shape[0], knn=radius is None)
        return float(_pricing.predicted_mih_costs(per, words, flat, c).mean()), float(flat)

    def prefer_mih(self, codes, nbits: int, m: int, inline: bool, k=None,
                   radius=None, holder=None) -> bool:
        """True when MIH is predicted clearly cheaper than a flat scan.

        Parameters
        ----------
        codes : ndarray of uint64, shape (n, w)
            The stored codes.
        nbits, m : int
            Code length and number of substrings MIH would use.
        inline : bool
            Whether the tables hold inline codes.
        k, radius : int, optional
            The k-NN ``k`` or the search radius (exactly one).
        holder : object, optional
            Where the sample of ``codes`` is cached (its ``sample``
            attribute: a segment); default: this rule.
        """
        if codes.shape[0] < AUTO_MIN_N:
            return False
        c = self.costs(codes, nbits, m, inline, k=k, radius=radius, holder=holder)
        return c is not None and c[0] < AUTO_MARGIN * c[1]

    def pick_m(self, codes, nbits: int, inline, holder=None, k: int = PICK_M_K) -> int:
        """Substrings for tables over ``codes``: :func:`choose_m`, or the
        paper's :func:`paper_m` (one fewer) when the cost model predicts it
        cheaper for a ``k``-NN query (default 10) on this sample; below
        ``AUTO_MIN_N`` codes always :func:`choose_m`.

        ``inline(m)`` says whether tables of ``m`` substrings would hold
        inline codes.
        """
        n = codes.shape[0]
        m0 = choose_m(nbits, n)
        m1 = paper_m(nbits, n)
        if m1 >= m0 or n < AUTO_MIN_N or k >= n:
            return m0
        c0 = self.costs(codes, nbits, m0, inline(m0), k=k, holder=holder)
        c1 = self.costs(codes, nbits, m1, inline(m1), k=k, holder=holder)
        return m1 if c1[0] < c0[0] else m0
