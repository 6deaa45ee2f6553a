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

from types import SimpleNamespace

from hw.fp32.common import BinaryOp, lzc, named, no_cuts, operand, round_pack, special_result


def multiply(m: Module, a, b, ftz: bool, round_mode: str = "rne", name: str = "mul", carry=no_cuts) -> Signal:
    """The 32-bit word of ``a * b`` built into ``m``; every step is a signal
    ``<name>_<step>`` in the Verilog, the result ``<name>_y``. ``carry``
    (:func:`hw.fp32.common.carrier`) registers what crosses the pipeline cuts
    ``mul_pp`` (the significand product as 12 x 8 partial products),
    ``mul_prod`` (after the product), ``mul_lz`` (after the leading-zero
    count and the shift amounts), ``mul_shl`` (after the left shift) and
    ``mul_norm`` (after the normalisation, before rounding) and ``mul_round``
    (between the packing add and the rounding increment) when taken."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    sign = named(m, f"{name}_sign", x.sign ^ y.sign)

    points = [c for c in ("mul_pp", "mul_prod", "mul_lz", "mul_shl", "mul_norm", "mul_round") if c in carry.cuts]
    live = SimpleNamespace(xnan=x.nan, ynan=y.nan, xinf=x.inf, yinf=y.inf, xzero=x.zero, yzero=y.zero, sign=sign)

    def cross(point):
        for k, v in list(vars(live).items()):
            setattr(live, k, carry(point, f"{name}_{k}_{point[len('mul_'):]}", v))
    if "mul_pp" in points:
        from hw.pwl_int.unit import partial_products
        esum = named(m, f"{name}_esum", x.eexp + y.eexp)
        live.epre = named(m, f"{name}_epre", esum - 126)          # -124 .. 382
        cross("mul_pp")
        pp = partial_products(lambda cut, n, v, shape: carry("mul_pp", f"{name}_{n}", v), x.mant, y.mant,
                              False, 3, 2, k_signed=False)
        prod = named(m, f"{name}_prod", pp, 48)
    else:
        prod = named(m, f"{name}_prod", x.mant * y.mant)            # 48 bits
        if points:
            esum = named(m, f"{name}_esum", x.eexp + y.eexp)
            live.epre = named(m, f"{name}_epre", esum - 126)      # -124 .. 382
    if "mul_prod" in points:
        cross("mul_prod")
        prod = carry("mul_prod", f"{name}_prod_q", prod)
    if points:
        epre = live.epre
    else:
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

    if "mul_lz" in points:
        cross("mul_lz")
        prod = carry("mul_lz", f"{name}_prod_lz", prod)
        lsh = carry("mul_lz", f"{name}_lsh_q", lsh)
        rsh = carry("mul_lz", f"{name}_rsh_q", rsh)
        exp = carry("mul_lz", f"{name}_exp_lz", exp)
    shl = named(m, f"{name}_shl", prod << lsh)
    norm = named(m, f"{name}_norm", shl[:48])
    if "mul_shl" in points:
        cross("mul_shl")
        norm = carry("mul_shl", f"{name}_norm_q", norm)
        rsh = carry("mul_shl", f"{name}_rsh_shl", rsh)
        exp = carry("mul_shl", f"{name}_exp_shl", exp)
    ext = named(m, f"{name}_ext", Cat(Const(0, 50), norm) >> rsh)   # 48 bits + 50 shifted out
    shifted_out = named(m, f"{name}_shifted_out", ext[:50] != 0)
    sig = ext[50:]
    if "mul_norm" in points:
        cross("mul_norm")
        sig = carry("mul_norm", f"{name}_sig_q", sig)
        exp = carry("mul_norm", f"{name}_exp_q", exp)
        shifted_out = carry("mul_norm", f"{name}_shifted_out_q", shifted_out)
    mid = None
    if "mul_round" in points:
        def mid(trunc, up):
            cross("mul_round")
            return carry("mul_round", f"{name}_trunc_q", trunc), carry("mul_round", f"{name}_round_up_q", up)
    mag, ovf = round_pack(m, sig, exp, shifted_out, round_mode, name, mid)

    sign = live.sign
    any_nan = named(m, f"{name}_any_nan", live.xnan | live.ynan)
    inf_zero = named(m, f"{name}_inf_zero", live.xinf & live.yzero)
    zero_inf = named(m, f"{name}_zero_inf", live.xzero & live.yinf)
    inf_times_zero = named(m, f"{name}_inf_times_zero", inf_zero | zero_inf)
    is_nan = named(m, f"{name}_is_nan", any_nan | inf_times_zero)
    any_inf = named(m, f"{name}_any_inf", live.xinf | live.yinf)
    is_inf = named(m, f"{name}_is_inf", any_inf | ovf)
    is_zero = named(m, f"{name}_any_zero", live.xzero | live.yzero)
    if ftz:                                 # a result below the normal range flushes to zero
        tiny = named(m, f"{name}_tiny", mag[23:31] == 0)
        is_zero = named(m, f"{name}_is_zero", is_zero | tiny)

    return special_result(m, name, [(is_nan, "nan", None), (is_inf, "inf", sign), (is_zero, "zero", sign)],
                          mag, sign)


class FP32Mul(BinaryOp):
    """``y = fl(a * b)``, binary32, round to nearest even (see module doc)."""

    build = staticmethod(multiply)
