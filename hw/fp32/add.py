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

from types import SimpleNamespace

from hw.fp32.common import BinaryOp, lzc, named, no_cuts, operand, round_pack, special_result


def addition(m: Module, a, b, ftz: bool, round_mode: str = "rne", name: str = "add", carry=no_cuts) -> Signal:
    """The 32-bit word of ``a + b`` built into ``m``; every step is a signal
    ``<name>_<step>`` in the Verilog, the result ``<name>_y``. ``carry``
    (:func:`hw.fp32.common.carrier`) registers what crosses the pipeline cuts
    ``add_cmp`` (after the magnitude compare), ``add_swap`` (after the swap and the exponent difference), ``add_align`` (after the alignment), ``add_sum`` (after the addition) and
    ``add_norm`` (after the normalisation, before rounding) and ``add_round``
    (between the packing add and the rounding increment) when taken."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    swap = named(m, f"{name}_swap", x.mag < y.mag)
    xw, yw = x.word, y.word
    if "add_cmp" in carry.cuts:     # after the magnitude compare: the words, the swap bit, the flags
        q = {}
        for k in ("nan", "inf", "sign"):
            q[k] = (carry("add_cmp", f"{name}_a_{k}_cmp", getattr(x, k)),
                    carry("add_cmp", f"{name}_b_{k}_cmp", getattr(y, k)))
        xw, yw = carry("add_cmp", f"{name}_a_w_cmp", xw), carry("add_cmp", f"{name}_b_w_cmp", yw)
        swap = carry("add_cmp", f"{name}_swap_q", swap)
        x = SimpleNamespace(nan=q["nan"][0], inf=q["inf"][0], sign=q["sign"][0])
        y = SimpleNamespace(nan=q["nan"][1], inf=q["inf"][1], sign=q["sign"][1])
    big = operand(m, Mux(swap, yw, xw), False, f"{name}_big")
    small = operand(m, Mux(swap, xw, yw), False, f"{name}_small")
    sub = named(m, f"{name}_sub", x.sign ^ y.sign)              # effective subtraction

    # what lives past the addition: operand flags, big's exponent and sign
    live = SimpleNamespace(xnan=x.nan, ynan=y.nan, xinf=x.inf, yinf=y.inf, xsign=x.sign, sub=sub,
                           beexp=big.eexp, bsign=big.sign)
    cut_inside = any(c in carry.cuts for c in ("add_cmp", "add_swap", "add_align", "add_sum", "add_norm",
                                               "add_round"))

    def cross(point):
        for k, v in list(vars(live).items()):
            setattr(live, k, carry(point, f"{name}_{k}_{point[len('add_'):]}", v))

    # align: small's significand right by d = exponent difference (capped at 27) + sticky
    ediff = named(m, f"{name}_ediff", big.eexp - small.eexp)    # >= 0: big is the larger
    small_mant, big_mant = small.mant, big.mant
    if "add_swap" in carry.cuts:
        cross("add_swap")
        small_mant = carry("add_swap", f"{name}_small_mant_q", small_mant)
        big_mant = carry("add_swap", f"{name}_big_mant_q", big_mant)
        ediff = carry("add_swap", f"{name}_ediff_q", ediff)
    d = named(m, f"{name}_d", ediff[:8])
    d_cap = named(m, f"{name}_d_cap", d > 27)
    shift = named(m, f"{name}_shift", Mux(d_cap, 27, d))
    ext = named(m, f"{name}_align", Cat(Const(0, 27), small_mant) >> shift)
    align_sticky = named(m, f"{name}_align_sticky", ext[:25] != 0)
    sm = named(m, f"{name}_small27", Cat(align_sticky, ext[25:]))
    bg = named(m, f"{name}_big27", Cat(Const(0, 3), big_mant))
    if "add_align" in carry.cuts:
        cross("add_align")
        bg = carry("add_align", f"{name}_big27_q", bg)
        sm = carry("add_align", f"{name}_small27_q", sm)
    sub = live.sub
    diff = named(m, f"{name}_diff", bg - sm)                   # >= 0
    plus = named(m, f"{name}_plus", bg + sm)
    total = named(m, f"{name}_sum", Mux(sub, diff[:28], plus))
    if "add_sum" in carry.cuts:
        cross("add_sum")
        total = carry("add_sum", f"{name}_sum_q", total)
    big_eexp = live.beexp

    # normalise left by min(lz, e_big), so a subnormal result stays subnormal
    lz = lzc(m, total, f"{name}_lz")
    lz_fits = named(m, f"{name}_lz_fits", lz < big_eexp)
    lsh = named(m, f"{name}_lsh", Mux(lz_fits, lz, big_eexp[:5]))   # e_big <= lz <= 28 there
    exp_p1 = named(m, f"{name}_exp_p1", big_eexp + 1)
    exp = named(m, f"{name}_exp", exp_p1 - lsh)                # 1 .. 255
    shl = named(m, f"{name}_shl", total << lsh)
    norm = named(m, f"{name}_norm", shl[:28])
    if "add_norm" in carry.cuts:
        live.exact_zero = named(m, f"{name}_sum_zero", total == 0)
        cross("add_norm")
        norm = carry("add_norm", f"{name}_norm_q", norm)
        exp = carry("add_norm", f"{name}_exp_q", exp)
    mid = None
    if "add_round" in carry.cuts:
        def mid(trunc, up):
            if not hasattr(live, "exact_zero"):
                live.exact_zero = named(m, f"{name}_sum_zero", total == 0)
            cross("add_round")
            return carry("add_round", f"{name}_trunc_q", trunc), carry("add_round", f"{name}_round_up_q", up)
    mag, ovf = round_pack(m, norm, exp, Const(0), round_mode, name, mid)

    sub = live.sub
    any_nan = named(m, f"{name}_any_nan", live.xnan | live.ynan)
    both_inf = named(m, f"{name}_both_inf", live.xinf & live.yinf)
    inf_minus_inf = named(m, f"{name}_inf_minus_inf", both_inf & sub)
    is_nan = named(m, f"{name}_is_nan", any_nan | inf_minus_inf)
    any_inf = named(m, f"{name}_any_inf", live.xinf | live.yinf)
    inf_sign = named(m, f"{name}_inf_sign", Mux(live.xinf, live.xsign, y.sign if not cut_inside else
                                                  live.xsign ^ sub))
    exact_zero = (live.exact_zero if hasattr(live, "exact_zero")
                  else named(m, f"{name}_exact_zero", total == 0))
    zero_sign = named(m, f"{name}_zero_sign", Mux(sub, 0, live.xsign))    # x + (-x) = +0
    if ftz:                                 # a result below the normal range flushes to zero
        tiny = named(m, f"{name}_tiny", mag[23:31] == 0)

    cases = [(is_nan, "nan", None), (any_inf, "inf", inf_sign), (exact_zero, "zero", zero_sign),
             (ovf, "inf", live.bsign)]
    if ftz:
        cases.append((tiny, "zero", live.bsign))
    return special_result(m, name, cases, mag, live.bsign)


class FP32Add(BinaryOp):
    """``y = fl(a + b)``, binary32, round to nearest even (see module doc)."""

    build = staticmethod(addition)
