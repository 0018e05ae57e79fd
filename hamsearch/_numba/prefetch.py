"""A cache prefetch hint for the jitted kernels (``llvm.prefetch``), the
twin of the C kernels' ``__builtin_prefetch``: random reads of codes out of
DRAM overlap when each is requested some rows ahead of its use."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]


@intrinsic
def prefetch(typingctx, arr, idx):
    """Ask the CPU to bring ``arr[idx]`` (1-D ``arr``) into cache, for reading.

    A hint: it never faults and changes no value, so ``idx`` need not be in
    bounds (no bounds check is made).
    """
    if not isinstance(arr, types.Array) or arr.ndim != 1 or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i = args[1]
        i64 = ir.IntType(64)
        if i.type != i64:
            i = builder.sext(i, i64) if i.type.width < 64 else builder.trunc(i, i64)
        ptr = builder.bitcast(builder.gep(ary.data, [i]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return sig, codegen
