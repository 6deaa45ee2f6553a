"""Amaranth generator of the streaming softmax unit (golden model: ``model.py``).

Two row buffers (ping-pong, the default): the load stage fills one while the
compute stage works on the other, so a row is taken in while the previous
one is still being summed or output. With one buffer (``row_buffers=1``:
half the row memory, and the row memory is most of the unit's area where
it is flip-flops) the same stages take turns: see the throughput below.

* **load** (``in_ready=1`` while the loading buffer is free): store the
  scores, track the running maximum; elements past ``row_max`` are consumed
  but not stored, and the row is flagged (``out_overflow`` is high on every
  output of that row). ``in_last`` hands the buffer, its length, maximum
  and flag to the compute stage;
* compute, one row after another, one element per clock in each pass:
  **sum**: ``S += EXP(max(x_i - max, d_min))`` through the exp PWL unit;
  **norm** (one clock): leading one of ``S``, mantissa in [1, 2) into the
  reciprocal PWL unit, ``r`` and the exponent registered;
  **out**: ``p_i = sat(round_half_up(EXP(d_i) * r, f_r + L - f_out))``,
  recomputing ``EXP(d_i)`` rather than storing it; ``out_valid`` holds
  until ``out_ready``; ``out_last`` marks the row's last output. The
  buffer is free for the next row after its last output.

The sum needs every element before the first probability exists, so each
element passes the one exp table twice (sum, then out): the compute stage
takes n + 1 + n clocks per row of n, and that is the throughput: **2n + 1
clocks per row** with ``in_valid`` and ``out_ready`` always high (steady
state, rows of n <= row_max; loading, n clocks, is hidden behind the
previous row's compute). A second exp table would let the sum of one row
overlap the output of the previous one (about n clocks per row with three
buffers), at the cost of the unit's largest part. When the compute stage
is idle, a row's first output comes n + 2 clocks after its last input
(the sum starts the clock after ``in_last``).

With one row buffer the bank selects are constant 0 and ``in_ready`` is low
from a row's ``in_last`` until that row's last output transfers, so load,
sum, normalize and output follow each other: **3n + 1 clocks per row**
(load n, sum n, normalize 1, output n) under the same conditions; the
latency from the last input to the first output is unchanged (n + 2).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.pwl_int.unit import IntPWL
from hw.rowbuf import bank_signal, buf_addr, check_row_buffers, flip, leading_one, pick, round_shift


class SoftmaxUnit(wiring.Component):
    """Streaming INT8 softmax for a :class:`hw.softmax.model.Softmax`;
    ``row_buffers`` 2 (ping-pong, 2n + 1 clocks per row) or 1 (3n + 1)."""

    def __init__(self, model, row_buffers: int = 2):
        self.model = model
        self.row_buffers = check_row_buffers(row_buffers)
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
        nb = self.row_buffers
        m.submodules.exp = exp = IntPWL(md.exp, stages=0)
        m.submodules.recip = recip = IntPWL(md.recip, stages=0)
        m.submodules.buf = buf = Memory(shape=self.in_data.shape(), depth=nb * n_max, init=[])
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")

        full = Signal(nb)                       # buffer holds a loaded row not yet fully output
        done = Signal()                         # compute stage: last output transferred this clock
        # per-buffer row state, written by the load stage at in_last
        b_cnt = [Signal(range(n_max + 1), name=f"count_b{b}") for b in range(nb)]
        b_mx = [Signal.like(self.in_data, name=f"max_b{b}") for b in range(nb)]
        b_ovf = [Signal(name=f"overflow_b{b}") for b in range(nb)]
        full_b = [full[b] for b in range(nb)]

        # -- load ------------------------------------------------------------------
        wbank = bank_signal(nb, "wbank")
        count = Signal(range(n_max + 1))        # elements stored
        mx = Signal.like(self.in_data)
        overflow = Signal()
        m.d.comb += self.in_ready.eq(~pick(wbank, full_b))
        take = Signal()
        m.d.comb += take.eq(self.in_valid & self.in_ready)
        store = count < n_max
        mx_n = Signal.like(self.in_data)
        m.d.comb += mx_n.eq(Mux(store & ((count == 0) | (self.in_data > mx)), self.in_data, mx))
        m.d.comb += [wr.addr.eq(buf_addr(wbank, count, n_max)), wr.data.eq(self.in_data),
                     wr.en.eq(take & store)]
        with m.If(take):
            with m.If(self.in_last):
                m.d.sync += [count.eq(0), overflow.eq(0)] + flip(wbank)
                for b in range(nb):
                    with m.If(wbank == b):
                        m.d.sync += [b_cnt[b].eq(Mux(store, count + 1, count)), b_mx[b].eq(mx_n),
                                     b_ovf[b].eq(overflow | ~store)]
            with m.Else():
                m.d.sync += mx.eq(mx_n)
                with m.If(store):
                    m.d.sync += count.eq(count + 1)
                with m.Else():
                    m.d.sync += overflow.eq(1)

        # -- compute ---------------------------------------------------------------
        ebank = bank_signal(nb, "ebank")
        idx = Signal(range(n_max + 1))
        ssum = Signal(md.sum_bits)
        r = Signal(md.recip.output.bits)
        lead_r = Signal(range(max(md.sum_bits, 2)))
        cnt = pick(ebank, b_cnt)
        m.d.comb += rd.addr.eq(buf_addr(ebank, idx, n_max))

        # d_i = max(x_i - max, d_min), into the shared exp unit
        diff = Signal(signed(fin.bits + 2))
        m.d.comb += diff.eq(rd.data - pick(ebank, b_mx))
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

        for b in range(nb):                     # load sets, compute clears: never both on one buffer
            with m.If(take & self.in_last & (wbank == b)):
                m.d.sync += full[b].eq(1)
            with m.Elif(done & (ebank == b)):
                m.d.sync += full[b].eq(0)

        with m.FSM(name="phase"):
            with m.State("SUM"):                # waits here until its buffer is full
                with m.If(pick(ebank, full_b)):
                    m.d.sync += [ssum.eq(ssum + exp.y), idx.eq(idx + 1)]
                    with m.If(idx == cnt - 1):
                        m.next = "NORM"
            with m.State("NORM"):
                m.d.sync += [r.eq(recip.y), lead_r.eq(lead), idx.eq(0)]
                m.next = "OUT"
            with m.State("OUT"):
                last = idx == cnt - 1
                m.d.comb += [self.out_valid.eq(1), self.out_last.eq(last),
                             self.out_overflow.eq(pick(ebank, b_ovf)),
                             done.eq(self.out_ready & last)]
                with m.If(self.out_ready):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(last):
                        m.d.sync += [idx.eq(0), ssum.eq(0)] + flip(ebank)
                        m.next = "SUM"
        return m
