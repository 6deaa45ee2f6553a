"""Amaranth generator of the streaming LayerNorm unit (golden model: ``model.py``).

Rows have the generator's fixed length n (``row_len``), so no divider is
needed: the unit works with ``D_i = n*x_i - Sx`` and ``W = n*Sxx - Sx^2 + E``
(see the model), all exact integers. Three stages run concurrently on two
row buffers (ping-pong; ``row_buffers=1`` halves the row memory, see
the throughput below), so a row is loaded while the previous one is
being output:

* **load** (``in_ready=1``): store x_i in the loading buffer, accumulate
  ``Sx`` and ``Sxx``; the n-th element ends the row and hands ``Sx``,
  ``Sxx`` and the error flag to the calc stage. ``in_last`` is checked, not
  obeyed: if it is high on any other element, or low on the n-th,
  ``out_error`` is high on every output of that row;
* **calc** (one clock, the clock after a row's last input): ``W``, its
  leading one with an even exponent, the mantissa in [1, 4) into the rsqrt
  PWL unit; the row's ``Sx``, ``r``, ``k`` and error flag are kept per
  buffer, since the output stage may still be busy with the other buffer;
* **out**: ``y_i = sat(round_half_up(D_i * r, f_r + k - f_y))`` (with
  gamma/beta: ``sat(round_half_up(D_i * r * g_i, f_r + k + f_g - f_y) +
  b_i * 2**(f_y - f_b))``, see the model), ``out_valid``/``out_ready``
  handshake, ``out_last`` on the n-th output.

A buffer is free for the next row once its row has been output. The load
stage may also start writing a buffer whose row is still being output, at
an index the output stage has already passed (``in_ready`` then follows the
output stage's position; it depends on registers only, never
combinationally on ``out_ready``). With ``in_valid`` and ``out_ready``
always high the unit therefore takes **n clocks per row** in steady state
(row_len >= 2): a row's first output comes n + 1 clocks after its first
input is taken (2 clocks after its last), and consecutive rows' outputs
follow each other without a gap.

With one row buffer the bank selects are constant 0 and the same rule lets
the next row follow the output through the one buffer, one index behind:
only its n-th element has to wait for the row's last output (the row ends
there, and the calc slot and per-row registers are single). That costs
the calc clock and the wait: **n + 2 clocks per row** (n >= 2) with
``in_valid`` and ``out_ready`` always high; the latency from a row's last
input to its first output is unchanged (2 clocks).

Gamma/beta (generator option ``affine``): two per-channel tables of
``row_len`` registers, reset by ``rst`` to the generated contents (as the
``LUT=regs`` tables are). Write port: hold ``cfg_we=1`` with
``cfg_addr``/``cfg_data`` for one clock per word; gamma_i at address i,
beta_i at ``row_len + i``, each word the two's-complement code in the low
bits of ``cfg_data``; addresses past ``2*row_len - 1`` are ignored. A
write takes effect for outputs presented after the clock edge that
performs it, so write between rows (or accept that the rest of a row in
flight uses the new value).

Names in the Verilog (every flip-flop and datapath step is named; see
``tests/test_readable_rtl.py``): load ``count``, ``sx``/``sx_n``,
``sxx``/``x_sq``/``sxx_n``, ``err_n``, ``passed``, ``wr_addr``; calc ``n_sxx``,
``sx_sq``, ``n2_var``, ``w``, ``lead``, ``k``, ``w_norm``, ``rsqrt_y``; output
``rd_addr``, ``sx_o``/``r_o``/``k_o``, ``n_x``, ``d``, ``prod`` (affine:
``d_r``, ``gamma_o``, ``beta_o``, ``beta_aligned``, ``res``), ``shift``,
``rounded``, ``y_sat``, ``ridx``; buffer ``buf_wr__*``, ``buf_rd__*``.

:class:`LayerNormStream` is the same unit with :mod:`amaranth.lib.stream`
interfaces, for Amaranth designs.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from hw.layernorm.ports import affine_part, param_registers, signature
from hw.layernorm.twopass import TwoPassNorm
from hw.pwl_int.unit import IntPWL
from hw.sramstore import sram_unit
from hw.rowbuf import (DEFAULT_BUFFERS, RowStream, bank_is, bank_signal, buf_addr, check_row_buffers, copy_bank, flip, leading_one,
                       mem_ports, named, pick, round_shift)


def describe(model, row_buffers: int) -> dict:
    """The unit's part of its manifest (the row-wise contract, hw/rowwise.py);
    see hw/softmax/unit.py."""
    params = {"row_len": model.row_len, "eps": model.eps, "eps_code": model.eps_code, "affine": model.affine}
    if row_buffers == 1:
        params["row_buffers"] = 1
        timing = {"cycles_per_row": [1, 2], "last_in_to_first_out": [0, 2]}
        cycles = ("n + 2 per row of n = row_len in steady state (one row buffer: the next row loads one index "
                  "behind the output, its last element waits for the row's last output, then rsqrt 1), in_valid "
                  "and out_ready high")
    else:
        timing = {"cycles_per_row": [1, 0], "last_in_to_first_out": [0, 2]}
        cycles = ("n per row of n = row_len in steady state (load, rsqrt 1 and output overlap on two buffers), "
                  "in_valid and out_ready high")
    out = {"parameters": params, "format": model.rsqrt.format_name, "timing": timing, "cycles_per_row": cycles,
           "latency_cycles": "2 clocks from a row's last input to its first output (rsqrt 1, then output); "
                             "n + 1 from its first input"}
    out.update(affine_part(model, params))
    return out


class LayerNormUnit(wiring.Component):
    """Streaming LayerNorm for a :class:`hw.layernorm.model.LayerNorm`
    (``row_buffers`` 2, double-buffered, n clocks per row, or 1, n + 2;
    gamma/beta tables and their write port when the model is affine)."""

    def __init__(self, model, row_buffers: int = DEFAULT_BUFFERS):
        self.model = model
        self.row_buffers = check_row_buffers(row_buffers)
        super().__init__(signature(model))

    def elaborate(self, platform):
        m = Module()
        md = self.model
        n = md.row_len
        nb = self.row_buffers
        xb = md.input.bits
        fr, fy = md.rsqrt.output.frac, md.out.frac
        m.submodules.rsqrt = rsqrt = IntPWL(md.rsqrt, stages=0)
        m.submodules.buf = buf = Memory(shape=signed(xb), depth=nb * n, init=[])
        wr, rd = mem_ports(buf, "buf")

        big = max(-md.input.min_code, md.input.max_code)
        sx_shape = signed((n * big).bit_length() + 1)
        sxx_shape = unsigned((n * big * big).bit_length())
        k_shape = range(md.w_bits + 1)
        r_shape = unsigned(md.rsqrt.output.bits)

        full = Signal(nb)         # buffer holds a whole row that is not fully output yet
        ready = Signal(nb)        # ... and its calc is done: the output stage may read it
        rbank = bank_signal(nb, "rbank")    # output stage: buffer and index
        ridx = Signal(range(n))
        out_done = Signal()       # the row's last output is transferred this clock

        # -- load ------------------------------------------------------------------
        wbank = bank_signal(nb, "wbank")
        count = Signal(range(n))
        sx = Signal(sx_shape)
        sxx = Signal(sxx_shape)
        err = Signal()
        wbank_is = [bank_is(m, wbank, b) for b in range(nb)]
        rbank_is = [bank_is(m, rbank, b) for b in range(nb)]
        full_w = named(m, "full_w", pick(wbank, [full[b] for b in range(nb)]))
        free_w = named(m, "free_w", ~full_w)
        # writing index `count` of a buffer the output stage is still reading is
        # safe once it has read past that index
        same_bank = named(m, "same_bank", rbank == wbank)
        out_past = named(m, "out_past", ridx > count)
        passed = named(m, "passed", same_bank & out_past)
        m.d.comb += self.in_ready.eq(free_w | passed)
        take = Signal()
        last_in = Signal()
        m.d.comb += [take.eq(self.in_valid & self.in_ready), last_in.eq(count == n - 1)]
        x = self.in_data
        sx_n = named(m, "sx_n", sx + x) if md.centered else Const(0, 1)      # RMSNorm: no mean
        x_sq = named(m, "x_sq", x * x)
        sxx_n = named(m, "sxx_n", sxx + x_sq)
        last_err = named(m, "last_err", self.in_last != last_in)     # in_last misplaced
        err_n = named(m, "err_n", err | last_err)
        count_p1 = named(m, "count_p1", count + 1)
        m.d.comb += [wr.addr.eq(buf_addr(m, wbank, count, n, "wr_addr")), wr.data.eq(x), wr.en.eq(take)]

        c_v = Signal()            # calc slot: one row between load and calc
        c_bank = bank_signal(nb, "c_bank")
        c_sx = Signal(sx_shape)
        c_sxx = Signal(sxx_shape)
        c_err = Signal()
        c_bank_is = [bank_is(m, c_bank, b) for b in range(nb)]
        next_wbank = flip(wbank, m)
        m.d.sync += c_v.eq(0)
        with m.If(take):
            with m.If(last_in):
                m.d.sync += [c_v.eq(1), *copy_bank(c_bank, wbank), c_sx.eq(sx_n), c_sxx.eq(sxx_n),
                             c_err.eq(err_n), count.eq(0), sx.eq(0), sxx.eq(0), err.eq(0), *next_wbank]
            with m.Else():
                m.d.sync += [count.eq(count_p1), sx.eq(sx_n), sxx.eq(sxx_n), err.eq(err_n)]

        # -- calc: W = n*Sxx - Sx^2 + E >= 0, normalized to m in [1, 4) with an even exponent
        n_sxx = named(m, "n_sxx", n * c_sxx)
        sx_sq = named(m, "sx_sq", c_sx * c_sx)
        n2_var = named(m, "n2_var", n_sxx - sx_sq)                 # n^2 * var
        w = Signal(md.w_bits)
        m.d.comb += w.eq(named(m, "w_exact", n2_var + md.eps_code))
        lead = leading_one(m, w, "lead")
        k = Signal(k_shape)
        m.d.comb += k.eq(lead >> 1)
        fm = md.rsqrt.input.frac
        mant = Signal(md.rsqrt.input.bits)
        w_scaled = named(m, "w_scaled", w << fm)
        k2 = named(m, "k2", k << 1)
        m.d.comb += [mant.eq(named(m, "w_norm", w_scaled >> k2)), rsqrt.x.eq(mant)]
        r_n = named(m, "rsqrt_y", rsqrt.y)
        b_sx = [Signal(sx_shape, name=f"sx_b{b}") for b in range(nb)]
        b_r = [Signal(r_shape, name=f"r_b{b}") for b in range(nb)]
        b_k = [Signal(k_shape, name=f"k_b{b}") for b in range(nb)]
        b_err = [Signal(name=f"err_b{b}") for b in range(nb)]
        calc_b = [named(m, f"calc_b{b}", c_v & c_bank_is[b]) for b in range(nb)]
        for b in range(nb):
            with m.If(calc_b[b]):
                m.d.sync += [b_sx[b].eq(c_sx), b_r[b].eq(r_n), b_k[b].eq(k), b_err[b].eq(c_err)]

        # -- buffer flags (set and clear never meet on one buffer: see in_ready)
        take_last = named(m, "take_last", take & last_in)
        out_take = named(m, "out_take", self.out_valid & self.out_ready)
        for b in range(nb):
            row_in_b = named(m, f"row_in_b{b}", take_last & wbank_is[b])
            done_b = named(m, f"done_b{b}", out_done & rbank_is[b])
            with m.If(row_in_b):
                m.d.sync += full[b].eq(1)
            with m.Elif(done_b):
                m.d.sync += full[b].eq(0)
            with m.If(calc_b[b]):
                m.d.sync += ready[b].eq(1)
            with m.Elif(done_b):
                m.d.sync += ready[b].eq(0)

        # -- out: D_i = n*x_i - Sx, y_i = sat(round_half_up(D_i * r [* g_i], s) [+ b_i << (f_y - f_b)])
        m.d.comb += rd.addr.eq(buf_addr(m, rbank, ridx, n, "rd_addr"))
        cur_sx = named(m, "sx_o", pick(rbank, b_sx))
        cur_r = named(m, "r_o", pick(rbank, b_r))
        cur_k = named(m, "k_o", pick(rbank, b_k))
        n_x = named(m, "n_x", n * rd.data)
        d = named(m, "d", n_x - cur_sx)                 # |D| <= 2n * max|x|
        if md.affine:
            g, beta = self._tables(m, ridx)
            fg, fb = md.gamma_fmt.frac, md.beta_fmt.frac
            prod = named(m, "prod", named(m, "d_r", d * cur_r) * g)
            const = fr + fg - fy
        else:
            prod = named(m, "prod", d * cur_r)
            const = fr - fy
        shift = named(m, "shift", cur_k + const)
        rounded = round_shift(m, prod, shift, "rounded")
        if md.affine and md.has_beta:
            res = named(m, "res", rounded + named(m, "beta_aligned", beta << (fy - fb)))
        else:
            res = rounded
        lo, hi = md.out.min_code, md.out.max_code
        sat_hi = named(m, "sat_hi", res > hi)
        sat_lo = named(m, "sat_lo", res < lo)
        y_lo = named(m, "y_lo", Mux(sat_lo, lo, res))
        m.d.comb += self.out_data.eq(named(m, "y_sat", Mux(sat_hi, hi, y_lo)))
        last_out = named(m, "last_out", ridx == n - 1)
        ridx_p1 = named(m, "ridx_p1", ridx + 1)
        next_rbank = flip(rbank, m)
        m.d.comb += [self.out_valid.eq(pick(rbank, [ready[b] for b in range(nb)])), self.out_last.eq(last_out),
                     self.out_error.eq(pick(rbank, b_err)),
                     out_done.eq(out_take & last_out)]
        with m.If(out_take):
            with m.If(last_out):
                m.d.sync += [ridx.eq(0)] + next_rbank
            with m.Else():
                m.d.sync += ridx.eq(ridx_p1)
        return m

    def _tables(self, m, idx):
        """Gamma and beta registers read at the output index."""
        gam, bet = param_registers(m, self)
        return named(m, "gamma_o", Array(gam)[idx]), named(m, "beta_o", Array(bet)[idx]) if bet else None


class LayerNormStream(RowStream):
    """:class:`LayerNormUnit` with :mod:`amaranth.lib.stream` interfaces (see
    :class:`hw.rowbuf.RowStream`): ``i`` payload ``{data, last}``, ``o``
    payload ``{data, last, error}``, and the ``cfg_*`` ports of an affine
    unit. The generated Verilog is the flat :class:`LayerNormUnit`."""

    def __init__(self, model, row_buffers: int = DEFAULT_BUFFERS):
        super().__init__(LayerNormUnit(model, row_buffers), "error")


UNIT = LayerNormUnit
#: the units without a flip-flop row store: none (every row streamed twice), and sram
#: (the same unit replaying the row from the chip's SRAM, hw/sramstore.py)
STORES = {"none": TwoPassNorm, "sram": sram_unit(TwoPassNorm)}
