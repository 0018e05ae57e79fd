"""Popcount and Hamming distances over packed ``uint64`` code rows (Numba).

``popcount64`` lowers to LLVM's ``llvm.ctpop.i64``: one ``POPCNT`` per word
on any x86-64 CPU that has it, and LLVM vectorises loops of it with the best
instructions the host offers (``VPOPCNTQ`` with AVX-512 VPOPCNTDQ, a
``VPSHUFB`` nibble table plus ``VPSADBW`` with AVX2).

The block functions compute the distances from one query to a run of
database rows into a small ``int32`` buffer and return their minimum, so that
a top-k scan can reject a whole block with one comparison against its current
k-th distance.  They are specialised for 1, 2 and 4 words per code (64, 128
and 256 bits, and every width that rounds up to them), where the fixed word
count lets LLVM vectorise across rows; other widths use a loop over words.

``block_distances`` reads rows as stored (row-major, words of a code
adjacent).  ``block_distances_t`` reads a block first copied word-major by
``transpose_block``: each word column is then one unit-stride stream and the
loop vectorises without shuffles (specialised for 1 to 4 words, four words
per pass beyond).  A caller that scans many queries against one block pays
the copy once.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "popcount64",
    "row_distance",
    "block_distances",
    "transpose_block",
    "block_distances_t",
    "hamming_rows_kernel",
]

# A distance larger than any real one (codes have at most 4096 bits here, but
# any width up to 2**31 bits keeps below it).
BIG = 2**31 - 1


@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a 64-bit integer (``llvm.ctpop.i64``)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(x)

    def codegen(context, builder, signature, args):
        (value,) = args
        ty = ir.IntType(64)
        if value.type != ty:
            value = builder.zext(value, ty) if value.type.width < 64 else builder.trunc(value, ty)
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ty])
        return builder.call(fn, [value])

    return sig, codegen


@numba.njit(nogil=True)
def row_distance(a, i, b, j):
    """Hamming distance between row ``i`` of ``a`` and row ``j`` of ``b``."""
    s = 0
    for w in range(a.shape[1]):
        s += popcount64(a[i, w] ^ b[j, w])
    return s


@numba.njit(nogil=True)
def _block_w1(blk, qv, out):
    q0 = qv[0]
    mn = BIG
    for j in range(blk.shape[0]):
        d = popcount64(blk[j, 0] ^ q0)
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _block_w2(blk, qv, out):
    q0 = qv[0]
    q1 = qv[1]
    mn = BIG
    for j in range(blk.shape[0]):
        d = popcount64(blk[j, 0] ^ q0) + popcount64(blk[j, 1] ^ q1)
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _block_w4(blk, qv, out):
    q0 = qv[0]
    q1 = qv[1]
    q2 = qv[2]
    q3 = qv[3]
    mn = BIG
    for j in range(blk.shape[0]):
        d = (
            popcount64(blk[j, 0] ^ q0)
            + popcount64(blk[j, 1] ^ q1)
            + popcount64(blk[j, 2] ^ q2)
            + popcount64(blk[j, 3] ^ q3)
        )
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _block_generic(blk, qv, out):
    nw = blk.shape[1]
    mn = BIG
    for j in range(blk.shape[0]):
        d = 0
        for w in range(nw):
            d += popcount64(blk[j, w] ^ qv[w])
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def block_distances(db, j0, j1, q, qi, out):
    """Distances from query row ``qi`` to rows ``j0:j1`` of ``db``.

    Writes ``out[0 : j1 - j0]`` and returns the minimum (``BIG`` when the
    block is empty).
    """
    blk = db[j0:j1]
    qv = q[qi]
    nw = db.shape[1]
    if nw == 1:
        return _block_w1(blk, qv, out)
    if nw == 2:
        return _block_w2(blk, qv, out)
    if nw == 4:
        return _block_w4(blk, qv, out)
    return _block_generic(blk, qv, out)


@numba.njit(cache=True, nogil=True)
def hamming_rows_kernel(a, b, out):
    """``out[i] = popcount(a[i] ^ b[i])`` over whole rows."""
    for i in range(a.shape[0]):
        out[i] = row_distance(a, i, b, i)


# ---------------------------------------------------------------------------
# Transposed blocks: word w of rows j0..j1 stored contiguously in T[w, :].
# A block that is scanned by many queries is transposed once; every word
# column is then a unit-stride stream, which vectorises without the shuffles
# that interleaved rows need.
# ---------------------------------------------------------------------------


@numba.njit(nogil=True)
def transpose_block(db, j0, j1, T):
    """Copy rows ``j0:j1`` of ``db`` into ``T[:, : j1 - j0]`` word-major."""
    nw = db.shape[1]
    blk = db[j0:j1]
    for j in range(blk.shape[0]):
        for w in range(nw):
            T[w, j] = blk[j, w]


@numba.njit(nogil=True)
def _tblock_w1(T, nb, qv, out):
    t0 = T[0]
    q0 = qv[0]
    mn = BIG
    for j in range(nb):
        d = popcount64(t0[j] ^ q0)
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _tblock_w2(T, nb, qv, out):
    t0 = T[0]
    t1 = T[1]
    q0 = qv[0]
    q1 = qv[1]
    mn = BIG
    for j in range(nb):
        d = popcount64(t0[j] ^ q0) + popcount64(t1[j] ^ q1)
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _tblock_w3(T, nb, qv, out):
    t0 = T[0]
    t1 = T[1]
    t2 = T[2]
    q0 = qv[0]
    q1 = qv[1]
    q2 = qv[2]
    mn = BIG
    for j in range(nb):
        d = popcount64(t0[j] ^ q0) + popcount64(t1[j] ^ q1) + popcount64(t2[j] ^ q2)
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _tblock_w4(T, nb, qv, out):
    t0 = T[0]
    t1 = T[1]
    t2 = T[2]
    t3 = T[3]
    q0 = qv[0]
    q1 = qv[1]
    q2 = qv[2]
    q3 = qv[3]
    mn = BIG
    for j in range(nb):
        d = (
            popcount64(t0[j] ^ q0)
            + popcount64(t1[j] ^ q1)
            + popcount64(t2[j] ^ q2)
            + popcount64(t3[j] ^ q3)
        )
        out[j] = d
        mn = min(mn, d)
    return mn


@numba.njit(nogil=True)
def _tblock_generic(T, nb, qv, out):
    # Four words per pass, accumulated in ``out``; then the leftover words.
    nw = T.shape[0]
    for j in range(nb):
        out[j] = 0
    w = 0
    while w + 4 <= nw:
        t0 = T[w]
        t1 = T[w + 1]
        t2 = T[w + 2]
        t3 = T[w + 3]
        q0 = qv[w]
        q1 = qv[w + 1]
        q2 = qv[w + 2]
        q3 = qv[w + 3]
        for j in range(nb):
            out[j] += (
                popcount64(t0[j] ^ q0)
                + popcount64(t1[j] ^ q1)
                + popcount64(t2[j] ^ q2)
                + popcount64(t3[j] ^ q3)
            )
        w += 4
    while w < nw:
        t0 = T[w]
        q0 = qv[w]
        for j in range(nb):
            out[j] += popcount64(t0[j] ^ q0)
        w += 1
    mn = BIG
    for j in range(nb):
        mn = min(mn, out[j])
    return mn


@numba.njit(nogil=True)
def block_distances_t(T, nb, q, qi, out):
    """Like :func:`block_distances` for a block transposed by :func:`transpose_block`.

    ``T`` has shape ``(w, >= nb)``; writes ``out[:nb]`` and returns the minimum.
    """
    qv = q[qi]
    nw = T.shape[0]
    if nw == 1:
        return _tblock_w1(T, nb, qv, out)
    if nw == 2:
        return _tblock_w2(T, nb, qv, out)
    if nw == 3:
        return _tblock_w3(T, nb, qv, out)
    if nw == 4:
        return _tblock_w4(T, nb, qv, out)
    return _tblock_generic(T, nb, qv, out)
