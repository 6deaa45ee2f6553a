"""Amaranth generator of the FP32 PWL unit (the paper's FP32 baseline).

Same structure as the integer unit, in binary32 (semantics and golden model
in :mod:`hw.pwl_fp32.model`):

1. comparator bank: ``ge_j = x >= P_j`` by IEEE compare
   (:func:`hw.fp32.cmp.ge`), ``seg = popcount(ge)`` -- a count, not a
   priority encoder, so a ``LUT=regs`` table loaded with unsorted
   breakpoints still behaves as the golden model says;
2. table read: ``k = K[seg]``, ``c = C[seg]`` (binary32 constants, or
   registers written through ``cfg_*``);
3. ``p = fl(k * x)``: :func:`hw.fp32.mul.multiply`;
4. ``y = fl(p + c)``: :func:`hw.fp32.add.addition`.

The arithmetic is built inline from the same functions the standalone
``FP32Ge``/``FP32Mul``/``FP32Add`` components use, so the unit is one flat
Verilog module (like the integer unit) and shares every line of datapath
with the separately verified components.

Pipelining (``stages``, latency = stages cycles, one result per cycle):
0 is combinational; 1 registers the output (after the add); 2 also
registers after compare/select (``x_sel``, ``k_sel``, ``c_sel``); 3 also
after the multiply (``p_mul``, ``c_mul``). ``out_valid`` is ``in_valid``
delayed by ``stages`` cycles. Reset
is synchronous, active high (``sync`` domain: ``clk``, ``rst``); it clears
the valid bits and, for ``LUT=regs``, reloads the generated table.

``ftz=True``: subnormal x (and breakpoints, slopes, intercepts) read as
zero of the same sign, and the product and the sum are flushed to zero of
their sign when subnormal -- exactly the FTZ golden model.

Signal names in the Verilog: ``x_cmp_*`` (x unpacked once for the whole
comparator bank), ``bp<j>_cmp_*``, ``ge<j>_*`` and ``ge<j>``, ``seg_count``,
``seg``, ``k_lut``/``c_lut`` (table read), then the multiplier's ``mul_*``
and the adder's ``add_*`` steps (:mod:`hw.fp32.common`); with lanes, each
lane's names start with ``l<i>_``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import wiring

from hw.pwl_common import (RESETLESS_FROM, check_args, drive_output, drive_valid, lanes_of, signature, stager,
                           table)
from hw.fp32.add import addition
from hw.fp32.cmp import ge_operands
from hw.fp32.common import carrier, named, no_cuts, operand
from hw.fp32.mul import multiply
from hw.pwl_fp32.model import table_bits
from hw.pwl_int import regmap

#: STAGES -> the pipeline cuts besides the output register, in datapath order: ``select`` (x, k,
#: c after compare and table read), ``mul_pp`` (the significand product as partial products),
#: ``mul_prod`` (after the product), ``mul_norm`` (after the product's normalisation, before its
#: rounding), ``mul`` (the rounded product p, and c), ``add_align`` (after the sum's alignment),
#: ``add_sum`` (after the addition), ``add_norm`` (after its normalisation, before rounding)
#: (``add_swap``: after the magnitude compare; ``mul_lz``: after the leading-zero count and the
#: shift amounts). Each STAGES from 4 on adds one cut to the one before, the adder's and the
#: multiplier's slowest remaining step first (OpenSTA on OSU 0.18 um, gelu fp32 e8 rom)
_ORDER = ("select", "mul", "add_sum", "mul_prod", "add_align", "mul_norm", "add_norm", "mul_pp", "add_swap",
          "mul_lz", "mul_round", "add_cmp", "add_round")
#: the multiplier's internal cuts (hw.fp32.mul.multiply), in its order
MUL_POINTS = ("mul_pp", "mul_prod", "mul_lz", "mul_shl", "mul_norm", "mul_round")
CUTS = {0: (), 1: (), **{s: _ORDER[:s - 1] for s in range(2, len(_ORDER) + 2)}}


def _popcount(m: Module, bits, name: str):
    """Sum of 1-bit values as a balanced adder tree (log depth, exact widths);
    the partial sums are signals ``<name>_<level>_<i>``, the total ``name``."""
    terms = list(bits)
    if not terms:
        return Const(0, 1)
    level = 0
    while len(terms) > 1:
        level += 1
        terms = [named(m, f"{name}_{level}_{i // 2}", terms[i] + terms[i + 1]) if i + 1 < len(terms)
                 else terms[i] for i in range(0, len(terms), 2)]
    return named(m, name, terms[0]) if level else terms[0]


class FP32PWL(wiring.Component):
    """FP32 PWL unit for an fp32 :class:`hw.spec.Spec`.

    Ports: ``x`` in, ``y`` out (binary32 bit patterns); with ``stages > 0``
    also ``in_valid``, ``out_valid``; with ``lut="regs"`` also ``cfg_we``,
    ``cfg_addr``, ``cfg_data`` (register map in :mod:`hw.lut_image`).
    ``lanes`` = P > 1: ``x``/``y`` carry P binary32 lanes (lane i in bits
    ``[32i, 32i+32)``), P comparator banks, multipliers and adders read the
    one table.
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", ftz: bool = False, lanes: int = 1):
        if not spec.is_fp32:
            raise ValueError("FP32PWL needs an fp32 spec; use hw.pwl_int for integer specs")
        check_args(stages, lut, lanes)
        self.spec, self.stages, self.lut, self.ftz = spec, stages, lut, bool(ftz)
        self.lanes = lanes
        self.latency = stages
        super().__init__(signature(spec, stages, lut, 32, 32, lanes, regmap=regmap))

    def elaborate(self, platform):
        m = Module()
        ftz = self.ftz
        bps, ks, cs = table(m, self, [([int(w) for w in col], 32) for col in table_bits(self.spec)])
        # one table for every lane; per lane (x, y its slices, signal names prefixed by l)
        # breakpoints unpacked (and flushed for FTZ) once for all lanes
        bpo = [operand(m, p, ftz, f"bp{j}_cmp") for j, p in enumerate(bps)]
        for x, y, l in lanes_of(self, 32, 32):
            cuts = CUTS[self.stages]
            deep = self.stages >= RESETLESS_FROM
            stage = stager(m, cuts, l, reset_less=deep)
            carry = carrier(m, cuts, l) if deep else no_cuts

            # 1-2: comparator bank (x unpacked, and flushed for FTZ, once for all
            # comparators) and table read
            xc = operand(m, x, ftz, f"{l}x_cmp")
            ges = [ge_operands(m, xc, b, f"{l}ge{j}") for j, b in enumerate(bpo)]
            seg = Signal(range(max(len(ks), 2)), name=f"{l}seg")    # 1 bit even for one entry: no [-1:0] wire
            m.d.comb += seg.eq(_popcount(m, ges, f"{l}seg_count"))
            x1 = stage("select", "x_sel", x, 32)
            k1 = stage("select", "k_sel", named(m, f"{l}k_lut", Array(ks)[seg]), 32)
            c1 = stage("select", "c_sel", named(m, f"{l}c_lut", Array(cs)[seg]), 32)
            # 3: multiply
            p2 = stage("mul", "p_mul", multiply(m, k1, x1, ftz, name=f"{l}mul", carry=carry), 32)
            for pt in MUL_POINTS:      # c keeps pace with the multiplier's internal cuts
                c1 = carry(pt, f"c_{pt}", c1)
            c2 = stage("mul", "c_mul", c1, 32)
            # 4: add
            drive_output(m, self, addition(m, p2, c2, ftz, name=f"{l}add", carry=carry), y, valid=False,
                         name=f"{l}y_q")
        drive_valid(m, self)
        return m
