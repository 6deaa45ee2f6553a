"""Binary32 comparator ``y = (a >= b)``, IEEE semantics, combinational.

Why it is this small: the binary32 encoding is sign-magnitude with the
exponent above the fraction, so for two non-negative numbers comparing
the 31 magnitude bits as unsigned integers compares the values (subnormals
included, since their exponent field 0 is below every normal's). Signs
then decide the rest:

* either operand NaN -> false (IEEE: unordered compares false);
* both zero (+0 or -0, any mix) -> true (-0 == +0);
* signs differ -> true iff ``a`` is the positive one;
* both positive -> ``|a| >= |b|``; both negative -> ``|a| <= |b|``.

With ``ftz=True`` subnormal operands are first read as zeros of the same
sign, as in the FTZ multiplier and adder (so an FTZ PWL unit's comparators
see the same input its multiplier sees). The PWL unit instantiates one of
these per breakpoint; with a constant ``b`` synthesis folds most of it away.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp32.common import Operand, named, operand


def ge(m: Module, a, b, ftz: bool, name: str = "ge"):
    """``a >= b`` as a 1-bit signal ``name``, built into ``m`` (for reuse without a submodule)."""
    return ge_operands(m, operand(m, a, ftz, f"{name}_a"), operand(m, b, ftz, f"{name}_b"), name)


def ge_operands(m: Module, x: Operand, y: Operand, name: str):
    """``x >= y`` for two unpacked operands (:func:`hw.fp32.common.operand`),
    so that one unpacked input can feed a whole comparator bank. Every step
    is a signal ``<name>_<step>``; the result is the signal ``name``."""
    same_sign = named(m, f"{name}_same_sign", x.sign == y.sign)
    mag_ge = named(m, f"{name}_mag_ge", x.mag >= y.mag)
    mag_le = named(m, f"{name}_mag_le", x.mag <= y.mag)
    # same signs: |a| >= |b| when positive, |a| <= |b| when negative;
    # signs differ: a >= b iff a is the positive one (b's sign is set)
    mag_ok = named(m, f"{name}_mag_ok", Mux(x.sign, mag_le, mag_ge))
    by_sign = named(m, f"{name}_by_sign", Mux(same_sign, mag_ok, y.sign))
    both_zero = named(m, f"{name}_both_zero", x.zero & y.zero)      # -0 == +0
    holds = named(m, f"{name}_holds", both_zero | by_sign)
    unordered = named(m, f"{name}_unordered", x.nan | y.nan)        # NaN compares false
    ordered = named(m, f"{name}_ordered", ~unordered)
    return named(m, name, ordered & holds)


class FP32Ge(wiring.Component):
    """``y = a >= b`` for binary32 ``a``, ``b`` (IEEE compare; see module doc)."""

    def __init__(self, ftz: bool = False):
        self.ftz = bool(ftz)
        super().__init__({"a": In(32), "b": In(32), "y": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(ge(m, self.a, self.b, self.ftz))
        return m
