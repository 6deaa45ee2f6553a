"""The default verification matrix and the driver that runs benches on units.

``make sim`` runs :data:`MATRIX`: every element-wise op at 8 and 16 entries,
LUT=rom and LUT=regs, STAGES 0 and 2, all 256 input codes each, plus a
16-bit unit (all 65,536 codes) and an INT32 unit (breakpoints, extremes and
100,000 random codes), the other implementations (direct table, uniform
segments, segment-local polynomial), softmax, layernorm and rmsnorm at 8 and 16 entries
and each of them without a row store (``ROW_STORE=none``) and with the row
in an SRAM macro (``ROW_STORE=sram``, the bench's model) at 8 entries
(rows of every kind, random gaps and back-pressure, and back-to-back rows
at full rate, whose clocks per row must equal the manifest's figure). A
``LUT=regs`` unit is loaded through its cfg port with a second table of the
same formats (:data:`PARTNER`) and then with its own.
"""

from __future__ import annotations

from pathlib import Path

from fitter import functions
from flow.build import build as build_unit
from flow.build import ensure_spec
from flow.config import ROW_KINDS, ROWWISE, Elementwise, UnitConfig
from flow.fits import FITS
from sim.runner import BenchResult, run_bench

#: A second op with exactly the same formats, for the two-function regs test;
#: tanh has no such partner and is paired with its own uniform-breakpoint table.
PARTNER = {"gelu": "hswish", "hswish": "silu", "silu": "gelu", "sigmoid": "exp", "exp": "sigmoid",
           "reciprocal": "rsqrt", "rsqrt": "reciprocal", "tanh": "tanh"}


def matrix(ops=None) -> list[UnitConfig]:
    rowwise = ops or list(ROWWISE)
    ops = [op for op in (ops or functions.FUNCTIONS) if op in functions.FUNCTIONS]
    units: list[UnitConfig] = [Elementwise(op, "int8", n, st, lut) for op in ops for n in (8, 16)
                               for lut in ("rom", "regs") for st in (0, 2)]
    if "gelu" in ops:
        units += [Elementwise("gelu", "int16", 8, 1, "rom"), Elementwise("gelu", "int32", 8, 1, "rom"),
                  Elementwise("gelu", "fp32", 8, 1, "rom"), Elementwise("gelu", "fp32", 8, 2, "regs", True)]
        # the other implementations (make dse): direct table and uniform segments, every code
        units += [Elementwise("gelu", impl="table", stages=s, lut=lut) for s, lut in ((0, "rom"), (2, "regs"))]
        units += [Elementwise("gelu", "int8", 16, 2, "regs", impl="uniform"),
                  Elementwise("gelu", "int16", 16, 1, "rom", impl="uniform")]
        # the segment-local polynomial (fewest segments within 1 LSB): int8 regs, int12 rom on all 4,096 codes
        units += [Elementwise("gelu", lut="regs", impl="poly"), Elementwise("gelu", "int12", impl="poly")]
    # each row-wise op's own (hw/<op>/config.py verify_units): 8 and 16 entries, without a row store
    # (every row streamed once per pass, DESIGN.md "Multi-pass row protocol"), with the row in an SRAM
    # macro (the bench's model, sim/sram.py: streamed once), and layernorm's four elements per transfer
    units += [u for op, kind in ROW_KINDS.items() if op in rowwise for u in kind.verify_units()]
    return units


def partner_spec(cfg: Elementwise, build: Path) -> Path:
    """The second table a ``LUT=regs`` unit is loaded with, the implementation's
    ``partner`` (:data:`flow.fits.FITS`): a table of the partner op
    (:data:`PARTNER`) with the same formats and the same impl (a table unit
    takes a table, a uniform one a uniform table of as many segments), fitted
    once and cached under ``build/partners/``; a poly unit, whose coefficient
    formats are fitted per op, takes its own table with every coefficient
    column reversed."""
    return FITS[cfg.impl].partner(cfg, PARTNER[cfg.op], build, ensure_spec)


def verify(cfg: UnitConfig, build: Path, sim: str = "icarus", golden: Path | None = None,
           unit_dir: Path | None = None, n_random: int | None = None) -> BenchResult:
    """Build (or reuse) the unit and run its bench. A ``LANES=P`` unit needs
    nothing more: the benches read P from the unit's manifest (``GQA_UNIT_DIR``)
    and run every vector on every lane (:mod:`sim.lanes`). ``n_random``: the
    random vectors of a 32-bit or FP32 unit (default 100,000 and 20,000)."""
    import json
    build = Path(build)
    unit = unit_dir or build_unit(cfg, build)
    man = json.loads((unit / "manifest.json").read_text())
    env = {"GQA_UNIT_DIR": unit.resolve()}
    testcase = None
    if golden:
        env["GQA_GOLDEN"] = Path(golden).resolve()
    rowwise = cfg.kind in ROWWISE
    if not rowwise and cfg.lut == "regs":
        env["GQA_SPEC2"] = env["GQA_FP32_SPEC2"] = partner_spec(cfg, build).resolve()
    if rowwise:
        module = "sim.tb_rowwise"
    elif cfg.format == "fp32":
        module, testcase = "sim.tb_fp32", "test_pwl"
        env.update(GQA_FP32_SPEC=Path(golden or unit / "spec.json").resolve(), GQA_FP32_STAGES=man["stages"],
                   GQA_FP32_LUT=cfg.lut, GQA_FP32_FTZ=int(cfg.ftz), GQA_FP32_RANDOM=n_random or 20_000,
                   GQA_FP32_SEED=man["stages"])
    else:
        module = "sim.tb_pwl_int"
        if n_random is not None:
            env["GQA_RANDOM"] = n_random
    return run_bench(man["top"], [unit / v for v in man["verilog"]], man["top"], module,
                     build / "sim" / man["top"] / sim, env, sim, testcase=testcase)
