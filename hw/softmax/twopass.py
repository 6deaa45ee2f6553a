"""Amaranth generator of the two-pass softmax unit, ``ROW_STORE=none``
(golden model: ``online.py``, :meth:`OnlineSoftmax.multi_pass`).

No row storage: the caller streams every row twice (DESIGN.md "Multi-pass
row protocol"). Pass 1 takes the running maximum of the powers of two and
the sum that follows it (a right shift when the maximum grows); the calc
takes log2 of the sum; pass 2 produces one output per input in the log
domain, ``2^(t - log2 sum)``, with the same exp2 table and no multiplier.

Why this shape (sold at 200 MHz on OSU 0.18 um, like the element-wise INT8
units):

* both passes share one pipeline that never stalls: input register;
  ``t = x * LOG2E`` to the exp2 table's precision; ``e = t - c`` (pass 2:
  the row's log-denominator ``c``; pass 1: 0), split into the power and the
  fraction; the exp2 table in ``EXP_STAGES`` clocks, beside which pass 1
  updates the running maximum ``A``; then one rounding shifter for both
  passes, ``round_half_up(T, j)``: pass 1's term (``j = A - a``), pass 2's
  output (``j = f_T - f_out - min(b, 0)``, saturated);
* pass 1's one-clock recurrence is only ``S = (S >> delta) + u``, a shift
  and an add; the first element of a row shifts the old sum out entirely
  (``delta`` all ones), so the recurrence has no reset multiplexer;
* the log domain replaced the reciprocal table and pass 2's product
  ``T * r`` (with its shift): the exp2 table is read in both passes anyway,
  and log2 of the sum is read once per row, one multiplier bit per clock
  (:class:`hw.pwl_int.serial.SerialPWL`): 198,741 -> 155,267 um2 at the
  default size (``gqa-lut bench-rowstore``), for 16 clocks more per row
  (a parallel log2 table: 174,086 um2 and 4 clocks more);
* the calc runs on a chain of step flip-flops from pass 1's last input, so
  rows shorter than the calc overlap it safely: the leading one and the
  mantissa of the sum are registers that follow the sum, the log2 table
  starts on the mantissa, and ``c`` loads at a fixed clock; pass 2's first input is taken so that
  it reaches ``e = t - c`` as ``c`` loads. Back-pressure stops the input
  (credits for an output queue).

Row length: pass 1 ends at its ``in_last`` (obeyed, as in the buffered
unit); a row longer than ``row_max`` keeps its first ``row_max`` elements
and is flagged; pass 2 carries exactly the kept elements, counted, with
``in_last`` checked.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from hw.fixed import round_half_up
from hw.layernorm.twopass import data
from hw.pwl_int.serial import SerialPWL
from hw.pwl_int.unit import IntPWL
from hw.rowbuf import leading_one, named, output_queue, round_shift
from hw.softmax.online import log2e
from hw.softmax.ports import signature

#: clocks of the exp2 table (IntPWL stages: cuts after the table read and the product)
EXP_STAGES = 3
#: clocks from an input taken to its table value (input register, t, e, the table)
TO_TABLE = 3 + EXP_STAGES
#: clocks from an input taken to the register ``e = t - c`` that needs ``c``
TO_E = 2


def timing(md, lanes: int = 1) -> dict:
    """Clocks per row (a*n + b) and from a pass-2 input to its output, at
    full rate; what :class:`TwoPassSoftmax` does, checked by the bench."""
    # from pass 1's last input (clock 0): its term u at TO_TABLE + 1, the sum final after
    # TO_TABLE + 2; the leading one, the mantissa, the log2 table, then c loads
    load = TO_TABLE + 2 + 2 + SerialPWL.clocks(md.log2)
    # pass 2's first input reaches e = t - c as c is there
    gap = load + 1 - TO_E
    # input register, t, e, exp2, the rounding shift, queue (written, then its output register)
    depth = TO_TABLE + 1 + 2
    return {"cycles_per_row": [2, gap - 1], "pass2_in_to_out": [0, depth], "load": load, "depth": depth,
            "fifo": depth + 1, "gaps": [gap]}


def describe(model, lanes: int = 1) -> dict:
    """The two-pass unit's part of its manifest (as ``unit.describe``)."""
    _one_lane(lanes)
    t = timing(model)
    b = t["cycles_per_row"][1]
    return {"parameters": {"row_max": model.row_max, "in_frac": model.in_frac, "out_bits": model.out.bits,
                           "row_store": "none", "passes": 2},
            "format": "int8",
            "timing": {"cycles_per_row": t["cycles_per_row"], "pass2_in_to_out": t["pass2_in_to_out"]},
            "cycles_per_row": f"2n + {b} per row of n, each row streamed twice (pass 1: maximum and sum; "
                              f"{b + 1} clocks from its last input to pass 2's first, with in_ready low, for the "
                              "log2 of the sum; pass 2: outputs), in_valid and out_ready high",
            "latency_cycles": f"{t['depth']} clocks from a pass-2 input to its output (a pipeline that never "
                              "stalls; in_ready is low while the output queue could overflow)"}


def _one_lane(lanes: int) -> int:
    if lanes != 1:
        raise ValueError("the softmax unit has one lane (LANES applies to layernorm and rmsnorm)")
    return lanes


class TwoPassSoftmax(wiring.Component):
    """Softmax over rows streamed twice; the ports of
    :class:`hw.softmax.unit.SoftmaxUnit`."""

    describe = staticmethod(describe)
    timing = staticmethod(timing)
    #: what a row store in front of the unit needs (hw/sramstore.py): passes; pass 1 ends at in_last
    PASSES, FIXED_LENGTH = 2, False

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
        m.submodules.exp2 = exp2 = IntPWL(md.exp2, stages=EXP_STAGES)
        m.submodules.log2 = log2 = SerialPWL(md.log2)
        t = timing(md)

        # -- passes and the handshake -------------------------------------------
        pas = Signal()              # 0: statistics, 1: outputs
        armed = Signal()            # pass 2 may start: its first element meets c at e = t - c
        credits = t["fifo"]
        in_flight = Signal(range(credits + 1), name="queued")
        out_ok = named(m, "out_ok", pas & armed & (in_flight < credits))
        m.d.comb += self.in_ready.eq(~pas | out_ok)
        take = named(m, "take", self.in_valid & self.in_ready)
        cnt = Signal(range(n_max + 1))
        n_row = data(range(n_max + 1), "n_row")         # the kept length, from pass 1
        at_end = named(m, "at_end", cnt == n_row - 1)
        misplaced = named(m, "misplaced", self.in_last != at_end)

        # -- pass 1: the length; elements past row_max are counted, not used ------
        ovf, ovf_row = Signal(), data(1, "ovf_row")
        take1 = named(m, "take1", take & ~pas)
        full = named(m, "full", cnt == n_max)
        done1 = named(m, "done1", take1 & self.in_last)
        with m.If(take1):
            with m.If(self.in_last):
                m.d.sync += [cnt.eq(0), n_row.eq(Mux(full, n_max, cnt + 1)), ovf_row.eq(ovf | full), ovf.eq(0),
                             pas.eq(1), armed.eq(0)]
            with m.Else():
                m.d.sync += [cnt.eq(Mux(full, n_max, cnt + 1)), ovf.eq(ovf | full)]

        # -- pass 2: counted, in_last checked -------------------------------------
        take2 = named(m, "take2", take & pas)
        err = Signal()
        err_n = named(m, "err_n", err | misplaced)
        with m.If(take2):
            m.d.sync += [cnt.eq(Mux(at_end, 0, cnt + 1)), err.eq(Mux(at_end, 0, err_n))]
            with m.If(at_end):
                m.d.sync += pas.eq(0)

        # -- the calc's clocks: a chain of steps from pass 1's last input ----------
        steps = [Signal(name=f"calc_step{i}") for i in range(t["load"])]
        m.d.sync += [steps[0].eq(done1)] + [steps[i + 1].eq(steps[i]) for i in range(len(steps) - 1)]
        with m.If(steps[t["gaps"][0] - 2]):         # in_ready may rise on pass 2's first clock
            m.d.sync += armed.eq(1)

        def stage(name, value, shape, valid=False):
            """A pipeline register (a valid bit is reset, the data is not)."""
            reg = Signal(shape, name=name, reset_less=not valid)
            m.d.sync += reg.eq(value)
            return reg

        # -- shared front end: input register, t = x * LOG2E to q fractional bits --------
        use = named(m, "use", take2 | (take1 & ~full))
        v1 = stage("v1", use, 1, True)
        x1 = stage("x1", self.in_data, self.in_data.shape())
        side = [stage("tag1", pas, 1), stage("first1", ~pas & (cnt == 0), 1), stage("end1", at_end, 1),
                stage("flag1", ovf_row | err_n, 1)]
        s, q = md.t_frac, md.exp2.input.frac
        a_lo, a_hi = md.a_range
        a_bits = max(a_lo.bit_length(), a_hi.bit_length()) + 1
        # c is at most A + log2(row_max) + 1; e = t - c reaches -(t's range + c's)
        c_bits = max(a_lo.bit_length(), a_hi.bit_length()) + max(n_max.bit_length(), 1) + 3
        tt = named(m, "t", x1 * Const(log2e()))
        v2 = stage("v2", v1, 1, True)
        t2 = stage("t2", tt >> (s - q), signed(a_bits + q))
        tag2, first2, end2, flag2 = [stage(n + "2", v, 1) for n, v in zip(("tag", "first", "end", "flag"), side)]

        # -- e = t - c (pass 2; pass 1: t), its power b and fraction g ------------------
        c = data(signed(c_bits + q), "c")
        ee = named(m, "e", t2 - Mux(tag2, c, 0))
        v3 = stage("v3", v2, 1, True)
        a3 = stage("a3", ee >> q, signed(c_bits + 1))
        f3 = stage("f3", ee[:q], q)
        tag3, first3, end3, flag3 = [stage(n + "3", v, 1) for n, v in zip(("tag", "first", "end", "flag"),
                                                                          (tag2, first2, end2, flag2))]
        m.d.comb += [exp2.x.eq(f3), exp2.in_valid.eq(v3)]

        # -- beside the table: the running maximum A (pass 1), the shift j, delta ------
        amax = data(signed(a_bits), "amax")
        bigger = named(m, "bigger", a3 > amax)
        a_new = named(m, "a_new", Mux(first3 | (~tag3 & bigger), a3, amax))
        with m.If(v3 & ~tag3):
            m.d.sync += amax.eq(a_new)
        j_max, d_bits = 31, max(md.sum_bits.bit_length(), 1)
        fto = md.exp2.output.frac - md.out.frac
        # pass 1: j = A - a; pass 2: j = f_T - f_out - min(b, 0) (b >= 0 saturates the output)
        j_raw = named(m, "j_raw", Mux(tag3, Mux(a3 < 0, fto - a3, fto), a_new - a3))
        d_raw = named(m, "d_raw", a_new - amax)
        j = named(m, "j", Mux(j_raw > j_max, j_max, j_raw)[:5])
        d_all = (1 << d_bits) - 1
        delta = named(m, "delta", Mux(first3, d_all, Mux(d_raw > d_all, d_all, d_raw[:d_bits]))[:d_bits])
        side = [tag3, end3, flag3, j, delta]
        names = ("tag", "end", "flag", "j", "delta")
        for i in range(EXP_STAGES):
            side = [stage(f"{nm}_e{i}", v, len(v)) for nm, v in zip(names, side)]
        ev, (etag, eend, eflag, ej, edelta) = exp2.out_valid, side
        T = named(m, "T", exp2.y)

        # -- both passes: u = round_half_up(T, j); pass 1: S = (S >> delta) + u --------------
        tb = md.exp2.output.bits
        # j > bits(T) + 1 rounds to 0 as well. (The rounding after the shift is 1.8k um2 smaller
        # here but slower: the decrement, shift and increment in a row, 190 MHz)
        jj = named(m, "jj", Mux(ej > tb + 1, tb + 1, ej))
        v_u = stage("v_u", ev & ~etag, 1, True)
        v_o = stage("v_o", ev & etag, 1, True)
        u = stage("u", round_shift(m, T, jj, "u_rounded"), tb)
        d_u = stage("d_u", edelta, d_bits)
        end_u, flag_u = stage("end_u", eend, 1), stage("flag_u", eflag, 1)
        ssum = data(md.sum_bits, "ssum")
        with m.If(v_u):
            m.d.sync += ssum.eq((ssum >> d_u) + u)

        # -- calc: leading one of S, mantissa in [1, 2), log2, c loads ----------------------
        fm, g = md.log2.input.frac, md.log2.output.frac
        lead = leading_one(m, ssum, "lead")
        lead_r = data(range(max(md.sum_bits, 2)), "lead_r")
        mant = data(md.log2.input.bits, "mant")
        m.d.sync += [lead_r.eq(lead), mant.eq(named(m, "sum_norm", (ssum << fm) >> lead_r))]
        m.d.comb += [log2.x.eq(mant), log2.start.eq(steps[t["load"] - 1 - SerialPWL.clocks(md.log2)])]
        # c = ((A + L - f_T) << q) + round_half_up(l, g - q)
        l_q = named(m, "l_q", round_half_up(log2.y, g - q))
        with m.If(steps[t["load"] - 1]):
            m.d.sync += c.eq(((amax + lead_r - md.exp2.output.frac) << q) + l_q)

        # -- pass 2: p = sat(u), into the output queue ------------------------------------
        p = named(m, "p_sat", Mux(u > md.out.max_code, md.out.max_code, u[:md.out.bits]))
        m.d.comb += in_flight.eq(output_queue(m, self, credits, v_o, p, end_u, flag_u, take2))
        return m
