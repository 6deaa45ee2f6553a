"""Amaranth generator of the streaming softmax unit (golden model: ``model.py``).

Three passes over a row buffer, one element per clock each:

* **load** (``in_ready=1``): store the scores, track the running maximum;
  elements past ``row_max`` are consumed but not stored, and the row is
  flagged (``out_overflow`` is high on every output of that row);
* **sum**: ``S += EXP(max(x_i - max, d_min))`` through the exp PWL unit;
* **norm** (one clock): leading one of ``S``, mantissa in [1, 2) into the
  reciprocal PWL unit, ``r`` and the exponent registered;
* **out**: ``p_i = sat(round_half_up(EXP(d_i) * r, f_r + L - f_out))``,
  recomputing ``EXP(d_i)`` rather than storing it; ``out_valid`` holds
  until ``out_ready``; ``out_last`` marks the row's last output.

Cycles per row of n elements with ``out_ready`` always high: n (load) +
n (sum) + 1 (norm) + n (out) = 3n + 1; the next row is accepted after the
last output (``in_ready`` is low during sum, norm and out). Throughput: one
row per 3n + 1 clocks.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.pwl_int.unit import IntPWL


def leading_one(m: Module, v, name: str):
    """Index of the highest set bit of ``v`` (0 when v is 0)."""
    lead = Signal(range(max(len(v), 2)), name=name)
    for i in range(len(v)):                  # later assignments win: the highest bit
        with m.If(v[i]):
            m.d.comb += lead.eq(i)
    return lead


def round_shift(v, s):
    """``round_half_up(v, s)`` for a variable shift ``s >= 1``: the rounding
    constant is ``(1 << s) >> 1``; the shift is arithmetic for signed ``v``."""
    return (v + ((Const(1, 1) << s) >> 1)) >> s


class SoftmaxUnit(wiring.Component):
    """Streaming INT8 softmax for a :class:`hw.softmax.model.Softmax`."""

    def __init__(self, model):
        self.model = model
        fin = model.input
        if model.recip.output.frac <= model.out.frac:
            raise ValueError("the reciprocal table needs more fractional bits than the output")
        super().__init__({
            "in_valid": In(1), "in_ready": Out(1), "in_data": In(signed(fin.bits) if fin.signed else fin.bits),
            "in_last": In(1),
            "out_valid": Out(1), "out_ready": In(1), "out_data": Out(model.out.bits), "out_last": Out(1),
            "out_overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        md = self.model
        fin, fe = md.input, md.exp.output
        n_max = md.row_max
        m.submodules.exp = exp = IntPWL(md.exp, stages=0)
        m.submodules.recip = recip = IntPWL(md.recip, stages=0)
        m.submodules.buf = buf = Memory(shape=self.in_data.shape(), depth=n_max, init=[])
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")

        count = Signal(range(n_max + 1))        # elements stored
        idx = Signal(range(n_max + 1))
        mx = Signal.like(self.in_data)
        overflow = Signal()
        ssum = Signal(md.sum_bits)
        r = Signal(md.recip.output.bits)
        lead_r = Signal(range(max(md.sum_bits, 2)))
        m.d.comb += rd.addr.eq(idx)

        # d_i = max(x_i - max, d_min), into the shared exp unit
        diff = Signal(signed(fin.bits + 2))
        m.d.comb += diff.eq(rd.data - mx)
        dmin = md.exp.input.min_code
        m.d.comb += exp.x.eq(Mux(diff < dmin, dmin, diff))

        # normalization of the sum and the reciprocal table
        fm = md.recip.input.frac
        lead = leading_one(m, ssum, "lead")
        mant = Signal(md.recip.input.bits)
        m.d.comb += [mant.eq((ssum << fm) >> lead), recip.x.eq(mant)]

        # output: p = sat(round_half_up(e * r, f_r + L - f_out))
        prod = Signal(fe.bits + md.recip.output.bits)
        m.d.comb += prod.eq(exp.y * r)
        shift = Signal(range(md.sum_bits + md.recip.output.frac + 1))
        m.d.comb += shift.eq(lead_r + (md.recip.output.frac - md.out.frac))
        rounded = Signal(len(prod) + 1)
        m.d.comb += rounded.eq(round_shift(prod, shift))
        m.d.comb += self.out_data.eq(Mux(rounded > md.out.max_code, md.out.max_code, rounded))

        with m.FSM(name="phase"):
            with m.State("LOAD"):
                m.d.comb += self.in_ready.eq(1)
                with m.If(self.in_valid):
                    with m.If(count < n_max):
                        m.d.comb += [wr.addr.eq(count), wr.data.eq(self.in_data), wr.en.eq(1)]
                        m.d.sync += count.eq(count + 1)
                        with m.If((count == 0) | (self.in_data > mx)):
                            m.d.sync += mx.eq(self.in_data)
                    with m.Else():
                        m.d.sync += overflow.eq(1)
                    with m.If(self.in_last):
                        m.d.sync += [idx.eq(0), ssum.eq(0)]
                        m.next = "SUM"
            with m.State("SUM"):
                m.d.sync += [ssum.eq(ssum + exp.y), idx.eq(idx + 1)]
                with m.If(idx == count - 1):
                    m.next = "NORM"
            with m.State("NORM"):
                m.d.sync += [r.eq(recip.y), lead_r.eq(lead), idx.eq(0)]
                m.next = "OUT"
            with m.State("OUT"):
                last = idx == count - 1
                m.d.comb += [self.out_valid.eq(1), self.out_last.eq(last), self.out_overflow.eq(overflow)]
                with m.If(self.out_ready):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(last):
                        m.d.sync += [count.eq(0), overflow.eq(0)]
                        m.next = "LOAD"
        return m
