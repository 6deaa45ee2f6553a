"""LANES=P element-wise units (issue #16 items 2 and 3): P inputs and P results
per clock on one table, for every impl and format.

Every bench drives a different vector on every lane in every clock and checks
every lane against the golden model (lane i runs the bench's vectors rotated
by i*n/P, sim/lanes.py), so each lane sees every code (inputs up to 16 bits)
or every special and random vector (32-bit, FP32). ``vectors`` counts lane
results. Also: a wrong table entry fails the bench on every lane, a P=16
LUT=regs unit lints clean with one register bank and one cfg port, names /
make lines / requests round-trip, bad LANES values are one error line, and
the handoff package of a lanes unit passes its own bench and fails on a
corrupted vector.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import replace

import pytest


from flow.build import build as build_unit
from flow.build import ensure_spec
from flow.config import ConfigError, Elementwise, FitOptions, SpecUnit, from_request
from hw.gen import generate
from hw.spec import Coeffs
from sim.lanes import offsets, pack, schedule, unpack
from sim.lint import lint
from sim.units import verify
from tests.helpers import corrupt, examples, expected_file, make, tree, unit_of

QUICK = FitOptions(generations=40)


# -- the lane schedule ---------------------------------------------------------------------

def test_schedule_every_vector_on_every_lane_and_lanes_differ():
    for n, p in ((256, 4), (256, 16), (65536, 2), (1000, 32), (5, 4)):
        idx = schedule(n, p)
        assert idx.shape == (n, p)
        for i in range(p):                                  # every vector reaches every lane
            assert sorted(idx[:, i].tolist()) == list(range(n))
        assert all(len(set(row)) == p for row in idx.tolist())    # a different vector on each lane
        assert idx[:, 0].tolist() == list(range(n)) and offsets(n, p)[0] == 0
    assert pack([-1, 2, -128, 127], 8) == 0x7F80_02FF
    assert unpack(0x7F80_02FF, 4, 8, True) == [-1, 2, -128, 127]
    assert unpack(0x7F80_02FF, 4, 8, False) == [255, 2, 128, 127]


# -- every lane bit for bit ----------------------------------------------------------------

#: (configuration, lane results the bench must report: None = at least the random set on every lane)
BENCH = [
    (Elementwise("gelu", "int8", 8, 0, "rom", fit=QUICK, lanes=4), 256 * 4),
    (Elementwise("gelu", "int8", 8, 2, "rom", fit=QUICK, lanes=4), 256 * 4),
    (Elementwise("gelu", "int8", 8, 0, "regs", fit=QUICK, lanes=4), 2 * 256 * 4),   # partner table, then its own
    (Elementwise("gelu", "int8", 8, 2, "regs", fit=QUICK, lanes=4), 2 * 256 * 4),
    (Elementwise("gelu", "int8", 8, 1, "regs", impl="table", lanes=16), 2 * 256 * 16),
    (Elementwise("gelu", "int16", 8, 2, "rom", impl="uniform", lanes=2), 65536 * 2),   # every code on both lanes
    (Elementwise("gelu", "fp32", 8, 2, "rom", fit=QUICK, lanes=4), None),
    (Elementwise("gelu", "int32", 8, 1, "rom", fit=QUICK, lanes=2), None),
]


#: random vectors per lane of the 32-bit lane benches (the one-lane benches of the matrix run 100,000
#: and 20,000): 25,000 and 5,000 in make test, all of them with GQA_TEST_SCALE=1
LANE_RANDOM = {"int32": examples(100_000), "fp32": examples(20_000)}


@pytest.mark.parametrize("cfg,vectors", BENCH, ids=[c.name for c, _ in BENCH])
def test_every_lane_bit_exact(cfg, vectors, build_dir):
    wide = cfg.format in ("int32", "fp32")          # random vectors: a share of the one-lane bench's
    r = verify(cfg, build_dir, n_random=LANE_RANDOM[cfg.format] if wide else None)
    assert r.ok and r.mismatches == 0 and r.detail.get("lanes") == cfg.lanes, r.line()
    if vectors is not None:
        assert r.vectors == vectors, r.line()
    elif cfg.format == "fp32":       # specials, breakpoint neighbours and the random values on each lane
        assert r.vectors >= LANE_RANDOM["fp32"] * cfg.lanes, r.line()
    else:                            # extremes, breakpoints +-1 and the random codes on each lane
        assert r.vectors >= (LANE_RANDOM["int32"] + 7) * cfg.lanes, r.line()
    man = json.loads((build_dir / cfg.name / "manifest.json").read_text())
    assert man["lanes"] == cfg.lanes and man["request"]["lanes"] == cfg.lanes
    x, y = (next(p for p in man["ports"] if p["name"] == n) for n in ("x", "y"))
    spec = json.loads((build_dir / cfg.name / "spec.json").read_text())
    w_in = 32 if cfg.format == "fp32" else spec["input"]["bits"]
    w_out = 32 if cfg.format == "fp32" else spec["output"]["bits"]
    assert (x["width"], y["width"]) == (cfg.lanes * w_in, cfg.lanes * w_out)
    assert f"x[i*{w_in} +: {w_in}], y[i*{w_out} +: {w_out}]" in man["lane_layout"]


@pytest.mark.parametrize("stages", [0, 2])
def test_wrong_table_entry_fails_on_every_lane(stages, build_dir, tmp_path):
    """A 4-lane table unit built with one wrong entry fails against the true
    table: once per lane (the bad code reaches each lane once)."""
    cfg = Elementwise("gelu", stages=stages, impl="table", lanes=4)
    spec, true, _ = ensure_spec(cfg, build_dir)
    vals = list(spec.values)
    vals[200] += 1
    out = tmp_path / f"bad{stages}"
    generate(replace(spec, values=tuple(vals)), out, f"gqa_bad{stages}", stages=stages, lut="rom", lanes=4)
    r = verify(cfg, tmp_path, golden=true, unit_dir=out)
    assert r.mismatches == 4 and not r.ok, r.line()


def test_wrong_slope_fails_a_lanes_pwl_unit(build_dir, tmp_path):
    """(LUT=rom: a regs unit's bench loads the true table through cfg before it checks.)"""
    cfg = Elementwise("gelu", stages=2, fit=QUICK, lanes=8)
    spec, true, _ = ensure_spec(cfg, build_dir)
    vals = list(spec.slopes.values)
    vals[3] += 1
    out = tmp_path / "bad"
    generate(replace(spec, slopes=Coeffs(spec.slopes.fmt, tuple(vals))), out, "gqa_bad", 2, "rom", lanes=8)
    r = verify(cfg, build_dir, golden=true, unit_dir=out)
    assert r.mismatches > 0 and r.mismatches % 8 == 0 and not r.ok, r.line()


# -- lint and structure of a 16-lane LUT=regs unit -----------------------------------------

@pytest.mark.parametrize("impl", ["pwl", "table"])
def test_sixteen_lane_regs_unit_lints_clean_with_one_table(impl, build_dir):
    cfg = Elementwise("gelu", lut="regs", impl=impl, lanes=16, **({"fit": QUICK} if impl == "pwl" else {}))
    out = build_unit(cfg, build_dir)
    man = json.loads((out / "manifest.json").read_text())
    text = (out / man["verilog"][0]).read_text()
    r = lint([out / v for v in man["verilog"]], man["top"])
    assert r.returncode == 0, r.stderr
    ports = {p["name"]: p for p in man["ports"]}
    assert [n for n in ports if n.startswith("cfg_")] == ["cfg_we", "cfg_addr", "cfg_data"]
    assert ports["in_valid"]["width"] == ports["out_valid"]["width"] == 1
    first = "k0" if impl == "pwl" else "t0"                   # the table's first register, declared once
    assert len(re.findall(rf"^\s*reg \S* ?{first} = ", text, re.M)) == 1
    assert all(re.search(rf"\bl{i}_", text) for i in range(16)) and not re.search(r"\bl16_", text)
    assert man["throughput"] == "16 results per clock (16 lanes)"


# -- configuration ------------------------------------------------------------------------

def test_names_make_lines_requests_round_trip():
    one = Elementwise("gelu", lut="regs")
    c = Elementwise("gelu", lut="regs", lanes=16)
    assert c.name == "gelu_int8_e8_l16_regs" and c.top == "gqa_gelu_int8_e8_l16_regs"
    assert c.make_line() == "make gen OP=gelu LUT=regs LANES=16"
    assert c.cli_args()[-2:] == ["--lanes", "16"] and "--lanes" not in one.cli_args()
    assert c.request()["lanes"] == 16 and "lanes" not in one.request()      # one-lane requests as before
    assert c.fit_dir("b") == one.fit_dir("b")                                # the table is shared
    for cfg in (c, Elementwise("exp", "fp32", 16, 3, "regs", True, FitOptions(seed=4), "pwl", 4),
                Elementwise("silu", "int16", 16, 0, "rom", impl="uniform", lanes=32),
                Elementwise("gelu", "int12", impl="table", stages=2, lanes=2)):
        back = from_request(json.loads(json.dumps(cfg.request())))
        assert back == cfg and back.name == cfg.name and back.make_line() == cfg.make_line()
    lsq = FitOptions(rule="lsq")
    assert Elementwise("tanh", "int8", 16, 2, "rom", False, lsq, "uniform", 8).name == \
        f"tanh_int8_e16_uniform{lsq.variant_tag()}_l8_s2"
    # positional calls written before lanes existed keep their meaning
    assert Elementwise("gelu", "int8", 8, 2, "regs", False, FitOptions(), "table").lanes == 1
    with pytest.raises(ConfigError, match="use 1, 2, 4, 8, 16 or 32"):
        Elementwise("gelu", lanes=3)


def test_cli_arguments_round_trip():
    from flow.cli import configs, parser
    for cfg in (Elementwise("gelu", lut="regs", lanes=16), Elementwise("gelu", "fp32", stages=2, ftz=True, lanes=4)):
        a = parser().parse_args(["gen", *cfg.cli_args()])
        assert configs(a) == [cfg]
    a = parser().parse_args(["gen", "gelu", "--lanes", "1,4", "--lut", "rom,regs"])
    assert [c.name for c in configs(a)] == ["gelu_int8_e8", "gelu_int8_e8_l4", "gelu_int8_e8_regs",
                                            "gelu_int8_e8_l4_regs"]


def test_spec_unit_lanes(build_dir, tmp_path):
    spec, path, _ = ensure_spec(Elementwise("gelu", fit=QUICK), build_dir)
    u = SpecUnit(path, 2, "regs", lanes=4)
    assert re.fullmatch(r"gelu_int8_e8_u[0-9a-f]{6}_l4_s2_regs", u.name)
    assert u.make_line() == "make gen SPEC=spec.json STAGES=2 LUT=regs LANES=4"
    assert u.request()["lanes"] == 4 and "lanes" not in SpecUnit(path).request()
    (tmp_path / "spec.json").write_bytes(path.read_bytes())
    assert from_request(json.loads(json.dumps(u.request())), tmp_path).name == u.name


@pytest.mark.parametrize("make_vars,msg", [
    (["OP=gelu", "LANES=3"], "lanes 3 is not a lane count: use 1, 2, 4, 8, 16 or 32"),
    (["OP=gelu", "LANES=64"], "lanes 64 is not a lane count"),
    (["OP=gelu", "LANES=abc"], "lanes 'abc' is not an integer"),
    (["OP=gelu", "LANES=4,3"], "lanes 3 is not a lane count"),
    (["OP=softmax", "LANES=4"], "--lanes 4: the softmax unit has one lane"),
    (["OP=layernorm", "LANES=4"], "--lanes 4 needs --row-store none or sram"),
])
def test_bad_lanes_is_one_line_and_changes_nothing(make_vars, msg, tmp_path):
    r = make(["gen", *make_vars, "BUILD=out dir"], tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("make")]
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []          # nothing written, nothing run


# -- make gen LANES=P: the handoff package and the regenerate line -------------------------

def test_package_of_a_lanes_unit_verifies_and_regenerates(tmp_path):
    """`make gen LANES=4 LUT=regs STAGES=2`: the package's own Verilog bench
    passes (every vector on every lane, the second table loaded through the
    one cfg port first), fails on one corrupted expected word (once per lane),
    and the datasheet's regenerate line rebuilds unit and package byte for byte."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    args = ["OP=gelu", "LANES=4", "LUT=regs", "STAGES=2", "FITARGS=--generations 10"]
    r = make(["gen", *args, "BUILD=b"], first)
    assert r.returncode == 0, r.stderr
    unit = first / unit_of(r.stdout)
    assert unit.name.endswith("_l4_s2_regs")
    man = json.loads((unit / "manifest.json").read_text())
    assert man["regenerate"] == "make handoff OP=gelu STAGES=2 LUT=regs LANES=4 FITARGS='--generations 10'"
    pkg = unit / "handoff"
    pman = json.loads((pkg / "manifest.json").read_text())
    n = pman["testbench"]["vectors"]
    assert n == 2 * 256 * 4 and pman["lanes"] == 4 and "lane i (0..3)" in pman["lane_layout"]
    assert len((pkg / f"tb/{man['top']}.x.hex").read_text().split()) == 256     # one lane's vectors
    sheet = (pkg / "DATASHEET.md").read_text()
    assert "Lanes: 4 inputs and 4 results per clock" in sheet and "x[i*8 +: 8]" in sheet
    t = subprocess.run(["sh", "run_tb.sh", "icarus"], cwd=pkg, capture_output=True, text=True, timeout=600)
    assert t.returncode == 0 and f"PASS {n} vectors" in t.stdout, t.stdout + t.stderr
    r = make(shlex.split(man["regenerate"])[1:] + ["BUILD=b"], second)
    assert r.returncode == 0, r.stderr
    assert tree(second / "b" / unit.name) == tree(unit)
    corrupt(expected_file(pkg))
    t = subprocess.run(["sh", "run_tb.sh", "icarus"], cwd=pkg, capture_output=True, text=True, timeout=600)
    assert t.returncode != 0 and f"FAIL 4 mismatches in {n} vectors" in t.stdout, t.stdout + t.stderr
    assert len(re.findall(r"^MISMATCH vector \d+ lane [0-3] ", t.stdout, re.M)) == 4


# -- the synthesis report's lanes rows -----------------------------------------------------

def test_report_lanes_rows():
    from eval.synth_report import _find, lanes_table
    rows = [{"status": "ok", "op": "gelu", "format": "int8", "entries": 8, "lut": "regs", "lanes": p,
             "area_um2": a, "area_per_lane_um2": a / p} for p, a in ((16, 400.0), (1, 100.0), (4, 200.0))]
    assert _find(rows, op="gelu", lut="regs")["lanes"] == 1                  # Table 6 reads the one-lane unit
    lt = {d["lanes"]: d for d in lanes_table(rows)}
    assert set(lt) == {4, 16} and lt[16]["ratio"] == 0.25 and lt[4]["one_lane_area_um2"] == 100.0
