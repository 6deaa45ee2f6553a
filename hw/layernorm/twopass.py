"""Amaranth generator of the two-pass LayerNorm / RMSNorm unit, ``ROW_STORE=none``
(golden model: ``model.py``, :meth:`LayerNorm.two_pass`).

No row storage: the caller streams every row twice, the same n codes in
the same order (DESIGN.md "Multi-pass row protocol"). The first pass only
gathers ``Sx`` and ``Sxx``; the unit then computes the row's statistics
(``W``, its rsqrt ``r`` and exponent ``k``) while ``in_ready`` is low, and
the second pass produces one output per input through a pipeline. The
arithmetic is the model's, bit for bit; only the row store differs from
:class:`hw.layernorm.unit.LayerNormUnit`.

Why this shape (the unit is sold at a clock: 200 MHz at 8-bit I/O on OSU
0.18 um, DESIGN.md "Row-wise timing"):

* **pass 1** is a three-stage pipeline that never stalls: input register,
  square, accumulate; so no path holds more than one 2x8-bit product or
  one accumulator add;
* **calc** is sequential, since it runs once per row: ``Sx^2`` by a
  shift-add squarer (one narrow adder, ``|Sx|`` bits clocks; RMSNorm has
  no ``Sx`` and skips it), then ``n*Sxx + E``, ``- Sx^2``, the leading one,
  the normalization shift and the rsqrt table, each in a clock of its own;
* **pass 2** is a pipeline that never stalls: input register; ``D = n*x -
  Sx`` (and gamma/beta read); ``D*r`` (``*g``) as two partial products, then
  their sum with the half-up rounding bias; the shift and saturation into
  an output queue. Back-pressure stops the input instead: ``in_ready`` is
  low while the queue's credits are used up, a function of registers only.

Clocks per row with ``in_valid`` and ``out_ready`` always high:
``2n + calc``; :func:`timing` gives both figures, which the bench checks.

``in_last`` is checked, not obeyed, in both passes: every pass is n
elements. ``out_error`` is high on every output of a row whose first pass
had ``in_last`` misplaced, and from the first misplaced ``in_last`` of the
second pass on (that output included).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring

from hw.layernorm.ports import affine_part, param_registers, signature
from hw.pwl_int.serial import SerialPWL
from hw.rowbuf import leading_one, named, output_queue

def data(shape, name: str) -> Signal:
    """A datapath register: no reset (a valid bit or the calc sequence says
    when it holds a value), so ``rst`` fans out to the control flip-flops only."""
    return Signal(shape, name=name, reset_less=True)


def _abs_bits(md) -> int:
    big = max(-md.input.min_code, md.input.max_code)
    return (md.row_len * big).bit_length()


def timing(md) -> dict:
    """Clocks per row (a*n + b) and from a second-pass input to its output,
    at full rate; what :class:`TwoPassNorm` does, checked by the bench."""
    sq = _abs_bits(md) + 1 if md.centered else 0
    # after pass 1's last input: 2 (square, accumulate) + squarer (|Sx| loaded, then a bit a clock) + 4
    # (W, lead, shift, table start) + the serial rsqrt table + 1 (the statistics load); pass 2's first
    # input is taken as they load
    calc = 2 + sq + 4 + SerialPWL.clocks(md.rsqrt) + 1
    # input register, D, D*r in two (and *g in three), rounding bias, then the queue (written, then
    # its output register)
    depth = 6 + (2 if md.affine else 0)
    # gaps: from pass 1's last element to pass 2's first (the next row's first follows the last at once)
    return {"cycles_per_row": [2, calc], "pass2_in_to_out": [0, depth], "calc_cycles": calc, "depth": depth,
            "fifo": depth + 1, "gaps": [calc + 1]}


def describe(model) -> dict:
    """The two-pass unit's part of its manifest (as ``unit.describe``)."""
    t = timing(model)
    params = {"row_len": model.row_len, "eps": model.eps, "eps_code": model.eps_code, "affine": model.affine,
              "row_store": "none", "passes": 2}
    out = {"parameters": params, "format": model.rsqrt.format_name,
           "timing": {"cycles_per_row": t["cycles_per_row"], "pass2_in_to_out": t["pass2_in_to_out"]},
           "cycles_per_row": f"2n + {t['calc_cycles']} per row of n = row_len, each row streamed twice (pass 1: "
                             f"statistics; {t['calc_cycles']} clocks of rsqrt with in_ready low; pass 2: outputs), "
                             "in_valid and out_ready high",
           "latency_cycles": f"{t['depth']} clocks from a pass-2 input to its output (a pipeline with one enable: "
                             "it holds while out_valid is high and out_ready low)"}
    out.update(affine_part(model, params))
    return out


class TwoPassNorm(wiring.Component):
    """LayerNorm (or RMSNorm: ``model.centered`` False) over rows streamed
    twice; the ports of :class:`hw.layernorm.unit.LayerNormUnit`."""

    describe = staticmethod(describe)
    timing = staticmethod(timing)
    #: what a row store in front of the unit needs (hw/sramstore.py): passes, and every pass is row_len long
    PASSES, FIXED_LENGTH = 2, True

    @staticmethod
    def row_words(md) -> int:
        return md.row_len

    def __init__(self, model):
        self.model = model
        super().__init__(signature(model))

    def elaborate(self, platform):
        m = Module()
        md = self.model
        n = md.row_len
        big = max(-md.input.min_code, md.input.max_code)
        ab = _abs_bits(md)
        sx_shape = signed(ab + 1)
        sxx_shape = unsigned((n * big * big).bit_length())
        fr, fy = md.rsqrt.output.frac, md.out.frac
        m.submodules.rsqrt = rsqrt = SerialPWL(md.rsqrt)

        # -- handshake and passes ------------------------------------------------
        second = Signal()           # 0: pass 1 (statistics), 1: pass 2 (outputs)
        calc_busy = Signal()        # between the passes: in_ready low
        t = timing(md)
        credits = t["fifo"]         # pass-2 elements taken and not yet delivered, at most
        in_flight = Signal(range(credits + 1), name="queued")
        p1_ready = named(m, "p1_ready", ~second & ~calc_busy)
        p2_ready = named(m, "p2_ready", second & (in_flight < credits))
        m.d.comb += self.in_ready.eq(p1_ready | p2_ready)
        take = named(m, "take", self.in_valid & self.in_ready)
        cnt = Signal(range(n))
        last_in = named(m, "last_in", cnt == n - 1)
        misplaced = named(m, "misplaced", self.in_last != last_in)
        with m.If(take):
            m.d.sync += cnt.eq(Mux(last_in, 0, cnt + 1))

        # -- pass 1: input register, square, accumulate (never stalls) -------------
        # the sums start afresh at a row's first element and keep the row's totals
        # through the calc (the next row's pass 1 comes after this row's pass 2)
        a_v, a_end, a_first = Signal(), Signal(), Signal()
        a_x = data(signed(md.input.bits), "a_x")
        take1 = named(m, "take1", take & ~second)
        m.d.sync += [a_v.eq(take1), a_end.eq(take1 & last_in), a_first.eq(take1 & (cnt == 0)),
                     a_x.eq(self.in_data)]
        b_v, b_end, b_first = Signal(), Signal(), Signal()
        b_x = data(signed(md.input.bits), "b_x")
        b_sq = data(unsigned(2 * md.input.bits), "b_sq")
        m.d.sync += [b_v.eq(a_v), b_end.eq(a_end), b_first.eq(a_first), b_x.eq(a_x), b_sq.eq(a_x * a_x)]
        sx, sxx = data(sx_shape, "sx"), data(sxx_shape, "sxx")
        sx_n = named(m, "sx_n", Mux(b_first, 0, sx) + b_x) if md.centered else Const(0, 1)
        sxx_n = named(m, "sxx_n", Mux(b_first, 0, sxx) + b_sq)
        err1, err1_row = Signal(), data(1, "err1_row")      # pass 1's in_last misplaced: so far / of the finished pass
        with m.If(take1):
            m.d.sync += err1.eq(Mux(last_in, 0, err1 | misplaced))
            with m.If(last_in):
                m.d.sync += [err1_row.eq(err1 | misplaced), calc_busy.eq(1)]
        with m.If(b_v):
            m.d.sync += [sx.eq(sx_n), sxx.eq(sxx_n)]
        calc_go = named(m, "calc_go", b_v & b_end)

        # -- calc: W = n*Sxx - Sx^2 + E, leading one (even exponent), rsqrt -------
        # A sequence of steps in which every data register either runs free (its inputs hold
        # still while it matters) or is enabled by a flip-flop, never by decoded state: an
        # enable decoded from a state and fanned out to a hundred flip-flops was the slowest path.
        w_bits = md.w_bits
        if md.centered:                 # Sx^2 by shift-add: one bit of |Sx| per clock
            sx_abs = named(m, "sx_abs", Mux(sx < 0, -sx, sx))
            sq_b = data(ab, "sq_b")
            sq_hi, sq_lo = data(ab + 1, "sq_hi"), data(ab, "sq_lo")
            sq_sum = named(m, "sq_sum", sq_hi + Mux(sq_b[0], sx_abs, 0))
            sq_cnt = data(range(ab + 1), "sq_cnt")
            sq_init, sq_run = Signal(), Signal()
            sq_last = named(m, "sq_last", sq_cnt == ab - 1)
            m.d.sync += [sq_init.eq(calc_go), sq_run.eq(sq_init | (sq_run & ~sq_last))]
            with m.If(sq_init):
                m.d.sync += [sq_b.eq(sx_abs), sq_hi.eq(0), sq_lo.eq(0), sq_cnt.eq(0)]
            with m.If(sq_run):
                m.d.sync += [sq_hi.eq(sq_sum >> 1), sq_lo.eq(Cat(sq_lo[1:], sq_sum[0])),
                             sq_b.eq(sq_b >> 1), sq_cnt.eq(sq_cnt + 1)]
            sq = Cat(sq_lo, sq_hi)
            sums_final = named(m, "sq_final", sq_run & sq_last)
        else:
            sq, sums_final = Const(0, 1), calc_go
        # then W, its leading one, the mantissa (free running), a clock each, and the table
        w = data(w_bits, "w")
        k = data(range(w_bits + 1), "k")
        fm = md.rsqrt.input.frac
        mant = data(md.rsqrt.input.bits, "mant")
        lead = leading_one(m, w, "lead")
        w_scaled = named(m, "w_scaled", w << fm)
        m.d.sync += [w.eq(named(m, "w_exact", n * sxx + md.eps_code - sq)), k.eq(lead >> 1),
                     mant.eq(named(m, "w_norm", w_scaled >> (k << 1)))]
        steps = [Signal(name=f"calc_step{i}") for i in range(4)]     # W, k, mant valid in turn
        m.d.sync += [steps[0].eq(sums_final)] + [steps[i + 1].eq(steps[i]) for i in range(3)]
        m.d.comb += [rsqrt.x.eq(mant), rsqrt.start.eq(steps[3])]
        r_shape = unsigned(md.rsqrt.output.bits)
        # the row's statistics, as the pass-2 pipeline uses them; the output shift
        # s = k + f_r [+ f_g] - f_y and its rounding half 2^(s-1) per row, so that no path runs
        # from k through a decoder into the pipeline's adders
        shift_c = fr - fy + (md.gamma_fmt.frac if md.affine else 0)
        o_sx, o_r = data(sx_shape, "o_sx"), data(r_shape, "o_r")
        o_shift = data(range(w_bits + shift_c + 1), "o_shift")
        half_bits = w_bits + shift_c
        o_half = data(half_bits, "o_half")
        o_err = data(1, "o_err")
        pipe_busy = Signal()
        waiting, do_load = Signal(), Signal()
        # the table's result, once the previous row's outputs have left the pipeline
        load_now = named(m, "load_now", waiting & rsqrt.done & ~pipe_busy & ~do_load)
        m.d.sync += [waiting.eq(Mux(steps[3], 1, waiting & ~load_now)), do_load.eq(load_now)]
        with m.If(do_load):
            m.d.sync += [o_sx.eq(sx), o_r.eq(rsqrt.y), o_shift.eq(k + shift_c),
                         o_half.eq(named(m, "half", Const(1, half_bits + 1) << (k + (shift_c - 1)))),
                         o_err.eq(err1_row), second.eq(1), calc_busy.eq(0)]

        # -- pass 2: a pipeline that never stalls, into an output queue -------------
        # Back-pressure stops the input instead (credits: ``in_ready`` is low while
        # ``fifo`` elements are in flight), so no enable fans out to every stage.
        take2 = named(m, "take2", take & second)
        err2 = Signal()                          # a misplaced in_last so far in this pass 2
        err2_n = named(m, "err2_n", err2 | misplaced)
        with m.If(take2):
            m.d.sync += err2.eq(Mux(last_in, 0, err2_n))
            with m.If(last_in):
                m.d.sync += second.eq(0)
        valids = []

        def stage(name, value, shape, reset_less=True):
            reg = Signal(shape, name=name, reset_less=reset_less)
            m.d.sync += reg.eq(value)
            return reg

        def valid(name, value):
            v = stage(name, value, 1, reset_less=False)
            valids.append(v)
            return v

        v1 = valid("v1", take2)
        x1 = stage("x1", self.in_data, signed(md.input.bits))
        i1 = stage("i1", cnt, range(n))
        l1 = stage("l1", last_in, 1)
        e1 = stage("e1", o_err | err2_n, 1)
        d_shape = signed((2 * n * big).bit_length() + 1)
        v2 = valid("v2", v1)
        d2 = stage("d2", named(m, "d", n * x1 - o_sx), d_shape)
        l2, e2 = stage("l2", l1, 1), stage("e2", e1, 1)
        if md.affine:
            gam, bet = param_registers(m, self)
            g2 = stage("g2", Array(gam)[i1], signed(md.gamma_fmt.bits))
            b2 = stage("b2", Array(bet)[i1], signed(md.beta_fmt.bits)) if md.has_beta else None
        def product(tag, a, b, v, carry):
            """``a * b`` over two clocks: the partial products of b's halves,
            registered, then their sum (one multiplier would not fit a clock).
            ``carry``: {name: (value, shape)} delayed beside it. Returns the
            sum's operands (added by the caller), the valid bit and the carried values."""
            h = (len(b) + 1) // 2
            w = a.shape().width + len(b) + 1
            lo = stage(f"{tag}_lo", a * b[:h], signed(w))
            top = b[h:].as_signed() if b.shape().signed else b[h:]     # the sign stays with the top half
            hi = stage(f"{tag}_hi", a * top, signed(w))
            vv = valid(f"v_{tag}", v)
            out = {k: stage(f"{k}_{tag}", val, shp) for k, (val, shp) in carry.items()}
            return lo, hi << h, w + 1, vv, out

        gfmt, bfmt = md.gamma_fmt, md.beta_fmt
        carry = {"l": (l2, 1), "e": (e2, 1)}
        if md.affine:
            carry["g"] = (g2, signed(gfmt.bits))
            if md.has_beta:
                carry["b"] = (b2, signed(bfmt.bits))
        lo, hi, w, vv, c = product("dr", d2, o_r, v2, carry)
        if md.affine:               # D*r, then (D*r)*g
            dr = stage("d_r", lo + hi, signed(w))
            v_dr = valid("v_d_r", vv)
            c = {k: stage(f"{k}_d_r", val, val.shape()) for k, val in c.items()}
            carry = {k: (val, val.shape()) for k, val in c.items() if k != "g"}
            lo, hi, w, vv, c = product("drg", dr, c.pop("g"), v_dr, carry)
        v4 = valid("v4", vv)
        biased = stage("biased", lo + hi + o_half, signed(w + 1))
        l4, e4 = stage("l4", c["l"], 1), stage("e4", c["e"], 1)
        b4 = stage("b4", c["b"], signed(bfmt.bits)) if "b" in c else None
        res = named(m, "rounded", biased >> o_shift)
        if b4 is not None:
            res = named(m, "res", res + (b4 << (fy - md.beta_fmt.frac)))
        lo, hi = md.out.min_code, md.out.max_code
        y = named(m, "y_sat", Mux(res > hi, hi, Mux(res < lo, lo, res)))
        m.d.comb += in_flight.eq(output_queue(m, self, credits, v4, y, l4, e4, take2))
        # the row's statistics may change once no element before the queue uses them
        m.d.comb += pipe_busy.eq(Cat(*valids).any())
        return m
