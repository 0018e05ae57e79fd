"""``method="auto"``: flat scan or MIH?  The cost model and its constants.

:class:`AutoRule` predicts the cost of one query by MIH and by the flat
scan from a sample of the stored codes, and picks the number of
substrings of a sealed segment (:meth:`AutoRule.pick_m`).  Its constants
(``COST_*``, :data:`FLAT_WORD_COST`, :data:`MIH_COST_FACTOR`) were fitted
with ``bench.auto_rule``; :func:`cost_constants` lists them for
``hamsearch info``.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import kernels
from .layout import choose_m, extract_substring, paper_m, substring_layout, suffix_bits, table_kind

#: Below this many codes ``auto`` always scans.
AUTO_MIN_N = 20_000
#: Cost model constants, in units of one code word of the AVX2 flat scan,
#: fitted to 48 measured (data, k or radius, ISA) points: 1M ITQ codes of
#: Fashion-MNIST at 64 and 128 bits and 1M clustered 64-bit codes, k in
#: {1, 10, 100}, radius in {2, 4, 8, 12, 16}, the avx512-vpopcntdq and avx2
#: kernels (see ``docs/benchmarks.md``).
COST_PROBE = 16.0  # dense offsets small enough for L2 (<= CACHED_TABLE_BITS)
COST_PROBE_UNCACHED = 63.0
#: A bucket visit of a sparse table: prefix offsets, suffix bytes and row
#: numbers, each a random access, overlapped 32 at a time (measured 45-50
#: on 10^7 LSH-like 64-bit codes at m = 2, k = 1 and 10, avx512-vpopcntdq).
COST_PROBE_SPARSE = 50.0
#: ``k`` of the query :meth:`AutoRule.pick_m` weighs m for.
PICK_M_K = 10
CACHED_TABLE_BITS = 17
COST_VERIFY_WORD = 8.7  # a candidate verified from the inline codes, per word
COST_VERIFY_RANDOM = 40.0  # a candidate verified by a random access into the codes
COST_HIT_PER_TABLE = 394.0  # a result found by MIH, per substring (de-duplication)
COST_HIT_FLAT = 2000.0  # a result found by the flat scan (collection)
#: Flat scan cost per code word of each kernel, relative to AVX2 (measured
#: with ``bench.compare_flat``-like runs: 1M x 128-bit k-NN).
FLAT_WORD_COST = {"avx512-vpopcntdq": 0.4, "avx512": 0.6, "avx2": 1.0, "popcnt": 1.5,
                  "portable": 5.0, "numba": 1.0}
#: MIH must be predicted this much cheaper than the scan.
AUTO_MARGIN = 0.8
_SAMPLE_QUERIES = 32
_SAMPLE_CODES = 8192


#: The MIH costs above are the C kernel's; another backend's MIH costs this
#: many times as much.  Numba: 1 -- measured with ``bench.auto_rule`` (1M
#: clustered 64-bit and Fashion ITQ 128-bit codes) after the Numba MIH kernel
#: stopped counting references in its loops, auto then ran the better method
#: or one within 0.87x of it at every point, and a larger factor turned
#: clustered r=12 (MIH 1.4x faster) to the scan.
MIH_COST_FACTOR = {"c": 1.0, "numba": 1.0}


def _backend_keys() -> tuple[str, str]:
    name = kernels().NAME
    return ("c", name[2:]) if name.startswith("c-") else (name, name)


def flat_word_cost() -> float:
    """:data:`FLAT_WORD_COST` of the kernels in use."""
    return FLAT_WORD_COST.get(_backend_keys()[1], 1.0)


def mih_cost_factor() -> float:
    """:data:`MIH_COST_FACTOR` of the backend in use."""
    return MIH_COST_FACTOR.get(_backend_keys()[0], 1.0)


def cost_constants() -> dict:
    """The cost model's constants for the kernels in use (``hamsearch info``)."""
    return {"flat_word_cost": flat_word_cost(), "mih_cost_factor": mih_cost_factor(),
            "probe": COST_PROBE, "probe_uncached": COST_PROBE_UNCACHED,
            "probe_sparse": COST_PROBE_SPARSE,
            "verify_word": COST_VERIFY_WORD, "verify_random": COST_VERIFY_RANDOM,
            "hit_per_table": COST_HIT_PER_TABLE, "hit_flat": COST_HIT_FLAT,
            "margin": AUTO_MARGIN}


class AutoRule:
    """Decides between the flat scan and MIH for ``Index(method="auto")``.

    The rule, for ``n`` codes of ``w`` words and ``m`` substrings of
    lengths ``b_j``:

    1. ``n < AUTO_MIN_N`` (20,000): flat.
    2. Estimate the distance ``d`` the search must reach: the radius for a
       radius search; for k-NN, the ``k / n`` quantile of the distances
       between 32 stored codes and 8,192 others (a sample drawn once per
       doubling of ``n``, per segment; queries are assumed to look like the
       database).  The results per query ``H``: ``k``, or ``n`` times the
       sampled fraction of pairs within the radius.
    3. Predicted MIH cost, with ``s = floor(d / m)``: probes
       ``P = sum_j sum_{i <= s} C(b_j, i)``, verified codes
       ``V = n * m * F(s)`` (``F``: sampled fraction of substring pairs
       within ``s``), ``cost = p P + c V + 394 m H`` with ``p = 16`` while
       the dense offsets fit in L2 (``b <= 17``) else 63, ``c = 8.7 w``
       (inline codes) or 40 (random access); sparse tables (the 32-bit
       substrings of 10^7+ codes): ``P`` counts prefix-bucket visits
       (``sum_{s' <= s} sum_h C(b - 8, h)``, ``s' - 8 <= h <= s'``), ``p =
       50``, and ``V`` grows by the suffix matches of other keys,
       ``P n / 2**b``.  Flat cost: ``f n w + 2000 H``
       with ``f`` the kernel's cost per word (:data:`FLAT_WORD_COST`: 0.4
       for avx512-vpopcntdq, 1 for avx2).
    4. MIH when its predicted cost is below 0.8 times the flat cost.

    The constants were fitted (least squares on the log of the speed
    ratio) to 48 measured points on a 2-core x86-64 machine: 1M ITQ codes
    of Fashion-MNIST (64 and 128 bits) and 1M clustered 64-bit codes, k-NN
    and radius searches, the avx512-vpopcntdq and avx2 kernels.  Whatever
    the choice, results are identical; MIH queries that overrun their work
    budget finish with a scan anyway.
    """

    def __init__(self):
        # (n sampled, sorted sampled distances, substring-distance CDF): one
        # tuple replaced whole, so concurrent searches never mix two samples
        self._sampled = None

    def _sample(self, codes, lengths, starts, holder=None):
        """``(n, sorted sampled distances, substring-distance CDF)`` for the
        substring layout ``(starts, lengths)`` (its first substring).  The
        sample (and one CDF per substring) is drawn once per doubling of
        ``n`` and cached whole in the holder."""
        n = codes.shape[0]
        cur = self._sampled if holder is None else holder.sample
        if cur is None or not (cur[0] / 2 <= n <= 2 * cur[0]) or len(cur) != 5:
            rng = np.random.default_rng(n)
            nq = min(_SAMPLE_QUERIES, n // 2)
            pick = rng.choice(n, size=min(n, nq + _SAMPLE_CODES), replace=False)
            q, db = codes[pick[:nq]], codes[pick[nq:]]
            dists = np.sort(kernels().hamming_matrix(
                np.ascontiguousarray(q), np.ascontiguousarray(db), 1).ravel())
            cur = (n, dists, {}, q, db)
        b0, s0 = int(lengths[0]), int(starts[0])
        cdf = cur[2].get((s0, b0))
        if cdf is None:
            kq = extract_substring(cur[3], s0, b0)
            kd = extract_substring(cur[4], s0, b0)
            sub = np.bitwise_count(kq[:, None] ^ kd[None, :]).ravel()
            cdf = np.bincount(sub, minlength=b0 + 1).cumsum() / max(1, sub.size)
            cdfs = dict(cur[2])
            cdfs[(s0, b0)] = cdf
            cur = (cur[0], cur[1], cdfs, cur[3], cur[4])  # replaced whole
        if holder is None:
            self._sampled = cur
        else:
            holder.sample = cur
        return cur[0], cur[1], cdf

    def costs(self, codes, nbits: int, m: int, inline: bool, k=None, radius=None,
              holder=None):
        """Predicted ``(mih, flat)`` costs of one query (see the class
        docstring), or None when MIH is out of the question (``k >= n``)."""
        n, w = codes.shape[0], max(1, codes.shape[1])
        starts, lengths = substring_layout(nbits, m)
        _, dists, cdf = self._sample(codes, lengths, starts, holder)
        if radius is not None:
            d = int(radius)
            hits = n * float(np.searchsorted(dists, d, side="right")) / dists.size
        else:
            if k >= n:
                return None
            at = int(np.ceil(k / n * dists.size))
            d = int(dists[min(at, dists.size - 1)])
            hits = float(k)
        s = d // m
        kinds = [table_kind(int(b), n) for b in lengths]
        probes = 0
        for b, kind in zip(lengths, kinds):
            b = int(b)
            if kind == "sparse":  # bucket visits of the grouped enumeration
                sb = suffix_bits(b)
                probes += sum(math.comb(b - sb, h) for r in range(min(s, b) + 1)
                              for h in range(max(0, r - sb), min(r, b - sb) + 1))
            else:
                probes += sum(math.comb(b, i) for i in range(min(s, b) + 1))
        frac = float(cdf[min(s, len(cdf) - 1)])
        verified = n * m * frac
        if "sparse" in kinds:
            probe_cost = COST_PROBE_SPARSE
            # suffix matches of other keys (uniform keys: n / 2**b per probe)
            verified += probes * n / 2.0 ** float(max(lengths))
        elif max(lengths) <= CACHED_TABLE_BITS:
            probe_cost = COST_PROBE
        else:
            probe_cost = COST_PROBE_UNCACHED
        verify_cost = COST_VERIFY_WORD * w if inline else COST_VERIFY_RANDOM
        cost = mih_cost_factor() * (probe_cost * probes + verify_cost * verified
                                    + COST_HIT_PER_TABLE * m * hits)
        flat = flat_word_cost() * n * w + COST_HIT_FLAT * hits
        return cost, flat

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
