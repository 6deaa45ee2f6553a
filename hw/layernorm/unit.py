"""Amaranth generator of the streaming LayerNorm unit (golden model: ``model.py``).

Rows have the generator's fixed length n (``row_len``), so no divider is
needed: the unit works with ``D_i = n*x_i - Sx`` and ``W = n*Sxx - Sx^2 + E``
(see the model), all exact integers.

* **load** (``in_ready=1``): store x_i, accumulate ``Sx`` and ``Sxx``;
  the n-th element ends the row. ``in_last`` is checked, not obeyed: if it
  is high on any other element, or low on the n-th, ``out_error`` is high on
  every output of that row;
* **calc** (one clock): ``W``, its leading one with an even exponent, the
  mantissa in [1, 4) into the rsqrt PWL unit; ``r`` and ``k`` registered;
* **out**: ``y_i = sat(round_half_up(D_i * r, f_r + k - f_y))`` with
  ``out_valid``/``out_ready`` handshake and ``out_last`` on the n-th output.

Cycles per row with ``out_ready`` always high: n + 1 + n = 2n + 1; the
next row is accepted after the last output.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.pwl_int.unit import IntPWL
from hw.softmax.unit import leading_one, round_shift


class LayerNormUnit(wiring.Component):
    """Streaming INT8 LayerNorm for a :class:`hw.layernorm.model.LayerNorm`."""

    def __init__(self, model):
        self.model = model
        fin, fo = model.input, model.out
        if model.rsqrt.output.frac <= fo.frac:
            raise ValueError("the rsqrt table needs more fractional bits than the output")
        super().__init__({
            "in_valid": In(1), "in_ready": Out(1), "in_data": In(signed(fin.bits)), "in_last": In(1),
            "out_valid": Out(1), "out_ready": In(1), "out_data": Out(signed(fo.bits)), "out_last": Out(1),
            "out_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        md = self.model
        n = md.row_len
        xb = md.input.bits
        m.submodules.rsqrt = rsqrt = IntPWL(md.rsqrt, stages=0)
        m.submodules.buf = buf = Memory(shape=signed(xb), depth=n, init=[])
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")

        count = Signal(range(n + 1))
        idx = Signal(range(n + 1))
        err = Signal()
        big = max(-md.input.min_code, md.input.max_code)
        sx = Signal(signed((n * big).bit_length() + 1))
        sxx = Signal((n * big * big).bit_length())
        r = Signal(md.rsqrt.output.bits)
        k_r = Signal(range(md.w_bits + 1))
        m.d.comb += rd.addr.eq(idx)

        # W = n*Sxx - Sx^2 + E >= 0, normalized to m in [1, 4) with an even exponent
        w = Signal(md.w_bits)
        m.d.comb += w.eq(n * sxx - sx * sx + md.eps_code)
        lead = leading_one(m, w, "lead")
        k = Signal.like(k_r)
        m.d.comb += k.eq(lead >> 1)
        fm = md.rsqrt.input.frac
        mant = Signal(md.rsqrt.input.bits)
        m.d.comb += [mant.eq((w << fm) >> (k << 1)), rsqrt.x.eq(mant)]

        # y_i = sat(round_half_up(D_i * r, f_r + k - f_y)), D_i = n*x_i - Sx
        d = Signal(signed(len(sx) + 1))
        m.d.comb += d.eq(n * rd.data - sx)
        prod = Signal(signed(len(d) + len(r) + 1))
        m.d.comb += prod.eq(d * r)
        shift = Signal(range(md.w_bits + md.rsqrt.output.frac + 1))
        m.d.comb += shift.eq(k_r + (md.rsqrt.output.frac - md.out.frac))
        rounded = Signal(signed(len(prod) + 1))
        m.d.comb += rounded.eq(round_shift(prod, shift))
        lo, hi = md.out.min_code, md.out.max_code
        m.d.comb += self.out_data.eq(Mux(rounded > hi, hi, Mux(rounded < lo, lo, rounded)))

        with m.FSM(name="phase"):
            with m.State("LOAD"):
                m.d.comb += self.in_ready.eq(1)
                with m.If(self.in_valid):
                    last = count == n - 1
                    m.d.comb += [wr.addr.eq(count), wr.data.eq(self.in_data), wr.en.eq(1)]
                    m.d.sync += [count.eq(count + 1), sx.eq(sx + self.in_data),
                                 sxx.eq(sxx + self.in_data * self.in_data)]
                    with m.If(self.in_last != last):
                        m.d.sync += err.eq(1)
                    with m.If(last):
                        m.next = "CALC"
            with m.State("CALC"):
                m.d.sync += [r.eq(rsqrt.y), k_r.eq(k), idx.eq(0)]
                m.next = "OUT"
            with m.State("OUT"):
                last = idx == n - 1
                m.d.comb += [self.out_valid.eq(1), self.out_last.eq(last), self.out_error.eq(err)]
                with m.If(self.out_ready):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(last):
                        m.d.sync += [count.eq(0), err.eq(0), sx.eq(0), sxx.eq(0)]
                        m.next = "LOAD"
        return m
