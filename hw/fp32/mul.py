"""Binary32 multiplier, round to nearest even, full IEEE-754 behaviour.

Combinational datapath (all widths exact, nothing can wrap):

1. unpack: a subnormal has effective exponent 1 and implicit bit 0; with
   ``ftz`` a subnormal input reads as zero of its sign;
2. ``P = ma * mb``: 24 x 24 -> 48-bit integer product. The value is
   ``P / 2**47 * 2**(Epre - 127)`` with ``Epre = ea + eb - 126``;
3. normalise in one shifter per direction:

   * ``Epre >= 1``: shift left by ``min(lzc(P), Epre - 1)``. Leading zeros
     come only from subnormal inputs (or a product below 2); the cap keeps
     the exponent >= 1, so a result below the normal range stays in the
     subnormal encoding without a second shift;
   * ``Epre < 1``: the result is subnormal (or rounds to zero): shift right
     by ``1 - Epre`` (capped at 50: past that every bit is below the guard
     bit) and OR the shifted-out bits into the sticky bit;

4. round to nearest even and pack (:func:`hw.fp32.common.round_pack`), which
   also turns a rounding carry into the next exponent and overflow into
   infinity;
5. specials override: NaN in, or inf * 0 -> canonical NaN 0x7FC00000;
   inf * finite-nonzero -> signed inf; zero * finite -> signed zero
   (``sign = sa ^ sb`` throughout). With ``ftz`` a subnormal result becomes
   zero of the same sign (the flush looks at the rounded result, as the
   golden model in :mod:`hw.fp32.model` says).

``round="trunc"`` drops the rounding increment. It exists only so the
testbench can prove that it catches a wrong rounding (mutation test); never
build hardware with it.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed

from hw.fp32.common import INF, NAN, BinaryOp, lzc, operand, round_pack


def multiply(m: Module, a, b, ftz: bool, round_mode: str = "rne", name: str = "mul") -> Signal:
    """The 32-bit word of ``a * b`` built into ``m``."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    sign = Signal(name=f"{name}_sign")
    m.d.comb += sign.eq(x.sign ^ y.sign)

    prod = Signal(48, name=f"{name}_prod")
    m.d.comb += prod.eq(x.mant * y.mant)
    epre = Signal(signed(11), name=f"{name}_epre")            # -124 .. 382
    m.d.comb += epre.eq(x.eexp + y.eexp - 126)
    lz = lzc(m, prod, f"{name}_lz")

    lsh = Signal(range(49), name=f"{name}_lsh")
    rsh = Signal(range(51), name=f"{name}_rsh")
    exp = Signal(9, name=f"{name}_exp")                      # 1 .. 382
    right = Signal(signed(11), name=f"{name}_right")
    m.d.comb += right.eq(1 - epre)
    with m.If(epre >= 1):
        m.d.comb += [lsh.eq(Mux(lz < epre, lz, epre - 1)), rsh.eq(0),
                     exp.eq(epre - lsh)]
    with m.Else():
        m.d.comb += [lsh.eq(0), rsh.eq(Mux(right > 50, 50, right)), exp.eq(1)]

    norm = Signal(48, name=f"{name}_norm")
    m.d.comb += norm.eq(prod << lsh)
    ext = Signal(98, name=f"{name}_ext")
    m.d.comb += ext.eq(Cat(Const(0, 50), norm) >> rsh)
    mag, ovf = round_pack(m, ext[50:], exp, ext[:50] != 0, round_mode, name)

    res = Signal(32, name=f"{name}_y")
    with m.If(x.nan | y.nan | (x.inf & y.zero) | (x.zero & y.inf)):
        m.d.comb += res.eq(NAN)
    with m.Elif(x.inf | y.inf | ovf):
        m.d.comb += res.eq(Cat(Const(INF, 31), sign))
    with m.Elif(x.zero | y.zero | (Const(ftz) & (mag[23:31] == 0))):
        m.d.comb += res.eq(Cat(Const(0, 31), sign))
    with m.Else():
        m.d.comb += res.eq(Cat(mag, sign))
    return res


class FP32Mul(BinaryOp):
    """``y = fl(a * b)``, binary32, round to nearest even (see module doc)."""

    build = staticmethod(multiply)
