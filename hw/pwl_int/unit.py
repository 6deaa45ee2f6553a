"""Amaranth generator of the integer PWL unit (INT8, INT16, INT32 alike).

Datapath, in order (widths from :class:`hw.pwl_int.model.Datapath`, which
also defines the golden model, so the two cannot drift apart):

1. comparator bank: ``ge_j = x >= p_j`` for the N-1 breakpoints, and
   ``seg = popcount(ge)`` -- a count, not a priority encoder, so a
   ``LUT=regs`` table loaded with unsorted breakpoints still behaves
   exactly as the golden model says;
2. table read: ``k = K[seg]``, ``c = C[seg]`` (constants or registers);
3. ``prod = k * x`` (signed, ``prod_bits``);
4. ``acc = (prod << shift_prod) + (c << shift_c)`` (``acc_bits``);
5. round half up: ``(acc + 2^(s-1)) >>> s`` (or ``acc << -s``);
6. saturate to the output format.

Pipelining (``stages``): 0 is combinational. 1 registers the output; 2 adds
a register after the table read (x, k, c); 3 adds one after the product.
``in_valid`` travels beside the data, so ``out_valid`` is ``in_valid``
delayed by ``stages`` cycles and a result leaves every cycle. Reset is
synchronous and active high (Amaranth's ``sync`` domain: ports ``clk``,
``rst``); it clears the valid bits and, for ``LUT=regs``, reloads the table
the unit was generated with.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring

from hw.pwl_common import (MAX_STAGES, RESETLESS_FROM, check_args, drive_output, drive_valid, lanes_of, signature, stager,
                           table)
from hw.pwl_int.model import Datapath
from hw.pwl_int import regmap

def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


#: STAGES -> the pipeline cuts besides the output register, in datapath order:
#: ``read`` (x, k, c after the table read), ``pp`` (the partial products of k * x, and c),
#: ``psum`` (the sums of the partial products of each pair of x slices), ``prod`` (the product
#: and c), ``acc`` (the aligned sum with the rounding constant, before the shift and saturation;
#: the constant is then added to c in the first stage). Shared by the uniform-segment unit.
#: STAGES 7..MAX_STAGES have no more cut points: STAGES 6's, the result delayed by STAGES - 6
#: more registers after the output register (latency = STAGES, as for every unit)
CUTS = {0: (), 1: (), 2: ("read",), 3: ("read", "prod"), 4: ("read", "pp", "prod"),
        5: ("read", "pp", "prod", "acc"), 6: ("read", "pp", "psum", "prod", "acc")}
CUT_STAGES = max(CUTS)
CUTS.update({s: CUTS[CUT_STAGES] for s in range(CUT_STAGES + 1, MAX_STAGES + 1)})


#: input bits per slice of the ``pp`` cut (at most; the slices are as equal as possible)
PP_SLICE_BITS = 8


def pp_parts(dp) -> int:
    """How many slices of x the ``pp`` cut multiplies separately: ceil(bits / PP_SLICE_BITS)."""
    return max(1, -(-dp.x.bits // PP_SLICE_BITS))


def pp_k_parts(dp) -> int:
    """How many slices of k: two when k is wider than PP_SLICE_BITS (an INT16 unit's 16-bit
    slope in two 8-bit slices: four 8 x 8 products; INT32: 16 x 8), else one. Measured
    (OpenSTA, gelu e8 rom, STAGES=4): INT16 slices of x alone (16 x 6) 203.4 MHz, 78,181 um2;
    8 x 8 246.4 MHz, 77,789 um2. INT32 at 8 x 8 the sum of the 16 products was the slowest path."""
    return 2 if dp.k.bits > PP_SLICE_BITS else 1


class IntPWL(wiring.Component):
    """Integer PWL unit for an integer :class:`hw.spec.Spec`.

    Ports: ``x`` in, ``y`` out; with ``stages > 0`` also ``in_valid`` and
    ``out_valid``; with ``lut="regs"`` also ``cfg_we``, ``cfg_addr``,
    ``cfg_data`` (register map in :mod:`hw.lut_image`). ``lanes`` = P > 1:
    ``x``/``y`` carry P lanes (lane i in bits ``[i*w, (i+1)*w)``), P
    comparator banks and datapaths read the one table.
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", lanes: int = 1):
        if spec.is_fp32:
            raise ValueError("IntPWL needs an integer spec; use hw.pwl_fp32 for fp32")
        check_args(stages, lut, lanes)
        self.spec, self.stages, self.lut, self.lanes = spec, stages, lut, lanes
        self.dp = Datapath.of_spec(spec)
        self.latency = stages
        super().__init__(signature(spec, stages, lut, _shape(self.dp.x), _shape(self.dp.y), lanes, regmap=regmap))

    def elaborate(self, platform):
        m = Module()
        dp = self.dp
        spec = self.spec
        # one table for every lane
        bps, ks, cs = table(m, self, [(spec.breakpoints, _shape(dp.x)), (spec.slopes.values, signed(dp.k.bits)),
                                      (spec.intercepts.values, signed(dp.c.bits))])
        cuts = CUTS[self.stages]
        for x, y, p in lanes_of(self, _shape(dp.x), _shape(dp.y)):
            stage = stager(m, cuts, p, reset_less=self.stages >= RESETLESS_FROM)
            # 1-2: comparator bank and table read
            seg = Signal(range(max(len(ks), 2)), name=p + "seg")    # 1 bit even for one entry: no [-1:0] wire
            m.d.comb += seg.eq(sum((x >= b for b in bps), start=0) if bps else 0)
            segment_lines(m, self, dp, stage, seg, ks, cs, x, y, p)
        drive_valid(m, self)
        return m


def x_parts(bits: int, parts: int) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` bit ranges of the ``parts`` slices of a ``bits``-bit
    input that the ``pp`` cut multiplies separately (low slices first, as
    equal as possible, the wider ones at the top)."""
    parts = max(1, min(parts, bits))
    edges = [bits * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _slices(v, signed_top: bool, parts: int) -> list[tuple[int, object]]:
    out = []
    for lo, hi in x_parts(len(v), parts):
        part = v.as_unsigned()[lo:hi]
        out.append((lo, part.as_signed() if signed_top and hi == len(v) else part))
    return out


def partial_products(stage, k, x, x_signed: bool, parts: int, k_parts: int = 1, k_signed: bool = True):
    """``k * x`` as partial products ``pp<i> = k[..] * x[..]`` of ``parts``
    slices of x times ``k_parts`` slices of k (registered by the ``pp`` cut;
    low slices unsigned, the top one signed when its operand is) and their
    exact sum, ``sum(pp << (lo_x + lo_k))``: the same value as ``k * x`` for
    every ``k`` and ``x``. With the ``psum`` cut the products of each pair of
    x slices are summed first, into registers ``psum<j>``, and those sums
    then added (the wide sum in two clocks)."""
    cuts = getattr(stage, "cuts", ())
    by_x, i = [], 0                     # [(lo_x, [(lo_k, pp)])], low x slices first
    for lx, xs in _slices(x, x_signed, parts):
        row = []
        for lk, kp in _slices(k, k_signed, k_parts):
            v = kp * xs
            row.append((lk, stage("pp", f"pp{i}", v, v.shape())))
            i += 1
        by_x.append((lx, row))
    if "psum" in cuts:
        terms = []
        for j in range(0, len(by_x), 2):
            base = by_x[j][0]
            v = _shifted_sum([(lx - base + lk, pp) for lx, row in by_x[j:j + 2] for lk, pp in row])
            terms.append((base, stage("psum", f"psum{j // 2}", v, v.shape())))
    else:
        terms = [(lx + lk, pp) for lx, row in by_x for lk, pp in row]
    return _shifted_sum(terms)


def _shifted_sum(terms):
    """``sum(v << sh)`` over ``terms`` = [(sh, v)], in order (the Verilog of the
    existing STAGES depends on it)."""
    total = None
    for sh, v in terms:
        v = (v << sh) if sh else v
        total = v if total is None else total + v
    return total


def segment_lines(m: Module, unit, dp: Datapath, stage, seg, ks, cs, x=None, y=None, prefix: str = "") -> None:
    """Everything after the segment index, shared by the comparator-bank and
    the uniform-segment units: table read, product, alignment, rounding,
    saturation (``stage`` places the pipeline cuts, see :func:`stager` and
    :data:`CUTS`). One lane's datapath: ``x``/``y`` are the lane's slices (default the
    ports), ``prefix`` its signals' name prefix; the caller drives
    ``out_valid`` once (:func:`hw.pwl_common.drive_valid`)."""
    x = unit.x if x is None else x
    cuts = getattr(stage, "cuts", ())
    s = dp.out_shift
    # with the "acc" cut the rounding constant is added to c on its way (c's path has slack),
    # so the last stage only shifts (wiring) and saturates
    fold = "acc" in cuts
    x1 = stage("read", "x1", x, _shape(dp.x))
    k1 = stage("read", "k", Array(ks)[seg], signed(dp.k.bits))
    c1 = stage("read", "c", Array(cs)[seg], signed(dp.c.bits))
    c_shape = signed(dp.c.bits)
    if fold:
        c_shape = signed(dp.rnd_bits)
        cr = Signal(c_shape, name=prefix + "c_rnd")
        m.d.comb += cr.eq((c1 << dp.shift_c) + ((1 << (s - 1)) if s > 0 else 0))
        c1 = cr
    if "pp" in cuts:            # the multiplier as partial products, summed in the next stage(s)
        prod_v = partial_products(stage, k1, x1, dp.x.signed, pp_parts(dp), pp_k_parts(dp))
        c1 = stage("pp", "c_pp", c1, c_shape)
        if "psum" in cuts:
            c1 = stage("psum", "c_psum", c1, c_shape)
    else:
        prod_v = k1 * x1
    # the "prod" cut also carries c forward
    prod = stage("prod", "prod", prod_v, signed(dp.prod_bits))
    c2 = stage("prod", "c2", c1, c_shape)
    res = Signal(signed(dp.res_bits), name=prefix + "res")
    if fold:
        acc = Signal(c_shape, name=prefix + "acc")
        m.d.comb += acc.eq((prod << dp.shift_prod) + c2)
        acc = stage("acc", "acc_q", acc, c_shape)
        m.d.comb += res.eq(acc >> s if s > 0 else acc)
    else:
        acc = Signal(signed(dp.acc_bits), name=prefix + "acc")
        m.d.comb += acc.eq((prod << dp.shift_prod) + (c2 << dp.shift_c))
        m.d.comb += res.eq((acc + (1 << (s - 1))) >> s if s > 0 else acc << -s)
    lo, hi = dp.y.min_code, dp.y.max_code
    extra = max(0, unit.stages - 1 - len(cuts))       # STAGES beyond the cut points: output delay
    drive_output(m, unit, Mux(res > hi, hi, Mux(res < lo, lo, res)), y, valid=False, name=prefix + "y_q",
                 extra=extra)
