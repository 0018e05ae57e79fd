"""The seeded code streams of ``bench.billion``: clustered and LSH codes, chunk by chunk.

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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
import time

import numpy as np

from ._common import timed

#: Rows drawn per seeded block (chunk boundaries never change the codes).
BLOCK = 1 << 16
NCENTRES = 1000
DIM = 128
#: Within-component standard deviation relative to the centres' (lsh).
SIGMA = 0.5
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
        """Block ``b`` of a stream: ``rows`` codes (uint64 words), seeded by
        ``(seed, stream, b)`` alone."""
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
        """Block ``b`` of a stream: ``rows`` codes (uint64 words), seeded by
        ``(seed, stream, b)`` alone."""
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


def rows(source, start: int, stop: int, stream: int = _DB_STREAM,
         block: int | None = None) -> np.ndarray:
    """Rows ``start .. stop-1`` of a source's stream (uint64 words).

    Parameters
    ----------
    source : ClusteredSource or LSHSource
    start, stop : int
        The rows, as a range.
    stream : int, optional
        The database's stream (default) or the queries'.
    block : int, optional
        Rows per seeded block (default :data:`BLOCK`; worker processes are
        handed the caller's).

    Returns
    -------
    ndarray of uint64, shape (stop - start, words)
    """
    B = BLOCK if block is None else int(block)
    out = np.empty((max(0, stop - start), source.w), dtype=np.uint64)
    at = start
    while at < stop:
        b = at // B
        blk = source.block(stream, b, B)
        lo, hi = at - b * B, min(B, stop - b * B)
        out[at - start : at - start + hi - lo] = blk[lo:hi]
        at += hi - lo
    return out


def chunks(source, n: int, chunk: int = 1 << 20, stream: int = _DB_STREAM,
           timer: list[float] | None = None, workers: int = 1) -> Iterator[np.ndarray]:
    """The first ``n`` rows of a stream, ``chunk`` rows at a time.

    Parameters
    ----------
    source : ClusteredSource or LSHSource
    n : int
        Rows in all.
    chunk : int, default 2**20
        Rows per chunk (rounded down to whole blocks, at least one).
    stream : int, optional
        As :func:`rows`.
    timer : list of one float, optional
        Accumulates the generation seconds (what a streamed build's time
        leaves out); with workers, the seconds spent waiting for a chunk.
    workers : int, default 1
        Processes drawing chunks ahead, in order (at most ``workers + 1``
        chunks in flight); 1 draws them here.  The codes are the same
        either way.

    Yields
    ------
    ndarray of uint64
    """
    chunk = max(BLOCK, chunk // BLOCK * BLOCK)  # whole blocks: each drawn once
    if workers > 1 and n > chunk:
        yield from _chunks_parallel(source, n, chunk, stream, timer, workers)
        return
    for a in range(0, n, chunk):
        part, seconds = timed(lambda a=a: rows(source, a, min(n, a + chunk), stream))
        if timer is not None:
            timer[0] += seconds
        yield part


def _chunks_parallel(source, n, chunk, stream, timer, workers):
    """:func:`chunks` drawn by ``workers`` spawned processes, in order."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        starts = iter(range(0, n, chunk))
        ahead = deque()
        for a in starts:
            ahead.append(pool.submit(rows, source, a, min(n, a + chunk), stream, BLOCK))
            if len(ahead) > workers:
                break
        while ahead:
            t0 = time.perf_counter()
            part = ahead.popleft().result()
            if timer is not None:
                timer[0] += time.perf_counter() - t0
            a = next(starts, None)
            if a is not None:
                ahead.append(pool.submit(rows, source, a, min(n, a + chunk), stream, BLOCK))
            yield part


def queries(source, nq: int) -> np.ndarray:
    """The first ``nq`` rows of the query stream (not database rows)."""
    return rows(source, 0, nq, _Q_STREAM)
