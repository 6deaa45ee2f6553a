"""IMPL=pwl|table|uniform and FORMAT=int10|int12 through the unit
configuration, end to end (issue 13, items 1 and 5): names, make lines and
requests; `make gen`; the handoff package's own bench; the cocotb bench
through ``sim.units.verify``; the regenerate line; bad input."""

import json
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import QUICK, make, tree, unit_of

from flow.build import ensure_spec
from flow.config import ConfigError, Elementwise, FitOptions, from_request
from hw.spec import Spec
from sim.units import partner_spec, verify


def _unit(r: subprocess.CompletedProcess, cwd: Path) -> Path:
    unit = Path(unit_of(r.stdout))
    return unit if unit.is_absolute() else cwd / unit


# -- the configuration ----------------------------------------------------------------

def test_names_make_lines_and_requests():
    cases = [
        (Elementwise("gelu", impl="table"), "gelu_int8_table", "make gen OP=gelu IMPL=table"),
        (Elementwise("gelu", entries=16, impl="uniform"), "gelu_int8_e16_uniform",
         "make gen OP=gelu IMPL=uniform ENTRIES=16"),
        (Elementwise("silu", "int12", stages=2, lut="regs", impl="table"), "silu_int12_table_s2_regs",
         "make gen OP=silu IMPL=table FORMAT=int12 STAGES=2 LUT=regs"),
        (Elementwise("gelu", "int16", 16, 0, impl="uniform", fit=FitOptions(rule="lsq")), None,
         "make gen OP=gelu IMPL=uniform FORMAT=int16 ENTRIES=16 STAGES=0 FITARGS='--rule lsq'"),
        (Elementwise("gelu", "int10"), "gelu_int10_e8", "make gen OP=gelu FORMAT=int10"),
    ]
    for cfg, name, line in cases:
        if name:
            assert cfg.name == name
        assert cfg.make_line() == line
        req = json.loads(json.dumps(cfg.request()))
        assert req.get("impl", "pwl") == cfg.impl
        back = from_request(req)
        assert back == cfg and back.name == cfg.name and back.make_line() == cfg.make_line()
        if cfg.impl != "pwl":
            assert cfg.cli_args()[-2:] == ["--impl", cfg.impl]
    v = Elementwise("gelu", entries=16, impl="uniform", fit=FitOptions(rule="lsq"), stages=0)
    assert v.name == f"gelu_int8_e16_uniform{v.variant}_s0" and v.variant.startswith("_v")


def test_pwl_unchanged():
    """impl pwl is nowhere in a pwl unit's name, make line, request or arguments."""
    cfg = Elementwise("exp", "fp32", 16, 3, "regs", True, FitOptions(seed=4, range=(-6, 0)))
    assert "impl" not in cfg.request() and "IMPL" not in cfg.make_line() and "--impl" not in cfg.cli_args()
    assert list(cfg.request()) == ["kind", "op", "format", "entries", "stages", "lut", "ftz", "fit"]
    assert Elementwise("gelu").name == "gelu_int8_e8" and Elementwise("gelu").make_line() == "make gen OP=gelu"


def test_fit_dirs_never_collide(tmp_path):
    dirs = {Elementwise("gelu", impl=i).fit_dir(tmp_path) for i in ("pwl", "uniform", "table")}
    dirs |= {Elementwise("gelu", impl="uniform", entries=16).fit_dir(tmp_path),
             Elementwise("gelu", "int10", impl="table").fit_dir(tmp_path)}
    assert len(dirs) == 5


@pytest.mark.parametrize("kw,msg", [
    (dict(impl="cordic"), "unknown impl 'cordic'"),
    (dict(impl="table", format="int16"), "at most 12 input bits"),
    (dict(impl="table", fit=FitOptions(in_bits=10), format="int12"), "--in-bits 10 at FORMAT=int12 gives 14"),
    (dict(impl="table", format="fp32"), "needs an integer format"),
    (dict(impl="uniform", format="fp32"), "needs an integer format"),
    (dict(impl="table", entries=16), "ENTRIES=16 does not apply to impl table"),
    (dict(impl="uniform", entries=12), "power of two"),
    (dict(impl="uniform", entries=1), "power of two"),
    (dict(impl="table", fit=FitOptions(seed=3)), "--seed does not apply to impl table"),
    (dict(impl="table", fit=FitOptions(rule="lsq")), "--rule does not apply to impl table"),
    (dict(impl="uniform", fit=FitOptions(generations=5)), "--generations does not apply to impl uniform"),
    (dict(impl="uniform", fit=FitOptions(method="uniform")), "--method uniform does not apply"),
])
def test_bad_impl_options(kw, msg):
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(")) as e:
        Elementwise("gelu", **kw)
    assert "\n" not in str(e.value)


def test_cache_is_keyed_by_impl(build_dir):
    for cfg in (Elementwise("gelu", impl="table"), Elementwise("gelu", entries=16, impl="uniform")):
        spec, path, fitted = ensure_spec(cfg, build_dir)
        assert path.parent == cfg.fit_dir(build_dir) and spec.impl == cfg.impl
        assert spec.fit["request"]["impl"] == cfg.impl
        again, _, refit = ensure_spec(cfg, build_dir)
        assert not refit and again.dumps() == spec.dumps()
    table = Spec.load(Elementwise("gelu", impl="table").fit_dir(build_dir) / "spec.json")
    assert table.entries == 256 and table.fit["metrics"]["max_err_lsb"] <= 0.5


def test_uniform_exact_method_and_format_options(build_dir):
    cfg = Elementwise("silu", entries=8, impl="uniform", fit=FitOptions(method="exact"))
    spec = ensure_spec(cfg, build_dir)[0]
    assert spec.impl == "uniform" and spec.fit["rule"] == "exact"
    lsq = ensure_spec(Elementwise("silu", impl="uniform", fit=FitOptions(rule="lsq")), build_dir)[0]
    assert spec.fit["metrics"]["mse_hw"] <= lsq.fit["metrics"]["mse_hw"] * (1 + 1e-9)
    wide = ensure_spec(Elementwise("gelu", impl="table", fit=FitOptions(in_bits=10, in_frac=7)), build_dir)[0]
    assert wide.input.bits == 10 and wide.input.frac == 7 and wide.entries == 1024


def test_partner_of_a_regs_unit_has_the_same_impl_and_formats(build_dir):
    for cfg in (Elementwise("gelu", lut="regs", impl="table"), Elementwise("tanh", lut="regs", impl="uniform"),
                Elementwise("rsqrt", "int10", 16, lut="regs", impl="uniform")):
        mine = ensure_spec(cfg, build_dir)[0]
        other = Spec.load(partner_spec(cfg, build_dir))
        assert other.impl == mine.impl and other.entries == mine.entries
        assert (other.input, other.output) == (mine.input, mine.output)
        if mine.impl == "uniform":
            assert (other.slopes.fmt, other.intercepts.fmt) == (mine.slopes.fmt, mine.intercepts.fmt)
            assert other.dumps() != mine.dumps()


# -- make gen, the package's own bench, the cocotb bench ---------------------------------

GEN = {
    "table-int8": (["OP=gelu", "IMPL=table"], "gelu_int8_table", 256),
    "uniform-int8": (["OP=gelu", "IMPL=uniform", "ENTRIES=16"], "gelu_int8_e16_uniform", 256),
    "uniform-int16": (["OP=gelu", "IMPL=uniform", "FORMAT=int16", "ENTRIES=16"], "gelu_int16_e16_uniform", 65536),
}


@pytest.mark.parametrize("kind", list(GEN))
def test_make_gen_and_the_package_verifies(kind, tmp_path):
    args, name, codes = GEN[kind]
    r = make(["gen", *args, "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    unit = _unit(r, tmp_path)
    assert unit.name == name
    man = json.loads((unit / "manifest.json").read_text())
    spec = Spec.load(unit / "spec.json")
    impl = args[1].split("=")[1]
    assert man["impl"] == spec.impl == man["request"]["impl"] == impl
    assert set(man["formats"]) == ({"input", "output"} if impl == "table" else
                                   {"input", "output", "slopes", "intercepts"})
    assert man["regenerate"] == "make handoff " + " ".join(args)
    t = subprocess.run(["sh", str(unit / "handoff" / "run_tb.sh"), "icarus"], capture_output=True, text=True,
                       timeout=900)
    assert t.returncode == 0 and f"PASS {codes} vectors" in t.stdout, t.stdout + t.stderr
    sheet = (unit / "handoff" / "DATASHEET.md").read_text()
    assert ("direct lookup table" if impl == "table" else "equal segments") in sheet


BENCH = [(Elementwise("gelu", impl="table"), 256), (Elementwise("gelu", stages=2, lut="regs", impl="table"), 512),
         (Elementwise("silu", entries=16, stages=0, lut="regs", impl="uniform"), 512),
         (Elementwise("gelu", "int16", 16, impl="uniform"), 65536)]


@pytest.mark.parametrize("cfg,vectors", BENCH, ids=[c.name for c, _ in BENCH])
def test_bench_bit_exact_on_every_code(cfg, vectors, build_dir):
    r = verify(cfg, build_dir)
    assert r.ok and r.vectors == vectors and r.mismatches == 0, r.line()


# -- the regenerate line ------------------------------------------------------------------

VARIANTS = {
    "table-regs": ["OP=gelu", "IMPL=table", "STAGES=2", "LUT=regs"],
    "table-int12": ["OP=sigmoid", "IMPL=table", "FORMAT=int12", "STAGES=0"],
    "uniform-v": ["OP=silu", "IMPL=uniform", "ENTRIES=16", "FORMAT=int10", "FITARGS=--rule lsq --range -3 3"],
    "pwl-int10": ["OP=gelu", "FORMAT=int10", f"FITARGS={QUICK}"],
}


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_regenerate_line_rebuilds_the_package_byte_for_byte(kind, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    r = make(["gen", *VARIANTS[kind], "BUILD=b"], first)
    assert r.returncode == 0, r.stderr
    unit = _unit(r, first)
    man = json.loads((unit / "manifest.json").read_text())
    line = json.loads((unit / "handoff" / "manifest.json").read_text())["regenerate"]
    assert line == man["regenerate"] and line in (unit / "handoff" / "DATASHEET.md").read_text()
    cfg = from_request(man["request"], unit)
    assert cfg.name == unit.name and cfg.top == man["top"]
    r = make(shlex.split(line)[1:] + ["BUILD=b"], second)
    assert r.returncode == 0, r.stderr
    assert tree(second / "b" / unit.name) == tree(unit)


# -- int10 / int12 pwl ----------------------------------------------------------------------

def test_int10_int12_pwl_units_build(tmp_path):
    r = make(["gen", "OP=gelu", "FORMAT=int8,int10,int12", f"FITARGS={QUICK}", "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    units = {u.name.split("_")[1]: u for u in (tmp_path / "b").iterdir() if (u / "manifest.json").is_file()}
    assert set(units) == {"int8", "int10", "int12"}
    bps8 = Spec.load(units["int8"] / "spec.json").arrays()[0]
    for fmt, extra in (("int10", 2), ("int12", 4)):
        spec = Spec.load(units[fmt] / "spec.json")
        man = json.loads((units[fmt] / "manifest.json").read_text())
        assert spec.input.bits == 8 + extra and spec.input.frac == 5 + extra and man["format"] == fmt
        assert np.array_equal(spec.arrays()[0], bps8 << extra)            # int8 breakpoints, shifted
        assert man["regenerate"].startswith(f"make handoff OP=gelu FORMAT={fmt} ")
        t = subprocess.run(["sh", str(units[fmt] / "handoff" / "run_tb.sh"), "icarus"], capture_output=True,
                           text=True, timeout=600)
        assert t.returncode == 0 and f"PASS {1 << (8 + extra)} vectors" in t.stdout, t.stdout + t.stderr


# -- the fit command ------------------------------------------------------------------------

def test_make_fit_impl(tmp_path):
    r = make(["fit", "OP=exp", "IMPL=table", "FORMAT=int10", "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    path = tmp_path / r.stdout.split()[0]
    assert path == tmp_path / "b" / "exp_int10_table" / "spec.json" and (path.parent / "fit.png").is_file()
    assert Spec.load(path).impl == "table"


# -- bad input: one line, exit 2, nothing written --------------------------------------------

@pytest.mark.parametrize("make_vars,msg", [
    (["OP=gelu", "IMPL=cordic"], "unknown impl 'cordic'"),
    (["OP=gelu", "IMPL=table", "FORMAT=int16"], "at most 12 input bits"),
    (["OP=gelu", "IMPL=uniform", "ENTRIES=12"], "power of two"),
    (["OP=gelu", "IMPL=table", "FORMAT=fp32"], "needs an integer format"),
    (["OP=gelu", "IMPL=pwl,table", "ENTRIES=16"], "ENTRIES=16 does not apply to impl table"),
    (["OP=gelu", "IMPL=table", "SEED=3"], "--seed does not apply to impl table"),
    (["OP=softmax", "IMPL=table"], "--impl applies to the element-wise ops only"),
    (["SPEC=mine.json", "IMPL=table"], "--impl does not apply to a unit built from --spec"),
    (["OP=gelu", "FORMAT=int11"], "unknown format 'int11'"),
])
def test_bad_make_input_is_one_line_and_changes_nothing(make_vars, msg, tmp_path):
    r = make(["gen", *make_vars, "BUILD=out dir"], tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("make")]
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
