"""Vector operations the kernels need and LLVM does not find by itself (numba's side only).

A compiled kernel calls :func:`compress_bins` where its Python body calls the twin of the
same name in :mod:`imgstats._jit` (see ``_jit._INTRINSICS``): this module imports numba and
llvmlite, so only a kernel being compiled imports it.

Copying the keys that fall in a few bins out of a group, with no branch per key, is a
*compaction*: LLVM vectorizes no loop that does it. ``llvm.experimental.vector.compress``
does it for a 512-bit vector of keys in a few instructions where the CPU has a compress
instruction (``vpcompressw``/``d``/``q``, AVX-512 VBMI2 and F), and LLVM expands it
otherwise (correct, not faster than the kernels' own scalar loops, so they ask
:data:`imgstats._jit.VECTOR_COMPRESS` first). The compressed vector is stored whole, then
the write position moves by the number of keys kept: the compress instruction's memory form
is microcoded on some CPUs (AMD Zen 4).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

_KEYS = (types.uint16, types.uint32, types.uint64)


def compress_bins(src, i, dst, m, lo, shift, d0, d1, d2, d3):
    """``dst[m:]`` <- the keys ``k`` of ``src[i:i + lanes]`` whose bin ``(k - lo) >> shift``
    is one of ``d0`` to ``d3``, in order; returns ``m`` plus their number (compiled code
    only: :func:`imgstats._jit.compress_bins` runs the same in Python and says more)."""
    raise NotImplementedError("compress_bins runs in compiled kernels only")


@overload(compress_bins, jit_options={"nogil": True})
def _compress_bins(src, i, dst, m, lo, shift, d0, d1, d2, d3):
    """The vector form for unsigned 16-, 32- and 64-bit keys; for others (a kernel typed
    for every key width may hold the call in a branch those keys never take), or with an
    LLVM before 19, the same in a scalar loop."""
    vector = isinstance(src, types.Array) and src.dtype in _KEYS and dst.dtype == src.dtype
    if vector and _llvm_compress():
        return lambda src, i, dst, m, lo, shift, d0, d1, d2, d3: _compress(
            src, i, dst, m, lo, shift, d0, d1, d2, d3
        )

    return scalar_compress


def scalar_compress(src, i, dst, m, lo, shift, d0, d1, d2, d3):
    """:func:`compress_bins` one key at a time, with no branch (as numba compiles it)."""
    for j in range(i, i + 64 // src.itemsize):
        k = src[j]
        dst[m] = k
        b = (k - lo) >> shift
        m += (b == d0) | (b == d1) | (b == d2) | (b == d3)
    return m


def _llvm_compress() -> bool:
    """Whether this numba's LLVM has ``llvm.experimental.vector.compress`` (LLVM 19 and
    later; numba 0.60 came with LLVM 14): else the scalar loop, correct everywhere."""
    from llvmlite import binding

    return binding.llvm_version_info >= (19,)


def _splat(builder, value, vec):
    """``value`` (an integer, cast to the lanes' width) in every lane of a ``vec``."""
    lanes = vec.count
    width = vec.element.width
    if value.type.width > width:
        value = builder.trunc(value, vec.element)
    elif value.type.width < width:
        value = builder.zext(value, vec.element)
    undef = ir.Constant(vec, ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(
        one, undef, ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    )


@intrinsic
def _compress(typingctx, src, i, dst, m, lo, shift, d0, d1, d2, d3):
    """``dst[m:]`` <- the keys of ``src[i:i + lanes]`` (``lanes``: 512 bits of keys) in
    the bins ``d0`` to ``d3``, in order; returns ``m`` plus their number. Both arrays with
    unit stride; ``dst`` must have room for ``lanes`` keys at ``m`` (what follows the kept
    ones is overwritten with the others)."""
    ok = (
        isinstance(src, types.Array)
        and isinstance(dst, types.Array)
        and src.ndim == dst.ndim == 1
        and src.dtype in _KEYS
        and dst.dtype == src.dtype
        and all(isinstance(t, types.Integer) for t in (lo, shift, d0, d1, d2, d3))
    )
    if not ok:
        return None
    sig = types.int64(src, types.int64, dst, types.int64, lo, shift, d0, d1, d2, d3)
    width = src.dtype.bitwidth
    lanes = 512 // width

    def codegen(context, builder, signature, args):
        src_v, i_v, dst_v, m_v, lo_v, shift_v, *bins = args
        src_a = context.make_array(signature.args[0])(context, builder, src_v)
        dst_a = context.make_array(signature.args[2])(context, builder, dst_v)
        vec = ir.VectorType(ir.IntType(width), lanes)
        where = builder.bitcast(builder.gep(src_a.data, [i_v]), vec.as_pointer())
        keys = builder.load(where, align=1)
        bin_of = builder.lshr(
            builder.sub(keys, _splat(builder, lo_v, vec)), _splat(builder, shift_v, vec)
        )
        mask = None
        for b in bins:
            same = builder.icmp_unsigned("==", bin_of, _splat(builder, b, vec))
            mask = same if mask is None else builder.or_(mask, same)
        compress = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vec, [vec, mask.type, vec]),
            f"llvm.experimental.vector.compress.v{lanes}i{width}",
        )
        kept = builder.call(compress, [keys, mask, ir.Constant(vec, ir.Undefined)])
        out = builder.bitcast(builder.gep(dst_a.data, [m_v]), vec.as_pointer())
        builder.store(kept, out, align=1)
        bits = ir.IntType(lanes)
        popcount = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(bits, [bits]), f"llvm.ctpop.i{lanes}"
        )
        count = builder.call(popcount, [builder.bitcast(mask, bits)])
        return builder.add(m_v, builder.zext(count, ir.IntType(64)))

    return sig, codegen
