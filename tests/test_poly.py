"""IMPL=poly (issue 24, items 1 and 2): the segment-local polynomial unit.

Golden model against float and against the formula written out with
Python integers; the spec fields; the fitter (fewest segments, narrowest
formats, certified on every code, fast); the RTL bit for bit on every input
code at int8 and int16 (cocotb, through ``sim.units.verify``, as ``make sim``
runs benches), a unit whose table has one wrong coefficient failing its
bench; the configuration and its bad options."""

from __future__ import annotations

import copy
import json
import subprocess
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from fitter.functions import get
from fitter.poly import PolyBoundNotMet, _Domain, _solve, fit_poly
from flow.config import ConfigError, Elementwise, FitOptions, from_request
from hw import impls, lut_image
from hw.fixed import Fixed
from hw.poly.model import PolyDatapath, evaluate, split
from hw.spec import Coeffs, Spec, SpecError, validate_doc
from sim.units import partner_spec, verify

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=None)
def poly_spec(op: str, fmt: str = "int8", bound: float = 1.0, entries: int | None = None, degree: int = 1,
              fold: bool = False) -> Spec:
    return fit_poly(op, fmt, bound, entries=entries, degree=degree, fold=fold)


def _reference(spec: Spec, q: int) -> int:
    """DESIGN.md's formula with Python integers, one code at a time."""
    x, y = spec.input, spec.output
    c0, c1 = spec.coefficients[:2]
    k = spec.entries.bit_length() - 1
    m = x.bits - k
    u = q - x.min_code
    seg, t = u >> m, u & ((1 << m) - 1)
    F = max(c0.fmt.frac, c1.fmt.frac + x.frac)
    h = c1.values[seg]
    if spec.degree == 2:                        # Horner: h = c1 + floor(c2 t / 2^r), r = f2 + fx - f1
        c2 = spec.coefficients[2]
        r = c2.fmt.frac + x.frac - c1.fmt.frac
        p2 = c2.values[seg] * t
        h += p2 >> r if r > 0 else p2 << -r
    acc = (c0.values[seg] << (F - c0.fmt.frac)) + ((h * t) << (F - c1.fmt.frac - x.frac))
    s = F - y.frac
    r = (acc + (1 << (s - 1))) >> s if s > 0 else acc << -s
    return min(max(r, y.min_code), y.max_code)


# -- golden model ------------------------------------------------------------------------

@pytest.mark.parametrize("op,fmt", [("gelu", "int8"), ("sigmoid", "int8"), ("exp", "int12"), ("tanh", "int12"),
                                    ("silu", "int10"), ("reciprocal", "int8")])
def test_model_against_float_and_the_formula(op, fmt):
    spec = poly_spec(op, fmt)
    f = get(op)
    x, y = spec.input, spec.output
    q = x.codes()
    out = evaluate(spec, q)
    assert out.dtype == np.int64 and len(out) == len(q)
    # the formula, code by code (every code at int8, a spread elsewhere)
    pick = q if len(q) <= 256 else q[:: len(q) // 256]
    assert [int(v) for v in evaluate(spec, pick)] == [_reference(spec, int(c)) for c in pick]
    # within the bound of the float function on the op's range
    lo, hi = f.range
    inside = (x.to_real(q) >= lo) & (x.to_real(q) <= hi)
    err = np.abs(out[inside] - f(x.to_real(q[inside])) * 2.0 ** y.frac)
    assert err.max() <= 1.0
    assert spec.fit["metrics"]["max_err_lsb"] == pytest.approx(err.max())
    # the real polynomial: within half an output LSB of the hardware output (no saturation inside)
    c0, c1 = spec.coefficients
    seg, t = split(q, x, spec.entries.bit_length() - 1)
    real = (np.asarray(c0.values)[seg] * 2.0 ** -c0.fmt.frac
            + np.asarray(c1.values)[seg] * 2.0 ** -c1.fmt.frac * t * 2.0 ** -x.frac)
    code = real * 2.0 ** y.frac
    ok = (code > y.min_code) & (code < y.max_code) & inside
    assert np.abs(out[ok] - code[ok]).max() <= 0.5


def test_segment_and_offset_are_the_input_bits():
    x = Fixed(8, True, 5)
    q = x.codes()
    seg, t = split(q, x, 3)
    off = (q & 0xFF) ^ 0x80
    assert np.array_equal(seg, off >> 5) and np.array_equal(t, off & 31)
    assert np.array_equal(np.bincount(seg), np.full(8, 32))
    seg, t = split(np.arange(256), Fixed(8, False, 6), 2)            # unsigned: the code itself
    assert list(seg[[0, 63, 64, 255]]) == [0, 0, 1, 3] and list(t[[0, 63, 64, 255]]) == [0, 63, 0, 63]


def test_datapath_widths_and_int64():
    dp = PolyDatapath(Fixed(16, True, 13), Fixed(19, True, 16), Fixed(10, True, 8), Fixed(16, True, 13), 8)
    assert (dp.m, dp.F, dp.shift0, dp.shift1, dp.out_shift) == (8, 21, 5, 0, 8)
    assert (dp.prod_bits, dp.acc_bits, dp.rnd_bits, dp.res_bits) == (18, 25, 26, 18)
    assert dp.fits_int64
    with pytest.raises(ValueError):
        PolyDatapath(Fixed(8, True, 5), dp.c0, dp.c1, dp.y, 8)           # no bit of local offset left


def test_model_extremes_do_not_wrap():
    """Largest coefficients of their formats at the largest offset: the widths hold them."""
    x, y = Fixed(8, True, 5), Fixed(8, True, 5)
    n = 4
    spec = Spec("gelu", n, x, (), None, None, y, {}, impl="poly",
                coefficients=(Coeffs(Fixed(12, True, 9), (2047, -2048, 2047, -2048)),
                              Coeffs(Fixed(9, True, 4), (255, -256, -256, 255))))
    q = x.codes()
    assert [int(v) for v in evaluate(spec, q)] == [_reference(spec, int(c)) for c in q]
    assert set(evaluate(spec, q).tolist()) >= {y.min_code, y.max_code}


# -- the spec ---------------------------------------------------------------------------------

def test_spec_round_trip_and_image(tmp_path):
    spec = poly_spec("gelu", "int8")
    spec.save(tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["impl"] == "poly" and doc["degree"] == 1 and len(doc["coefficients"]) == 2
    assert "breakpoints" not in doc and "slopes" not in doc and "values" not in doc
    assert Spec.load(tmp_path / "s.json") == spec
    n = spec.entries
    c0, c1 = spec.coefficients
    img = impls.image(spec)
    assert [a for a, _ in img] == list(range(2 * n))
    assert [w for _, w in img] == [v & ((1 << c0.fmt.bits) - 1) for v in c0.values] + \
        [v & ((1 << c1.fmt.bits) - 1) for v in c1.values]
    assert lut_image.data_bits(spec) == max(c0.fmt.bits, c1.fmt.bits)
    assert lut_image.cfg_addr_bits(spec) == (2 * n - 1).bit_length()
    assert impls.cfg(spec)["map"] == f"c0 at 0..{n - 1}, c1 at {n}..{2 * n - 1}"
    assert set(impls.formats(spec)) == {"input", "output", "c0", "c1"}
    with pytest.raises(ValueError, match="poly spec has no breakpoints"):
        spec.arrays()


def _doc():
    return copy.deepcopy(poly_spec("gelu", "int8").to_json())


@pytest.mark.parametrize("edit,field,words", [
    (lambda d: d.update(entries=12), "entries", "power of two"),
    (lambda d: d.update(entries=256), "entries", "1..128"),
    (lambda d: d.update(degree=3), "degree", "implements degree 1, 2"),
    (lambda d: d.update(degree=2), "coefficients", "degree + 1 = 3"),
    (lambda d: d.pop("degree"), "degree", "missing"),
    (lambda d: d["coefficients"].pop(), "coefficients", "degree + 1 = 2"),
    (lambda d: d["coefficients"][1]["values"].pop(), "coefficients[1].values", "'entries'"),
    (lambda d: d["coefficients"][0]["values"].__setitem__(2, 1 << 20), "coefficients[0].values[2]", "does not fit"),
    (lambda d: d["coefficients"][1].update(bits=1), "coefficients[1].bits", "2..32"),
    (lambda d: d.update(slopes={"bits": 8, "frac": 6, "values": [0]}), "slopes", "no breakpoints, slopes"),
    (lambda d: d.update(impl="uniform"), "degree", "only a poly spec"),
])
def test_bad_poly_fields_name_the_field(edit, field, words):
    doc = _doc()
    edit(doc)
    with pytest.raises(SpecError) as e:
        validate_doc(doc)
    assert e.value.field == field and words in str(e.value)


# -- the fitter -------------------------------------------------------------------------------

@pytest.mark.parametrize("op,fmt", [("gelu", "int8"), ("sigmoid", "int12"), ("exp", "int10")])
def test_fewest_segments_and_narrowest_formats(op, fmt):
    spec = poly_spec(op, fmt)
    cert = spec.fit["minimal"]["certificate"]
    assert cert["certified"] and cert["max_err_lsb"] <= 1.0 and cert["codes"] > 0
    dom = _Domain(get(op), spec.input, spec.output, get(op).range, 1.0)
    k = spec.entries.bit_length() - 1
    c0, c1 = (c.fmt for c in spec.coefficients)
    # half the segments: no line per segment even with generous formats
    if k:
        with pytest.raises(PolyBoundNotMet):
            fit_poly(op, fmt, entries=spec.entries // 2)
    # one bit fewer in either column: no table (the search's own exact test)
    assert _solve(dom, k, c0.frac, c1.frac, c0.bits - 1, c1.bits) is None
    assert _solve(dom, k, c0.frac, c1.frac, c0.bits, c1.bits - 1) is None
    # the formats are the values' own: each column reaches into its top bit
    for c in spec.coefficients:
        v = np.asarray(c.values)
        assert v.max() >= 1 << (c.fmt.bits - 2) or v.min() < -(1 << (c.fmt.bits - 2))


def test_fit_is_deterministic_and_honours_the_bound():
    a, b = fit_poly("silu", "int8"), fit_poly("silu", "int8")
    assert a.dumps() == b.dumps()
    loose = poly_spec("silu", "int8", 2.0)
    assert loose.fit["metrics"]["max_err_lsb"] <= 2.0 and loose.entries <= a.entries
    with pytest.raises(PolyBoundNotMet, match="no output code"):
        fit_poly("reciprocal", "int8", 0.5)          # 1/0.5 = 2 saturates u8.7 one LSB below


def test_16_bit_fit_and_certificate_take_seconds():
    t = time.perf_counter()
    spec = fit_poly("gelu", "int16")
    took = time.perf_counter() - t
    assert spec.fit["minimal"]["certificate"]["codes"] == 65536
    assert took < 60, f"{took:.1f} s (about 1.5 s on an idle core of the project's machine)"


# -- the configuration ------------------------------------------------------------------------

def test_names_make_lines_and_requests():
    cfg = Elementwise("gelu", "int16", impl="poly")
    assert cfg.name == "gelu_int16_m1_poly" and cfg.make_line() == "make gen OP=gelu IMPL=poly FORMAT=int16"
    assert Elementwise("gelu", "int16", impl="poly", fit=FitOptions(max_err_lsb=1)) == cfg
    half = Elementwise("tanh", stages=2, lut="regs", impl="poly", lanes=4, fit=FitOptions(max_err_lsb=0.5))
    assert half.name == "tanh_int8_m0p5_poly_l4_s2_regs"
    assert half.make_line() == "make gen OP=tanh IMPL=poly STAGES=2 LUT=regs LANES=4 FITARGS='--max-err-lsb 0.5'"
    for c in (cfg, half):
        back = from_request(json.loads(json.dumps(c.request())))
        assert back == c and back.name == c.name


@pytest.mark.parametrize("kw,msg", [
    (dict(format="int32"), "at most 16 input bits"),
    (dict(format="fp32"), "needs an integer format"),
    (dict(entries=16), "ENTRIES=16 does not apply to impl poly"),
    (dict(fit=FitOptions(slope_bits=6)), "--slope-bits does not apply to impl poly"),
    (dict(fit=FitOptions(method="exact")), "--method does not apply to impl poly"),
])
def test_bad_options(kw, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        Elementwise("gelu", impl="poly", **kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("args,msg", [
    (["--format", "int32"], "at most 16 input bits"),
    (["--entries", "16"], "ENTRIES=16 does not apply to impl poly"),
    (["--intercept-frac", "4"], "--intercept-frac does not apply to impl poly"),
    (["--max-err-lsb", "0"], "out of range"),
])
def test_bad_options_are_one_error_line_exit_2(args, msg, tmp_path):
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "gqa-lut"), "gen", "gelu", "--impl", "poly", *args,
                        "--build", str(tmp_path / "b")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error:") and r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr
    assert not (tmp_path / "b").exists()


def test_unreachable_bound_is_one_error_line(tmp_path):
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "gqa-lut"), "gen", "reciprocal", "--impl", "poly",
                        "--max-err-lsb", "0.5", "--build", str(tmp_path / "b")], capture_output=True, text=True)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("fitting ")]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and "no table meets" in lines[0]


# -- RTL: every code, bit for bit ---------------------------------------------------------------

BENCH = [(Elementwise("gelu", stages=0, impl="poly"), 256),
         (Elementwise("sigmoid", stages=3, impl="poly"), 256),
         (Elementwise("exp", stages=2, lut="regs", impl="poly", lanes=4), 2 * 256 * 4),
         (Elementwise("tanh", "int12", stages=3, lut="regs", impl="poly"), 2 * 4096),
         (Elementwise("gelu", "int16", impl="poly"), 65536),
         (Elementwise("silu", "int16", stages=2, impl="poly", lanes=2), 65536 * 2)]


@pytest.mark.parametrize("cfg,vectors", BENCH, ids=[c.name for c, _ in BENCH])
def test_bench_bit_exact_on_every_code(cfg, vectors, build_dir):
    r = verify(cfg, build_dir)
    assert r.ok and r.vectors == vectors and r.mismatches == 0, r.line()
    man = json.loads((cfg.directory(build_dir) / "manifest.json").read_text())
    assert man["impl"] == "poly" and man["request"]["impl"] == "poly" and set(man["formats"]) >= {"c0", "c1"}


def test_regs_partner_has_the_same_formats(build_dir):
    cfg = Elementwise("gelu", lut="regs", impl="poly")
    from flow.build import ensure_spec
    mine = ensure_spec(cfg, build_dir)[0]
    other = Spec.load(partner_spec(cfg, build_dir))
    assert other.entries == mine.entries and other.dumps() != mine.dumps()
    assert [c.fmt for c in other.coefficients] == [c.fmt for c in mine.coefficients]


@pytest.mark.parametrize("col,stages", [(0, 1), (1, 2)])
def test_one_wrong_coefficient_fails(col, stages, tmp_path):
    """A unit built from a table with one wrong coefficient fails against the true table."""
    from tests.helpers import bench, generate_unit
    spec = poly_spec("gelu", "int8")
    true = tmp_path / "true.json"
    spec.save(true)
    c = spec.coefficients[col]
    vals = list(c.values)
    i = spec.entries // 2 + 1
    vals[i] += 1 if vals[i] < c.fmt.max_code else -1
    cols = list(spec.coefficients)
    cols[col] = Coeffs(c.fmt, tuple(vals))
    bad = replace(spec, coefficients=tuple(cols))
    assert np.count_nonzero(evaluate(bad, spec.input.codes()) != evaluate(spec, spec.input.codes())) > 0
    unit = generate_unit(bad, tmp_path / "bad", stages, "rom")
    r = bench(unit, tmp_path, golden=true)
    assert r.mismatches > 0 and not r.ok, r.line()


def test_verilog_lints_clean(tmp_path):
    from sim.lint import lint
    from tests.helpers import generate_unit
    for stages, lut in ((0, "rom"), (3, "regs")):
        unit = generate_unit(poly_spec("tanh", "int8"), tmp_path / f"s{stages}{lut}", stages, lut)
        man = json.loads((unit / "manifest.json").read_text())
        r = lint([unit / v for v in man["verilog"]], man["top"])
        assert r.returncode == 0, r.stderr


# -- the handoff package: its own bench and FuseSoC ---------------------------------------------

def test_handoff_package_regs_four_lanes(build_dir, tmp_path):
    """LUT=regs, LANES=4: the package's Verilog bench (second table loaded through cfg, then the
    unit's own) and `fusesoc run --target sim` pass on every code of every lane."""
    import os
    import shutil
    import sys

    from flow.build import build
    from hw.handoff import package
    cfg = Elementwise("gelu", stages=2, lut="regs", impl="poly", lanes=4)
    pkg = package.build(build(cfg, build_dir))
    man = json.loads((pkg / "manifest.json").read_text())
    n = man["testbench"]["vectors"]
    assert n == 4 * (256 + 256)
    r = subprocess.run(["sh", str(pkg / "run_tb.sh"), "icarus"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout, r.stdout + r.stderr
    sheet = (pkg / "DATASHEET.md").read_text()
    assert "segment-local polynomial" in sheet and "the coefficients in reverse order" in sheet
    exe = Path(sys.executable).parent / "fusesoc"
    exe = str(exe) if exe.is_file() else shutil.which("fusesoc")
    if exe is None:
        pytest.skip("FuseSoC not installed")
    cp = shutil.copytree(pkg, tmp_path / "pkg")
    env = {**os.environ, **{k: str(tmp_path / "xdg") for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}}
    r = subprocess.run([exe, "--cores-root", str(cp), "run", "--build-root", str(tmp_path / "fsbuild"), "--target",
                        "sim", man["fusesoc"]["vlnv"]], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=900)
    assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout, (r.stdout + r.stderr)[-3000:]


# -- degree 2 (Horner, one truncation) ------------------------------------------------------------

D2 = [("gelu", "int8"), ("sigmoid", "int8"), ("exp", "int12"), ("tanh", "int10"), ("silu", "int12"),
      ("reciprocal", "int8"), ("rsqrt", "int12"), ("hswish", "int8")]


@pytest.mark.parametrize("op,fmt", D2)
def test_degree2_model_formula_bound_and_certificate(op, fmt):
    spec = poly_spec(op, fmt, degree=2)
    assert spec.degree == 2 and len(spec.coefficients) == 3
    x, y = spec.input, spec.output
    q = x.codes()
    out = evaluate(spec, q)
    pick = q if len(q) <= 512 else q[:: len(q) // 512]
    assert [int(v) for v in evaluate(spec, pick)] == [_reference(spec, int(c)) for c in pick]
    f = get(op)
    lo, hi = f.range
    inside = (x.to_real(q) >= lo) & (x.to_real(q) <= hi)
    assert np.abs(out[inside] - f(x.to_real(q[inside])) * 2.0 ** y.frac).max() <= 1.0
    cert = spec.fit["minimal"]["certificate"]
    assert cert["certified"] and cert["codes"] == int(inside.sum()) and spec.fit["degree"] == 2
    assert set(spec.fit["minimal"]["widths"]) == {"c0", "c1", "c2"}
    # fewer segments than degree 1, and half of them fails (the same search)
    assert spec.entries <= poly_spec(op, fmt).entries
    if spec.entries > 1:
        with pytest.raises(PolyBoundNotMet):
            fit_poly(op, fmt, entries=spec.entries // 2, degree=2)


def test_degree2_datapath_widths_and_extremes_do_not_wrap():
    dp = PolyDatapath(Fixed(16, True, 13), Fixed(20, True, 17), Fixed(14, True, 12), Fixed(16, True, 13), 6,
                      Fixed(4, True, 4))
    assert (dp.degree, dp.m, dp.r, dp.prod2_bits, dp.q2_bits, dp.h_bits) == (2, 10, 5, 14, 9, 15)
    assert (dp.prod_bits, dp.F, dp.shift0, dp.shift1, dp.out_shift) == (25, 25, 8, 0, 12)
    assert dp.acc_bits == 29                                    # c0.bits + shift0 = 28, plus one
    x, y = Fixed(8, True, 5), Fixed(8, True, 5)
    for c2f in (Fixed(5, True, 9), Fixed(5, True, 1)):          # r > 0 (floor) and r < 0 (exact left shift)
        spec = Spec("gelu", 4, x, (), None, None, y, {}, impl="poly",
                    coefficients=(Coeffs(Fixed(12, True, 9), (2047, -2048, 2047, -2048)),
                                  Coeffs(Fixed(9, True, 4), (255, -256, -256, 255)),
                                  Coeffs(c2f, (15, -16, 15, -16))))
        q = x.codes()
        assert [int(v) for v in evaluate(spec, q)] == [_reference(spec, int(c)) for c in q]
        assert set(evaluate(spec, q).tolist()) >= {y.min_code, y.max_code}


def test_degree2_spec_round_trip_and_image(tmp_path):
    spec = poly_spec("gelu", "int8", degree=2)
    spec.save(tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["degree"] == 2 and len(doc["coefficients"]) == 3
    assert Spec.load(tmp_path / "s.json") == spec
    n = spec.entries
    img = impls.image(spec)
    assert [a for a, _ in img] == list(range(3 * n))
    assert impls.cfg(spec)["map"] == f"c0 at 0..{n - 1}, c1 at {n}..{2 * n - 1}, c2 at {2 * n}..{3 * n - 1}"
    assert lut_image.cfg_addr_bits(spec) == (3 * n - 1).bit_length()
    assert set(impls.formats(spec)) == {"input", "output", "c0", "c1", "c2"}


def test_degree1_is_unchanged_by_the_degree_argument():
    """fit_poly(degree=1) is the old fit: same spec text, no c2, the fit block says degree 1."""
    a, b = fit_poly("tanh", "int10"), fit_poly("tanh", "int10", degree=1)
    assert a.dumps() == b.dumps() and a.degree == 1 and a.fit["degree"] == 1
    assert "c2" not in a.fit["minimal"]["widths"]
    with pytest.raises(Exception, match="degree 3"):
        fit_poly("tanh", "int8", degree=3)


def test_degree2_16_bit_fit_takes_seconds():
    t = time.perf_counter()
    spec = fit_poly("gelu", "int16", degree=2)
    took = time.perf_counter() - t
    assert spec.fit["minimal"]["certificate"]["codes"] == 65536 and spec.entries < fit_poly("gelu", "int16").entries
    assert took < 60, f"{took:.1f} s (about 2.5 s on the project's machine under load)"


def _bench2(spec, where, stages, lut, golden=None):
    from hw.handoff.vectors import alt_spec
    from tests.helpers import bench, generate_unit
    unit = generate_unit(spec, where / "unit", stages, lut)
    s2 = None
    if lut == "regs":                               # loaded through cfg with its reversed table first
        s2 = where / "alt.json"
        alt_spec(spec).save(s2)
    return bench(unit, where, golden=golden, spec2=s2)


BENCH2 = [("gelu", "int8", 0, "rom"), ("sigmoid", "int8", 1, "rom"), ("tanh", "int8", 2, "regs"),
          ("exp", "int8", 3, "rom"), ("silu", "int8", 3, "regs"), ("reciprocal", "int8", 2, "rom"),
          ("gelu", "int16", 1, "rom"), ("sigmoid", "int16", 3, "regs")]


@pytest.mark.parametrize("op,fmt,stages,lut", BENCH2, ids=[f"{o}_{f}_s{s}_{lu}" for o, f, s, lu in BENCH2])
def test_degree2_bench_bit_exact_on_every_code(op, fmt, stages, lut, tmp_path):
    spec = poly_spec(op, fmt, degree=2)
    r = _bench2(spec, tmp_path, stages, lut)
    n = 1 << spec.input.bits
    assert r.ok and r.mismatches == 0 and r.vectors == n * (2 if lut == "regs" else 1), r.line()


@pytest.mark.parametrize("col,stages", [(2, 3), (1, 0), (0, 2)])
def test_degree2_one_wrong_coefficient_fails(col, stages, tmp_path):
    """A degree-2 unit built from a table with one wrong coefficient fails against the true table."""
    spec = poly_spec("gelu", "int8", degree=2)
    true = tmp_path / "true.json"
    spec.save(true)
    c = spec.coefficients[col]
    vals = list(c.values)
    i = spec.entries // 2 + 1
    vals[i] += 1 if vals[i] < c.fmt.max_code else -1
    cols = list(spec.coefficients)
    cols[col] = Coeffs(c.fmt, tuple(vals))
    bad = replace(spec, coefficients=tuple(cols))
    assert np.count_nonzero(evaluate(bad, spec.input.codes()) != evaluate(spec, spec.input.codes())) > 0
    r = _bench2(bad, tmp_path, stages, "rom", golden=true)
    assert r.mismatches > 0 and not r.ok, r.line()


def test_degree2_verilog_lints_clean_and_lanes(tmp_path):
    from amaranth.back import verilog

    from hw.poly.unit import PolyUnit
    from sim.lint import lint
    from tests.helpers import generate_unit
    spec = poly_spec("tanh", "int8", degree=2)
    for stages, lut in ((0, "rom"), (3, "regs")):
        unit = generate_unit(spec, tmp_path / f"s{stages}{lut}", stages, lut)
        man = json.loads((unit / "manifest.json").read_text())
        r = lint([unit / v for v in man["verilog"]], man["top"])
        assert r.returncode == 0, r.stderr
    text = verilog.convert(PolyUnit(spec, stages=2, lut="regs", lanes=4), name="top", emit_src=False)
    assert text.count("c2_rd") >= 4 and "c2_7" in text          # one table, four lanes reading it
    with pytest.raises(ValueError, match="0..3"):
        PolyUnit(spec, stages=4)


def test_degree2_handoff_package_regs_four_lanes(tmp_path):
    """A degree-2 unit (LUT=regs, LANES=4, STAGES=2) through the handoff package: its Verilog bench
    and `fusesoc run --target sim` pass on every code of every lane. Generated directly (the
    configuration has no degree field yet): the record is the degree-1 unit's with DEGREE=2 added."""
    import os
    import shutil
    import sys

    from flow.build import _record
    from hw.gen import generate
    from hw.handoff import package
    cfg = Elementwise("gelu", stages=2, lut="regs", impl="poly", lanes=4)
    rec = _record(cfg)
    rec = {"request": {**rec["request"], "degree": 2}, "regenerate": rec["regenerate"] + " DEGREE=2"}
    out = tmp_path / "gelu_int8_m1_poly_d2_l4_s2_regs"
    generate(poly_spec("gelu", "int8", degree=2), out, "gqa_gelu_int8_m1_poly_d2_l4_s2_regs", stages=2,
             lut="regs", lanes=4, record=rec)
    pkg = package.build(out)
    man = json.loads((pkg / "manifest.json").read_text())
    n = man["testbench"]["vectors"]
    assert n == 4 * (256 + 256)
    r = subprocess.run(["sh", str(pkg / "run_tb.sh"), "icarus"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout, r.stdout + r.stderr
    sheet = (pkg / "DATASHEET.md").read_text()
    assert "polynomial of degree 2" in sheet and "| segment | first input | c0 | c1 | c2 |" in sheet
    exe = Path(sys.executable).parent / "fusesoc"
    exe = str(exe) if exe.is_file() else shutil.which("fusesoc")
    if exe is None:
        pytest.skip("FuseSoC not installed")
    cp = shutil.copytree(pkg, tmp_path / "pkg")
    env = {**os.environ, **{k: str(tmp_path / "xdg") for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}}
    r = subprocess.run([exe, "--cores-root", str(cp), "run", "--build-root", str(tmp_path / "fsbuild"), "--target",
                        "sim", man["fusesoc"]["vlnv"]], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=900)
    assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout, (r.stdout + r.stderr)[-3000:]


# -- symmetry folding ------------------------------------------------------------------------------

def _reference_folded(spec: Spec, q: int) -> int:
    """DESIGN.md's fold with Python integers: the magnitude, the unfolded formula on it, the fold."""
    from dataclasses import replace as rep
    x, y = spec.input, spec.output
    a = q if q >= 0 else min(-q, x.max_code)
    half = rep(spec, input=Fixed(x.bits - 1, False, x.frac), fold=None)
    Y = _reference(half, a)
    if q >= 0:
        return Y
    kind, K = spec.fold
    v = K - Y if kind == "odd" else Y - (a << (y.frac - x.frac))
    return min(max(v, y.min_code), y.max_code)


FOLD = [("tanh", "int8", 1), ("sigmoid", "int10", 1), ("gelu", "int8", 2), ("silu", "int12", 1),
        ("hswish", "int8", 1), ("tanh", "int12", 2), ("sigmoid", "int8", 2)]


@pytest.mark.parametrize("op,fmt,degree", FOLD)
def test_fold_model_formula_and_certificate(op, fmt, degree):
    spec = poly_spec(op, fmt, degree=degree, fold=True)
    kind = {"tanh": "odd", "sigmoid": "odd"}.get(op, "x")
    assert spec.fold[0] == kind and spec.fit["fold"]["kind"] == kind
    q = spec.input.codes()
    pick = q if len(q) <= 512 else q[:: len(q) // 512]
    assert [int(v) for v in evaluate(spec, pick)] == [_reference_folded(spec, int(c)) for c in pick]
    f = get(op)
    out = evaluate(spec, q)
    lo, hi = f.range
    inside = (spec.input.to_real(q) >= lo) & (spec.input.to_real(q) <= hi)
    assert np.abs(out[inside] - f(spec.input.to_real(q[inside])) * 2.0 ** spec.output.frac).max() <= 1.0
    cert = spec.fit["minimal"]["certificate"]
    assert cert["certified"] and cert["codes"] == int(inside.sum())
    # half the domain, so at most half the segments of the unfolded fit
    assert spec.entries <= max(1, poly_spec(op, fmt, degree=degree).entries // 2)


def test_fold_hand_made_extremes():
    """Both kinds on hand-made tables that reach both clamps, every code against the formula."""
    x, y = Fixed(8, True, 5), Fixed(8, True, 6)
    cols = (Coeffs(Fixed(10, True, 7), (511, -512, 300, -100)), Coeffs(Fixed(7, True, 4), (63, -64, 10, -5)))
    for fold in (("odd", 0), ("odd", 200), ("odd", -300), ("x", 0)):
        spec = Spec("tanh", 4, x, (), None, None, y, {}, impl="poly", coefficients=cols, fold=fold)
        got = evaluate(spec, x.codes())
        assert [int(v) for v in got] == [_reference_folded(spec, int(c)) for c in x.codes()]
        assert y.min_code in got and y.max_code in got


def test_fold_spec_round_trip_and_bad_fields(tmp_path):
    spec = poly_spec("sigmoid", "int8", fold=True)
    spec.save(tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["fold"] == {"kind": "odd", "offset": 1 << spec.output.frac}
    assert list(doc).index("fold") == list(doc).index("degree") + 1
    assert Spec.load(tmp_path / "s.json") == spec
    assert "fold" not in poly_spec("sigmoid", "int8").to_json()          # unfolded: as before
    g = copy.deepcopy(poly_spec("gelu", "int8", fold=True).to_json())
    assert g["fold"] == {"kind": "x"}
    for edit, words in [(lambda d: d.update(fold={"kind": "even"}), "must be"),
                        (lambda d: d.update(fold={"kind": "odd"}), "must be"),
                        (lambda d: d.update(fold={"kind": "x", "offset": 3}), "must be"),
                        (lambda d: d.update(fold={"kind": "odd", "offset": 1.5}), "integer"),
                        (lambda d: d["input"].update(signed=False), "unsigned"),
                        (lambda d: d["output"].update(frac=3), "output frac >= input frac"),
                        (lambda d: d.update(entries=128), "1..64")]:
        doc = copy.deepcopy(g)
        edit(doc)
        if words == "1..64":
            doc["coefficients"] = [{**c, "values": [0] * 128} for c in doc["coefficients"]]
        with pytest.raises(SpecError) as e:
            validate_doc(doc)
        assert words in str(e.value), str(e.value)
    bad = copy.deepcopy(poly_spec("gelu", "int8").to_json())
    bad.update(impl="uniform", fold={"kind": "x"})
    with pytest.raises(SpecError, match="only a poly spec"):
        validate_doc(bad)


def test_fold_refuses_ops_without_a_known_symmetry():
    from fitter.problem import FitError
    with pytest.raises(FitError, match="no symmetry known for exp"):
        fit_poly("exp", "int8", fold=True)


BENCHF = [("tanh", "int8", 1, 0, "rom"), ("sigmoid", "int8", 1, 1, "regs"), ("gelu", "int8", 1, 2, "rom"),
          ("silu", "int8", 2, 3, "rom"), ("hswish", "int8", 2, 3, "regs"), ("gelu", "int16", 1, 1, "rom"),
          ("tanh", "int16", 2, 3, "rom")]


@pytest.mark.parametrize("op,fmt,degree,stages,lut", BENCHF,
                         ids=[f"{o}_{f}_d{d}_s{s}_{lu}" for o, f, d, s, lu in BENCHF])
def test_fold_bench_bit_exact_on_every_code(op, fmt, degree, stages, lut, tmp_path):
    spec = poly_spec(op, fmt, degree=degree, fold=True)
    r = _bench2(spec, tmp_path, stages, lut)
    n = 1 << spec.input.bits
    assert r.ok and r.mismatches == 0 and r.vectors == n * (2 if lut == "regs" else 1), r.line()


@pytest.mark.parametrize("what", ["c1", "offset"])
def test_fold_one_wrong_entry_fails(what, tmp_path):
    """A folded unit built with one wrong coefficient, or the fold's offset one off, fails its bench."""
    spec = poly_spec("sigmoid", "int8", fold=True)
    true = tmp_path / "true.json"
    spec.save(true)
    if what == "c1":
        c = spec.coefficients[1]
        vals = list(c.values)
        vals[3] += 1
        bad = replace(spec, coefficients=(spec.coefficients[0], Coeffs(c.fmt, tuple(vals))))
    else:
        bad = replace(spec, fold=("odd", spec.fold[1] - 1))
    assert np.count_nonzero(evaluate(bad, spec.input.codes()) != evaluate(spec, spec.input.codes())) > 0
    r = _bench2(bad, tmp_path, 2, "rom", golden=true)
    assert r.mismatches > 0 and not r.ok, r.line()


def test_fold_verilog_lints_clean(tmp_path):
    from sim.lint import lint
    from tests.helpers import generate_unit
    for op, stages, lut in (("tanh", 0, "rom"), ("gelu", 3, "regs")):
        unit = generate_unit(poly_spec(op, "int8", degree=2, fold=True), tmp_path / f"{op}{stages}", stages, lut)
        man = json.loads((unit / "manifest.json").read_text())
        r = lint([unit / v for v in man["verilog"]], man["top"])
        assert r.returncode == 0, r.stderr


def test_fold_handoff_package_regs_lanes(tmp_path):
    """A folded unit (sigmoid, LUT=regs, LANES=2, STAGES=3) through the handoff package's Verilog bench."""
    from flow.build import _record
    from hw.gen import generate
    from hw.handoff import package
    rec = _record(Elementwise("sigmoid", stages=3, lut="regs", impl="poly", lanes=2))
    rec = {"request": {**rec["request"], "fold": True}, "regenerate": rec["regenerate"] + " FOLD=1"}
    out = tmp_path / "sigmoid_int8_m1_poly_fold_l2_s3_regs"
    spec = poly_spec("sigmoid", "int8", fold=True)
    generate(spec, out, "gqa_sigmoid_int8_m1_poly_fold_l2_s3_regs", stages=3, lut="regs", lanes=2, record=rec)
    pkg = package.build(out)
    n = json.loads((pkg / "manifest.json").read_text())["testbench"]["vectors"]
    r = subprocess.run(["sh", str(pkg / "run_tb.sh"), "icarus"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout and n == 2 * 512, r.stdout + r.stderr
    sheet = (pkg / "DATASHEET.md").read_text()
    assert f"Folded: the table holds the non-negative half" in sheet and f"`sat({1 << spec.output.frac} - Y)`" in sheet
