"""Every kind of element-wise unit at STAGES=0..3 through the whole synth
flow: Yosys (synth/gqa_synth.ys) and OpenSTA, as the synth report and
``make dse`` run them (:func:`synth.measure.measure`).

The units are the smallest of each kind: gelu INT8 2 entries (rom and
regs), INT8 uniform 2 segments, the INT8 direct table, INT16 2 entries and
FP32 1 entry, with short fits (the tables' quality does not matter here).
Written without ``-simple-lhs``, the netlists of the INT8 rom, uniform,
INT16 and FP32 units at STAGES=2 and 3 held ``assign { k[15], k[3] } = ...``
(a concatenation on the left-hand side), which OpenSTA's reader rejects
(issue #26); these tests fail on them.

Needs pyosys, OpenSTA (``sta``) and the OSU 0.18 um liberty, as
tests/test_synth.py does (``make test`` installs them). About 90 s at one
worker on the shared 2-core machine (about 63 s of CPU; the FP32 kind a third
of it), one test per kind so that two workers share them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synth import DEFAULT_LIBERTY

# kind -> Elementwise fields (gelu); heaviest first, so that xdist hands them out early
KINDS = {
    "fp32": dict(format="fp32", entries=1),
    "int16": dict(format="int16", entries=2),
    "int8-uniform": dict(format="int8", entries=2, impl="uniform"),
    "int8-table": dict(format="int8", impl="table"),
    "int8-regs": dict(format="int8", entries=2, lut="regs"),
    "int8": dict(format="int8", entries=2),
}
GENERATIONS = 3             # the genetic search of the pwl kinds: a few generations suffice
# an `assign` whose left-hand side is a concatenation (OpenSTA: "syntax error, unexpected '{'")
LHS_CONCAT = re.compile(r"^\s*assign\s*\{", re.M)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Own build directory: the short fits must not replace the session's cached default-fit specs."""
    return tmp_path_factory.mktemp("stages_build")


def _config(kind: str, stages: int):
    from flow.config import Elementwise, FitOptions
    fields = KINDS[kind]
    fit = FitOptions(generations=GENERATIONS) if fields.get("impl", "pwl") == "pwl" else FitOptions()
    return Elementwise("gelu", stages=stages, fit=fit, **fields)


def test_netlist_is_written_with_simple_lhs():
    """The flow's script, and so the handoff package's (the same commands),
    writes the netlist with simple left-hand sides."""
    from synth.script import PLACEHOLDERS, package_script, render_commands

    cmds = render_commands({k: k.lower() for k in PLACEHOLDERS})
    writes = [c for c in cmds if c.split()[0] == "write_verilog"]
    assert len(writes) == 1 and "-simple-lhs" in writes[0].split()
    pkg = [c for c in package_script("top", ["rtl/top.v"]).splitlines() if c.startswith("write_verilog")]
    assert len(pkg) == 1 and "-simple-lhs" in pkg[0].split()


@pytest.mark.parametrize("kind", list(KINDS))
def test_stages_synthesize_and_time(kind, build, tmp_path):
    """STAGES=0..3 of one kind: each unit maps, its netlist has no
    concatenation on a left-hand side, OpenSTA reads it and times a path, and
    every added stage adds flip-flops."""
    from flow.build import build as build_unit
    from synth.measure import measure

    cfg = {"out": tmp_path, "liberty": DEFAULT_LIBERTY, "period_ns": 10.0, "abc": "gqa", "activity": 0.5}
    rows = []
    for stages in range(4):
        unit = build_unit(_config(kind, stages), build)
        row = measure(unit, cfg)            # raises SynthError when Yosys or OpenSTA fails
        netlist = Path(row["files"]) / "netlist.v"
        text = netlist.read_text()
        m = LHS_CONCAT.search(text)
        assert m is None, f"{unit.name}: {text[m.start():m.start() + 120]!r}"
        assert row["status"] == "ok" and row["area_um2"] > 0 and row["delay_ns"] > 0, row
        if stages:
            assert row["fmax_mhz"] and row["fmax_mhz"] > 1, row
        rows.append((unit.name, row["flip_flops"]))
    ffs = [n for _, n in rows]
    assert ffs == sorted(set(ffs)), f"flip-flops do not grow with STAGES: {rows}"
    if KINDS[kind].get("lut", "rom") == "rom":
        assert ffs[0] == 0, rows            # STAGES=0 with a constant table: no register at all


# the deeper STAGES (issue 26): the integer cuts inside the multiplier and after the sum, the FP32
# operators' internal cuts (STAGES 14: all of them); one unit each
DEEP = [("int16", 4), ("int16", 6), ("int8-regs", 6), ("fp32", 14)]


@pytest.mark.parametrize("kind,stages", DEEP, ids=[f"{k}-s{s}" for k, s in DEEP])
def test_deep_stages_synthesize_and_time(kind, stages, build, tmp_path):
    """STAGES 4..11 map, have simple left-hand sides, and OpenSTA times a
    register-to-register path; they hold more flip-flops than STAGES=3."""
    from flow.build import build as build_unit
    from synth.measure import measure

    cfg = {"out": tmp_path, "liberty": DEFAULT_LIBERTY, "period_ns": 5.0, "abc": "gqa", "activity": 0.5}
    rows = [measure(build_unit(_config(kind, s), build), cfg) for s in (3, stages)]
    text = (Path(rows[1]["files"]) / "netlist.v").read_text()
    m = LHS_CONCAT.search(text)
    assert m is None, text[m.start():m.start() + 120]
    assert all(r["status"] == "ok" and r["fmax_mhz"] and r["fmax_mhz"] > 1 for r in rows), rows
    assert rows[1]["flip_flops"] > rows[0]["flip_flops"], rows
