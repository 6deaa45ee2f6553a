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


def square(x):
    """``x * x`` of a signed ``x`` as a squarer: ``|x|``, then the diagonal bits ``a_i * 2^(2i)``
    and twice the products above it, ``a_i a_j * 2^(i+j+1)`` for i < j: n(n+1)/2 partial-product
    bits where a multiplier has n^2 (the 384 x 16-bit rmsnorm: 270,162 -> 245,380 um2)."""
    n = len(x)
    a = Mux(x < 0, -x, x).as_unsigned()[:n]
    total = None
    for i in range(n):
        row = a[i] << (2 * i)
        if i + 1 < n:
            row = row | ((a[i + 1:] & a[i].replicate(n - i - 1)) << (2 * i + 2))
        total = row if total is None else total + row
    return total


def _abs_bits(md) -> int:
    big = max(-md.input.min_code, md.input.max_code)
    return (md.row_len * big).bit_length()


def _tree(m, values: list, name: str):
    """The sum of ``values``, pairwise, a register after each level
    (:func:`tree_levels` clocks; the value itself for one)."""
    level = 0
    while len(values) > 1:
        nxt = []
        for i in range(0, len(values), 2):
            if i + 1 == len(values):
                v = values[i]
                reg = data(v.shape(), f"{name}{level}_{i // 2}")
                m.d.sync += reg.eq(v)
            else:
                total = values[i] + values[i + 1]
                reg = data(total.shape(), f"{name}{level}_{i // 2}")
                m.d.sync += reg.eq(total)
            nxt.append(reg)
        values, level = nxt, level + 1
    return values[0]


def beats(md, lanes: int = 1) -> int:
    """Transfers per pass: ceil(row_len / lanes)."""
    return -(-md.row_len // lanes)


def tree_levels(lanes: int) -> int:
    """Registered adder levels that sum a beat's lanes in pass 1 (0 for one lane)."""
    return (lanes - 1).bit_length()


def timing(md, lanes: int = 1) -> dict:
    """Clocks per row (a*m + b, m = :func:`beats`: n for one lane) and from a
    second-pass input to its output, at full rate; what :class:`TwoPassNorm`
    does, checked by the bench."""
    sq = _abs_bits(md) + 1 if md.centered else 0
    # after pass 1's last input: 2 (square, accumulate) + the lanes' adder tree + squarer (|Sx| loaded,
    # then a bit a clock) + 4 (W, lead, shift, table start) + the serial rsqrt table + 1 (the
    # statistics load) + a clock per further lane (their copies load in a chain); pass 2's first
    # input is taken as the last loads
    calc = 2 + tree_levels(lanes) + sq + 4 + SerialPWL.clocks(md.rsqrt) + 1 + (lanes - 1)
    # input register, D, D*r in two (and *g in three), rounding bias, then the queue (written, then
    # its output register)
    depth = 6 + (2 if md.affine else 0)
    # gaps: from pass 1's last element to pass 2's first (the next row's first follows the last at once)
    return {"cycles_per_row": [2, calc], "pass2_in_to_out": [0, depth], "calc_cycles": calc, "depth": depth,
            "fifo": depth + 1, "gaps": [calc + 1]}


def describe(model, lanes: int = 1) -> dict:
    """The two-pass unit's part of its manifest (as ``unit.describe``)."""
    t = timing(model, lanes)
    params = {"row_len": model.row_len, "eps": model.eps, "eps_code": model.eps_code, "affine": model.affine,
              "row_store": "none", "passes": 2}
    m = "n" if lanes == 1 else "m"
    per = "per row of n = row_len" if lanes == 1 else \
        f"per row of n = row_len in m = ceil(n/{lanes}) transfers of {lanes} lanes"
    out = {"parameters": params, "format": model.rsqrt.format_name,
           "timing": {"cycles_per_row": t["cycles_per_row"], "pass2_in_to_out": t["pass2_in_to_out"]},
           "cycles_per_row": f"2{m} + {t['calc_cycles']} {per}, each row streamed twice (pass 1: "
                             f"statistics; {t['calc_cycles']} clocks of rsqrt with in_ready low; pass 2: outputs), "
                             "in_valid and out_ready high",
           "latency_cycles": f"{t['depth']} clocks from a pass-2 input to its output (a pipeline that never "
                             "stalls; in_ready is low while the output queue could overflow)"}
    if lanes > 1:
        out["lanes"] = lanes
        out["timing"]["per"] = "transfer"
    out.update(affine_part(model, params))
    return out


class TwoPassNorm(wiring.Component):
    """LayerNorm (or RMSNorm: ``model.centered`` False) over rows streamed
    twice; the ports of :class:`hw.layernorm.unit.LayerNormUnit` (with
    ``lanes`` > 1, P elements per transfer)."""

    describe = staticmethod(describe)
    timing = staticmethod(timing)
    #: what a row store in front of the unit needs (hw/sramstore.py): passes, and every pass is as long
    PASSES, FIXED_LENGTH = 2, True
    row_words = staticmethod(beats)

    def __init__(self, model, lanes: int = 1):
        self.model, self.lanes = model, lanes
        super().__init__(signature(model, lanes))

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
        P, nb = self.lanes, beats(md, self.lanes)
        rem = n - (nb - 1) * P                  # elements in a row's last transfer
        tag = (lambda name, lane: name) if P == 1 else (lambda name, lane: f"{name}_{lane}")
        bits_in, bits_out = md.input.bits, md.out.bits
        lane_in = [self.in_data] if P == 1 else [self.in_data[l * bits_in:(l + 1) * bits_in].as_signed()
                                                 for l in range(P)]

        # -- handshake and passes ------------------------------------------------
        second = Signal()           # 0: pass 1 (statistics), 1: pass 2 (outputs)
        calc_busy = Signal()        # between the passes: in_ready low
        t = timing(md, P)
        credits = t["fifo"]         # pass-2 elements taken and not yet delivered, at most
        in_flight = Signal(range(credits + 1), name="queued")
        p1_ready = named(m, "p1_ready", ~second & ~calc_busy)
        p2_ready = named(m, "p2_ready", second & (in_flight < credits))
        m.d.comb += self.in_ready.eq(p1_ready | p2_ready)
        take = named(m, "take", self.in_valid & self.in_ready)
        cnt = Signal(range(nb))                 # the transfer's index in its pass
        last_in = named(m, "last_in", cnt == nb - 1)
        misplaced = named(m, "misplaced", self.in_last != last_in)
        with m.If(take):
            m.d.sync += cnt.eq(Mux(last_in, 0, cnt + 1))

        # -- pass 1: input register, square, accumulate (never stalls) -------------
        # the sums start afresh at a row's first element and keep the row's totals
        # through the calc (the next row's pass 1 comes after this row's pass 2)
        a_v, a_end, a_first = Signal(), Signal(), Signal()
        take1 = named(m, "take1", take & ~second)
        m.d.sync += [a_v.eq(take1), a_end.eq(take1 & last_in), a_first.eq(take1 & (cnt == 0))]
        b_v, b_end, b_first = Signal(), Signal(), Signal()
        m.d.sync += [b_v.eq(a_v), b_end.eq(a_end), b_first.eq(a_first)]
        b_xs, b_sqs = [], []
        for l in range(P):          # lanes past the row's end (its last transfer) count as 0
            a_x = data(signed(bits_in), tag("a_x", l))
            m.d.sync += a_x.eq(lane_in[l] if l < rem else Mux(last_in, 0, lane_in[l]))
            b_x, b_sq = data(signed(bits_in), tag("b_x", l)), data(unsigned(2 * bits_in), tag("b_sq", l))
            m.d.sync += [b_x.eq(a_x), b_sq.eq(square(a_x))]
            b_xs.append(b_x)
            b_sqs.append(b_sq)
        # more lanes: the transfer's sums in an adder tree, a register after each level
        levels = tree_levels(P)
        b_x, b_sq = _tree(m, b_xs, "tx"), _tree(m, b_sqs, "tsq")
        for i in range(levels):
            v_, e_, f_ = Signal(name=f"tv{i}"), Signal(name=f"tend{i}"), Signal(name=f"tfirst{i}")
            m.d.sync += [v_.eq(b_v), e_.eq(b_end), f_.eq(b_first)]
            b_v, b_end, b_first = v_, e_, f_
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
        # (one copy per lane: a register that fed every lane's shifter, multiplier or adder was the
        # slowest path of a four-lane unit, by its fan-out alone)
        shift_c = fr - fy + (md.gamma_fmt.frac if md.affine else 0)
        half_bits = w_bits + shift_c
        o_sxs = [data(sx_shape, tag("o_sx", l)) for l in range(P)]
        o_rs = [data(r_shape, tag("o_r", l)) for l in range(P)]
        o_shifts = [data(range(w_bits + shift_c + 1), tag("o_shift", l)) for l in range(P)]
        o_halfs = [data(half_bits, tag("o_half", l)) for l in range(P)]
        o_err = data(1, "o_err")
        pipe_busy = Signal()
        waiting, do_load = Signal(), Signal()
        # the table's result, once the previous row's outputs have left the pipeline
        load_now = named(m, "load_now", waiting & rsqrt.done & ~pipe_busy & ~do_load)
        m.d.sync += [waiting.eq(Mux(steps[3], 1, waiting & ~load_now)), do_load.eq(load_now)]
        half = named(m, "half", Const(1, half_bits + 1) << (k + (shift_c - 1)))
        # lane 0's copy from the calc, lane l's from lane l-1's a clock later: copies with one source
        # would be merged back into one register by synthesis (and so would their load enables)
        loads = [do_load]
        for l in range(1, P):
            nxt = Signal(name=f"do_load_{l}")
            m.d.sync += nxt.eq(loads[-1])
            loads.append(nxt)
        with m.If(loads[-1]):                   # every lane holds the row's statistics: pass 2 may start
            m.d.sync += [o_err.eq(err1_row), second.eq(1), calc_busy.eq(0)]
        srcs = (sx, rsqrt.y, k + shift_c, half)
        for l in range(P):
            with m.If(loads[l]):
                m.d.sync += [dst.eq(src) for dst, src in zip((o_sxs[l], o_rs[l], o_shifts[l], o_halfs[l]), srcs)]
            srcs = (o_sxs[l], o_rs[l], o_shifts[l], o_halfs[l])

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
        x1s = [stage(tag("x1", l), lane_in[l], signed(bits_in)) for l in range(P)]
        i1 = stage("i1", cnt, range(nb))
        l1 = stage("l1", last_in, 1)
        e1 = stage("e1", o_err | err2_n, 1)
        d_shape = signed((2 * n * big).bit_length() + 1)
        v2 = valid("v2", v1)
        d2s = [stage(tag("d2", l), named(m, tag("d", l), n * x1s[l] - o_sxs[l]), d_shape) for l in range(P)]
        l2, e2 = stage("l2", l1, 1), stage("e2", e1, 1)
        if md.affine:
            gam, bet = param_registers(m, self)

            def per_lane(regs, l, shape):
                """Lane l's parameter of the transfer i1: element i1*P + l (0 past the row's end)."""
                if P == 1:
                    return Array(regs)[i1]
                return Array([regs[b * P + l] if b * P + l < n else Const(0, shape) for b in range(nb)])[i1]
            g2s = [stage(tag("g2", l), per_lane(gam, l, signed(md.gamma_fmt.bits)), signed(md.gamma_fmt.bits))
                   for l in range(P)]
            b2s = [stage(tag("b2", l), per_lane(bet, l, signed(md.beta_fmt.bits)), signed(md.beta_fmt.bits))
                   for l in range(P)] if md.has_beta else None

        def product(tag_, a, b, v, carry):
            """``a * b`` over two clocks: the partial products of b's halves,
            registered, then their sum (one multiplier would not fit a clock).
            ``carry``: {name: (value, shape)} delayed beside it; ``v``: the
            valid bit, or None (a lane after the first: lane 0 carries it).
            Returns the sum's operands (added by the caller), the valid bit
            and the carried values."""
            h = (len(b) + 1) // 2
            w = a.shape().width + len(b) + 1
            lo = stage(f"{tag_}_lo", a * b[:h], signed(w))
            top = b[h:].as_signed() if b.shape().signed else b[h:]     # the sign stays with the top half
            hi = stage(f"{tag_}_hi", a * top, signed(w))
            vv = valid(f"v_{tag_}", v) if v is not None else None
            out = {k: stage(f"{k}_{tag_}", val, shp) for k, (val, shp) in carry.items()}
            return lo, hi << h, w + 1, vv, out

        gfmt, bfmt = md.gamma_fmt, md.beta_fmt
        ys = []
        for l in range(P):          # one datapath per lane; lane 0 carries the valid bit, last and flag
            first = l == 0
            carry = {"l": (l2, 1), "e": (e2, 1)} if first else {}
            if md.affine:
                carry["g"] = (g2s[l], signed(gfmt.bits))
                if md.has_beta:
                    carry["b"] = (b2s[l], signed(bfmt.bits))
            lo, hi, w, vv, c = product(tag("dr", l), d2s[l], o_rs[l], v2 if first else None, carry)
            if md.affine:               # D*r, then (D*r)*g
                dr = stage(tag("d_r", l), lo + hi, signed(w))
                v_dr = valid(tag("v_d_r", l), vv) if first else None
                c = {k: stage(f"{k}_{tag('d_r', l)}", val, val.shape()) for k, val in c.items()}
                carry = {k: (val, val.shape()) for k, val in c.items() if k != "g"}
                lo, hi, w, vv, c = product(tag("drg", l), dr, c.pop("g"), v_dr, carry)
            if first:
                v4 = valid("v4", vv)
                l4, e4 = stage("l4", c["l"], 1), stage("e4", c["e"], 1)
            biased = stage(tag("biased", l), lo + hi + o_halfs[l], signed(w + 1))
            b4 = stage(tag("b4", l), c["b"], signed(bfmt.bits)) if "b" in c else None
            res = named(m, tag("rounded", l), biased >> o_shifts[l])
            if b4 is not None:
                res = named(m, tag("res", l), res + (b4 << (fy - md.beta_fmt.frac)))
            lo_c, hi_c = md.out.min_code, md.out.max_code
            y = named(m, tag("y_sat", l), Mux(res > hi_c, hi_c, Mux(res < lo_c, lo_c, res)))
            if l >= rem:                # past the row's end in its last transfer: 0
                y = named(m, tag("y_lane", l), Mux(l4, 0, y))
            ys.append(y)
        y_all = ys[0] if P == 1 else Cat(*(y[:bits_out] for y in ys))
        m.d.comb += in_flight.eq(output_queue(m, self, credits, v4, y_all, l4, e4, take2, P))
        # the row's statistics may change once no element before the queue uses them
        m.d.comb += pipe_busy.eq(Cat(*valids).any())
        return m
