"""``CLOCK_MHZ=F`` (issue 26): the STAGES of least area whose OpenSTA fmax
meets F, chosen by the cached synthesis + STA loop of ``flow/clock.py``.

Correctness only, not timing benchmarks: the loop picks what it measured,
the built unit is the measured candidate, an unreachable clock is one
``error:`` line with exit status 2 and no unit, the option's name / make
line / request round trip, and the bench checks the chosen latency. The
units are gelu INT8 with 2 entries and a 3-generation fit (a few seconds
per synthesis); needs pyosys, OpenSTA and the OSU 0.18 um liberty, as
tests/test_synth.py does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flow.config import ConfigError, Elementwise, FitOptions, from_request

FIT = FitOptions(generations=3)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Own build directory: the short fit must not replace the session's cached default-fit specs."""
    return tmp_path_factory.mktemp("clock_build")


def _unit(**kw) -> Elementwise:
    return Elementwise("gelu", "int8", 2, fit=FIT, **kw)


def test_name_make_line_request_round_trip():
    c = _unit(clock_mhz=200, lut="regs")
    assert c.stages is None and c.name == "gelu_int8_e2_vaf4f55_c200_regs"
    assert "CLOCK_MHZ=200" in c.make_line() and "STAGES" not in c.make_line()
    assert c.cli_args()[c.cli_args().index("--clock-mhz") + 1] == "200" and "--stages" not in c.cli_args()
    req = c.request()
    assert req["clock_mhz"] == 200 and req["stages"] is None
    assert from_request(json.loads(json.dumps(req))) == c
    plain = _unit()
    assert "clock_mhz" not in plain.request() and "_c" not in plain.name.split("_v")[1]
    assert from_request(plain.request()) == plain
    for bad, what in ((dict(clock_mhz=0), "out of range"), (dict(clock_mhz=2001), "out of range"),
                      (dict(clock_mhz=200, stages=3), "both set the pipelining"),
                      (dict(clock_mhz="200"), "not an integer")):
        with pytest.raises(ConfigError, match=what):
            _unit(**bad)


def test_make_variable_and_cli_errors(build, capsys):
    from flow.cli import from_env, main
    argv = from_env("gen", {"OP": "gelu", "CLOCK_MHZ": "200"})
    assert argv[argv.index("--clock-mhz") + 1] == "200"
    argv = from_env("dse", {"CLOCK_MHZ": "150"})
    assert argv[argv.index("--clock-mhz") + 1] == "150"
    for argv, what in ((["--stages", "2"], "both set the pipelining"), (["--clock-mhz", "x"], "not an integer"),
                       (["--clock-mhz", "0"], "out of range")):
        assert main(["gen", "gelu", "--build", str(build / "none"), "--clock-mhz", "200", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1 and what in err, err
    assert main(["gen", "softmax", "--clock-mhz", "100", "--build", str(build / "none")]) == 2
    assert "applies to the element-wise ops only" in capsys.readouterr().err
    from flow.dse import main as dse
    for v, what in (("abc", "not an integer"), ("0", "out of range")):
        assert dse(["--clock-mhz", v, "--build", str(build / "none")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: CLOCK_MHZ") and err.count("\n") == 1 and what in err, err
    assert not (build / "none").exists()


def test_clock_picks_the_least_area_stages_that_meets_it(build):
    """The unit is built at the STAGES the loop measured as the smallest that
    meets F, its Verilog is that candidate's, and a rebuild measures nothing."""
    from flow.build import build as build_unit
    from flow.clock import candidate_dir, clock_slot
    cfg = _unit(clock_mhz=220, lut="regs")
    unit = build_unit(cfg, build)
    man = json.loads((unit / "manifest.json").read_text())
    clock = man["clock"]
    cands = clock["candidates"]
    assert [c["stages"] for c in cands] == [1, 2, 3]          # never STAGES=0: sold at a clock means registered
    ok = [c for c in cands if c["meets"]]
    assert ok, cands
    pick = min(ok, key=lambda c: (c["area_um2"], c["stages"]))
    assert man["stages"] == man["latency_cycles"] == clock["stages"] == pick["stages"]
    assert man["clock_mhz"] == 220 and man["fmax_mhz"] == pick["fmax_mhz"] >= 220
    assert all((c["fmax_mhz"] >= 220) == c["meets"] for c in cands), cands
    assert abs(clock["period_ns"] - 1000 / 220) < 1e-6
    cand = candidate_dir(build, cfg.name, pick["stages"])
    assert (unit / f"{cfg.top}.v").read_bytes() == (cand / f"{cfg.top}.v").read_bytes()
    slot = clock_slot(unit)
    row = json.loads(slot.read_text())["row"]
    assert row["area_um2"] == pick["area_um2"] and row["meets_clock"]
    # cached: a second build reads every result back (no file of the cache is rewritten)
    stamps = {p: p.stat().st_mtime_ns for p in slot.parent.iterdir()}
    assert build_unit(cfg, build) == unit
    assert {p: p.stat().st_mtime_ns for p in slot.parent.iterdir()} == stamps


def test_bench_checks_the_chosen_latency(build):
    """The cocotb bench of the unit built above runs at the manifest's STAGES
    (outputs checked bit for bit at that latency)."""
    from sim.units import verify
    cfg = _unit(clock_mhz=220, lut="regs")
    res = verify(cfg, build)
    assert res.failed == 0 and res.mismatches == 0 and res.vectors > 0, res


def test_handoff_sdc_carries_the_target_period(build):
    from flow.build import build as build_unit
    from hw.handoff.package import build as package
    cfg = _unit(clock_mhz=220, lut="regs")
    pkg = package(build_unit(cfg, build))
    sdc = (pkg / "synth" / f"{cfg.top}.sdc").read_text()
    assert "set gqa_period 4.545455\n" in sdc and "CLOCK_MHZ=220" in sdc, sdc[:800]


def test_unreachable_clock_is_an_error_and_builds_nothing(build, capsys):
    from flow.cli import main
    rc = main(["gen", "gelu", "--entries", "2", "--generations", "3", "--clock-mhz", "2000", "--build", str(build),
               "-q", "--no-handoff"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: CLOCK_MHZ=2000:") and "the best is" in err[0] and "at STAGES=" in err[0], err
    assert not (build / _unit(clock_mhz=2000).name).exists()


def test_report_rows_and_clock_options():
    """The synth report's Table 6 reads the STAGES=1 row among the pipelined
    ones; CLOCK_MHZ and --period-ns together, or a bad --pipe-stages, are one
    error line before anything is built."""
    import subprocess
    import sys

    from eval.synth_report import _find
    rows = [{"status": "ok", "op": "gelu", "format": "fp32", "entries": 8, "lut": "rom", "lanes": 1, "stages": s,
             "area_um2": a} for s, a in ((3, 30.0), (1, 10.0), (2, 20.0))]
    assert _find(rows, op="gelu", format="fp32")["area_um2"] == 10.0
    assert _find(rows, op="gelu", format="fp32", stages=3)["area_um2"] == 30.0
    root = Path(__file__).resolve().parent.parent
    for args, what in ((["--clock-mhz", "200", "--period-ns", "5"], "both set the clock"),
                       (["--clock-mhz", "0"], "out of range"), (["--clock-mhz", "2.5"], "not an integer"),
                       (["--pipe-stages", "1"], "among 0, 2, 3")):
        p = subprocess.run([sys.executable, "-m", "eval.synth_report", "--build", "/nonexistent/b", *args],
                           capture_output=True, text=True, cwd=root, timeout=60)
        err = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(err) == 1 and err[0].startswith("error:") and what in err[0], p.stderr


def test_equal_clock_table6_plan_and_savings():
    """Table 6 at equal clocks: the INT8 unit's clock is its fmax rounded down,
    the baselines are measured at STAGES=3 there, and a baseline that misses
    the clock is reported with its fmax (figures made up here)."""
    from eval.synth_report import _markdown, equal_clock_plan, equal_clock_table, table6
    base = {"status": "ok", "op": "gelu", "entries": 8, "lanes": 1, "stages": 1, "nand2_eq": 1.0, "cells": 1,
            "flip_flops": 1, "seq_area_um2": 1.0, "comb_area_um2": 1.0, "delay_ns": 1.0, "meets_clock": False,
            "power_idle_mw": 0.1}
    rows = [{**base, "format": "int8", "lut": "regs", "fmax_mhz": 136.4, "area_um2": 50.0, "power_mw": 1.0},
            {**base, "format": "fp32", "lut": "regs", "fmax_mhz": 22.0, "area_um2": 400.0, "power_mw": 9.0}]
    assert equal_clock_plan(rows) == [("regs", 136, "int8", 1), ("regs", 136, "fp32", 3)]
    res = [{"lut": "regs", "clock_mhz": 136, "format": "int8", "stages": 1, "status": "ok", "area_um2": 60.0,
            "power_mw": 2.0, "fmax_mhz": 137.0, "meets_clock": True},
           {"lut": "regs", "clock_mhz": 136, "format": "fp32", "stages": 3, "status": "ok", "area_um2": 600.0,
            "power_mw": 10.0, "fmax_mhz": 45.2, "meets_clock": False}]
    eq = equal_clock_table(res)
    v = eq["regs"]["vs"]["fp32"]
    assert v["area_saving_pct"] == 90.0 and v["power_saving_pct"] == 80.0
    t6 = table6(rows, eq)
    assert t6["regs"]["equal_clock"]["clock_mhz"] == 136
    md = _markdown(rows, {"liberty": "l", "nand2_cell": "N", "nand2_area_um2": 1, "yosys": "y", "sta": "s",
                          "period_ns": 10.0, "activity": 0.5, "input_transition_ns": 0.1, "output_load_pf": 0.01,
                          "units_ok": 2, "units_failed": 0, "runtime_s": 1, "jobs": 1}, t6)
    assert "FP32 does not reach the INT8 unit's 136 MHz at STAGES 3..3: its best is 45.2 MHz at STAGES=3" in md


@pytest.mark.parametrize("fmax,want,tried", [
    ({3: 100, 4: 120, 5: 140, 6: 150}, 5, [3, 4, 5]),            # the first STAGES that meets the clock
    ({3: 100, 4: 110, 5: 90, 6: 115, 7: 115, 8: 114}, 6, [3, 4, 5, 6, 7, 8]),   # a dip is not the end
    ({3: 100, 4: 110}, 4, [3, 4]),                              # gen refuses STAGES 5: the search ends
])
def test_equal_clock_baseline_is_pipelined_until_it_meets(monkeypatch, fmax, want, tried):
    """A baseline goes deeper from STAGES=3 until it meets the INT8 unit's clock, or until
    synth.measure.PATIENCE STAGES in a row bring no better fmax (figures made up here)."""
    import eval.synth_report as rep

    def fake(lut, clock_mhz, fmt, stages, cfg):
        if stages not in fmax:
            raise rep.SynthError(f"stages must be 0..{max(fmax)}, not {stages}")
        f = fmax[stages]
        return {"status": "ok", "unit": f"u{stages}", "area_um2": 100.0 * stages, "seq_area_um2": 1.0,
                "flip_flops": stages, "delay_ns": 1000.0 / f, "fmax_mhz": f, "meets_clock": f >= clock_mhz,
                "power_mw": 1.0, "synth_cached": False}
    monkeypatch.setattr(rep, "_measure_at", fake)
    r = rep.equal_clock_unit("rom", 135, "fp32", 3, {})
    assert r["stages"] == want and [t["stages"] for t in r["tried"]] == tried, r
    assert r["meets_clock"] == (fmax[want] >= 135)
