"""`make dse`: the sweep runs on a local Dask cluster by default and on a
running scheduler with separate worker processes, caches per unit, and
recommends within the bound."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flow.dse import impl_label, plan, recommend

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _gqa(*args, cwd=ROOT):
    return subprocess.run([str(BIN / "gqa-lut"), *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_plan_leaves_out_what_the_configuration_refuses():
    cfgs = plan(["gelu"], ["int8", "int16"], [4, 8], luts=["rom"], bound=1.0)
    names = [c.name for c in cfgs]
    assert "gelu_int8_table" in names and not any("int16_table" in n for n in names)   # > 12 input bits
    assert "gelu_int16_e4_uniform" in names and "gelu_int8_e8" in names
    assert "gelu_int16_m1" in names and "gelu_int8_m1_uniform" in names and "gelu_int8_m1_table" not in names


def test_recommendation_is_the_smallest_within_the_bound():
    rows = [dict(op="gelu", format="int8", lut="rom", impl=i, entries=e, area_um2=a, max_err_lsb=m, status="ok",
                 make=f"make gen {i}") for i, e, a, m in
            (("pwl", 8, 12000.0, 0.8), ("table", 256, 4000.0, 0.5), ("uniform", 4, 3000.0, 3.0))]
    [r] = recommend(rows, 1.0)
    assert r["impl"] == "table" and r["meets_bound"]
    [r] = recommend(rows, 0.1)
    assert r["impl"] == "table" and not r["meets_bound"]          # most accurate, flagged


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_locally_then_through_a_scheduler_and_workers(tmp_path):
    args = ["dse", "--ops", "gelu", "--formats", "int8", "--impls", "table,uniform", "--entries", "4",
            "--luts", "rom", "--build", str(tmp_path / "b")]
    r = _gqa(*args, "--jobs", "1")                                # the default: a LocalCluster, no scheduler
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads((tmp_path / "b" / "dse" / "report.json").read_text())
    assert len(rep["rows"]) == 3 and all(x["status"] == "ok" for x in rep["rows"])    # + the fewest within 1 LSB
    fewest = [x for x in rep["rows"] if x["fewest"]]
    assert {x["unit"] for x in fewest} == {"gelu_int8_m1_uniform"}
    assert all(x["max_err_lsb"] <= 1 and x["entries"] == 16 for x in fewest)
    recs = {x["lut"]: x for x in rep["recommendations"]}
    assert recs["rom"]["impl"] == "table" and recs["rom"]["max_err_lsb"] <= 1
    assert recs["rom"]["make"] == "make gen OP=gelu IMPL=table"
    assert (tmp_path / "b" / "dse" / "gelu.png").read_bytes()[:4] == b"\x89PNG"

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    sched = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        worker = subprocess.Popen([str(BIN / "dask"), "worker", addr, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        r = _gqa(*args, "--scheduler", addr)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"on {addr}" in r.stdout and r.stdout.count("(cached)") == 3, r.stdout   # resumed from the cache
        again = json.loads((tmp_path / "b" / "dse" / "report.json").read_text())
        assert again["recommendations"] == rep["recommendations"]
    finally:
        for p in (worker, sched):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)


@pytest.mark.parametrize("args,msg", [(["--ops", "nosuch"], "unknown op"), (["--impls", "cordic"], "unknown impl"),
                                      (["--formats", "fp32"], "not an integer format"),
                                      (["--max-err-lsb", "0"], "must be positive"),
                                      (["--jobs", "x"], "--jobs 'x' is not an integer"),
                                      (["--jobs", "65"], "--jobs 65 is out of range"),
                                      (["--out", "/dev/null/report"], "is not a directory")])
def test_bad_sweep_options_are_one_line(args, msg, tmp_path):
    r = _gqa("dse", *args, "--build", str(tmp_path / "b"))
    assert r.returncode == 2 and r.stderr.startswith("error:") and msg in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_cache_key_covers_a_row_wise_unit_s_tables(tmp_path):
    """A row-wise unit's manifest names ``specs`` (no ``spec.json``): its key
    covers the Verilog and every table, so an edited table is measured again."""
    from flow.synthcache import _key
    (tmp_path / "u.v").write_text("module u; endmodule\n")
    for t in ("exp", "recip"):
        (tmp_path / f"{t}.spec.json").write_text(f'{{"op": "{t}"}}\n')
    (tmp_path / "manifest.json").write_text(json.dumps({"verilog": ["u.v"], "specs": {
        "exp": "exp.spec.json", "recip": "recip.spec.json"}}))
    cfg = {"liberty": "l", "period_ns": 10.0, "activity": 0.5, "abc": "gqa"}
    before = _key(tmp_path, cfg)
    (tmp_path / "recip.spec.json").write_text('{"op": "recip", "edited": 1}\n')
    assert _key(tmp_path, cfg) != before


def test_plan_has_poly_units_per_degree_and_fold_at_the_bound():
    """A poly unit is found by its bound (fitter/poly.py), so the entries axis does not apply to it;
    the sweep measures degree 1 and 2, each folded and not where the op has a symmetry."""
    cfgs = [c for c in plan(["gelu"], ["int8", "int16", "int32"], [4, 8, 16]) if c.impl == "poly"]
    want = [f"gelu_{f}_m1_poly{v}{l}" for f in ("int8", "int16") for v in ("", "_fold", "_d2", "_d2_fold")
            for l in ("", "_regs")]                                             # int32: over 16 input bits
    assert sorted(c.name for c in cfgs) == sorted(want)
    assert all(c.make_line().startswith("make gen OP=gelu IMPL=poly") for c in cfgs)
    assert {impl_label(c) for c in cfgs} == {"poly", "poly_fold", "poly_d2", "poly_d2_fold"}
    half = [c.name for c in plan(["exp"], ["int8"], [4], impls=["poly"], luts=["rom"], bound=0.5)]
    assert half == ["exp_int8_m0p5_poly", "exp_int8_m0p5_poly_d2"]              # exp: no symmetry, no fold


def test_poly_is_recommended_when_smallest():
    rows = [dict(op="gelu", format="int16", lut="rom", impl=i, entries=e, area_um2=a, max_err_lsb=m, status="ok",
                 make=f"make gen {i}") for i, e, a, m in
            (("pwl", 89, 96843.0, 0.99), ("uniform", 256, 87936.0, 0.98), ("poly", 256, 41272.0, 0.97),
             ("uniform", 64, 30000.0, 7.0))]
    [r] = recommend(rows, 1.0)
    assert r["impl"] == "poly" and r["entries"] == 256 and r["meets_bound"]


def test_sweep_measures_a_poly_unit(tmp_path):
    r = _gqa("dse", "--ops", "gelu", "--formats", "int8", "--impls", "poly,table", "--luts", "rom",
             "--build", str(tmp_path / "b"), "--jobs", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads((tmp_path / "b" / "dse" / "report.json").read_text())
    [poly] = [x for x in rep["rows"] if x["impl"] == "poly"]
    assert poly["status"] == "ok" and poly["unit"] == "gelu_int8_m1_poly" and poly["fewest"]
    assert poly["max_err_lsb"] <= 1 and poly["area_um2"] > 0 and poly["make"] == "make gen OP=gelu IMPL=poly"
    md = (tmp_path / "b" / "dse" / "report.md").read_text()
    assert "| gelu | int8 | poly | rom |" in md and "gelu_int8_m1_poly" in md
    [rec] = rep["recommendations"]
    assert rec["impl"] == min((x for x in rep["rows"] if x["max_err_lsb"] <= 1), key=lambda x: x["area_um2"])["impl"]
