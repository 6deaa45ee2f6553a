"""Every option checked before any work (issue 21, item 5), for ``make sim``
(``gqa-lut sim run``): a bad simulator, op list, job count, build root or
JSON location is one ``error:`` line and exit status 2 with nothing fitted
or built (before, ``SIM=foo`` fitted and generated a unit first, and an
empty ``OP`` item ran the whole matrix). Names from specs have a length
limit. And the parallel driver (issue 21, item 7): shared tables fitted
once, units run on every core, results reported in matrix order."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flow.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args,says", [
    (["--sim", "foo"], "unknown simulator 'foo'"),
    (["--sim", ""], "unknown simulator ''"),
    (["--op", "gelu,,exp"], "empty item"),
    (["--op", ""], "empty item"),
    (["--op", "gelu,GELU"], "unknown op 'GELU'"),
    (["--op", "gelu;rm -rf /"], "unknown op"),
    (["--jobs", "0"], "JOBS=0"),
    (["--jobs", "two"], "JOBS='two'"),
    (["--jobs", "65"], "JOBS=65"),
])
def test_bad_sim_option_is_one_error_before_any_work(tmp_path, capsys, args, says):
    build = tmp_path / "b"
    rc = main(["sim", "run", "--build", str(build), *args])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (out, err)
    assert err.startswith("error: ") and says in err and "unexpected" not in err, err
    assert not build.exists()                       # nothing fitted, nothing built


def test_bad_output_locations_are_refused_first(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, says in ((["--build", str(afile)], "is not a directory"),
                       (["--build", str(tmp_path / "b"), "--json", str(tmp_path)], "is a directory"),
                       (["--build", str(tmp_path / "b"), "--json", str(afile / "sim.json")],
                        "not a writable directory")):
        rc = main(["sim", "run", *args])
        out, err = capsys.readouterr()
        assert rc == 2 and err.startswith("error: ") and says in err, err
        assert not (tmp_path / "b").exists()


def test_make_sim_checks_its_variables_first(tmp_path):
    """What make sim runs, with the variables given on make's command line."""
    for var in ("SIM=foo", "JOBS=-1", "OP=gelu,"):
        r = subprocess.run(["make", "-s", "-C", str(ROOT), "sim", var, f"BUILD={tmp_path / 'b'}"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "error: " in r.stderr, (var, r.stderr)
        assert not (tmp_path / "b").exists(), var


@pytest.mark.parametrize("n,ok", [(32, True), (33, False)])
def test_spec_op_name_length(tmp_path, n, ok):
    from hw.spec import Spec, SpecError
    doc = {"format": "gqa-lut-spec", "version": 1, "op": "a" * n, "entries": 2,
           "input": {"bits": 8, "signed": True, "frac": 5}, "breakpoints": [0],
           "slopes": {"bits": 8, "frac": 6, "values": [0, 64]},
           "intercepts": {"bits": 8, "frac": 6, "values": [0, 0]},
           "output": {"bits": 8, "signed": True, "frac": 5}}
    if ok:
        assert Spec.from_json(doc).op == "a" * n
    else:
        with pytest.raises(SpecError, match="at most 32"):
            Spec.from_json(doc)
    doc["op"] = "gelu\n"                            # a trailing newline is no identifier either
    with pytest.raises(SpecError, match="lower-case identifier"):
        Spec.from_json(doc)


def test_fit_waves_fit_each_table_once():
    """The default matrix's fits: no table twice, wide formats after int8."""
    from sim.driver import fit_waves
    from sim.units import matrix
    waves = fit_waves(matrix(), Path("b"))
    first = {(fn.__name__, c.name) for fn, c in waves[0]}
    assert all(c.kind in ("softmax", "layernorm", "rmsnorm") or c.format == "int8" or c.impl != "pwl"
               for _, c in waves[0])
    assert {c.format for _, c in waves[1]} == {"int16", "int32", "fp32"}
    assert len(first) == len(waves[0])


def test_parallel_run_reports_in_matrix_order(tmp_path):
    from flow.config import Elementwise, FitOptions
    from sim.driver import run
    fast = FitOptions(generations=5)
    cfgs = [Elementwise("gelu", "int8", 4, 2, "rom", fit=fast), Elementwise("gelu", "int16", 4, 0, "rom", fit=fast),
            Elementwise("gelu", "int8", 4, 0, "regs", fit=fast)]
    lines = []
    results = run(cfgs, tmp_path, "icarus", 2, lines.append)
    assert [r.name for r in results] == [f"gqa_{c.name}" for c in cfgs]
    assert all(r.ok for r in results) and [ln.split()[1] for ln in lines] == [r.name for r in results]
    assert results[1].vectors == 65536



def test_group_fails_only_the_wrong_unit(tmp_path):
    """Units simulated together (sim/group.py) keep their own verdicts: the
    one built from a table with a wrong slope fails, the others pass."""
    from dataclasses import replace

    from flow.build import build as build_unit
    from flow.build import ensure_spec
    from flow.config import Elementwise, FitOptions
    from hw.gen import generate
    from hw.spec import Coeffs
    from sim.group import run_group
    from sim.units import partner_spec
    fast = FitOptions(generations=5)
    good = [Elementwise("gelu", "int8", 4, 2, "rom", fit=fast), Elementwise("gelu", "int8", 4, 0, "regs", fit=fast)]
    spec, path, _ = ensure_spec(good[0], tmp_path)
    vals = [v - 8 if v > 0 else v + 8 for v in spec.slopes.values]      # every segment's slope off
    bad = tmp_path / "bad"
    generate(replace(spec, slopes=Coeffs(spec.slopes.fmt, tuple(vals))), bad, "gqa_bad", stages=2, lut="rom")
    entries = [(build_unit(good[0], tmp_path), {}), (bad, {"GQA_GOLDEN": path.resolve()}),
               (build_unit(good[1], tmp_path), {"GQA_SPEC2": partner_spec(good[1], tmp_path).resolve()})]
    r = run_group("gqa_sim_group_t", entries, tmp_path / "sim", "icarus")
    assert [x.name for x in r] == [good[0].top, "gqa_bad", good[1].top]
    assert r[0].ok and r[2].ok and r[0].vectors == 256 and r[2].vectors == 512, [x.line() for x in r]
    assert not r[1].ok and r[1].mismatches > 0 and r[1].failed == 1


@pytest.mark.parametrize("var", ["OP", "BUILD", "FITARGS"])
def test_overlong_make_variable_is_one_short_error(tmp_path, capsys, monkeypatch, var):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, "a" * 5000)
    rc = main(["--from-env", "gen"])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith(f"error: {var} is 5000 characters long") and len(err) < 200, err
    assert list(tmp_path.iterdir()) == []


def test_overlong_sim_op_list_is_one_short_error(tmp_path, capsys):
    rc = main(["sim", "run", "--op", "gelu," * 300, "--build", str(tmp_path / "b")])
    out, err = capsys.readouterr()
    assert rc == 2 and "at most 1024" in err and len(err) < 200, err
