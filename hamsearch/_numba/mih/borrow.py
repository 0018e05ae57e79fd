"""Borrowed array views: arrays without reference counting inside the
jitted search loop (see :func:`_borrowed`)."""

from __future__ import annotations

from numba.core import types
from numba.extending import intrinsic


@intrinsic
def _borrowed(typingctx, arr):
    """A view of ``arr`` that holds no reference (null meminfo).

    Every array a jitted function binds (an argument of an inlined helper,
    an assignment) has its reference count incremented and decremented:
    atomic operations, on counters that all threads searching the same
    index share.  Per probe and per candidate they cost more than the search
    itself (most of the time, and the reason threads did not scale).  A
    borrowed view makes them no-ops; the caller must keep ``arr`` alive while
    the view is used (here: arrays passed in by the caller, which holds them
    for the whole call).
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = context.make_array(aryty)(context, builder, value=args[0])
        dst = context.make_array(aryty)(context, builder)
        context.populate_array(dst, data=src.data, shape=src.shape, strides=src.strides,
                               itemsize=src.itemsize, meminfo=None)
        return dst._getvalue()

    return arr(arr), codegen
