"""Vector operations the kernels need and LLVM does not find by itself (numba's side only).

A compiled kernel calls :func:`compress_bins16` where its Python body calls the twin of the
same name in :mod:`imgstats._jit` (see ``_jit._INTRINSICS``): this module imports numba and
llvmlite, so only a kernel being compiled imports it.

Copying the keys that fall in a few bins out of a group, with no branch per key, is a
*compaction*: LLVM vectorizes no loop that does it. ``llvm.experimental.vector.compress``
does it for 32 keys in a few instructions where the CPU has a compress instruction
(``vpcompressw``, AVX-512 VBMI2), and LLVM expands it otherwise (correct, not faster than
the kernels' own scalar loop, so they ask :data:`imgstats._jit.VECTOR_COMPRESS` first). The
compressed vector is stored whole, then the write position moves by the number of keys
kept: the compress instruction's memory form is microcoded on some CPUs (AMD Zen 4).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

#: Keys per call of :func:`compress_bins16`: one 512-bit vector of 16-bit keys.
LANES16 = 32


def compress_bins16(src, i, dst, m, d0, d1, d2, d3):
    """``dst[m:]`` <- the keys of ``src[i:i + 32]`` whose high byte is one of ``d0`` to
    ``d3``, in order; returns ``m`` plus their number (compiled code only: see
    :func:`imgstats._jit.compress_bins16`, which runs the same in Python)."""
    raise NotImplementedError("compress_bins16 runs in compiled kernels only")


@overload(compress_bins16, jit_options={"nogil": True})
def _compress_bins16(src, i, dst, m, d0, d1, d2, d3):
    """The vector form for uint16 keys; for others (a kernel typed for every key width
    holds the call in a branch that only 16-bit keys take), the same in a scalar loop."""
    if isinstance(src, types.Array) and src.dtype == types.uint16:
        return lambda src, i, dst, m, d0, d1, d2, d3: _compress16(src, i, dst, m, d0, d1, d2, d3)

    def scalar(src, i, dst, m, d0, d1, d2, d3):
        for j in range(i, i + LANES16):
            k = src[j]
            dst[m] = k
            h = k >> 8
            m += (h == d0) | (h == d1) | (h == d2) | (h == d3)
        return m

    return scalar


@intrinsic
def _compress16(typingctx, src, i, dst, m, d0, d1, d2, d3):
    """``dst[m:]`` <- the keys of ``src[i:i + 32]`` whose high byte is one of ``d0`` to
    ``d3``, in order; returns ``m`` plus their number. uint16 keys, both arrays with unit
    stride; ``dst`` must have room for 32 keys at ``m`` (what follows the kept ones is
    overwritten with the others)."""
    ok = (
        isinstance(src, types.Array)
        and isinstance(dst, types.Array)
        and src.ndim == dst.ndim == 1
        and src.dtype == types.uint16
        and dst.dtype == src.dtype
    )
    if not ok:
        return None
    sig = types.int64(src, types.int64, dst, types.int64, *(types.int64,) * 4)

    def codegen(context, builder, signature, args):
        src_v, i_v, dst_v, m_v, *bins = args
        src_a = context.make_array(signature.args[0])(context, builder, src_v)
        dst_a = context.make_array(signature.args[2])(context, builder, dst_v)
        i16 = ir.IntType(16)
        i32 = ir.IntType(32)
        vec = ir.VectorType(i16, LANES16)
        undef = ir.Constant(vec, ir.Undefined)
        zeros = ir.Constant(ir.VectorType(i32, LANES16), [0] * LANES16)
        where = builder.bitcast(builder.gep(src_a.data, [i_v]), vec.as_pointer())
        keys = builder.load(where, align=1)
        high = builder.lshr(keys, ir.Constant(vec, [8] * LANES16))
        mask = None
        for b in bins:
            one = builder.insert_element(undef, builder.trunc(b, i16), ir.Constant(i32, 0))
            same = builder.icmp_unsigned("==", high, builder.shuffle_vector(one, undef, zeros))
            mask = same if mask is None else builder.or_(mask, same)
        compress = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vec, [vec, mask.type, vec]),
            "llvm.experimental.vector.compress.v32i16",
        )
        kept = builder.call(compress, [keys, mask, undef])
        out = builder.bitcast(builder.gep(dst_a.data, [m_v]), vec.as_pointer())
        builder.store(kept, out, align=1)
        popcount = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i32, [i32]), "llvm.ctpop.i32"
        )
        count = builder.call(popcount, [builder.bitcast(mask, i32)])
        return builder.add(m_v, builder.zext(count, ir.IntType(64)))

    return sig, codegen
