"""The handoff package's integration files: the FuseSoC core (sim and lint
targets run from a copy of the package; the sim fails on a wrong expected
vector), the SDC (the synthesis flow reads the same text; OpenSTA reads the
package's file without a warning) and the synthesis script for the chip
team's liberty (same commands, same area as the flow).

Units (short fits, test_handoff.build_fast): gelu INT8 8 entries STAGES=1 and STAGES=0 (no clock),
STAGES=2 LUT=regs (the bench also reads prog/), softmax 8 entries.
Synthesis runs on the STAGES=1 unit only (about a second per run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw.handoff import fusesoc, package
from synth import DEFAULT_LIBERTY
from synth.sdc import unit_sdc
from tests.helpers import build_fast, corrupt, expected_file, run, verilator_env

ROOT = Path(__file__).resolve().parent.parent
# kind -> build_fast arguments (op, format, entries, stages, lut)
KINDS = {
    "s1": ("gelu", "int8", 8, 1, "rom"),
    "s0": ("gelu", "int8", 8, 0, "rom"),          # combinational: no clk, virtual clock in the SDC
    "regs": ("gelu", "int8", 8, 2, "regs"),       # the bench also reads prog/
    "softmax": ("softmax", "int8", 8, 1, "rom"),
}

have_iverilog = shutil.which("iverilog") is not None
have_sta = shutil.which("sta") is not None
have_liberty = Path(DEFAULT_LIBERTY).is_file()
needs_sta = pytest.mark.skipif(not (have_sta and have_liberty), reason="needs OpenSTA and the OSU liberty")


def fusesoc_exe() -> str | None:
    exe = Path(sys.executable).parent / "fusesoc"
    return str(exe) if exe.is_file() else shutil.which("fusesoc")


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    """kind -> (unit dir, package dir, manifest of the package); short fits
    (test_handoff.build_fast) in a build directory of their own."""
    build = tmp_path_factory.mktemp("handoff_flow_build")
    out = {}
    for kind, args in KINDS.items():
        unit = build_fast(*args, build)
        pkg = package.build(unit)
        out[kind] = (unit, pkg, json.loads((pkg / "manifest.json").read_text()))
    return out


def _copy(pkg: Path, dst: Path) -> Path:
    shutil.copytree(pkg, dst)
    return dst


def _fusesoc(pkg: Path, target: str, vlnv: str, tmp: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``fusesoc run`` of the package copy ``pkg``, build root and FuseSoC's own
    config/cache directories inside ``tmp``."""
    env = dict(env or os.environ)
    for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[k] = str(tmp / "xdg")
    return run([fusesoc_exe(), "--cores-root", str(pkg), "run", "--build-root", str(tmp / "fsbuild"),
                "--target", target, vlnv], tmp, env)


# -- the core file ---------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_core_file(units, kind):
    yaml = pytest.importorskip("yaml")
    _, pkg, man = units[kind]
    top = man["top"]
    assert man["fusesoc"]["vlnv"] == f"gqa-lut:units:{top}:{package.PACKAGE_VERSION}.0.0"
    text = (pkg / man["fusesoc"]["core"]).read_text()
    assert text.startswith("CAPI=2:\n")
    core = yaml.safe_load(text)
    assert core["name"] == man["fusesoc"]["vlnv"] == fusesoc.vlnv(top, package.PACKAGE_VERSION)
    fs = core["filesets"]
    assert fs["rtl"]["files"] == man["rtl"]
    assert fs["waivers"] == {"files": [f"lint/{top}.vlt"], "file_type": "vlt"}
    tb_files = fs["tb"]["files"]
    assert tb_files[0] == man["testbench"]["file"]
    # every $readmemh file of the bench, copied to the path the bench opens (VECDIR/PROGDIR defaults)
    bench = (pkg / man["testbench"]["file"]).read_text()
    dirs = {"VECDIR": "tb/", "PROGDIR": "prog/"}      # the parameters' defaults
    read = {dirs[d] + name for d, name in re.findall(r'\$readmemh\(\{(VECDIR|PROGDIR), "([^"]+)"\}', bench)}
    assert 'parameter VECDIR = "tb/";' in bench and 'parameter PROGDIR = "prog/";' in bench
    data = {k: v for f in tb_files[1:] for k, v in f.items()}
    assert set(data) == read and read
    assert all(v == {"file_type": "user", "copyto": k} for k, v in data.items())
    assert (kind == "regs") == any(k.startswith("prog/") for k in data)
    for f in man["rtl"] + [man["testbench"]["file"], f"lint/{top}.vlt", *data]:
        assert (pkg / f).is_file(), f
    t = core["targets"]
    assert t["default"]["filesets"] == ["rtl"] and t["default"]["toplevel"] == top
    assert t["sim"]["toplevel"] == f"tb_{top}" and t["sim"]["flow_options"]["tool"] == "icarus"
    assert t["lint"]["flow"] == "lint" and "-Wall" in t["lint"]["flow_options"]["verilator_options"]
    # listed in the package manifest with their digests, and in the datasheet's file list
    for f in (man["fusesoc"]["core"], man["constraints"]["sdc"], "synth.sh", man["synthesis"]["script"]):
        assert f in man["files"], f
    contents = (pkg / "DATASHEET.md").read_text().split("## Contents")[1].split("## Function")[0]
    for f in (man["fusesoc"]["core"], man["constraints"]["sdc"], "synth.sh"):
        assert f"| `{f}` |" in contents, f
    assert os.access(pkg / "synth.sh", os.X_OK)


@pytest.mark.skipif(not (have_iverilog and fusesoc_exe()), reason="needs Icarus and FuseSoC")
@pytest.mark.parametrize("kind", list(KINDS))
def test_fusesoc_sim_passes_and_fails(units, kind, tmp_path):
    """`fusesoc run --target sim` from a copy of the package passes, and
    fails (non-zero status, the mismatch reported) with one wrong expected vector."""
    _, pkg, man = units[kind]
    cp = _copy(pkg, tmp_path / "pkg")
    vlnv, n = man["fusesoc"]["vlnv"], man["testbench"]["vectors"]
    r = _fusesoc(cp, "sim", vlnv, tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert f"PASS {n} vectors" in r.stdout
    if kind == "s1":                # the datasheet's command, as written, in the package directory
        cmd = man["commands"]["fusesoc_sim"].split()
        assert cmd[0] == "fusesoc" and cmd[-1] == vlnv
        env = {**os.environ, **{k: str(tmp_path / "xdg") for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                                  "XDG_CACHE_HOME")}}
        r = run([fusesoc_exe(), *cmd[1:]], cp, env)
        assert r.returncode == 0 and f"PASS {n} vectors" in r.stdout, (r.stdout + r.stderr)[-3000:]
        assert cmd == (f"fusesoc --cores-root . run --target sim {vlnv}").split()
    corrupt(expected_file(cp))
    r = _fusesoc(cp, "sim", vlnv, tmp_path)
    assert r.returncode != 0, r.stdout[-3000:]
    assert f"FAIL 1 mismatches in {n} vectors" in r.stdout, r.stdout[-3000:]


@pytest.mark.skipif(not fusesoc_exe(), reason="needs FuseSoC")
@pytest.mark.parametrize("kind", ["s1", "softmax"])
def test_fusesoc_lint(units, kind, tmp_path):
    """`--target lint` is clean with the waivers, and fails without them
    (so the target runs -Wall and applies the .vlt)."""
    env = verilator_env()
    if env is None:
        pytest.skip("verilator not installed")
    _, pkg, man = units[kind]
    cp = _copy(pkg, tmp_path / "pkg")
    r = _fusesoc(cp, "lint", man["fusesoc"]["vlnv"], tmp_path, env)
    assert r.returncode == 0 and "%Warning" not in r.stderr, (r.stdout + r.stderr)[-3000:]
    vc = next((tmp_path / "fsbuild").rglob("*.vc")).read_text()
    assert "--lint-only" in vc and "-Wall" in vc and vc.index(".vlt") < vc.index(f"rtl/{man['top']}.v")
    (cp / f"lint/{man['top']}.vlt").write_text("`verilator_config\n")
    r = _fusesoc(cp, "lint", man["fusesoc"]["vlnv"], tmp_path, env)
    assert r.returncode != 0 and "%Warning" in r.stderr


# -- the SDC -----------------------------------------------------------------------

def _sdc_ports(sdc: str, command: str) -> set[str]:
    names = set()
    for line in re.findall(rf"^{command} .*$", sdc, re.M):
        for group in re.findall(r"\[get_ports \{([^}]*)\}\]", line):
            names |= {n.removesuffix("[*]") for n in group.split()}
    return names


@pytest.mark.parametrize("kind", list(KINDS))
def test_sdc_text(units, kind):
    """One clock (clk, or a virtual clock for a unit without clk) at the
    characterisation period; every other input and every output delayed;
    the file is unit_sdc's text for the unit's manifest."""
    unit, pkg, man = units[kind]
    top = man["top"]
    sdc = (pkg / man["constraints"]["sdc"]).read_text()
    assert sdc == unit_sdc(json.loads((unit / "manifest.json").read_text()), man["constraints"]["period_ns"])
    assert man["constraints"]["period_ns"] == 10.0 and "set gqa_period 10.0\n" in sdc
    ins = {p["name"] for p in man["ports"] if p["dir"] == "in"}
    outs = {p["name"] for p in man["ports"] if p["dir"] == "out"}
    assert _sdc_ports(sdc, "set_input_delay") == ins - {"clk"}
    assert _sdc_ports(sdc, "set_output_delay") == outs
    if kind == "s0":
        assert "clk" not in ins
        assert "create_clock -name vclk -period $gqa_period\n" in sdc and "get_ports clk" not in sdc
        assert _sdc_ports(sdc, "set_max_delay") == ins | outs
    else:
        assert "create_clock -name clk -period $gqa_period [get_ports clk]" in sdc
        assert "set_max_delay" not in sdc
        assert "# rst: synchronous reset" in sdc and "rst" in _sdc_ports(sdc, "set_input_delay")
    assert "set gqa_io_fraction 0.0\n" in sdc and "set_units -time ns -capacitance pF" in sdc
    for p in man["ports"]:          # a bus by its bits, a scalar by its name
        if p["name"] != "clk":
            assert re.search(rf"[{{ ]{re.escape(p['name'])}{re.escape('[*]') if p['width'] > 1 else ''}[ }}]", sdc)
    assert str(ROOT) not in sdc and str(unit) not in sdc and top in sdc


def _stub_netlist(pkg: Path, top: str) -> str:
    """The package RTL's top module with its port declarations only: enough
    for OpenSTA to link and apply every constraint that names a port."""
    rtl = (pkg / f"rtl/{top}.v").read_text()
    m = re.search(rf"^module {top}\((.*?)\);(.*?)^endmodule", rtl, re.S | re.M)
    decls = re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(\[\d+:\d+\]\s*)?(\w+)\s*;", m.group(2), re.M)
    assert decls
    return f"module {top}({m.group(1)});\n" + "".join(f"  {d} {r or ''}{n};\n" for d, r, n in decls) + "endmodule\n"


def _sta(tcl: str, tmp: Path) -> str:
    (tmp / "check.tcl").write_text(tcl)
    r = run(["sta", "-no_init", "-no_splash", "-exit", str(tmp / "check.tcl")], tmp)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    bad = [ln for ln in log.splitlines() if ln.startswith(("Error", "Warning"))]
    assert not bad, bad
    return log


@needs_sta
@pytest.mark.parametrize("kind", list(KINDS))
def test_opensta_reads_the_package_sdc(units, kind, tmp_path):
    """OpenSTA links the package's top-level ports and reads the SDC without
    an error or warning (every port it names exists, units agree)."""
    _, pkg, man = units[kind]
    top = man["top"]
    (tmp_path / "stub.v").write_text(_stub_netlist(pkg, top))
    log = _sta(f"read_liberty {DEFAULT_LIBERTY}\nread_verilog stub.v\nlink_design {top}\n"
               f"read_sdc {pkg / man['constraints']['sdc']}\nreport_clock_properties\n", tmp_path)
    clock = "vclk" if kind == "s0" else "clk"
    assert re.search(rf"^{clock}\s+10\.00\s+0\.00\s+5\.00$", log, re.M), log


# -- synthesis: the package's script and SDC against the flow ------------------------

YOSYS_SHIM = """#!/bin/sh
# `yosys -q -l LOG -s SCRIPT` through the pinned pyosys (the figures' Yosys)
while [ $# -gt 0 ]; do case "$1" in -q) shift ;; -l) log=$2; shift 2 ;; -s) s=$2; shift 2 ;; *) exit 2 ;; esac; done
PYTHONPATH={root} exec {py} -m synth.flow _yosys "$s" > "$log" 2>&1
"""


def test_package_script_is_the_flow_script(units):
    """The package's .ys is gqa_synth.ys rendered by synth.flow with the
    package's RTL and top; only @LIBERTY@ and @PERIOD_PS@ are left."""
    from synth.script import PLACEHOLDERS, render_commands

    _, pkg, man = units["s1"]
    top = man["top"]
    text = (pkg / man["synthesis"]["script"]).read_text()
    assert set(re.findall(r"@([A-Z_]+)@", text)) == {"LIBERTY", "PERIOD_PS"}
    cmds = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    filled = [c.replace("@LIBERTY@", "my.lib").replace("@PERIOD_PS@", "5000") for c in cmds]
    vals = {"LIBERTY": "my.lib", "PERIOD_PS": "5000", "VERILOG": f"rtl/{top}.v", "TOP": top,
            "NETLIST": f"synth_out/{top}_netlist.v", "STAT_JSON": f"synth_out/{top}_stat.json",
            "STAT_TXT": f"synth_out/{top}_stat.txt"}
    assert set(vals) == set(PLACEHOLDERS)
    assert filled == render_commands(vals)
    with pytest.raises(ValueError):
        render_commands({"TOP": "x"}, keep=("LIBERTY",))


def test_synth_sh_needs_a_liberty(units, tmp_path):
    _, pkg, _ = units["s1"]
    cp = _copy(pkg, tmp_path / "pkg")
    env = {k: v for k, v in os.environ.items() if k != "LIBERTY"}
    r = run(["sh", str(cp / "synth.sh")], tmp_path, env)
    assert r.returncode == 2 and "LIBERTY=" in r.stderr
    r = run(["sh", str(cp / "synth.sh")], tmp_path, {**env, "LIBERTY": str(tmp_path / "nope.lib")})
    assert r.returncode == 2 and "not found" in r.stderr
    assert not (cp / "synth_out").exists()


@needs_sta
def test_synth_sh_and_sdc_match_the_flow(units, tmp_path):
    """synth.sh (with the pinned Yosys) maps the package RTL to the flow's
    area; OpenSTA with the package's SDC (plus the flow's propagated clock)
    gives the flow's slack; the flow's SDC is the package's file byte for
    byte; a budget in gqa_io_fraction costs exactly that much slack."""
    pytest.importorskip("pyosys")
    from synth.flow import read_manifest, synthesize_unit
    from synth.sta import run_sta

    unit, pkg, man = units["s1"]
    top = man["top"]
    syn = synthesize_unit(unit, tmp_path / "flow")
    sta = run_sta(syn.netlist, syn.top, syn.liberty, read_manifest(unit), tmp_path / "flow", 10.0,
                  cells_by_type=syn.cells_by_type)
    sdc = pkg / man["constraints"]["sdc"]
    assert (tmp_path / "flow" / f"{top}.sdc").read_bytes() == sdc.read_bytes()
    assert f"read_sdc {tmp_path / 'flow' / (top + '.sdc')}" in (tmp_path / "flow" / "sta.tcl").read_text()

    cp = _copy(pkg, tmp_path / "pkg")
    shim = tmp_path / "yosys"
    shim.write_text(YOSYS_SHIM.format(root=ROOT, py=sys.executable))
    shim.chmod(0o755)
    r = run(["sh", "synth.sh"], cp, {**os.environ, "LIBERTY": DEFAULT_LIBERTY, "YOSYS": str(shim)})
    assert r.returncode == 0, (r.stdout + r.stderr + (cp / f"synth_out/{top}_yosys.log").read_text()[-2000:])
    stat = json.loads((cp / f"synth_out/{top}_stat.json").read_text())
    mod = stat.get("design") or next(iter(stat["modules"].values()))
    assert float(mod["area"]) == pytest.approx(syn.area_um2)
    assert "Chip area" in r.stdout

    netlist = cp / f"synth_out/{top}_netlist.v"
    head = f"read_liberty {DEFAULT_LIBERTY}\nread_verilog {netlist}\nlink_design {top}\n"
    tail = ("set_propagated_clock [get_clocks clk]\n"
            "puts \"GQA slack [[lindex [find_timing_paths -path_delay max] 0] slack]\"\n")
    log = _sta(head + f"read_sdc {sdc}\nreport_checks\n" + tail, tmp_path)
    slack = float(re.search(r"^GQA slack (\S+)", log, re.M).group(1)) * 1e9
    assert slack == pytest.approx(sta.slack_ns, abs=1e-3)
    # the same unit with a 20 % input/output budget: the worst path (input -> register) loses 2 ns
    budget = tmp_path / "budget.sdc"
    budget.write_text(unit_sdc(man, 10.0, io_fraction=0.2))
    assert "set gqa_io_fraction 0.2\n" in budget.read_text()
    log = _sta(head + f"read_sdc {budget}\n" + tail, tmp_path)
    assert float(re.search(r"^GQA slack (\S+)", log, re.M).group(1)) * 1e9 == pytest.approx(slack - 2.0, abs=1e-3)
