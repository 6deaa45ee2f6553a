"""Amaranth generator of the table unit (``impl: "table"``): a direct lookup.

``y = T[x - min_code]`` for every input code (inputs up to 12 bits); the
table is the spec's ``values`` (golden model :mod:`hw.table.model`).

* ``LUT=rom``: a constant table written as one ``case`` over the input's
  bits (Amaranth ``Switch`` on ``x``, one item per code, items in the
  order of the code's bit pattern), which Yosys's ``proc_rom`` turns into
  a ROM (``$mem``) and maps to logic exactly as it does a hand-written
  Verilog ``case`` ROM. (Casing on the offset-binary address instead, top
  bit inverted, is the same function but came out 2 % larger after ABC for
  gelu int8; an ``Array`` of constants or an Amaranth ``Memory`` land
  within 0.2 % of that.)
* ``LUT=regs``: 2^bits registers of the output width, reset to the
  generated table, written through ``cfg_we``/``cfg_addr``/``cfg_data``
  (address = ``code - min_code``, the index into ``values``; map in
  :mod:`hw.lut_image`), read through a multiplexer.

The address is the input code in offset binary: for a signed input the
code's bits with the top bit inverted, for an unsigned one the code.

Pipelining (``stages``, latency = stages, one result per clock, the same
ports as :class:`hw.pwl_int.unit.IntPWL`): 0 is combinational; 1 registers
the output; 2 adds a register after the table read; 3 one more register
(the PWL unit's product cut) so every option keeps its latency. Data
registers are not reset (``rst`` clears the valid bits and, for
``LUT=regs``, reloads the table), as in a hand-written ROM with a
registered output.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import wiring

from hw.pwl_common import check_args, drive_valid, lanes_of, signature
from hw.spec import MAX_TABLE_BITS
from hw.table import regmap


def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


def pipeline_output(m: Module, unit, value, shape, cuts: int, y=None, prefix: str = "",
                    valid: bool = True) -> None:
    """``y`` (default the port; a lane's slice) from ``value`` through
    ``cuts`` + 1 registers (``cuts`` = stages - 1, named with ``prefix``) when
    ``unit.stages`` > 0, else combinationally; ``out_valid`` is ``in_valid``
    delayed by ``stages`` clocks (``valid=False``: the caller drives it once
    for all lanes). Data registers are reset-less."""
    y = unit.y if y is None else y
    if not unit.stages:
        m.d.comb += y.eq(value)
        return
    for i in range(unit.stages):
        r = Signal(shape, name=prefix + (f"d{i + 1}" if i + 1 < unit.stages else "y_q"), reset_less=True)
        m.d.sync += r.eq(value)
        value = r
    m.d.comb += y.eq(value)
    if valid:
        drive_valid(m, unit)


class TableUnit(wiring.Component):
    """Table unit for an integer ``impl: "table"`` :class:`hw.spec.Spec`.

    Ports: ``x`` in, ``y`` out; with ``stages > 0`` also ``in_valid`` and
    ``out_valid``; with ``lut="regs"`` also ``cfg_we``, ``cfg_addr`` (input
    bits wide), ``cfg_data`` (output bits wide). ``lanes`` = P > 1: ``x``/``y``
    carry P lanes (lane i in bits ``[i*w, (i+1)*w)``); ``rom``: one case ROM
    per lane; ``regs``: one register bank read by P multiplexers.
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", lanes: int = 1):
        if spec.impl != "table" or spec.is_fp32:
            raise ValueError("TableUnit needs an integer spec with impl 'table'")
        if spec.input.bits > MAX_TABLE_BITS:
            raise ValueError(f"TableUnit: at most {MAX_TABLE_BITS} input bits")
        check_args(stages, lut, lanes)
        self.spec, self.stages, self.lut, self.lanes = spec, stages, lut, lanes
        self.latency = stages
        super().__init__(signature(spec, stages, lut, _shape(spec.input), _shape(spec.output), lanes, regmap=regmap))

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        bits, yshape = spec.input.bits, _shape(spec.output)
        lo = spec.input.min_code
        regs = []                                    # LUT=regs: one register bank for every lane
        for x, y, p in lanes_of(self, _shape(spec.input), yshape):
            value = Signal(yshape, name=p + "t")
            if self.lut == "rom":
                with m.Switch(x.as_unsigned()):
                    for pattern in range(1 << bits):          # the code whose bits are `pattern`
                        code = pattern - (1 << bits) if spec.input.signed and pattern >> (bits - 1) else pattern
                        with m.Case(pattern):
                            m.d.comb += value.eq(int(spec.values[code - lo]))
            else:
                addr = Signal(bits, name=p + "addr")         # code - min_code: the top bit inverted if signed
                m.d.comb += addr.eq(x.as_unsigned() ^ ((1 << (bits - 1)) if spec.input.signed else 0))
                if not regs:                         # built with the first lane (the scalar unit's order)
                    for a, v in enumerate(spec.values):
                        r = Signal(yshape, name=f"t{a}", init=int(v))
                        with m.If(self.cfg_we & (self.cfg_addr == a)):
                            m.d.sync += r.eq(self.cfg_data[:spec.output.bits])
                        regs.append(r)
                m.d.comb += value.eq(Array(regs)[addr])
            pipeline_output(m, self, value, yshape, self.stages - 1, y, p, valid=False)
        drive_valid(m, self)
        return m
