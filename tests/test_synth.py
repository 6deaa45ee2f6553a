"""synth/: the Yosys flow, OpenSTA timing/power and the report's error paths.

Needs pyosys (pip extra `synth`), OpenSTA (`sta`, Debian opensta) and the
OSU 0.18 um liberty (Debian qflow-tech-osu018); `make synth-report`
installs them. Runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth import DEFAULT_LIBERTY, SynthError

ROOT = Path(__file__).resolve().parent.parent



def _mul_unit(tmp: Path, width: int) -> tuple[Path, str]:
    """A registered signed multiplier (y <= a * b), as a generated unit."""
    from amaranth import Module, signed
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Mul(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(signed(width)), "b": In(signed(width)), "y": Out(signed(2 * width))})

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.y.eq(self.a * self.b)
            return m

    top = f"mul{width}"
    d = tmp / top
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{top}.v").write_text(verilog.convert(Mul(), name=top, emit_src=False))
    ports = [{"name": "a", "dir": "in"}, {"name": "b", "dir": "in"}, {"name": "y", "dir": "out"},
             {"name": "clk", "dir": "in"}, {"name": "rst", "dir": "in"}]
    (d / "manifest.json").write_text(json.dumps({"top": top, "verilog": [f"{top}.v"], "stages": 1,
                                                 "ports": ports, "formats": {}}))
    return d, top


def test_area_positive_and_stable_to_the_cell(tmp_path):
    from synth.flow import synthesize_unit

    unit, top = _mul_unit(tmp_path, 4)
    r1 = synthesize_unit(unit, tmp_path / "s1", period_ns=10.0)
    r2 = synthesize_unit(unit, tmp_path / "s2", period_ns=10.0, reuse=False)
    assert r1.area_um2 > 0 and r1.cells > 0
    assert r1.flip_flops == 8                      # the 8-bit product register
    assert r1.cells_by_type == r2.cells_by_type    # same cells, same counts
    assert r1.area_um2 == r2.area_um2
    assert r1.nand2_cell == "NAND2X1" and r1.nand2_eq == pytest.approx(r1.area_um2 / 24.0)
    assert r1.seq_area_um2 == pytest.approx(8 * 96.0)   # DFFPOSX1 area in the OSU library
    text = Path(r1.netlist).read_text()
    assert f"module {top}" in text and "DFFPOSX1" in text
    # a rerun with identical inputs is served from the cache
    r3 = synthesize_unit(unit, tmp_path / "s1", period_ns=10.0)
    assert r3.cached and r3.cells_by_type == r1.cells_by_type


def test_bigger_unit_has_more_area(tmp_path):
    from synth.flow import synthesize_unit

    small = synthesize_unit(_mul_unit(tmp_path, 4)[0], tmp_path / "s4")
    big = synthesize_unit(_mul_unit(tmp_path, 8)[0], tmp_path / "s8")
    assert big.area_um2 > 2 * small.area_um2
    assert big.flip_flops == 16 and small.flip_flops == 8


def test_abc_script_choice(tmp_path):
    """The default ABC lines carry our script (ifraig sweep); --abc yosys drops
    exactly that argument and both map the same multiplier correctly sized."""
    from synth.flow import synthesize_unit
    from synth.script import render_commands

    vals = {k: k.lower() for k in ("LIBERTY", "VERILOG", "TOP", "PERIOD_PS", "NETLIST", "STAT_JSON", "STAT_TXT")}
    ours = [c for c in render_commands(vals) if c.split()[0] == "abc"]
    theirs = [c for c in render_commands(vals, "yosys") if c.split()[0] == "abc"]
    assert len(ours) == len(theirs) == 2
    assert all("ifraig" in c for c in ours) and not any("-script" in c for c in theirs)
    assert [c.split(" -script ")[0] for c in ours] == theirs == ["abc", "abc -liberty liberty -D period_ps"]
    with pytest.raises(SynthError, match="unknown ABC script"):
        render_commands(vals, "fast")
    unit = _mul_unit(tmp_path, 6)[0]
    a = synthesize_unit(unit, tmp_path / "gqa")
    b = synthesize_unit(unit, tmp_path / "yosys", abc="yosys")
    assert a.flip_flops == b.flip_flops == 12
    assert 0.8 < a.area_um2 / b.area_um2 < 1.2
    assert "-script" in (tmp_path / "gqa" / "synth.ys").read_text()
    assert "-script" not in (tmp_path / "yosys" / "synth.ys").read_text()


def _fanout_unit(tmp: Path, width: int) -> Path:
    """One gate's output selecting in ``width`` multiplexers (y <= s0 & s1 ? a : b): a high-fanout net."""
    from amaranth import Module, Mux, Signal
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Sel(wiring.Component):
        def __init__(self):
            super().__init__({"s": In(2), "a": In(width), "b": In(width), "y": Out(width)})

        def elaborate(self, platform):
            m = Module()
            s, a, b = Signal(2), Signal(width), Signal(width)
            # the select is a gate's output (ABC buffers the nets it maps, not the registers' outputs)
            m.d.sync += [s.eq(self.s), a.eq(self.a), b.eq(self.b), self.y.eq(Mux(s[0] & s[1], a, b))]
            return m

    top = f"sel{width}"
    d = tmp / top
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{top}.v").write_text(verilog.convert(Sel(), name=top, emit_src=False))
    ports = [{"name": n, "dir": "in"} for n in ("s", "a", "b", "clk", "rst")] + [{"name": "y", "dir": "out"}]
    (d / "manifest.json").write_text(json.dumps({"top": top, "verilog": [f"{top}.v"], "stages": 1,
                                                 "ports": ports, "formats": {}}))
    return d


def test_buffered_abc_buffers_a_high_fanout_net(tmp_path):
    """--abc buffered adds ABC's buffering and sizing to the liberty mapping only; on a register that
    drives 256 multiplexers it inserts buffers, and the netlist times faster than the unbuffered one
    (here 90 against 813 MHz)."""
    from synth.flow import read_manifest, synthesize_unit
    from synth.script import BUFFERING, render_commands
    from synth.sta import run_sta

    vals = {k: k.lower() for k in ("LIBERTY", "VERILOG", "TOP", "PERIOD_PS", "NETLIST", "STAT_JSON", "STAT_TXT")}
    ours = [c for c in render_commands(vals) if c.split()[0] == "abc"]
    buf = [c for c in render_commands(vals, "buffered") if c.split()[0] == "abc"]
    assert buf == [ours[0], ours[1] + BUFFERING]
    unit = _fanout_unit(tmp_path, 256)
    man = read_manifest(unit)
    fmax = {}
    for abc in ("gqa", "buffered"):
        syn = synthesize_unit(unit, tmp_path / abc, period_ns=2.0, abc=abc)
        fmax[abc] = run_sta(syn.netlist, syn.top, syn.liberty, man, tmp_path / abc, 2.0, 0.1,
                            cells_by_type=syn.cells_by_type).fmax_mhz
        fmax[abc + "_bufs"] = sum(n for c, n in syn.cells_by_type.items() if c.startswith("BUF"))
    assert fmax["buffered_bufs"] > fmax["gqa_bufs"], fmax
    assert fmax["buffered"] > fmax["gqa"], fmax


def test_sta_on_a_generated_unit(tmp_path):
    """One real unit end to end: build, synthesize, time, power."""
    from synth.flow import read_manifest, synthesize_unit
    from synth.sta import run_sta
    from flow.build import build as build_unit
    from flow.config import Elementwise

    unit = build_unit(Elementwise("gelu"), tmp_path)
    syn = synthesize_unit(unit, tmp_path / "synth")
    sta = run_sta(syn.netlist, syn.top, syn.liberty, read_manifest(unit), tmp_path / "synth", 10.0,
                  cells_by_type=syn.cells_by_type)
    assert syn.area_um2 > 0 and syn.flip_flops >= 8
    assert sta.registered and 0.5 < sta.delay_ns < 50 and sta.fmax_mhz > 10
    assert sta.min_period_ns == pytest.approx(10.0 - sta.slack_ns, abs=1e-6)
    # power at 100 MHz of a few hundred 0.18 um gates: 0.1 .. 100 mW
    assert 0.1 < sta.power_mw < 100
    assert 0 < sta.power_idle_mw < sta.power_mw
    assert sta.static_inputs == {"in_valid": 1.0, "rst": 0.0}


def test_power_matches_a_hand_estimate(tmp_path):
    """8 flip-flops, y <= x: leakage = sum of cell_leakage_power, switching =
    n/2 C V^2 a f, internal from the liberty energy tables."""
    from synth.sta import power_crosscheck

    pc = power_crosscheck(None, tmp_path, period_ns=10.0, activity=0.5)
    hand, sta = pc["hand"], pc["sta"]
    # leakage: 8 x 0.160725 nW (liberty leakage_power_unit 1nW)
    assert hand["leakage_mw"] == pytest.approx(8 * 0.160725e-9 * 1e3)
    assert sta["leakage_mw"] == pytest.approx(hand["leakage_mw"], rel=1e-3)
    # switching: 8 x 1/2 x 0.01 pF x 1.8^2 V^2 x 0.5 / 10 ns = 6.48 uW
    assert hand["switching_mw"] == pytest.approx(6.48e-3)
    assert sta["switching_mw"] == pytest.approx(hand["switching_mw"], rel=1e-3)
    # internal: OpenSTA 2.0.17 sums rise + fall energy on clock and output
    # pins; the hand estimate that models this agrees to the rounding
    assert sta["total_mw"] == pytest.approx(pc["hand_opensta_2_0_17"]["total_mw"], rel=0.01)
    # ... and the liberty-convention estimate is within 2x: units read right
    assert 1.0 <= sta["total_mw"] / hand["total_mw"] < 2.0
    assert pc["clock_pin_factor"] == pytest.approx(2.0, rel=0.01) or \
        pc["clock_pin_factor"] == pytest.approx(1.0, rel=0.01)


def test_script_is_the_single_source():
    from synth.script import PLACEHOLDERS, render_commands, script_commands

    cmds = script_commands()
    text = "\n".join(cmds)
    for needle in ("synth -flatten -top @TOP@", "dfflibmap -liberty @LIBERTY@",
                   "abc -liberty @LIBERTY@ -D @PERIOD_PS@", "opt_clean", "stat -liberty", "check -assert"):
        assert needle in text
    with pytest.raises(ValueError):
        render_commands({"TOP": "x"})
    out = render_commands({k: k.lower() for k in PLACEHOLDERS})
    assert not any("@" in c for c in out)


def test_missing_liberty_is_a_clear_error(tmp_path):
    from synth.flow import synthesize
    from synth.liberty import check_liberty

    with pytest.raises(SynthError, match="not found"):
        check_liberty(tmp_path / "nope.lib")
    with pytest.raises(SynthError, match="not found"):
        synthesize([tmp_path / "x.v"], "x", tmp_path / "o", liberty=tmp_path / "nope.lib")


def _run_report(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "eval.synth_report", "--build", str(tmp_path / "build"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_report_cli_missing_liberty(tmp_path):
    p = _run_report(tmp_path, "--liberty", str(tmp_path / "nope.lib"))
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope.lib" in err[0]
    assert "Traceback" not in p.stderr + p.stdout
    assert not (tmp_path / "build" / "synth" / "report.json").exists()
    assert not (tmp_path / "build" / "synth" / "report.md").exists()


@pytest.mark.skipif(not Path(DEFAULT_LIBERTY).is_file(), reason="needs the OSU liberty")
@pytest.mark.parametrize("args,msg", [(["--entries", "0"], "entries 0 is out of range"),
                                      (["--ops", "softmax", "--entries", "300"], "entries 300 is out of range"),
                                      (["--build", "b x"], "contains white space or quotes")])
def test_report_refuses_before_any_work(tmp_path, args, msg):
    """A table size the configuration refuses, or a build root Yosys cannot take, is one error line
    before anything is built or written (the report builds its units in process, flow/config.py)."""
    if args[0] == "--build":
        p = subprocess.run([sys.executable, "-m", "eval.synth_report", "--build", str(tmp_path / args[1])],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    else:
        p = _run_report(tmp_path, "--ops", "gelu", *args)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1 and err[0].startswith("error:") and msg in err[0], p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path(DEFAULT_LIBERTY).is_file(), reason="needs the OSU liberty")
def test_report_cli_missing_sta(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {**os.environ, "PATH": str(bindir)}       # no `sta` on PATH
    p = _run_report(tmp_path, env=env)
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "apt-get install opensta" in err[0]
    assert "Traceback" not in p.stderr + p.stdout
    assert not (tmp_path / "build" / "synth" / "report.json").exists()
