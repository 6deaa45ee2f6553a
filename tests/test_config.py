"""One owner for a unit's configuration: names, requests, regenerate lines,
honest caches, and make variables that are data."""

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import QUICK, ROOT, make, tree, unit_of

from flow.config import ConfigError, Elementwise, FitOptions, SpecUnit, from_request, parse_fixed
from hw.layernorm.config import LayerNorm
from hw.softmax.config import Softmax


def _user_spec(tmp_path: Path) -> Path:
    """A fitted table with one slope changed, as a user would hand-edit it."""
    r = make(["gen", "OP=gelu", f"FITARGS={QUICK}", "HANDOFF=0", f"BUILD={tmp_path / 'seed'}"], tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(next((tmp_path / "seed").glob("gelu_int8_e8_v*/spec.json")).read_text())
    doc["slopes"]["values"][2] += 1
    f = tmp_path / "mine.json"
    f.write_text(json.dumps(doc))
    return f


#: make variables of each kind of variant (issue 14's matrix)
VARIANTS = {
    "default": ["OP=gelu"],
    "stages-regs": ["OP=gelu", "STAGES=0", "LUT=regs", f"FITARGS={QUICK}"],
    "int16": ["OP=gelu", "FORMAT=int16", f"FITARGS={QUICK}"],
    "int32": ["OP=silu", "FORMAT=int32", f"FITARGS={QUICK}"],
    "fp32-ftz": ["OP=gelu", "FORMAT=fp32", "FTZ=1", "STAGES=2", f"FITARGS={QUICK}"],
    "v-option": ["OP=tanh", "ENTRIES=16", "SEED=3", f"FITARGS=--range -2 2 {QUICK}"],
    "softmax": ["OP=softmax", "ROW_BUFFERS=1", "ROW=32", "SM_IN_FRAC=5", f"FITARGS={QUICK}"],
    "layernorm": ["OP=layernorm", "ROW=16", "LN_IN=s16.8", "LN_OUT=s16.13", "LN_PARAMS=p.json",
                  f"FITARGS={QUICK}"],
    "layernorm-2pass": ["OP=layernorm", "ROW=16", "ROW_STORE=none", f"FITARGS={QUICK}"],
    "rmsnorm-2pass-gamma": ["OP=rmsnorm", "ROW=16", "ROW_STORE=none", "LN_AFFINE=1", f"FITARGS={QUICK}"],
    "rmsnorm-sram-4-lanes": ["OP=rmsnorm", "ROW=18", "ROW_STORE=sram", "LANES=4", f"FITARGS={QUICK}"],
    "softmax-sram": ["OP=softmax", "ROW=16", "ROW_STORE=sram", f"FITARGS={QUICK}"],
    "spec": ["SPEC=mine.json", "LUT=regs"],
    "fewest": ["OP=silu", "FORMAT=int16", "FITARGS=--max-err-lsb 1"],
    "poly-degree-2": ["OP=gelu", "IMPL=poly", "DEGREE=2", "FORMAT=int10", "LUT=regs"],
    "poly-fold": ["OP=tanh", "IMPL=poly", "FOLD=1", "FORMAT=int10", "STAGES=2"],
}


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_regenerate_line_rebuilds_the_package_byte_for_byte(kind, tmp_path):
    """`make gen` into one BUILD; the datasheet's regenerate line, run from a
    fresh directory holding only the package's input copies, into another
    BUILD: the two unit directories, package included, are identical."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    if kind == "layernorm":
        (first / "p.json").write_text(json.dumps({"gamma": [0.5 + i / 16 for i in range(16)],
                                                  "beta": [i / 32 - 0.25 for i in range(16)]}))
    if kind == "spec":
        shutil.copy(_user_spec(tmp_path), first / "mine.json")
    r = make(["gen", *VARIANTS[kind], "BUILD=b"], first)
    assert r.returncode == 0, r.stderr
    unit = Path(unit_of(r.stdout))
    unit = unit if unit.is_absolute() else first / unit
    pkg = json.loads((unit / "handoff" / "manifest.json").read_text())
    man = json.loads((unit / "manifest.json").read_text())
    line = pkg["regenerate"]
    assert line == man["regenerate"] and line.startswith("make handoff ")
    assert line in (unit / "handoff" / "DATASHEET.md").read_text()
    cfg = from_request(man["request"], unit)
    assert cfg.name == unit.name and cfg.top == man["top"]
    for name in filter(None, (man["request"].get("spec"), man["request"].get("params"))):
        shutil.copy(unit / "handoff" / name, second / name)
    r = make(shlex.split(line)[1:] + ["BUILD=b"], second)
    assert r.returncode == 0, r.stderr
    again = second / "b" / unit.name
    assert tree(again) == tree(unit)


def test_cache_never_ships_an_edited_table(tmp_path):
    """The issue's poisoning sequence: a user's spec goes to its own _u
    directory; a table edited inside the fit cache is refitted, not reused."""
    r = make(["gen", "OP=gelu", f"FITARGS={QUICK}", "HANDOFF=0", "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    unit = tmp_path / unit_of(r.stdout)
    original = (unit / "spec.json").read_bytes()
    doc = json.loads(original)
    doc["input"]["frac"] = -40                            # the s8.-40
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    r = subprocess.run([str(ROOT / ".venv/bin/gqa-lut"), "gen", "--spec", str(edited), "--build", "b"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    spec_unit = tmp_path / unit_of(r.stdout)
    assert "_u" in spec_unit.name and spec_unit != unit
    assert (unit / "spec.json").read_bytes() == original   # the fit cache untouched
    (unit / "spec.json").write_text(json.dumps(doc))        # poison the cache in place
    r = make(["gen", "OP=gelu", f"FITARGS={QUICK}", "HANDOFF=0", "BUILD=b"], tmp_path)
    assert r.returncode == 0 and "reusing" not in r.stderr, r.stderr
    assert json.loads((unit / "spec.json").read_text())["input"]["frac"] == 5


def test_user_spec_datasheet_has_its_own_accuracy(tmp_path):
    spec = _user_spec(tmp_path)
    r = make(["gen", f"SPEC={spec}", "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    unit = tmp_path / unit_of(r.stdout)
    fitted = json.loads(next((tmp_path / "seed").glob("gelu_int8_e8_v*/spec.json")).read_text())
    mine = json.loads((unit / "spec.json").read_text())
    assert mine["fit"]["metrics"]["mse_hw"] != fitted["fit"]["metrics"]["mse_hw"]
    ds = (unit / "handoff" / "DATASHEET.md").read_text()
    assert f"{mine['fit']['metrics']['mse_hw']:.6g}" in ds
    assert f"Error bound: |y - f(x)| <= {mine['fit']['metrics']['max_err_lsb']:.4g} output LSB" in ds


@pytest.mark.parametrize("cfg", [
    Elementwise("gelu"), Elementwise("exp", "fp32", 16, 3, "regs", True, FitOptions(seed=4, range=(-6, 0))),
    Softmax(16, 64, 2, 1, FitOptions(method="uniform")),
    LayerNorm(8, 32, parse_fixed("s16.8", "i"), parse_fixed("s16.12", "o"), 1e-12, True,
              gamma=tuple(range(32)), beta=(0,) * 32)])
def test_request_round_trip(cfg):
    """manifest request -> configuration -> the same name, request and make line."""
    req = json.loads(json.dumps(cfg.request()))
    if isinstance(cfg, LayerNorm):          # gamma/beta travel as a file beside the unit
        return
    back = from_request(req)
    assert back == cfg and back.name == cfg.name and back.make_line() == cfg.make_line()


@pytest.mark.parametrize("make_vars,msg", [
    (["OP=gelu`touch pwned`"], "unknown op"),
    (["OP=gelu;touch pwned;"], "unknown op"),
    (["OP=gelu", "GENARGS=--seed 1;touch pwned"], "is not an integer"),
    (["OP=gelu", "SEED=notanumber"], "--seed 'notanumber' is not an integer"),
    (["OP=gelu", "ENTRIES=abc"], "entries 'abc' is not an integer"),
    (["OP=gelu", "FTZ=1"], "FTZ=1 applies to fp32 units only"),
    (["OP=gelu", "FITARGS=--range 0 1e308"], "finite bounds"),
    (["OP=gelu", "FITARGS=--range 0 inf"], "finite bounds"),
    (["OP=softmax", "ROW=1"], "--row 1 is out of range"),
    (["OP=layernorm", "LN_EPS=2"], "--ln-eps 2.0 is out of range"),
    (["OP=layernorm", "LN_PARAMS=missing.json"], "no such file"),
    (["OP=gelu", "HANDOFF=maybe"], "HANDOFF=maybe"),
    (["SPEC=."], "is a directory"),
    (["OP=gelu", "FITARGS=--max-err-lsb 1 --seed 2"], "does not apply with --max-err-lsb"),
    (["OP=gelu", "ENTRIES=16", "FITARGS=--max-err-lsb 1"], "leave ENTRIES at its default"),
    (["OP=gelu", "FITARGS=--max-err-lsb 0"], "out of range"),
    (["OP=reciprocal", "FITARGS=--max-err-lsb 1"], "no table with these formats meets 1.0 LSB"),
    (["SPEC=/dev/zero"], "not a regular file"),
    (["OP=layernorm", "LN_PARAMS=/dev/zero"], "not a regular file"),
])
def test_bad_make_input_is_one_line_and_changes_nothing(make_vars, msg, tmp_path):
    r = make(["gen", *make_vars, "BUILD=out dir"], tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    # progress lines ("searching ...") may come first; then exactly one error line
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(("make", "searching ", "fitting "))]
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []          # nothing written, nothing run


def test_build_that_is_a_file_is_refused_before_fitting(tmp_path):
    (tmp_path / "afile").write_text("")
    r = make(["gen", "OP=gelu", "BUILD=afile/b"], tmp_path)
    assert r.returncode == 2 and "is not a directory" in r.stderr and "fitting" not in r.stderr


def test_range_with_exponent_spelling(tmp_path):
    r = make(["fit", "OP=gelu", "FITARGS=--range -4e0 4 --generations 5", "BUILD=b"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(Path(tmp_path / r.stdout.split()[0]).read_text())["fit"]["range"] == [-4.0, 4.0]


def test_config_errors_are_one_line():
    for bad in (lambda: Elementwise("nosuch"), lambda: Elementwise("gelu", entries=0),
                lambda: Softmax(row_buffers=3), lambda: LayerNorm(rsqrt="int4"),
                lambda: FitOptions(range=(1, 0)), lambda: SpecUnit(Path("/nonexistent.json"))):
        with pytest.raises(ValueError) as e:
            bad()
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="use 1 or 2"):
        Softmax(row_buffers=0)
