"""Binary32 adder, round to nearest even, full IEEE-754 behaviour.

Combinational single-path design, chosen for clarity and area rather than
the two-path (near/far) latency trick:

1. unpack (a subnormal has effective exponent 1, implicit bit 0; with
   ``ftz`` it reads as zero of its sign);
2. order by magnitude: the 31 low bits of a binary32 word compare like the
   absolute values, so one 31-bit comparator picks ``big``/``small`` and
   the difference of significands can never go negative;
3. align ``small`` right by the exponent difference ``d`` (capped at 27)
   into 26 bits plus a sticky bit -- the usual guard/round/sticky argument:
   with three extra bits the rounded result equals the exactly rounded one,
   because when ``d >= 2`` at most one bit of normalisation shift is needed,
   and when ``d <= 1`` the alignment drops nothing;
4. add or subtract (effective subtraction iff the signs differ), 28 bits;
5. normalise left by ``min(lzc, e_big)``: the cap stops at exponent 1 so a
   result in the subnormal range lands in the subnormal encoding (such a
   result is exact: sums of subnormals need no rounding);
6. round to nearest even and pack (:func:`hw.fp32.common.round_pack`);
7. specials: NaN in or ``inf + -inf`` -> canonical NaN 0x7FC00000;
   inf -> that inf; an exact zero sum is +0 when the signs differ
   (``x + (-x) = +0`` under round-to-nearest) and keeps the common sign
   otherwise (``-0 + -0 = -0``). With ``ftz`` a subnormal result becomes
   zero of the same sign.

``round="trunc"`` drops the rounding increment: a deliberately broken debug
mode so the testbench can prove it catches wrong rounding.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal

from hw.fp32.common import INF, NAN, BinaryOp, lzc, operand, round_pack


def addition(m: Module, a, b, ftz: bool, round_mode: str = "rne", name: str = "add") -> Signal:
    """The 32-bit word of ``a + b`` built into ``m``."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    swap = Signal(name=f"{name}_swap")
    m.d.comb += swap.eq(x.mag < y.mag)
    big = operand(m, Mux(swap, y.word, x.word), False, f"{name}_big")
    small = operand(m, Mux(swap, x.word, y.word), False, f"{name}_small")
    sub = Signal(name=f"{name}_sub")
    m.d.comb += sub.eq(x.sign ^ y.sign)

    d = Signal(8, name=f"{name}_d")
    m.d.comb += d.eq(big.eexp - small.eexp)
    ext = Signal(51, name=f"{name}_align")
    m.d.comb += ext.eq(Cat(Const(0, 27), small.mant) >> Mux(d > 27, 27, d))
    sm = Signal(27, name=f"{name}_small27")
    m.d.comb += sm.eq(Cat(ext[:25] != 0, ext[25:]))
    bg = Signal(27, name=f"{name}_big27")
    m.d.comb += bg.eq(Cat(Const(0, 3), big.mant))
    total = Signal(28, name=f"{name}_sum")
    m.d.comb += total.eq(Mux(sub, bg - sm, bg + sm))

    lz = lzc(m, total, f"{name}_lz")
    lsh = Signal(range(29), name=f"{name}_lsh")
    m.d.comb += lsh.eq(Mux(lz < big.eexp, lz, big.eexp))
    exp = Signal(9, name=f"{name}_exp")                      # 1 .. 255
    m.d.comb += exp.eq(big.eexp + 1 - lsh)
    norm = Signal(28, name=f"{name}_norm")
    m.d.comb += norm.eq(total << lsh)
    mag, ovf = round_pack(m, norm, exp, Const(0), round_mode, name)

    res = Signal(32, name=f"{name}_y")
    with m.If(x.nan | y.nan | (x.inf & y.inf & sub)):
        m.d.comb += res.eq(NAN)
    with m.Elif(x.inf | y.inf):
        m.d.comb += res.eq(Cat(Const(INF, 31), Mux(x.inf, x.sign, y.sign)))
    with m.Elif(total == 0):
        m.d.comb += res.eq(Cat(Const(0, 31), x.sign & ~sub))
    with m.Elif(ovf):
        m.d.comb += res.eq(Cat(Const(INF, 31), big.sign))
    with m.Elif(Const(ftz) & (mag[23:31] == 0)):
        m.d.comb += res.eq(Cat(Const(0, 31), big.sign))
    with m.Else():
        m.d.comb += res.eq(Cat(mag, big.sign))
    return res


class FP32Add(BinaryOp):
    """``y = fl(a + b)``, binary32, round to nearest even (see module doc)."""

    build = staticmethod(addition)
