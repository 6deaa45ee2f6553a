"""Amaranth generator of the uniform-segment PWL unit (``impl: "uniform"``).

The integer PWL datapath of :class:`hw.pwl_int.unit.IntPWL` with its
comparator bank replaced by wiring: ``entries`` = N = 2^k equal segments,
``seg`` = the top k bits of the input code in offset binary (``x -
min_code``: for a signed input the top bit inverted). Then, widths from
:class:`hw.pwl_int.model.Datapath` (golden model :mod:`hw.uniform.model`):

1. table read ``k = K[seg]``, ``c = C[seg]`` (constants or registers);
2. ``prod = k * x``; 3. ``acc = (prod << shift_prod) + (c << shift_c)``;
4. round half up ``(acc + 2^(s-1)) >>> s``; 5. saturate.

``LUT=regs``: slopes at cfg addresses 0..N-1, intercepts at N..2N-1
(:mod:`hw.lut_image`), registers reset to the generated table. Pipelining
exactly as IntPWL: 0 combinational, 1 output register, 2 adds a register
after the table read, 3 adds one after the product; ``rst`` clears the
valid bits (and reloads the table for ``LUT=regs``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring

from hw.pwl_common import RESETLESS_FROM, check_args, drive_valid, lanes_of, signature, stager, table
from hw.pwl_int.model import Datapath
from hw.pwl_int.unit import CUTS, segment_lines
from hw.uniform.model import seg_shift
from hw.uniform import regmap


def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


class UniformPWL(wiring.Component):
    """Uniform-segment PWL unit for an integer ``impl: "uniform"`` spec.

    Ports as :class:`hw.pwl_int.unit.IntPWL`; ``cfg_addr`` is
    ``(2N-1).bit_length()`` bits wide, ``cfg_data`` the wider coefficient.
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", lanes: int = 1):
        if spec.impl != "uniform" or spec.is_fp32:
            raise ValueError("UniformPWL needs an integer spec with impl 'uniform'")
        check_args(stages, lut, lanes)
        self.spec, self.stages, self.lut, self.lanes = spec, stages, lut, lanes
        self.dp = Datapath.of_spec(spec)
        self.shift = seg_shift(spec.input, spec.entries)
        self.latency = stages
        super().__init__(signature(spec, stages, lut, _shape(self.dp.x), _shape(self.dp.y), lanes, regmap=regmap))

    def elaborate(self, platform):
        m = Module()
        dp, spec = self.dp, self.spec
        # one table for every lane; no breakpoint column: slopes start at cfg address 0
        _, ks, cs = table(m, self, [((), _shape(dp.x)), (spec.slopes.values, signed(dp.k.bits)),
                                    (spec.intercepts.values, signed(dp.c.bits))])
        cuts = CUTS[self.stages]
        bits = dp.x.bits
        for x, y, p in lanes_of(self, _shape(dp.x), _shape(dp.y)):
            stage = stager(m, cuts, p, reset_less=self.stages >= RESETLESS_FROM)
            # 1: segment = top k bits of x - min_code, table read
            seg = Signal(range(len(ks)), name=p + "seg")
            off = x.as_unsigned() ^ ((1 << (bits - 1)) if dp.x.signed else 0)
            m.d.comb += seg.eq(off[self.shift:] if len(ks) > 1 else 0)
            # 2-5: table read, product, align, add, round, saturate: as the comparator-bank unit
            segment_lines(m, self, dp, stage, seg, ks, cs, x, y, p)
        drive_valid(m, self)
        return m
