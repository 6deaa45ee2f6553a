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

from hw.pwl_common import check_args, drive_output, drive_valid, lanes_of, signature, stager, table
from hw.pwl_int.model import Datapath

def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


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
        super().__init__(signature(spec, stages, lut, _shape(self.dp.x), _shape(self.dp.y), lanes))

    def elaborate(self, platform):
        m = Module()
        dp = self.dp
        spec = self.spec
        # one table for every lane
        bps, ks, cs = table(m, self, [(spec.breakpoints, _shape(dp.x)), (spec.slopes.values, signed(dp.k.bits)),
                                      (spec.intercepts.values, signed(dp.c.bits))])
        cuts = {1: (), 2: ("read",), 3: ("read", "prod")}.get(self.stages, ())
        for x, y, p in lanes_of(self, _shape(dp.x), _shape(dp.y)):
            stage = stager(m, cuts, p)
            # 1-2: comparator bank and table read
            seg = Signal(range(max(len(ks), 2)), name=p + "seg")    # 1 bit even for one entry: no [-1:0] wire
            m.d.comb += seg.eq(sum((x >= b for b in bps), start=0) if bps else 0)
            segment_lines(m, self, dp, stage, seg, ks, cs, x, y, p)
        drive_valid(m, self)
        return m


def segment_lines(m: Module, unit, dp: Datapath, stage, seg, ks, cs, x=None, y=None, prefix: str = "") -> None:
    """Everything after the segment index, shared by the comparator-bank and
    the uniform-segment units: table read, product, alignment, rounding,
    saturation (``stage`` places the pipeline cuts, see :func:`stager`).
    One lane's datapath: ``x``/``y`` are the lane's slices (default the
    ports), ``prefix`` its signals' name prefix; the caller drives
    ``out_valid`` once (:func:`hw.pwl_common.drive_valid`)."""
    x = unit.x if x is None else x
    x1 = stage("read", "x1", x, _shape(dp.x))
    k1 = stage("read", "k", Array(ks)[seg], signed(dp.k.bits))
    c1 = stage("read", "c", Array(cs)[seg], signed(dp.c.bits))
    # the "prod" cut also carries c forward
    prod = stage("prod", "prod", k1 * x1, signed(dp.prod_bits))
    c2 = stage("prod", "c2", c1, signed(dp.c.bits))
    acc = Signal(signed(dp.acc_bits), name=prefix + "acc")
    m.d.comb += acc.eq((prod << dp.shift_prod) + (c2 << dp.shift_c))
    s = dp.out_shift
    res = Signal(signed(dp.res_bits), name=prefix + "res")
    m.d.comb += res.eq((acc + (1 << (s - 1))) >> s if s > 0 else acc << -s)
    lo, hi = dp.y.min_code, dp.y.max_code
    drive_output(m, unit, Mux(res > hi, hi, Mux(res < lo, lo, res)), y, valid=False)
