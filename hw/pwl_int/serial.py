"""The integer PWL unit one multiplier bit per clock: :class:`SerialPWL`.

The row-wise units without a row store read their rsqrt / reciprocal table
once per row, between passes. A table read there needs no throughput, only
few cells and short paths: this unit computes exactly what
:func:`hw.pwl_int.model.evaluate` computes (DESIGN.md "Integer PWL
semantics"; widths from :class:`hw.pwl_int.model.Datapath`), but the
product ``K[seg] * x`` by shift-and-add over the bits of ``x``, so it holds
one adder of the product's width instead of a multiplier array, and no
path is longer than that adder.

Protocol: ``start`` for one clock with ``x`` while the unit is idle
(``done`` high, or never started); ``done`` rises :attr:`SerialPWL.latency`
clocks later with ``y``, and both hold until the next ``start``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.pwl_int.model import Datapath


def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


class SerialPWL(wiring.Component):
    """``y = PWL(x)`` of an integer spec in ``latency`` clocks (see the module)."""

    def __init__(self, spec):
        self.spec = spec
        self.dp = Datapath.of_spec(spec)
        self.latency = self.clocks(spec)
        super().__init__({"start": In(1), "x": In(_shape(self.dp.x)), "done": Out(1), "y": Out(_shape(self.dp.y))})

    @staticmethod
    def clocks(spec) -> int:
        """Clocks from ``start`` to ``done``: the segment, the slope, one per
        bit of x (sign-extended), the output."""
        return Datapath.of_spec(spec).x_bits_signed + 3

    def elaborate(self, platform):
        m = Module()
        dp, spec = self.dp, self.spec
        n = dp.x_bits_signed
        ks = Array(Const(int(v), signed(dp.k.bits)) for v in spec.slopes.values)
        cs = Array(Const(int(v), signed(dp.c.bits)) for v in spec.intercepts.values)
        xr = Signal(signed(n), name="xr", reset_less=True)        # x, shifted right a bit per clock
        seg = Signal(range(max(len(spec.slopes.values), 2)), name="seg", reset_less=True)
        kk = Signal(signed(dp.prod_bits), name="kk", reset_less=True)    # K[seg] << i
        acc = Signal(signed(dp.prod_bits), name="acc", reset_less=True)  # the product so far
        step = Signal(range(n + 1), name="step", reset_less=True)
        # The sequence is one-hot flip-flops (slope, bits, out), and kk, acc and step run free,
        # selected by those flip-flops: a state decoded from an FSM register and fanned out to
        # the product's flip-flops was the slowest path of the whole unit. kk and acc each get
        # their own copy of the slope flag, so no flag drives both wide registers.
        slope_k = Signal(name="slope_k")            # the clock that loads K[seg] (into kk)
        slope_a = Signal(name="slope_a")            # the same clock (clears acc and step)
        bits = Signal(name="bits")                  # one clock per bit of x
        out = Signal(name="out")                    # the clock that rounds and saturates into y
        top = step == n - 1
        m.d.sync += [slope_k.eq(self.start), slope_a.eq(self.start), bits.eq(slope_a | (bits & ~top)),
                     out.eq(bits & top)]
        with m.If(self.start):
            m.d.sync += [xr.eq(self.x), seg.eq(sum((self.x >= b for b in spec.breakpoints), start=0)),
                         self.done.eq(0)]
        with m.Elif(bits):
            m.d.sync += xr.eq(xr >> 1)
        # two's complement: the top bit of the sign-extended x weighs -2^(n-1)
        term = Mux(xr[0], Mux(top, -kk, kk), 0)
        m.d.sync += [kk.eq(Mux(slope_k, ks[seg], kk << 1)), acc.eq(Mux(slope_a, 0, acc + term)),
                     step.eq(Mux(slope_a, 0, step + 1))]
        s = dp.out_shift
        total = Signal(signed(dp.acc_bits), name="total")
        m.d.comb += total.eq((acc << dp.shift_prod) + (cs[seg] << dp.shift_c))
        res = Signal(signed(dp.res_bits), name="res")
        m.d.comb += res.eq((total + (1 << (s - 1))) >> s if s > 0 else total << -s)
        lo, hi = dp.y.min_code, dp.y.max_code
        with m.If(out):
            m.d.sync += [self.y.eq(Mux(res > hi, hi, Mux(res < lo, lo, res))), self.done.eq(1)]
        return m
