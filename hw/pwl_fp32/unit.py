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
registers after compare/select (x, k, c); 3 also after the multiply
(p, c). ``out_valid`` is ``in_valid`` delayed by ``stages`` cycles. Reset
is synchronous, active high (``sync`` domain: ``clk``, ``rst``); it clears
the valid bits and, for ``LUT=regs``, reloads the generated table.

``ftz=True``: subnormal x (and breakpoints, slopes, intercepts) read as
zero of the same sign, and the product and the sum are flushed to zero of
their sign when subnormal -- exactly the FTZ golden model.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from hw.pwl_common import check_args, drive_output, signature, stager, table
from hw.fp32.add import addition
from hw.fp32.cmp import ge
from hw.fp32.mul import multiply
from hw.pwl_fp32.model import table_bits

_CUTS = {0: (), 1: (), 2: ("select",), 3: ("select", "mul")}


def _flush(v):
    """``v`` with a subnormal replaced by zero of the same sign."""
    sub = (v[23:31] == 0) & (v[0:23] != 0)
    return Mux(sub, Cat(Const(0, 31), v[31]), v)


def _popcount(bits):
    """Sum of 1-bit values as a balanced adder tree (log depth, exact widths)."""
    terms = list(bits)
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


class FP32PWL(wiring.Component):
    """FP32 PWL unit for an fp32 :class:`hw.spec.Spec`.

    Ports: ``x`` in, ``y`` out (binary32 bit patterns); with ``stages > 0``
    also ``in_valid``, ``out_valid``; with ``lut="regs"`` also ``cfg_we``,
    ``cfg_addr``, ``cfg_data`` (register map in :mod:`hw.lut_image`).
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", ftz: bool = False):
        if not spec.is_fp32:
            raise ValueError("FP32PWL needs an fp32 spec; use hw.pwl_int for integer specs")
        check_args(stages, lut)
        self.spec, self.stages, self.lut, self.ftz = spec, stages, lut, bool(ftz)
        self.latency = stages
        super().__init__(signature(spec, stages, lut, 32, 32))

    def elaborate(self, platform):
        m = Module()
        ftz = self.ftz
        bps, ks, cs = table(m, self, [([int(w) for w in col], 32) for col in table_bits(self.spec)])
        stage = stager(m, _CUTS[self.stages])

        # 1-2: comparator bank (x flushed once for FTZ) and table read
        xc = Signal(32, name="x_cmp")
        m.d.comb += xc.eq(_flush(self.x) if ftz else self.x)
        ges = [ge(m, xc, _flush(p) if ftz else p, False, name=f"ge{j}") for j, p in enumerate(bps)]
        seg = Signal(range(max(len(ks), 2)), name="seg")    # 1 bit even for one entry: no [-1:0] wire
        m.d.comb += seg.eq(_popcount(ges))
        x1 = stage("select", "x1", self.x, 32)
        k1 = stage("select", "k1", Array(ks)[seg], 32)
        c1 = stage("select", "c1", Array(cs)[seg], 32)
        # 3: multiply
        p2 = stage("mul", "p2", multiply(m, k1, x1, ftz, name="mul"), 32)
        c2 = stage("mul", "c2", c1, 32)
        # 4: add
        drive_output(m, self, addition(m, p2, c2, ftz, name="add"))
        return m
