"""Amaranth generator of the two-pass softmax unit, ``ROW_STORE=none``
(golden model: ``online.py``, :meth:`OnlineSoftmax.multi_pass`).

No row storage: the caller streams every row twice (DESIGN.md "Multi-pass
row protocol"). Pass 1 takes the running maximum of the powers of two and
the sum that follows it (a right shift when the maximum grows); the calc
normalizes the sum and reads the reciprocal table; pass 2 produces one
output per input.

Why this shape (sold at 200 MHz on OSU 0.18 um, like the element-wise INT8
units):

* both passes share one front end and one exp2 table, a pipeline that never
  stalls: input register; ``t = x * LOG2E`` split into the power ``a`` and
  the fraction ``f``; the table in ``EXP_STAGES`` clocks, beside which pass 1
  updates the running maximum ``A`` and both passes compute ``j = A - a``;
* pass 1: ``u = round_half_up(T, j)`` in a clock of its own, so that the
  one-clock recurrence is only ``S = (S >> delta) + u``, a shift and an add;
  the first element of a row shifts the old sum out entirely (``delta``
  all ones), so the recurrence has no reset multiplexer;
* pass 2: ``T * r`` in two partial products, their sum, then the
  element's own shift ``lead + f_r - f_out + j`` with the rounding after it
  (``((v >> (s - 1)) + 1) >> 1``, the same value) and saturation, an output
  queue. Back-pressure stops the input (credits);
* the calc runs on a chain of step flip-flops from pass 1's last input, so
  rows shorter than the calc overlap it safely: the leading one and the
  mantissa of the sum are registers that follow the sum, the reciprocal
  table (:class:`hw.pwl_int.unit.IntPWL`, ``RECIP_STAGES``) follows the
  mantissa, and ``r`` loads at a fixed clock. Pass 2's first input is taken
  so that it reaches the product as ``r`` loads.

Row length: pass 1 ends at its ``in_last`` (obeyed, as in the buffered
unit); a row longer than ``row_max`` keeps its first ``row_max`` elements
and is flagged; pass 2 carries exactly the kept elements, counted, with
``in_last`` checked.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from hw.layernorm.twopass import data
from hw.pwl_int.model import evaluate
from hw.pwl_int.unit import IntPWL
from hw.rowbuf import leading_one, named, output_queue
from hw.softmax.online import log2e
from hw.softmax.ports import signature

#: clocks of the exp2 table (IntPWL stages: cuts after the table read and the product)
EXP_STAGES = 3
#: clocks of the reciprocal table
RECIP_STAGES = 4
#: clocks from an input taken to the product ``T * r`` (input register, t, the table)
TO_PRODUCT = 2 + EXP_STAGES


def timing(md, lanes: int = 1) -> dict:
    """Clocks per row (a*n + b) and from a pass-2 input to its output, at
    full rate; what :class:`TwoPassSoftmax` does, checked by the bench."""
    # from pass 1's last input (clock 0): its term u at TO_PRODUCT + 1, the sum final after
    # TO_PRODUCT + 2; the leading one, the mantissa, the reciprocal table, then r loads
    load = TO_PRODUCT + 2 + 2 + RECIP_STAGES
    # pass 2's first input reaches the product as r is there
    gap = load + 1 - TO_PRODUCT
    # input register, t, exp2, the two partial products, their sum, queue (written, then its output register)
    depth = TO_PRODUCT + 2 + 2
    return {"cycles_per_row": [2, gap - 1], "pass2_in_to_out": [0, depth], "load": load, "depth": depth,
            "fifo": depth + 1, "gaps": [gap]}


def describe(model, lanes: int = 1) -> dict:
    """The two-pass unit's part of its manifest (as ``unit.describe``)."""
    _one_lane(lanes)
    t = timing(model)
    b = t["cycles_per_row"][1]
    return {"parameters": {"row_max": model.row_max, "in_frac": model.in_frac, "row_store": "none", "passes": 2},
            "format": "int8",
            "timing": {"cycles_per_row": t["cycles_per_row"], "pass2_in_to_out": t["pass2_in_to_out"]},
            "cycles_per_row": f"2n + {b} per row of n, each row streamed twice (pass 1: maximum and sum; "
                              f"{b + 1} clocks from its last input to pass 2's first, with in_ready low, for the "
                              "reciprocal; pass 2: outputs), in_valid and out_ready high",
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
        m.submodules.recip = recip = IntPWL(md.recip, stages=RECIP_STAGES)
        t = timing(md)

        # -- passes and the handshake -------------------------------------------
        pas = Signal()              # 0: statistics, 1: outputs
        armed = Signal()            # pass 2 may start: its first element meets r at the product
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

        # -- shared front end: input register, t = x * LOG2E, a and f ---------------
        def stage(name, value, shape, valid=False):
            """A pipeline register (a valid bit is reset, the data is not)."""
            reg = Signal(shape, name=name, reset_less=not valid)
            m.d.sync += reg.eq(value)
            return reg

        use = named(m, "use", take2 | (take1 & ~full))
        v1 = stage("v1", use, 1, True)
        x1 = stage("x1", self.in_data, self.in_data.shape())
        side = [stage("tag1", pas, 1), stage("first1", ~pas & (cnt == 0), 1), stage("end1", at_end, 1),
                stage("flag1", ovf_row | err_n, 1)]
        s, q = md.t_frac, md.exp2.input.frac
        a_lo, a_hi = md.a_range
        a_bits = max(a_lo.bit_length(), a_hi.bit_length()) + 1
        tt = named(m, "t", x1 * Const(log2e()))
        v2 = stage("v2", v1, 1, True)
        a2 = stage("a2", tt >> s, signed(a_bits))
        f2 = stage("f2", tt[s - q:s], q)
        tag2, first2, end2, flag2 = [stage(n + "2", v, 1) for n, v in zip(("tag", "first", "end", "flag"), side)]
        m.d.comb += [exp2.x.eq(f2), exp2.in_valid.eq(v2)]

        # -- beside the table: the running maximum A (pass 1), j = A - a, delta ------
        amax = data(signed(a_bits), "amax")
        bigger = named(m, "bigger", a2 > amax)
        a_new = named(m, "a_new", Mux(first2 | (~tag2 & bigger), a2, amax))
        with m.If(v2 & ~tag2):
            m.d.sync += amax.eq(a_new)
        j_max, d_bits = 31, max(md.sum_bits.bit_length(), 1)
        j_raw = named(m, "j_raw", a_new - a2)
        d_raw = named(m, "d_raw", a_new - amax)
        # a pass-2 code above pass 1's maximum counts as at it (j = 0): the model's clamp
        j = named(m, "j", Mux(j_raw < 0, 0, Mux(j_raw > j_max, j_max, j_raw))[:5])
        d_all = (1 << d_bits) - 1
        delta = named(m, "delta", Mux(first2, d_all, Mux(d_raw > d_all, d_all, d_raw[:d_bits]))[:d_bits])
        side = [tag2, end2, flag2, j, delta]
        names = ("tag", "end", "flag", "j", "delta")
        for i in range(EXP_STAGES):
            side = [stage(f"{nm}_e{i}", v, len(v)) for nm, v in zip(names, side)]
        ev, (etag, eend, eflag, ej, edelta) = exp2.out_valid, side
        T = named(m, "T", exp2.y)

        # -- pass 1: u = round_half_up(T, j), then S = (S >> delta) + u --------------
        tb = md.exp2.output.bits
        # j > bits(T) + 1 rounds to 0 as well. (The rounding after the shift, as pass 2 does it, is
        # 1.8k um2 smaller here but slower: the decrement, shift and increment in a row, 190 MHz)
        jj = named(m, "jj", Mux(ej > tb + 1, tb + 1, ej))
        u_half = named(m, "u_half", (Const(1, 1) << jj) >> 1)
        v_u = stage("v_u", ev & ~etag, 1, True)
        u = stage("u", named(m, "u_biased", T + u_half) >> jj, tb)
        d_u = stage("d_u", edelta, d_bits)
        ssum = data(md.sum_bits, "ssum")
        with m.If(v_u):
            m.d.sync += ssum.eq((ssum >> d_u) + u)

        # -- calc: leading one of S, mantissa in [1, 2), reciprocal, r loads --------
        fm, fr, fo = md.recip.input.frac, md.recip.output.frac, md.out.frac
        lead = leading_one(m, ssum, "lead")
        lead_r = data(range(max(md.sum_bits, 2)), "lead_r")
        mant = data(md.recip.input.bits, "mant")
        m.d.sync += [lead_r.eq(lead), mant.eq(named(m, "sum_norm", (ssum << fm) >> lead_r))]
        m.d.comb += [recip.x.eq(mant), recip.in_valid.eq(1)]
        shift_c = fr - fo
        o_r = data(md.recip.output.bits, "o_r")
        o_shift = data(range(md.sum_bits + shift_c + 1), "o_shift")
        with m.If(steps[t["load"] - 1]):
            m.d.sync += [o_r.eq(recip.y), o_shift.eq(lead_r + shift_c)]

        # -- pass 2: p = sat(round_half_up(T * r, s)), s = o_shift + j, into the output queue --
        # round_half_up(v, s) = ((v >> (s - 1)) + 1) >> 1 for v >= 0: the shift comes first, so the
        # rounding adds 1 to a few bits instead of a decoded half to the whole product; and since
        # the sum is at least the table's least value, s >= s_lo, so s_lo - 1 of the shift is wiring
        out2 = named(m, "out2", ev & etag)
        h = (len(o_r) + 1) // 2
        pw = tb + len(o_r)
        s_max = pw + 1                  # a shift of s_max rounds every product to 0, as any larger one
        t_min = int(evaluate(md.exp2, md.exp2.input.codes()).min())
        s_lo = shift_c + max(t_min.bit_length() - 1, 0)
        s_sum = named(m, "s_sum", o_shift + ej)
        v_p = stage("v_p", out2, 1, True)
        p_lo = stage("p_lo", T * o_r[:h], pw)
        p_hi = stage("p_hi", T * o_r[h:], pw)
        s_p = stage("s_p", Mux(s_sum > s_max, s_max, s_sum) - s_lo, range(s_max - s_lo + 1))
        end_p, flag_p = stage("end_p", eend, 1), stage("flag_p", eflag, 1)
        v_b = stage("v_b", v_p, 1, True)
        prod = stage("prod", p_lo + (p_hi << h), pw)
        s_b = stage("s_b", s_p, range(s_max - s_lo + 1))
        end_b, flag_b = stage("end_b", end_p, 1), stage("flag_b", flag_p, 1)
        vs = named(m, "prod_shifted", (prod >> (s_lo - 1)) >> s_b)
        top = 2 * md.out.max_code + 1   # (vs + 1) >> 1 > max_code exactly when vs >= top
        p = named(m, "p_sat", Mux(vs >= top, md.out.max_code, ((vs + 1) >> 1)[:md.out.bits]))
        m.d.comb += in_flight.eq(output_queue(m, self, credits, v_b, p, end_b, flag_b, take2))
        return m
