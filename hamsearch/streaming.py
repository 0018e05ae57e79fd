"""Building one large index from a stream of code chunks.

:func:`from_chunks` (also :meth:`hamsearch.Index.from_chunks`) turns an
iterable of code arrays -- generated or read chunk by chunk -- into an index
of one sealed segment with sequential ids and (unless ``method="flat"``) its
multi-index tables, with bounded extra memory:

* the codes are copied chunk by chunk into one array of the final size
  (given ``n``, nothing else is held; without it the converted chunks are
  kept until the end and each is released as soon as it has been copied,
  so at most the codes plus one chunk are resident: ``np.empty`` pages are
  only committed when written);
* the ids are the range ``0 .. n-1`` (stored as ``id_base``, no ids array);
* the tables are built by a two-pass counting sort per substring over
  chunks of the codes (:func:`hamsearch.mih.dense_offsets`; a sparse table
  counts the substrings' top bits, then scatters rows and suffix bytes):
  the only memory besides the tables' int32 row numbers (4 bytes per code
  per table), suffix bytes and bucket offsets is one copy of the offsets.

Memory per code of the result, ``w = ceil(nbits / 64)`` words and ``m``
substrings: ``8 w`` (codes) ``+ 4 m`` (row numbers) ``[+ 8 w m`` with
inline codes``]``, plus ``m`` offset arrays of ``2**(nbits/m)`` int32 (dense
tables), or one suffix byte per code and ``2**(nbits/m - 8)`` int32 offsets
per table (sparse tables: see :mod:`hamsearch.mih`).  For 10^8 to 10^9 x
64-bit codes the cost model picks the paper's m = 2 (two sparse 32-bit
tables): ``8 + 2 x 5`` bytes per code plus 2 x 64 MB of offsets, 18.1 bytes
per code at 10^9 with ``inline_codes=False`` (the default here), about 18 GB
(m = 3 dense: 20 bytes per code).  Saving it to a
directory writes the tables too (see :data:`hamsearch.directory.TABLES_MIN_ROWS`),
so ``hamsearch.load(dir, mmap=True)`` maps them instead of rebuilding.
"""

from __future__ import annotations

import numpy as np

from .codes import as_words, check_nbits, n_words
from .mih import build as mih_build
from .searchers import search_method
from .segment import Segment, SegmentView

__all__ = ["from_chunks"]


def _gather(chunks, nbits: int, n):
    w = n_words(nbits)
    if n is not None:
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        codes = np.empty((n, w), dtype=np.uint64)
        at = 0
        for chunk in chunks:
            words = as_words(chunk, nbits, "chunk")
            if at + words.shape[0] > n:
                raise ValueError(f"the chunks hold more than n={n} codes")
            codes[at : at + words.shape[0]] = words
            at += words.shape[0]
        if at != n:
            raise ValueError(f"the chunks hold {at} codes, n={n} was given")
        return codes
    parts = [as_words(chunk, nbits, "chunk") for chunk in chunks]
    total = sum(p.shape[0] for p in parts)
    codes = np.empty((total, w), dtype=np.uint64)
    at = 0
    parts.reverse()
    while parts:  # each chunk is released once copied
        part = parts.pop()
        codes[at : at + part.shape[0]] = part
        at += part.shape[0]
        del part
    return codes


def from_chunks(chunks, nbits: int, n=None, *, method: str = "auto", m=None,
                inline_codes: bool | None = False, build_tables: bool | None = None,
                **options):
    """An index of one sealed segment over codes given in chunks.

    Parameters
    ----------
    chunks : iterable of array_like
        Code arrays in any format :meth:`hamsearch.Index.add` accepts, in
        order; code ``i`` of the stream gets id ``i``.
    nbits : int
        Code length.
    n : int, optional
        Total number of codes, when known: the codes array is allocated
        once and nothing else is held (an error if the chunks disagree).
    method, m : as for :class:`hamsearch.Index`.
    inline_codes : bool or None, default False
        As for :class:`hamsearch.Index`; off by default here (the lean
        layout: inline copies cost ``8 * m * words`` bytes per code).
    build_tables : bool, optional
        Build the multi-index tables now (default: unless
        ``method="flat"``); otherwise the first MIH search builds them.
    **options
        Other :class:`hamsearch.Index` arguments (``segment_rows``,
        ``background_merges``, ``features_dtype``).

    Returns
    -------
    hamsearch.Index
        Searches, adds (new segments), removes, saves as any index.

    Examples
    --------
    >>> import numpy as np, hamsearch
    >>> rng = np.random.default_rng(0)
    >>> chunks = (rng.integers(0, 256, size=(5_000, 8), dtype=np.uint8) for _ in range(4))
    >>> index = hamsearch.Index.from_chunks(chunks, nbits=64, n=20_000)
    >>> len(index), index.segments()[0]["id_range"]
    (20000, True)
    """
    from .index import Index

    nbits = check_nbits(nbits)
    index = Index(nbits, method=method, m=m, inline_codes=inline_codes, **options)
    codes = _gather(chunks, nbits, n)
    total = codes.shape[0]
    if total > mih_build.MAX_ROWS:
        raise ValueError(f"one segment holds at most {mih_build.MAX_ROWS} codes (int32 row "
                         f"numbers in its tables), the chunks hold {total}")
    if total == 0:
        return index
    seg = Segment(codes, None, None, id_base=0, sealed=True)
    if build_tables is None:
        build_tables = search_method(method).tables != "never"
    if build_tables:
        seg.mih = index.planner.build_sealed(seg)
    with index._lock:
        index._sealed = [SegmentView(seg)]
        index._next_id = total
        index._features.restore_layout({"features_enabled": False})  # codes without features
        index._publish()
    return index
