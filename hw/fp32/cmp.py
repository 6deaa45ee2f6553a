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

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp32.common import operand


def ge(m: Module, a, b, ftz: bool, name: str = "ge"):
    """``a >= b`` as a 1-bit value, built into ``m`` (for reuse without a submodule)."""
    x = operand(m, a, ftz, f"{name}_a")
    y = operand(m, b, ftz, f"{name}_b")
    both_zero = x.zero & y.zero
    mag_ge = x.mag >= y.mag
    mag_le = x.mag <= y.mag
    ordered = ~x.nan & ~y.nan
    by_sign = (x.sign == y.sign) & ((~x.sign & mag_ge) | (x.sign & mag_le))
    return ordered & (both_zero | (~x.sign & y.sign) | by_sign)


class FP32Ge(wiring.Component):
    """``y = a >= b`` for binary32 ``a``, ``b`` (IEEE compare; see module doc)."""

    def __init__(self, ftz: bool = False):
        self.ftz = bool(ftz)
        super().__init__({"a": In(32), "b": In(32), "y": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(ge(m, self.a, self.b, self.ftz))
        return m
