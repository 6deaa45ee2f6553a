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

from amaranth.hdl import Cat, Const, Module, Mux, Signal

from hw.fp32.common import BinaryOp, lzc, named, operand, round_pack, special_result


def multiply(m: Module, a, b, ftz: bool, round_mode: str = "rne", name: str = "mul") -> Signal:
    """The 32-bit word of ``a * b`` built into ``m``; every step is a signal
    ``<name>_<step>`` in the Verilog, the result ``<name>_y``."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    sign = named(m, f"{name}_sign", x.sign ^ y.sign)

    prod = named(m, f"{name}_prod", x.mant * y.mant)            # 48 bits
    esum = named(m, f"{name}_esum", x.eexp + y.eexp)
    epre = named(m, f"{name}_epre", esum - 126)                 # -124 .. 382
    lz = lzc(m, prod, f"{name}_lz")

    # Epre >= 1: normalise left by min(lz, Epre - 1); else right by min(1 - Epre, 50)
    normal = named(m, f"{name}_normal", epre >= 1)
    lz_fits = named(m, f"{name}_lz_fits", lz < epre)
    lsh_cap = named(m, f"{name}_lsh_cap", epre - 1)
    lsh_n = named(m, f"{name}_lsh_n", Mux(lz_fits, lz, lsh_cap))
    right = named(m, f"{name}_right", 1 - epre)
    right_cap = named(m, f"{name}_right_cap", right > 50)
    rsh_n = named(m, f"{name}_rsh_n", Mux(right_cap, 50, right))
    lsh = Signal(range(49), name=f"{name}_lsh")
    rsh = Signal(range(51), name=f"{name}_rsh")
    exp = Signal(9, name=f"{name}_exp")                      # 1 .. 382
    exp_n = named(m, f"{name}_exp_n", epre - lsh)
    with m.If(normal):
        m.d.comb += [lsh.eq(lsh_n), rsh.eq(0), exp.eq(exp_n)]
    with m.Else():
        m.d.comb += [lsh.eq(0), rsh.eq(rsh_n), exp.eq(1)]

    shl = named(m, f"{name}_shl", prod << lsh)
    norm = named(m, f"{name}_norm", shl[:48])
    ext = named(m, f"{name}_ext", Cat(Const(0, 50), norm) >> rsh)   # 48 bits + 50 shifted out
    shifted_out = named(m, f"{name}_shifted_out", ext[:50] != 0)
    mag, ovf = round_pack(m, ext[50:], exp, shifted_out, round_mode, name)

    any_nan = named(m, f"{name}_any_nan", x.nan | y.nan)
    inf_zero = named(m, f"{name}_inf_zero", x.inf & y.zero)
    zero_inf = named(m, f"{name}_zero_inf", x.zero & y.inf)
    inf_times_zero = named(m, f"{name}_inf_times_zero", inf_zero | zero_inf)
    is_nan = named(m, f"{name}_is_nan", any_nan | inf_times_zero)
    any_inf = named(m, f"{name}_any_inf", x.inf | y.inf)
    is_inf = named(m, f"{name}_is_inf", any_inf | ovf)
    is_zero = named(m, f"{name}_any_zero", x.zero | y.zero)
    if ftz:                                 # a result below the normal range flushes to zero
        tiny = named(m, f"{name}_tiny", mag[23:31] == 0)
        is_zero = named(m, f"{name}_is_zero", is_zero | tiny)

    return special_result(m, name, [(is_nan, "nan", None), (is_inf, "inf", sign), (is_zero, "zero", sign)],
                          mag, sign)


class FP32Mul(BinaryOp):
    """``y = fl(a * b)``, binary32, round to nearest even (see module doc)."""

    build = staticmethod(multiply)
