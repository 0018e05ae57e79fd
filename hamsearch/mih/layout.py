"""Substring layout of multi-index tables: widths, kinds, the choice of ``m``.

How a code is cut into ``m`` substrings (:func:`substring_layout`, the
first ``nbits % m`` one bit wider), how many substrings ``n`` codes get
(:func:`choose_m`, :func:`paper_m`), which kind of table a substring width
gets (:func:`table_kind`: dense, sparse or hash; :data:`FORCE_KIND`
overrides it -- patch it here) and the substring keys themselves
(:func:`extract_substring`).  Pure functions of the layout; the tables are
built by :mod:`hamsearch.mih.build`.
"""

from __future__ import annotations

import math

import numpy as np

#: Tables are dense while ``2**b <= DENSE_FACTOR * n + DENSE_SLACK``.
DENSE_FACTOR = 8
DENSE_SLACK = 4096
#: and while their offsets stay within 1 GiB (``2**28`` int32 buckets): the
#: 32-bit substrings of 10^9 codes (m = 2 at 64 bits) would otherwise get
#: 16 GiB of dense offsets per table (17 B/code) where a sparse table costs
#: 1 B/code of suffixes plus 64 MiB.
MAX_DENSE_BITS = 28
MAX_SUBSTRING_BITS = 32
#: Suffix bits stored per entry of a sparse table (one byte).
SUFFIX_BITS = 8
#: ``meta[j, 0]`` of a dense / sparse table (``csrc/mih.h``); a hash table's is
#: its capacity - 1.
KIND_DENSE = -1
KIND_SPARSE = -2
TABLE_KINDS = ("dense", "sparse", "hash")
#: Forces the kind of every table built (tests and benchmarks); None: :func:`table_kind`.
FORCE_KIND = None


def suffix_bits(b: int) -> int:
    """Suffix bits of a sparse table over ``b``-bit substrings (``b >= 2``)."""
    return min(SUFFIX_BITS, int(b) - 1)


def table_kind(b: int, n: int, kind=None) -> str:
    """The kind of a table over ``b``-bit substrings of ``n`` codes.

    ``"dense"`` while ``2**b <= DENSE_FACTOR * n + DENSE_SLACK`` and
    ``b <= MAX_DENSE_BITS`` (28); ``"sparse"`` while the top ``b - 8`` bits
    meet the first bound; else ``"hash"``.  ``kind`` (or :data:`FORCE_KIND`) overrides the choice
    (a sparse table needs ``b >= 2``: a 1-bit one is dense).
    """
    kind = kind if kind is not None else FORCE_KIND
    b = int(b)
    if kind is not None:
        if kind not in TABLE_KINDS:
            raise ValueError(f"table kind must be one of {TABLE_KINDS}, got {kind!r}")
        return "dense" if kind == "sparse" and b < 2 else kind
    limit = DENSE_FACTOR * int(n) + DENSE_SLACK
    if (1 << b) <= limit and b <= MAX_DENSE_BITS:
        return "dense"
    if b > SUFFIX_BITS and (1 << (b - SUFFIX_BITS)) <= limit:
        return "sparse"
    return "hash"


#: Least substring width of :func:`choose_m` for codes of more than 256 bits.
WIDE_SUBSTRING_BITS = 24


def paper_m(nbits: int, n: int) -> int:
    """The paper's ``m = nbits / log2(n)`` rounded to the nearest integer
    (Norouzi et al.: 2 for 10^8 to 10^9 64-bit codes), clamped as
    :func:`choose_m`; never above :func:`choose_m`."""
    lg = math.log2(max(int(n), 4))
    m = int(math.floor(nbits / lg + 0.5))
    lo = -(-nbits // MAX_SUBSTRING_BITS)
    return min(choose_m(nbits, n), max(lo, min(nbits, max(1, m))))


def choose_m(nbits: int, n: int) -> int:
    """Number of substrings for ``n`` codes of ``nbits`` bits.

    Parameters
    ----------
    nbits : int
        Code length.
    n : int
        Number of codes.

    Returns
    -------
    int
        ``ceil(nbits / log2(n))`` clamped to ``[ceil(nbits / 32), nbits]``;
        codes longer than 256 bits get substrings of at least
        ``WIDE_SUBSTRING_BITS`` (24) bits.

    Notes
    -----
    The paper's rule ``nbits / log2(n)`` balances a substring's buckets
    against the codes, but past 256 bits it makes so many tables (117 for
    200k 2048-bit codes) that probing them and de-duplicating each
    candidate against every table costs more than the larger buckets of
    fewer, wider substrings save.  Measured exact 10-NN, 200 near-duplicate
    queries (1000 centres, flip 0.02), 1 thread, Zen 5: 200k x 512 bits
    7.0 ms at m = 30 (17-bit) vs 4.9 ms at m = 22 (24-bit); 1024 bits 20.4
    vs 14.0 ms (m = 59 / 43); 2048 bits 44.7 vs 37.0 ms (m = 117 / 86);
    1M x 512 bits 24.3 vs 11.6 ms (m = 26 / 22); flip 0.05: 512 bits 14.2
    vs 10.9 ms, 1024 bits 34.0 vs 23.9 ms.  From 2^24 codes on the paper's
    rule gives 24 bits or more anyway.  64-256-bit codes keep the paper's
    rule.
    """
    lg = math.log2(max(int(n), 4))
    m = int(math.ceil(nbits / lg))
    if nbits > 256:
        m = min(m, -(-nbits // WIDE_SUBSTRING_BITS))
    return max(-(-nbits // MAX_SUBSTRING_BITS), min(nbits, max(1, m)))


def substring_layout(nbits: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Start bit and length of each substring (the first ``nbits % m`` are wider).

    Returns
    -------
    starts, lengths : ndarray of int32, shape (m,)
    """
    base, extra = divmod(nbits, m)
    lengths = np.array([base + 1] * extra + [base] * (m - extra), dtype=np.int32)
    starts = np.zeros(m, dtype=np.int32)
    starts[1:] = np.cumsum(lengths)[:-1]
    return starts, lengths


def _check_m(nbits: int, m) -> int | None:
    if m is None:
        return None
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"m must be an int or None, got {type(m).__name__}")
    lo = -(-nbits // MAX_SUBSTRING_BITS)
    if not lo <= m <= nbits:
        raise ValueError(
            f"m must be in [{lo}, {nbits}] for {nbits}-bit codes (substrings of 1 to "
            f"{MAX_SUBSTRING_BITS} bits), got {m}"
        )
    return int(m)


def extract_substring(codes: np.ndarray, start: int, length: int) -> np.ndarray:
    """Bits ``start .. start+length-1`` of each code row, as uint32 keys."""
    wi, sh = divmod(int(start), 64)
    v = codes[:, wi] >> np.uint64(sh)
    if sh + length > 64:
        v = v | (codes[:, wi + 1] << np.uint64(64 - sh))
    return (v & np.uint64((1 << int(length)) - 1)).astype(np.uint32)


def kind_names(meta) -> list[str]:
    """The kind of each table of a segment's ``meta``."""
    return ["dense" if h == KIND_DENSE else "sparse" if h == KIND_SPARSE else "hash"
            for h in meta[:, 0]]
