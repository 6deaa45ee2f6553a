"""Amaranth generator of the streaming softmax unit (golden model: ``model.py``).

Three stages run concurrently, each one element per clock, handing rows on
in order: **load** (into a row buffer), **sum** and **out** (both read the
row back from its buffer). Two row buffers (the default) and two exp PWL
units, one per pass, so that one row's output overlaps the next row's sum
and the row after that loads behind the output; with one buffer
(``row_buffers=1``: half the row memory, and the row memory is most of the
unit's area where it is flip-flops) the sum and the output of a row can
never overlap the next one's, so the two passes share one exp unit.

* **load** (``in_ready=1``): store the scores, track the running maximum;
  elements past ``row_max`` are consumed but not stored, and the row is
  flagged (``out_overflow`` is high on every output of that row). The
  loading buffer may still hold the previous row of that buffer while it
  is being output: index j is written only once the output stage has read
  past it (``in_ready`` follows the output stage's position; it depends on
  registers only, never combinationally on ``out_ready``). ``in_last``
  commits the row (its length, maximum and flag, kept per buffer) to the
  sum stage once the buffer's previous row has been output; until then a
  row whose ``in_last`` came early (a shorter row) waits with ``in_ready``
  low;
* **sum**: ``S += EXP(max(x_i - max, d_min))`` through the sum pass's exp
  PWL unit; then **norm** (one clock, once the output stage is free):
  leading one of ``S``, mantissa in [1, 2) into the reciprocal PWL unit,
  ``r`` and the exponent registered for the output stage;
* **out**: ``p_i = sat(round_half_up(EXP(d_i) * r, f_r + L - f_out))``,
  recomputing ``EXP(d_i)`` through the output pass's exp unit;
  ``out_valid`` holds until ``out_ready``; ``out_last`` marks the row's
  last output. The buffer is free for the next row after its last output.

Why a second exp table rather than storing each ``EXP(d_i)`` of the sum
pass for the output pass: the stored values are 16 bits (the exp table's
output format), so a buffer of them costs twice a score buffer, and the
scores must still be kept for the sum (it needs the row's maximum first).
Where the buffers are flip-flops a 128 x 8 score buffer is about 220,000
um2 on OSU 0.18 um, so a 128 x 16 exp buffer alone is about 440,000,
while the second exp table and the stage control cost 68,000 (625,000 um2
against the 557,000 of the former 2n + 1 unit).

Throughput with ``in_valid`` and ``out_ready`` always high (steady state,
rows of n <= row_max): the sum stage is the bottleneck at n + 1 clocks per
row (sum n, norm 1); the output stage takes n, and the row after next
finishes loading one clock after the last output of the row whose buffer
it shares, just in time for the sum stage: **n + 1 clocks per row**. When
the unit is idle a row's first output comes n + 2 clocks after its last
input (the sum starts the clock after ``in_last``).

With one row buffer the bank selects are constant 0: the next row loads
behind the output through the one buffer, its last element waits for the
row's last output, then sum n, norm 1, output: **2n + 2 clocks per row**
under the same conditions; the latency from the last input to the first
output is unchanged (n + 2).

Names in the Verilog (every flip-flop and datapath step is named; see
``tests/test_readable_rtl.py``): load ``count``, ``mx``, ``store``, ``drop``,
``passed``, ``write``, ``commit``, ``row_count``/``row_max``/``row_overflow``;
buffers ``buf<b>_wr__addr|data|en``, ``buf<b>_rd__addr|data``; exp inputs
``diff_sum``/``diff`` (with ``_max``, ``_below``, ``_clamp``); sum ``ssum``,
``e_sum``, ``sidx``, ``sum_last``, ``lead``, ``sum_norm``; output ``e_out``,
``prod``, ``shift``, ``rounded`` (``_unit``, ``_half``, ``_biased``), ``sat``,
``p_sat``, ``oidx``, ``last_o``.

:class:`SoftmaxStream` is the same unit with :mod:`amaranth.lib.stream`
interfaces, for Amaranth designs (``sim/stream_example.py``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from hw.pwl_int.unit import IntPWL
from hw.softmax.ports import signature
from hw.softmax.twopass import TwoPassSoftmax
from hw.sramstore import sram_unit
from hw.rowbuf import (DEFAULT_BUFFERS, RowStream, bank_is, bank_signal, check_row_buffers, copy_bank, flip, leading_one, mem_ports,
                       named, pick, round_shift)


def describe(model, row_buffers: int) -> dict:
    """The unit's part of its manifest (the row-wise contract, hw/rowwise.py):
    parameters, clocks per row as a*n + b and in words (sim/tb_rowwise.py
    measures the figures exactly), latency, output format name."""
    params = {"row_max": model.row_max}
    if row_buffers == 1:
        params["row_buffers"] = 1
        return {"parameters": params, "format": "int8",
                "timing": {"cycles_per_row": [2, 2], "last_in_to_first_out": [1, 2]},
                "cycles_per_row": ("2n + 2 per row of n in steady state (one row buffer and one exp table: the next "
                                   "row loads one index behind the output, its last element waits for the row's "
                                   "last output, then sum n, normalize 1, output n), in_valid and out_ready high"),
                "latency_cycles": ("n + 2 clocks from a row's last input to its first output (sum n, normalize 1, "
                                   "then output); 2n + 2 between consecutive rows' outputs")}
    return {"parameters": params, "format": "int8",
            "timing": {"cycles_per_row": [1, 1], "last_in_to_first_out": [1, 2]},
            "cycles_per_row": ("n + 1 per row of n in steady state (sum n and normalize 1 per row, two exp tables: "
                               "a row's sum overlaps the previous row's output, and the next row loads into that "
                               "row's buffer one index behind its output), in_valid and out_ready high"),
            "latency_cycles": ("n + 2 clocks from a row's last input to its first output when the unit is idle "
                               "(sum n, normalize 1, then output); n + 1 between consecutive rows' outputs")}


class SoftmaxUnit(wiring.Component):
    """Streaming INT8 softmax for a :class:`hw.softmax.model.Softmax`;
    ``row_buffers`` 2 (ping-pong, two exp units, n + 1 clocks per row) or
    1 (one exp unit, 2n + 2)."""

    def __init__(self, model, row_buffers: int = DEFAULT_BUFFERS):
        self.model = model
        self.row_buffers = check_row_buffers(row_buffers)
        super().__init__(signature(model))

    def elaborate(self, platform):
        m = Module()
        md = self.model
        n_max = md.row_max
        nb = self.row_buffers
        m.submodules.exp = exp_o = IntPWL(md.exp, stages=0)        # output pass (both passes with one buffer)
        exp_s = exp_o
        if nb == 2:
            m.submodules.exp_sum = exp_s = IntPWL(md.exp, stages=0)
        m.submodules.recip = recip = IntPWL(md.recip, stages=0)
        # one memory per buffer with one read port each: the sum and the output
        # stage read different buffers, and a second read port on one memory of
        # both buffers would double the read multiplexer
        ports = []
        for b in range(nb):
            mem = Memory(shape=self.in_data.shape(), depth=n_max, init=[])
            name = "buf" if nb == 1 else f"buf{b}"
            m.submodules[name] = mem
            ports.append(mem_ports(mem, name))

        full = Signal(nb)                       # buffer holds a committed row not yet fully output
        tosum = Signal(nb)                      # ... not yet summed
        # per-buffer row state, written when the load stage commits a row
        b_cnt = [Signal(range(n_max + 1), name=f"count_b{b}") for b in range(nb)]
        b_mx = [Signal.like(self.in_data, name=f"max_b{b}") for b in range(nb)]
        b_ovf = [Signal(name=f"overflow_b{b}") for b in range(nb)]
        full_b = [full[b] for b in range(nb)]
        tosum_b = [tosum[b] for b in range(nb)]

        # output stage: buffer, index (0 when idle), busy
        obank = bank_signal(nb, "obank")
        oidx = Signal(range(max(n_max, 2)))
        o_busy = Signal()
        done = Signal()                         # the row's last output transfers this clock
        # sum stage
        sbank = bank_signal(nb, "sbank")
        sidx = Signal(range(max(n_max, 2)))
        norm = Signal()                         # hands the summed row to the output stage this clock

        # -- load ------------------------------------------------------------------
        wbank = bank_signal(nb, "wbank")
        count = Signal(range(n_max + 1))        # elements stored
        mx = Signal.like(self.in_data)
        overflow = Signal()
        pend = Signal()                         # a whole row taken, waiting for its buffer
        wbank_is = [bank_is(m, wbank, b) for b in range(nb)]
        obank_is = [bank_is(m, obank, b) for b in range(nb)]
        sbank_is = [bank_is(m, sbank, b) for b in range(nb)]
        full_w = named(m, "full_w", pick(wbank, full_b))
        free_w = named(m, "free_w", ~full_w)
        store = named(m, "store", count < n_max)
        drop = named(m, "drop", ~store)         # past row_max: consumed, not stored
        # index `count` of a buffer whose row is being output is free once read
        same_bank = named(m, "same_bank", obank == wbank)
        out_past = named(m, "out_past", oidx > count)
        passed = named(m, "passed", same_bank & out_past)
        free_or_drop = named(m, "free_or_drop", free_w | drop)
        room = named(m, "room", free_or_drop | passed)
        no_pend = named(m, "no_pend", ~pend)
        m.d.comb += self.in_ready.eq(no_pend & room)
        take = Signal()
        m.d.comb += take.eq(self.in_valid & self.in_ready)
        first = named(m, "first", count == 0)
        above = named(m, "above_max", self.in_data > mx)
        new_max = named(m, "new_max", first | above)
        max_upd = named(m, "max_upd", store & new_max)
        mx_n = named(m, "mx_n", Mux(max_upd, self.in_data, mx))
        count_p1 = named(m, "count_p1", count + 1)
        cnt_n = named(m, "count_n", Mux(store, count_p1, count))
        ovf_n = named(m, "overflow_n", overflow | drop)
        write = named(m, "write", take & store)
        for b, (wr, _) in enumerate(ports):
            m.d.comb += [wr.addr.eq(count), wr.data.eq(self.in_data), wr.en.eq(write & wbank_is[b])]
        take_last = named(m, "take_last", take & self.in_last)
        row_end = named(m, "row_end", take_last | pend)
        commit = Signal()
        m.d.comb += commit.eq(row_end & free_w)
        # the committed row: the one pending, or the one whose last element is taken now
        row_cnt = named(m, "row_count", Mux(pend, count, cnt_n))
        row_mx = named(m, "row_max", Mux(pend, mx, mx_n))
        row_ovf = named(m, "row_overflow", Mux(pend, overflow, ovf_n))
        next_wbank = flip(wbank, m)
        with m.If(commit):
            m.d.sync += [count.eq(0), overflow.eq(0), pend.eq(0)] + next_wbank
            for b in range(nb):
                with m.If(wbank_is[b]):
                    m.d.sync += [b_cnt[b].eq(row_cnt), b_mx[b].eq(row_mx), b_ovf[b].eq(row_ovf)]
        with m.Elif(take):
            m.d.sync += [mx.eq(mx_n), count.eq(cnt_n), overflow.eq(ovf_n), pend.eq(self.in_last)]

        # buffer flags: a commit needs its buffer free (not full, so neither
        # summed nor output there on the same clock)
        for b in range(nb):
            commit_b = named(m, f"commit_b{b}", commit & wbank_is[b])
            done_b = named(m, f"done_b{b}", done & obank_is[b])
            norm_b = named(m, f"norm_b{b}", norm & sbank_is[b])
            with m.If(commit_b):
                m.d.sync += [full[b].eq(1), tosum[b].eq(1)]
            with m.If(done_b):
                m.d.sync += full[b].eq(0)
            with m.If(norm_b):
                m.d.sync += tosum[b].eq(0)

        # -- row reads and the exp units: d_i = max(x_i - max, d_min) ------------------
        dmin = md.exp.input.min_code

        def feed(unit, x, bank, name):
            row_max = named(m, f"{name}_max", pick(bank, b_mx))
            diff = named(m, name, x - row_max)
            below = named(m, f"{name}_below", diff < dmin)
            m.d.comb += unit.x.eq(named(m, f"{name}_clamp", Mux(below, dmin, diff)))

        if nb == 1:                             # the passes never overlap: one port, one exp unit
            rd = ports[0][1]
            m.d.comb += rd.addr.eq(Mux(o_busy, oidx, sidx))
            feed(exp_o, rd.data, obank, "diff")
        else:                                   # sum and output never read the same buffer at once
            for b, (_, rd) in enumerate(ports):
                out_reads = named(m, f"out_reads_b{b}", o_busy & obank_is[b])
                m.d.comb += rd.addr.eq(Mux(out_reads, oidx, sidx))
            data = [rd.data for _, rd in ports]
            feed(exp_s, named(m, "x_sum", pick(sbank, data)), sbank, "diff_sum")
            feed(exp_o, named(m, "x_out", pick(obank, data)), obank, "diff")

        # -- sum and norm --------------------------------------------------------------
        ssum = Signal(md.sum_bits)
        r = Signal(md.recip.output.bits)
        lead_r = Signal(range(max(md.sum_bits, 2)))
        fm = md.recip.input.frac
        lead = leading_one(m, ssum, "lead")
        mant = Signal(md.recip.input.bits)
        sum_scaled = named(m, "sum_scaled", ssum << fm)
        m.d.comb += [mant.eq(named(m, "sum_norm", sum_scaled >> lead)), recip.x.eq(mant)]
        e_sum = named(m, "e_sum", exp_s.y)      # EXP(d_i) of the sum pass
        ssum_n = named(m, "ssum_n", ssum + e_sum)
        sidx_p1 = named(m, "sidx_p1", sidx + 1)
        tosum_s = named(m, "tosum_s", pick(sbank, tosum_b))
        count_s = named(m, "count_s", pick(sbank, b_cnt))
        count_s_m1 = named(m, "count_s_m1", count_s - 1)
        sum_last = named(m, "sum_last", sidx == count_s_m1)
        out_free = named(m, "out_free", ~o_busy)
        next_sbank = flip(sbank, m)
        with m.FSM(name="phase"):
            with m.State("SUM"):                # waits here until its buffer holds a row to sum
                with m.If(tosum_s):
                    m.d.sync += [ssum.eq(ssum_n), sidx.eq(sidx_p1)]
                    with m.If(sum_last):
                        m.d.sync += sidx.eq(0)
                        m.next = "NORM"
            with m.State("NORM"):               # waits here until the output stage is free
                m.d.comb += norm.eq(out_free)
                with m.If(out_free):
                    m.d.sync += [r.eq(recip.y), lead_r.eq(lead), o_busy.eq(1), ssum.eq(0),
                                 *copy_bank(obank, sbank), *next_sbank]
                    m.next = "SUM"

        # -- out: p = sat(round_half_up(e * r, f_r + L - f_out)) --------------------------
        e_out = named(m, "e_out", exp_o.y)      # EXP(d_i) of the output pass
        prod = named(m, "prod", e_out * r)
        shift = named(m, "shift", lead_r + (md.recip.output.frac - md.out.frac))
        rounded = round_shift(m, prod, shift, "rounded")
        sat = named(m, "sat", rounded > md.out.max_code)
        m.d.comb += self.out_data.eq(named(m, "p_sat", Mux(sat, md.out.max_code, rounded)))
        count_o = named(m, "count_o", pick(obank, b_cnt))
        count_o_m1 = named(m, "count_o_m1", count_o - 1)
        last = named(m, "last_o", oidx == count_o_m1)
        ovf_o = named(m, "overflow_o", pick(obank, b_ovf))
        out_take = named(m, "out_take", o_busy & self.out_ready)
        oidx_p1 = named(m, "oidx_p1", oidx + 1)
        m.d.comb += [self.out_valid.eq(o_busy), self.out_last.eq(o_busy & last),
                     self.out_overflow.eq(o_busy & ovf_o),
                     done.eq(out_take & last)]
        with m.If(out_take):
            with m.If(last):
                m.d.sync += [oidx.eq(0), o_busy.eq(0)]
            with m.Else():
                m.d.sync += oidx.eq(oidx_p1)
        return m


class SoftmaxStream(RowStream):
    """:class:`SoftmaxUnit` with :mod:`amaranth.lib.stream` interfaces (see
    :class:`hw.rowbuf.RowStream`): ``i`` takes scores, payload ``{data, last}``;
    ``o`` gives probabilities, payload ``{data, last, overflow}``. For Amaranth
    designs: ``wiring.connect(m, producer.o, sm.i)``. The generated Verilog
    (``make gen``) is the flat :class:`SoftmaxUnit`, whose ports stay
    ``in_valid``, ``in_ready``, ``in_data``, ``in_last``, ``out_*``."""

    def __init__(self, model, row_buffers: int = DEFAULT_BUFFERS):
        super().__init__(SoftmaxUnit(model, row_buffers), "overflow")


UNIT = SoftmaxUnit
#: the units without a flip-flop row store: none (every row streamed twice; base-2 arithmetic,
#: online.py), and sram (the same unit replaying the row from the chip's SRAM, hw/sramstore.py)
STORES = {"none": TwoPassSoftmax, "sram": sram_unit(TwoPassSoftmax)}
