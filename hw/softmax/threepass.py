"""Amaranth generator of the three-pass softmax unit, ``ROW_STORE=none``
(golden model: ``model.py``, :meth:`Softmax.multi_pass`).

No row storage: the caller streams every row three times (DESIGN.md
"Multi-pass row protocol"). Pass 1 finds the maximum, pass 2 sums
``EXP(max(x_i - max, d_min))``, the calc normalizes the sum and reads the
reciprocal table while ``in_ready`` is low, and pass 3 produces one output
per input. The arithmetic is today's softmax model, bit for bit (no online
rescaling, so no new rounding): three passes instead of two is the price
of keeping it (DESIGN.md says why).

Why this shape (sold at 200 MHz on OSU 0.18 um, like the element-wise
INT8 units):

* pass 1 compares each input with the running maximum, nothing more;
* passes 2 and 3 share one front end and one exp table (a pipeline that
  never stalls): input register, ``d = max(x - max, d_min)``, the exp table
  in ``EXP_STAGES`` clocks; then pass 2's values go into the sum, pass 3's
  into ``e*r`` (two partial products, then their sum with the rounding
  half), the shift and saturation, and an output queue. Back-pressure
  stops the input (credits), so no enable fans out to the pipeline;
* the calc is sequential: leading one of the sum, the normalization shift,
  the reciprocal table (:class:`hw.pwl_int.serial.SerialPWL`, a multiplier
  bit per clock), each in clocks of its own.

Row length: pass 1 ends at its ``in_last`` (obeyed, as in the buffered
unit); a row longer than ``row_max`` keeps its first ``row_max`` elements
and is flagged; passes 2 and 3 then carry exactly the kept elements
(``n = min(length, row_max)``), counted by the unit, ``in_last`` checked.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from hw.layernorm.twopass import data
from hw.pwl_int.serial import SerialPWL
from hw.softmax.ports import signature
from hw.pwl_int.unit import IntPWL
from hw.rowbuf import leading_one, named, output_queue

#: clocks of the exp table (IntPWL stages: cuts after the table read and the product)
EXP_STAGES = 3


def timing(md, lanes: int = 1) -> dict:
    """Clocks per row (a*n + b) and from a pass-3 input to its output, at
    full rate; what :class:`ThreePassSoftmax` does, checked by the bench."""
    # pass 2's last element: input register, d, exp, sum; then lead, shift, and the serial reciprocal
    # table from its start, and r's load; pass 3's first input is taken as r loads
    calc = 1 + 1 + EXP_STAGES + 1 + 2 + SerialPWL.clocks(md.recip) + 1
    # input register, d, exp, e*r in two, rounding bias, queue (written, then its output register)
    depth = 2 + EXP_STAGES + 2 + 2
    # gaps between the passes' last and first elements: pass 2 follows pass 1 at once, pass 3 the calc
    return {"cycles_per_row": [3, calc], "pass3_in_to_out": [0, depth], "calc_cycles": calc, "depth": depth,
            "fifo": depth + 1, "gaps": [1, calc + 1]}


def describe(model, lanes: int = 1) -> dict:
    """The three-pass unit's part of its manifest (as ``unit.describe``)."""
    _one_lane(lanes)
    t = timing(model)
    return {"parameters": {"row_max": model.row_max, "row_store": "none", "passes": 3}, "format": "int8",
            "timing": {"cycles_per_row": t["cycles_per_row"], "pass3_in_to_out": t["pass3_in_to_out"]},
            "cycles_per_row": f"3n + {t['calc_cycles']} per row of n, each row streamed three times (pass 1: "
                              f"maximum; pass 2: sum; {t['calc_cycles'] - 1} clocks of normalization and "
                              "reciprocal with in_ready low; pass 3: outputs), in_valid and out_ready high",
            "latency_cycles": f"{t['depth']} clocks from a pass-3 input to its output (a pipeline that never "
                              "stalls; in_ready is low while the output queue could overflow)"}


def _one_lane(lanes: int) -> int:
    if lanes != 1:
        raise ValueError("the softmax unit has one lane (LANES applies to layernorm and rmsnorm)")
    return lanes


class ThreePassSoftmax(wiring.Component):
    """Softmax over rows streamed three times; the ports of
    :class:`hw.softmax.unit.SoftmaxUnit`."""

    describe = staticmethod(describe)
    timing = staticmethod(timing)
    #: what a row store in front of the unit needs (hw/sramstore.py): passes; pass 1 ends at in_last
    PASSES, FIXED_LENGTH = 3, False

    @staticmethod
    def row_words(md, lanes: int = 1) -> int:
        return md.row_max

    def __init__(self, model, lanes: int = 1):
        self.model, self.lanes = model, _one_lane(lanes)
        super().__init__(signature(model))

    def elaborate(self, platform):
        m = Module()
        md = self.model
        n_max = md.row_max
        fe = md.exp.output
        m.submodules.exp = exp = IntPWL(md.exp, stages=EXP_STAGES)
        m.submodules.recip = recip = SerialPWL(md.recip)
        t = timing(md)

        # -- passes and the handshake -------------------------------------------
        pas = Signal(2)             # 0: maximum, 1: sum, 2: outputs
        calc_busy = Signal()
        credits = t["fifo"]
        in_flight = Signal(range(credits + 1), name="queued")
        free = named(m, "free", (pas != 2) & ~calc_busy)
        out_ok = named(m, "out_ok", (pas == 2) & (in_flight < credits))
        m.d.comb += self.in_ready.eq(free | out_ok)
        take = named(m, "take", self.in_valid & self.in_ready)
        cnt = Signal(range(n_max + 1))
        n_row = data(range(n_max + 1), "n_row")         # the kept length, from pass 1
        at_end = named(m, "at_end", cnt == n_row - 1)
        misplaced = named(m, "misplaced", self.in_last != at_end)

        # -- pass 1: running maximum over the first row_max elements, the length --
        mx = data(md.input.bits if not md.input.signed else signed(md.input.bits), "mx")
        ovf, ovf_row = Signal(), data(1, "ovf_row")
        take1 = named(m, "take1", take & (pas == 0))
        full = named(m, "full", cnt == n_max)
        x = self.in_data
        with m.If(take1):
            with m.If(~full):
                m.d.sync += mx.eq(Mux((cnt == 0) | (x > mx), x, mx))
            with m.If(self.in_last):
                m.d.sync += [cnt.eq(0), n_row.eq(Mux(full, n_max, cnt + 1)), ovf_row.eq(ovf | full), ovf.eq(0),
                             pas.eq(1)]
            with m.Else():
                m.d.sync += [cnt.eq(Mux(full, n_max, cnt + 1)), ovf.eq(ovf | full)]

        # -- passes 2 and 3: counted, in_last checked ------------------------------
        take23 = named(m, "take23", take & (pas != 0))
        take3 = named(m, "take3", take & (pas == 2))
        err2, err2_row, err3 = Signal(), data(1, "err2_row"), Signal()
        err3_n = named(m, "err3_n", err3 | misplaced)
        with m.If(take23):
            m.d.sync += cnt.eq(Mux(at_end, 0, cnt + 1))
            with m.If(pas == 1):
                m.d.sync += err2.eq(Mux(at_end, 0, err2 | misplaced))
                with m.If(at_end):
                    m.d.sync += [err2_row.eq(err2 | misplaced), calc_busy.eq(1)]
            with m.Else():
                m.d.sync += err3.eq(Mux(at_end, 0, err3_n))
                with m.If(at_end):
                    m.d.sync += pas.eq(0)

        # -- shared front end: input register, d = max(x - max, d_min), exp ------
        valids = []

        def stage(name, value, shape, valid=False):
            reg = Signal(shape, name=name, reset_less=not valid)
            m.d.sync += reg.eq(value)
            if valid:
                valids.append(reg)
            return reg

        v1 = stage("v1", take23, 1, True)
        x1 = stage("x1", x, self.in_data.shape())
        tag1 = stage("tag1", pas == 2, 1)                    # pass 3 (outputs), else pass 2 (sum)
        end1 = stage("end1", at_end, 1)
        flag1 = stage("flag1", ovf_row | err2_row | err3_n, 1)
        dmin = md.exp.input.min_code
        diff = named(m, "diff", x1 - mx)
        v2 = stage("v2", v1, 1, True)
        d2 = stage("d2", Mux(diff < dmin, dmin, diff), signed(md.exp.input.bits))
        side = [stage("tag2", tag1, 1), stage("end2", end1, 1), stage("flag2", flag1, 1)]
        m.d.comb += [exp.x.eq(d2), exp.in_valid.eq(v2)]
        for i in range(EXP_STAGES):                          # beside the table's pipeline
            side = [stage(f"{nm}_e{i}", s, 1) for nm, s in zip(("tag", "end", "flag"), side)]
            valids.append(stage(f"v_e{i}", v2 if i == 0 else valids[-1], 1, True))
        ev, (etag, eend, eflag) = exp.out_valid, side
        e = named(m, "e", exp.y)

        # -- pass 2: the sum ------------------------------------------------------
        ssum = data(md.sum_bits, "ssum")
        sum_first = Signal(init=1)                           # the next pass-2 value starts a row's sum
        add = named(m, "add", ev & ~etag)
        with m.If(add):
            m.d.sync += [ssum.eq(Mux(sum_first, 0, ssum) + e), sum_first.eq(eend)]
        calc_go = named(m, "calc_go", add & eend)

        # -- calc: leading one of S, mantissa in [1, 2), reciprocal ----------------
        fm, fr, fo = md.recip.input.frac, md.recip.output.frac, md.out.frac
        lead = leading_one(m, ssum, "lead")
        lead_r = data(range(max(md.sum_bits, 2)), "lead_r")
        mant = data(md.recip.input.bits, "mant")
        shift_c = fr - fo
        half_bits = md.sum_bits + shift_c
        o_r = data(md.recip.output.bits, "o_r")
        o_shift = data(range(half_bits + 1), "o_shift")
        o_half = data(half_bits, "o_half")
        pipe_busy = Signal()
        # lead and mantissa run free (the sum holds still after its last add); the steps and the
        # load are flip-flops, so no decoded state fans out to the data registers
        m.d.sync += [lead_r.eq(lead), mant.eq(named(m, "sum_norm", (ssum << fm) >> lead_r))]
        steps = [Signal(name=f"calc_step{i}") for i in range(3)]     # the sum, lead, mantissa valid
        m.d.sync += [steps[0].eq(calc_go)] + [steps[i + 1].eq(steps[i]) for i in range(2)]
        m.d.comb += [recip.x.eq(mant), recip.start.eq(steps[2])]
        waiting, do_load = Signal(), Signal()
        load_now = named(m, "load_now", waiting & recip.done & ~pipe_busy & ~do_load)
        m.d.sync += [waiting.eq(Mux(steps[2], 1, waiting & ~load_now)), do_load.eq(load_now)]
        with m.If(do_load):             # r, once the previous row's outputs have left the pipeline
            m.d.sync += [o_r.eq(recip.y), o_shift.eq(lead_r + shift_c),
                         o_half.eq(named(m, "half", Const(1, half_bits + 1) << (lead_r + (shift_c - 1)))),
                         pas.eq(2), calc_busy.eq(0)]

        # -- pass 3: p = sat(rhu(e * r, f_r + L - f_out)) into the output queue -----
        out3 = named(m, "out3", ev & etag)
        h = (len(o_r) + 1) // 2
        pw = fe.bits + len(o_r) + 1
        v_p = stage("v_p", out3, 1, True)
        p_lo = stage("p_lo", e * o_r[:h], pw)
        p_hi = stage("p_hi", e * o_r[h:], pw)
        end_p, flag_p = stage("end_p", eend, 1), stage("flag_p", eflag, 1)
        v_b = stage("v_b", v_p, 1, True)
        biased = stage("biased", p_lo + (p_hi << h) + o_half, pw + 2)
        end_b, flag_b = stage("end_b", end_p, 1), stage("flag_b", flag_p, 1)
        rounded = named(m, "rounded", biased >> o_shift)
        p = named(m, "p_sat", Mux(rounded > md.out.max_code, md.out.max_code, rounded))
        m.d.comb += in_flight.eq(output_queue(m, self, credits, v_b, p, end_b, flag_b, take3))
        # the row's reciprocal and shift may change once no pass-3 element before the queue uses them
        m.d.comb += pipe_busy.eq(Cat(*valids).any())
        return m
