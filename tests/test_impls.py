"""The ``table`` and ``uniform`` implementations: golden models, spec fields,
fits, and RTL == golden model on every code through the integer bench.

Units are generated here by :func:`generate_unit` (the component from the
``hw.impls`` registry, converted with ``amaranth.back.verilog``, with the
manifest keys ``hw.gen.generate`` writes) until the generator takes
``impl`` itself.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from fitter.functions import FUNCTIONS, get
from fitter.impls import fit_table, fit_uniform
from hw import impls, lut_image
from hw.files import write_atomic
from hw.pwl_int.model import evaluate as pwl_evaluate
from hw.spec import Coeffs, Spec, SpecError, uniform_boundaries, validate_doc
from hw.table.model import correctly_rounded
from hw.uniform.model import segment
from sim.lint import lint
from sim.runner import run_bench


# -- helpers --------------------------------------------------------------------

@lru_cache(maxsize=None)
def table_spec(op: str, fmt: str = "int8", **over) -> Spec:
    return fit_table(op, fmt, **over)


@lru_cache(maxsize=None)
def uniform_spec(op: str, entries: int = 8, fmt: str = "int8") -> Spec:
    return fit_uniform(op, entries, fmt)


def generate_unit(spec: Spec, out: Path, stages: int, lut: str) -> Path:
    """Verilog, spec.json and manifest.json for ``spec``'s unit in ``out``
    (the keys of ``hw.gen.generate``'s manifest, plus ``impl``)."""
    from amaranth.back import verilog

    from hw.gen import _ports, tool_versions
    top = f"gqa_{spec.op}_{spec.format_name}_e{spec.entries}_i{spec.input.bits}_{spec.impl}_s{stages}_{lut}"
    comp = impls.build_component(spec, stages, lut)
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    spec.save(out / "spec.json")
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "spec": "spec.json",
        "op": spec.op, "format": spec.format_name, "entries": spec.entries, "impl": spec.impl,
        "stages": stages, "latency_cycles": stages, "throughput": "1 result per clock",
        "lut": lut, "ftz": False, "ports": _ports(text, comp), "formats": impls.formats(spec),
        "reset": "synchronous, active high (rst); clears valid bits"
                 + (" and reloads the generated table" if lut == "regs" else ""),
        "tools": tool_versions(),
    }
    if lut == "regs":
        manifest["cfg"] = impls.cfg(spec)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def bench(unit: Path, build: Path, golden: Path | None = None, spec2: Path | None = None):
    """The integer bench (sim.tb_pwl_int) on ``unit``, run as ``sim.units.verify``
    runs it for an integer unit, with the LUT=regs second table given here (a
    table of the same impl and formats; verify's partner is a fitted pwl table)."""
    man = json.loads((unit / "manifest.json").read_text())
    env = {"GQA_UNIT_DIR": unit.resolve()}
    if golden:
        env["GQA_GOLDEN"] = Path(golden).resolve()
    if spec2:
        env["GQA_SPEC2"] = Path(spec2).resolve()
    return run_bench(man["top"], [unit / v for v in man["verilog"]], man["top"], "sim.tb_pwl_int",
                     build / "sim" / man["top"] / "icarus", env, "icarus")


def _fit_ok(spec):
    m = spec.fit["metrics"]
    assert set(m) >= {"mse_hw", "mse_fp", "max_err_lsb", "worst_input"}
    assert all(np.isfinite(v) for v in m.values())


# -- golden models ----------------------------------------------------------------

@pytest.mark.parametrize("op", list(FUNCTIONS))
def test_table_is_correctly_rounded(op):
    """Every code of the int8 input: within 0.5 output LSB of the function
    where it lies inside the output range, the saturated code elsewhere."""
    spec = table_spec(op)
    f = get(op)
    q = spec.input.codes()
    with np.errstate(divide="ignore"):
        t = f(spec.input.to_real(q)) * 2.0 ** spec.output.frac
    y = impls.evaluate(spec, q)
    assert spec.entries == 256 and len(spec.values) == 256 and y.dtype == np.int64
    inside = (t >= spec.output.min_code) & (t <= spec.output.max_code)
    assert inside.sum() > 100
    assert np.abs(y[inside] - t[inside]).max() <= 0.5
    assert np.array_equal(y[~inside], np.where(t[~inside] > 0, spec.output.max_code, spec.output.min_code))
    # round half up: a tie goes up
    assert list(correctly_rounded(np.array([0.5, -0.5, 1.5]) * spec.output.lsb, spec.output)) == [1, 0, 2]
    _fit_ok(spec)
    assert spec.fit["metrics"]["mse_fp"] == spec.fit["metrics"]["mse_hw"]
    if op not in ("reciprocal", "rsqrt"):     # those saturate at the range's low end (f = 2.0)
        assert spec.fit["metrics"]["max_err_lsb"] <= 0.5


def test_table_model_indexes_from_min_code():
    spec = table_spec("gelu")
    q = np.array([-128, -127, 0, 127])
    assert list(impls.evaluate(spec, q)) == [spec.values[0], spec.values[1], spec.values[128], spec.values[255]]
    with pytest.raises(ValueError):
        impls.evaluate(spec, [128])


def test_table_wider_inputs():
    spec = table_spec("gelu", in_bits=12, in_frac=9)
    assert spec.input.bits == 12 and spec.entries == 4096 and len(spec.values) == 4096
    assert validate_doc(spec.to_json()) == spec
    with pytest.raises(Exception, match="12 input bits"):
        fit_table("gelu", "int16")


@pytest.mark.parametrize("fmt,entries", [("int8", 8), ("int8", 16), ("int16", 8), ("int16", 64)])
def test_uniform_segment_addressing(fmt, entries):
    spec = uniform_spec("gelu", entries, fmt)
    x = spec.input
    q = x.codes()
    seg = segment(q, x, entries)
    k = entries.bit_length() - 1
    # top k bits of the offset-binary code: for a signed input, the code's bits with the top bit inverted
    off = (q & ((1 << x.bits) - 1)) ^ (1 << (x.bits - 1))
    assert np.array_equal(seg, off >> (x.bits - k))
    assert np.array_equal(np.bincount(seg), np.full(entries, 1 << (x.bits - k)))
    assert list(spec.breakpoints) == uniform_boundaries(x, entries)
    # same arithmetic as the pwl unit: a uniform spec evaluates identically through the pwl model
    assert np.array_equal(impls.evaluate(spec, q), pwl_evaluate(spec, q))
    _fit_ok(spec)


def test_uniform_unsigned_input_and_edge_segments():
    spec = uniform_spec("reciprocal", 4)          # u8.6 input, range [0.5, 4)
    assert spec.input.signed is False and spec.breakpoints == (64, 128, 192)
    assert list(segment([0, 63, 64, 255], spec.input, 4)) == [0, 0, 1, 3]
    spec = uniform_spec("exp", 8)                 # s8.4 over [-8, 8), range [-8, 0]: segments 5..7 empty
    assert spec.slopes.values[5:] == (spec.slopes.values[4],) * 3
    assert spec.intercepts.values[5:] == (spec.intercepts.values[4],) * 3


def test_uniform_fit_rules():
    lsq = fit_uniform("gelu", 8, rule="lsq")
    best = fit_uniform("gelu", 8, rule="exact")
    assert best.fit["metrics"]["mse_hw"] <= lsq.fit["metrics"]["mse_hw"]
    assert fit_uniform("gelu", 8, rule="auto").fit["metrics"]["mse_hw"] <= lsq.fit["metrics"]["mse_hw"]
    for bad in ({"entries": 6}, {"entries": 1}, {"rule": "magic"}):
        with pytest.raises(ValueError):
            fit_uniform("gelu", **{"entries": 8, **bad})


def test_dispatch_and_images():
    t, u = table_spec("gelu"), uniform_spec("gelu", 8)
    assert impls.of(t).name == "table" and impls.of(u).name == "uniform"
    img = impls.image(t)
    assert [a for a, _ in img] == list(range(256))
    assert [w for _, w in img] == [v & 0xFF for v in t.values]
    assert lut_image.cfg_addr_bits(t) == 8 and lut_image.data_bits(t) == 8
    img = impls.image(u)
    assert [a for a, _ in img] == list(range(16))
    assert [w for _, w in img][:8] == [k & 0xFF for k in u.slopes.values]
    assert lut_image.cfg_addr_bits(u) == 4 and lut_image.data_bits(u) == 8
    assert impls.cfg(u)["map"] == "slopes at 0..7, intercepts at 8..15"
    assert set(impls.formats(t)) == {"input", "output"}
    with pytest.raises(ValueError, match="unknown impl"):
        impls.get("cordic")


# -- spec fields ------------------------------------------------------------------

def test_specs_round_trip(tmp_path):
    for spec in (table_spec("gelu"), uniform_spec("gelu", 16, "int16")):
        spec.save(tmp_path / "s.json")
        doc = json.loads((tmp_path / "s.json").read_text())
        assert doc["impl"] == spec.impl and Spec.load(tmp_path / "s.json") == spec
    doc = table_spec("gelu").to_json()
    assert "breakpoints" not in doc and "slopes" not in doc and len(doc["values"]) == 256


def _table_doc():
    return copy.deepcopy(table_spec("sigmoid").to_json())


def _uniform_doc():
    return copy.deepcopy(uniform_spec("gelu", 4).to_json())


@pytest.mark.parametrize("make,edit,field,words", [
    (_table_doc, lambda d: d["values"].pop(), "values", "256 values"),
    (_table_doc, lambda d: d["values"].__setitem__(3, 256), "values[3]", "does not fit"),
    (_table_doc, lambda d: d["values"].__setitem__(3, -1), "values[3]", "does not fit"),  # u8.7 output
    (_table_doc, lambda d: d["values"].__setitem__(5, 1.5), "values[5]", "integer"),
    (_table_doc, lambda d: d.update(entries=255), "entries", "2^8 = 256"),
    (_table_doc, lambda d: d.update(breakpoints=[]), "breakpoints", "no breakpoints"),
    (_table_doc, lambda d: d.pop("values"), "values", "missing"),
    (_table_doc, lambda d: d["input"].update(bits=13), "input.bits", "at most 12"),
    (_table_doc, lambda d: d.update(impl="lut"), "impl", "must be one of"),
    (_uniform_doc, lambda d: d.update(entries=3), "entries", "power of two"),
    (_uniform_doc, lambda d: d["breakpoints"].__setitem__(1, 1), "breakpoints[1]", "segment boundaries"),
    (_uniform_doc, lambda d: d.update(values=[0]), "values", "only a table spec"),
])
def test_bad_impl_fields_name_the_field(make, edit, field, words):
    doc = make()
    edit(doc)
    with pytest.raises(SpecError) as e:
        validate_doc(doc)
    assert e.value.field == field and words in str(e.value)


# -- RTL: every code, bit for bit ---------------------------------------------------

TABLE_UNITS = [(s, lut) for lut in ("rom", "regs") for s in (0, 2)]


@pytest.mark.parametrize("stages,lut", TABLE_UNITS, ids=[f"s{s}-{lut}" for s, lut in TABLE_UNITS])
def test_table_unit_bit_exact(stages, lut, build_dir):
    spec = table_spec("gelu")
    unit = generate_unit(spec, build_dir / f"table_gelu_s{stages}_{lut}", stages, lut)
    if lut == "rom":
        r = bench(unit, build_dir)
        assert r.ok and r.vectors == 256, r.line()
    else:                   # load the hswish table through cfg, check it, load gelu back
        partner = build_dir / "table_hswish.spec.json"
        table_spec("hswish").save(partner)
        r = bench(unit, build_dir, spec2=partner)
        assert r.ok and r.vectors == 512, r.line()


@pytest.mark.parametrize("bits,stages,lut", [(10, 1, "regs"), (12, 3, "rom")])
def test_table_unit_wide_inputs(bits, stages, lut, build_dir):
    spec = table_spec("gelu", in_bits=bits, in_frac=bits - 3)
    unit = generate_unit(spec, build_dir / f"table_gelu_i{bits}_s{stages}_{lut}", stages, lut)
    r = bench(unit, build_dir)
    assert r.ok and r.vectors == 1 << bits, r.line()


UNIFORM_UNITS = [("int8", 8, 0, "rom"), ("int8", 16, 2, "rom"), ("int8", 8, 2, "regs"), ("int8", 8, 3, "regs"),
                 ("int16", 16, 1, "rom"), ("int16", 8, 2, "regs")]


@pytest.mark.parametrize("fmt,entries,stages,lut", UNIFORM_UNITS,
                         ids=[f"{f}-e{n}-s{s}-{lut}" for f, n, s, lut in UNIFORM_UNITS])
def test_uniform_unit_bit_exact(fmt, entries, stages, lut, build_dir):
    spec = uniform_spec("gelu", entries, fmt)
    unit = generate_unit(spec, build_dir / f"uniform_gelu_{fmt}_e{entries}_s{stages}_{lut}", stages, lut)
    codes = 1 << spec.input.bits
    if lut == "rom":
        r = bench(unit, build_dir)
        assert r.ok and r.vectors == codes, r.line()
    else:                   # load the silu table through cfg, check it, load gelu back
        partner = build_dir / f"uniform_silu_{fmt}_e{entries}.spec.json"
        uniform_spec("silu", entries, fmt).save(partner)
        r = bench(unit, build_dir, spec2=partner)
        assert r.ok and r.vectors == 2 * codes, r.line()


def test_table_wrong_entry_fails(build_dir, tmp_path):
    """A unit built from a table with one wrong entry fails against the true table."""
    spec = table_spec("gelu")
    true = tmp_path / "true.json"
    spec.save(true)
    vals = list(spec.values)
    vals[200] += 1
    bad = replace(spec, values=tuple(vals))
    for stages in (0, 2):
        unit = generate_unit(bad, tmp_path / f"bad{stages}", stages, "rom")
        r = bench(unit, tmp_path, golden=true)
        assert r.mismatches == 1 and not r.ok, r.line()


def test_uniform_wrong_slope_fails(build_dir, tmp_path):
    spec = uniform_spec("gelu", 8)
    true = tmp_path / "true.json"
    spec.save(true)
    vals = list(spec.slopes.values)
    vals[5] += 1
    bad = replace(spec, slopes=Coeffs(spec.slopes.fmt, tuple(vals)))
    unit = generate_unit(bad, tmp_path / "bad", 2, "rom")
    r = bench(unit, tmp_path, golden=true)
    assert r.mismatches > 0 and not r.ok, r.line()


LINT = [("table", 0, "rom"), ("table", 2, "regs"), ("uniform", 3, "rom"), ("uniform", 2, "regs")]


@pytest.mark.parametrize("impl,stages,lut", LINT, ids=[f"{i}-s{s}-{lut}" for i, s, lut in LINT])
def test_verilog_lints_clean(impl, stages, lut, tmp_path):
    spec = table_spec("gelu") if impl == "table" else uniform_spec("gelu", 8)
    unit = generate_unit(spec, tmp_path, stages, lut)
    man = json.loads((unit / "manifest.json").read_text())
    assert man["ports"][0]["name"] == "x"
    r = lint([unit / v for v in man["verilog"]], man["top"])
    assert r.returncode == 0, r.stderr


# -- area of the table ROM -------------------------------------------------------------

def case_rom(spec: Spec, out: Path) -> Path:
    """The reference: a plain Verilog 256-way ``case`` ROM of ``spec``'s
    values with a registered output (no reset, no valid)."""
    bits, ob = spec.input.bits, spec.output.bits
    lines = [f"module case_rom (input clk, input [{bits - 1}:0] x, output reg [{ob - 1}:0] y);",
             f"  reg [{ob - 1}:0] v;", "  always @* begin", "    case (x)"]
    for q, v in zip(spec.input.codes(), spec.values):
        lines.append(f"      {bits}'d{int(q) & ((1 << bits) - 1)}: v = {ob}'d{int(v) & ((1 << ob) - 1)};")
    lines += ["    endcase", "  end", "  always @(posedge clk) y <= v;", "endmodule"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "case_rom.v").write_text("\n".join(lines) + "\n")
    (out / "manifest.json").write_text(json.dumps({"top": "case_rom", "verilog": ["case_rom.v"]}))
    return out


def test_table_rom_area_matches_case_rom(tmp_path):
    """gelu int8 table, LUT=rom, STAGES=1 (registered output, plus the valid
    bit) within 5 % of the case ROM on the project's flow."""
    pytest.importorskip("pyosys")
    from synth import DEFAULT_LIBERTY
    from synth.flow import synthesize_unit
    if not Path(DEFAULT_LIBERTY).is_file():
        pytest.skip(f"liberty {DEFAULT_LIBERTY} not installed")
    spec = table_spec("gelu")
    ref = synthesize_unit(case_rom(spec, tmp_path / "case"), tmp_path / "case_synth")
    unit = synthesize_unit(generate_unit(spec, tmp_path / "unit", 1, "rom"), tmp_path / "unit_synth")
    assert unit.flip_flops == 9 and ref.flip_flops == 8
    assert unit.area_um2 <= 1.05 * ref.area_um2, (unit.area_um2, ref.area_um2)
