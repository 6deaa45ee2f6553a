"""Registry of the element-wise unit implementations, one entry per ``spec.impl``.

==========  ==========================================  ==============================
impl        hardware                                    golden model
==========  ==========================================  ==============================
pwl         comparator bank + K*x + C (IntPWL; FP32PWL   :mod:`hw.pwl_int.model`
            for fp32 specs)                              (:mod:`hw.pwl_fp32.model`)
uniform     2^k equal segments by the input's top bits   :mod:`hw.uniform.model`
            + the same K*x + C datapath (UniformPWL)
table       direct lookup of every input code            :mod:`hw.table.model`
            (TableUnit, inputs up to 12 bits)
poly        2^k equal segments by the input's top bits;  :mod:`hw.poly.model`
            c0 + c1*t in the local offset t (the low
            bits), narrow multiplier (PolyUnit)
==========  ==========================================  ==============================

Every implementation has the same ports, ``stages`` (0..``hw.pwl_common.MAX_STAGES``, latency =
stages; ``poly`` 0..3), ``lut`` (``rom`` | ``regs``) and ``lanes`` (1, 2, 4, ... 32: lanes
on one table, :mod:`hw.pwl_common`) options. Callers use one entry
point per job and never branch on the implementation themselves:

* :func:`evaluate` ``(spec, codes)``: golden output codes (benches, fitter);
* :func:`build_component` ``(spec, stages, lut, ftz=False, lanes=1)``: the
  Amaranth component to convert to Verilog;
* :func:`cfg` ``(spec)``: the manifest's ``cfg`` block for ``LUT=regs``
  (address/data widths, one-line register map, programming image);
  :func:`image` ``(spec)`` alone is the (address, word) list;
* :func:`formats` ``(spec)``: the manifest's ``formats`` block;
* :func:`regmap` ``(spec)``: the implementation's table as words (its
  ``regmap.py``: register map, image, word comments, the bench's second
  table); :func:`sheet` ``(spec)``: its datasheet text (its ``sheet.py``).

A new implementation is a folder holding its model, unit, ``regmap.py`` and
``sheet.py``, plus one :class:`Impl` line in :data:`IMPLS`.

The golden models are numpy only and importing this module imports no
Amaranth (components are imported when built).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hw.spec import IMPLS as SPEC_IMPLS


@dataclass(frozen=True)
class Impl:
    name: str
    evaluate: Callable          # (spec, codes) -> int64 output codes (fp32: uint32 bit patterns)
    component: Callable         # (spec, stages, lut, ftz, lanes) -> amaranth wiring.Component
    doc: str
    cut_stages: Callable        # spec -> the largest STAGES that still adds a pipeline cut (cut_stages())
    regmap: str                 # module: the table as words (addr_bits, data_bits, map_text, formats, image, ...)
    sheet: str                  # module: the datasheet's text (function_md, table_md, rounding_md, OUTSIDE)


def _pwl_evaluate(spec, codes):
    if spec.is_fp32:
        from hw.pwl_fp32.model import evaluate as fp32_evaluate
        return fp32_evaluate(spec, codes)
    from hw.pwl_int.model import evaluate as int_evaluate
    return int_evaluate(spec, codes)


def _pwl_component(spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    if spec.is_fp32:
        from hw.pwl_fp32.unit import FP32PWL
        return FP32PWL(spec, stages=stages, lut=lut, ftz=ftz, lanes=lanes)
    from hw.pwl_int.unit import IntPWL
    return IntPWL(spec, stages=stages, lut=lut, lanes=lanes)


def _uniform_evaluate(spec, codes):
    from hw.uniform.model import evaluate as uniform_evaluate
    return uniform_evaluate(spec, codes)


def _uniform_component(spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    from hw.uniform.unit import UniformPWL
    return UniformPWL(spec, stages=stages, lut=lut, lanes=lanes)


def _table_evaluate(spec, codes):
    from hw.table.model import evaluate as table_evaluate
    return table_evaluate(spec, codes)


def _table_component(spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    from hw.table.unit import TableUnit
    return TableUnit(spec, stages=stages, lut=lut, lanes=lanes)


def _poly_evaluate(spec, codes):
    from hw.poly.model import evaluate as poly_evaluate
    return poly_evaluate(spec, codes)


def _poly_component(spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    last = _poly_cuts(spec)
    if stages > last:
        raise ValueError(f"IMPL=poly has STAGES 0..{last}, not {stages}")
    from hw.poly.unit import PolyUnit
    return PolyUnit(spec, stages=stages, lut=lut, lanes=lanes)


def _pwl_cuts(spec) -> int:
    if spec.is_fp32:
        from hw.pwl_fp32.unit import CUTS         # a cut for every STAGES
        return max(CUTS)
    return _uniform_cuts(spec)


def _uniform_cuts(spec) -> int:
    from hw.pwl_int.unit import CUT_STAGES
    return CUT_STAGES


def _poly_cuts(spec) -> int:
    from hw.poly.unit import CUTS
    return max(CUTS)


def _table_cuts(spec) -> int:
    return 3                    # only output registers; CLOCK_MHZ measures STAGES 1..3 as before


IMPLS: dict[str, Impl] = {
    "pwl": Impl("pwl", _pwl_evaluate, _pwl_component, "piecewise linear, comparator bank over N-1 breakpoints",
                _pwl_cuts, "hw.pwl_int.regmap", "hw.pwl_int.sheet"),
    "uniform": Impl("uniform", _uniform_evaluate, _uniform_component,
                    "piecewise linear, 2^k equal segments addressed by the input's top k bits", _uniform_cuts,
                    "hw.uniform.regmap", "hw.uniform.sheet"),
    "table": Impl("table", _table_evaluate, _table_component, "direct lookup, one stored output code per input code",
                  _table_cuts, "hw.table.regmap", "hw.table.sheet"),
    "poly": Impl("poly", _poly_evaluate, _poly_component,
                 "segment-local polynomial, 2^k equal segments, c0 + c1*t in the low input bits t", _poly_cuts,
                 "hw.poly.regmap", "hw.poly.sheet"),
}
assert set(IMPLS) == set(SPEC_IMPLS)


def get(name: str) -> Impl:
    try:
        return IMPLS[name]
    except KeyError:
        raise ValueError(f"unknown impl '{name}'; known: {', '.join(IMPLS)}") from None


def of(spec) -> Impl:
    """The implementation a spec asks for (``spec.impl``, default pwl)."""
    return get(getattr(spec, "impl", "pwl"))


def evaluate(spec, codes) -> np.ndarray:
    """Golden output codes of ``spec``'s unit for input ``codes``, whatever its impl."""
    return of(spec).evaluate(spec, codes)


def cut_stages(spec) -> int:
    """The largest STAGES that still adds a pipeline cut to ``spec``'s unit (a larger one
    only delays the result): what ``CLOCK_MHZ`` searches up to. Integer pwl and uniform:
    :data:`hw.pwl_int.unit.CUT_STAGES`; fp32 pwl: every STAGES (:data:`hw.pwl_fp32.unit.CUTS`);
    poly: :data:`hw.poly.unit.CUTS`; table (only output registers): 3."""
    return of(spec).cut_stages(spec)


def build_component(spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    """The unit's Amaranth component (``ftz`` for fp32 pwl specs only;
    ``lanes`` = P in :data:`hw.pwl_common.LANES`: P lanes on one table)."""
    if ftz and not spec.is_fp32:
        raise ValueError("FTZ applies to fp32 units only")
    return of(spec).component(spec, stages, lut, ftz, lanes)


def lane_layout(spec, lanes: int) -> str:
    """The manifest's one-line description of a ``lanes`` > 1 unit's vector ports."""
    w_in = 32 if spec.is_fp32 else spec.input.bits
    w_out = 32 if spec.is_fp32 else spec.output.bits
    return f"lane i (0..{lanes - 1}): x[i*{w_in} +: {w_in}], y[i*{w_out} +: {w_out}]"


def regmap(spec):
    """``spec``'s table as words: its implementation's ``regmap`` module."""
    return importlib.import_module(of(spec).regmap)


def sheet(spec):
    """``spec``'s datasheet text: its implementation's ``sheet`` module."""
    return importlib.import_module(of(spec).sheet)


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs that program ``spec`` into its ``LUT=regs`` unit."""
    return regmap(spec).image(spec)


def cfg(spec) -> dict:
    """The manifest's ``cfg`` block of a ``LUT=regs`` unit (same keys for every impl)."""
    rm = regmap(spec)
    return {"addr_bits": rm.addr_bits(spec), "data_bits": rm.data_bits(spec),
            "map": rm.map_text(spec), "image": [[a, w] for a, w in rm.image(spec)]}


def formats(spec) -> dict:
    """The manifest's ``formats`` block: input, output, then the table's fields
    (pwl/uniform: slopes, intercepts; poly: c0, c1[, c2]; table: none)."""
    def fmt(f):
        return {"type": "fp32"} if f is None else f.to_json()
    return {"input": fmt(spec.input), "output": fmt(spec.output), **regmap(spec).formats(spec)}
