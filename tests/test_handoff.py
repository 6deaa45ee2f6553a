"""The RTL handoff package (``gqa-lut handoff UNIT_DIR``): one unit of
each kind is packaged, the package is copied to an empty directory and its
own testbench must pass there on Icarus and on Verilator, and fail with a
non-zero status when one expected vector is wrong.

Verilator builds are slow (tens of seconds each on a shared machine), so
each package is built once, in a background thread started as soon as the
package exists, and the pass and fail runs reuse the binary (the vectors
are read at run time).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from hw.handoff import package
from tests.helpers import FAST_VERILATOR, ROOT, build_fast, corrupt, expected_file, run, verilator_env

# kind -> build_unit arguments (op, format, entries, stages, lut)
KINDS = {
    "int8": ("gelu", "int8", 8, 2, "regs"),       # pipelined, table in registers: load sequence too
    "int32": ("gelu", "int32", 8, 1, "rom"),
    "fp32": ("gelu", "fp32", 8, 1, "rom"),
    "softmax": ("softmax", "int8", 8, 1, "rom"),
    "layernorm": ("layernorm", "int8", 8, 1, "rom"),
}
#: the kinds whose bench is also built and run under Verilator (one of each datapath: integer with a
#: table in registers, FP32, row-wise); every kind is linted by Verilator and run under Icarus
VERILATED = ("int8", "fp32", "softmax")
EXTRA = {"int8_comb": ("gelu", "int8", 8, 0, "rom")}   # combinational, Icarus only (no extra fit)

have_iverilog = shutil.which("iverilog") is not None
needs_iverilog = pytest.mark.skipif(not have_iverilog, reason="iverilog not installed")


def _verilator_job(pkg: Path, env: dict) -> dict:
    """Build and run the bench in ``pkg`` (a copy), then rerun the binary
    with one corrupted expected vector."""
    env = dict(env, VERILATOR_FLAGS=FAST_VERILATOR)
    before = {str(p.relative_to(pkg)): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
    good = run(["sh", "run_tb.sh", "verilator"], pkg, env)
    after = {str(p.relative_to(pkg)): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
    man = json.loads((pkg / "manifest.json").read_text())
    exp = expected_file(pkg)
    orig = corrupt(exp)
    try:        # the datasheet's own Verilator commands (they build in the directory they run in)
        cmd = " && ".join(man["commands"]["verilator"]).replace(" -CFLAGS", f" {FAST_VERILATOR} -CFLAGS", 1)
        bad = run(["sh", "-c", cmd], pkg, env)
    finally:
        exp.write_bytes(orig)
    return {"good": good, "bad": bad, "untouched": before == after}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """kind -> (unit dir, package dir, icarus copy, verilator future)."""
    build_dir = tmp_path_factory.mktemp("handoff_build")
    venv = verilator_env()
    pool = cf.ThreadPoolExecutor(max_workers=1)
    copies = tmp_path_factory.mktemp("handoff_copies")
    out = {}
    for kind, (op, fmt, entries, stages, lut) in {**KINDS, **EXTRA}.items():
        unit = build_fast(op, fmt, entries, stages, lut, build_dir)
        pkg = package.build(unit)
        ic = copies / "icarus" / kind
        shutil.copytree(pkg, ic)
        fut = None
        if venv is not None and kind in VERILATED:
            vc = copies / "verilator" / kind
            shutil.copytree(pkg, vc)
            fut = pool.submit(_verilator_job, vc, venv)
        out[kind] = (unit, pkg, ic, fut)
    yield out
    pool.shutdown(wait=True)


def _manifest(pkg: Path) -> dict:
    return json.loads((pkg / "manifest.json").read_text())


@pytest.mark.parametrize("kind", list(KINDS) + list(EXTRA))
def test_package_contents(packages, kind):
    unit, pkg, _, _ = packages[kind]
    man = _manifest(pkg)
    top = man["top"]
    # every file listed with its sha256, and nothing but the manifest unlisted
    listed = set(man["files"])
    on_disk = {str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for name, digest in man["files"].items():
        assert hashlib.sha256((pkg / name).read_bytes()).hexdigest() == digest, name
    assert man["generator_version"]
    assert "amaranth" in man["tools"]
    # one RTL file, every module a plain identifier prefixed with the top's name, no initial blocks
    assert (pkg / "filelist.f").read_text().split() == man["rtl"] == [f"rtl/{top}.v"]
    text = (pkg / man["rtl"][0]).read_text()
    mods = re.findall(r"^module\s+([^\s(]+)", text, re.M)
    assert top in mods
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", m) and (m == top or m.startswith(top + "__"))
               for m in mods), mods
    if kind in ("softmax", "layernorm"):
        assert len(mods) > 1                       # the PWL submodules, renamed
    assert not re.search(r"^\s*initial\b", text, re.M)
    # nothing machine-specific inside the files
    for name in listed:
        data = (pkg / name).read_bytes()
        assert str(unit).encode() not in data and str(ROOT).encode() not in data, name
    ds = (pkg / "DATASHEET.md").read_text()
    assert "sh run_tb.sh icarus" in ds.split("## Contents")[0]
    for section in ("## Ports", "## Latency and throughput", "## Number formats", "## The table",
                    "## Accuracy", "## Area and timing", "## Regenerate", "make handoff OP="):
        assert section in ds, section
    if kind == "int8":
        # programming image = the unit's cfg image, as $readmemh words and as a C header
        img = json.loads((unit / "manifest.json").read_text())["cfg"]["image"]
        words = [int(ln.split()[0], 16) for ln in (pkg / f"prog/{top}_lut.hex").read_text().splitlines()
                 if ln.strip() and not ln.startswith("//")]
        assert words == [w for _, w in img]
        hdr = (pkg / f"prog/{top}_lut.h").read_text()
        pairs = [(int(a), int(w, 16)) for a, w in re.findall(r"\{(\d+)u, 0x([0-9a-f]+)u\}", hdr)]
        assert pairs == [tuple(p) for p in img]
        assert "## Programming the table" in ds and (pkg / f"{top}_accuracy.png").is_file()


@needs_iverilog
@pytest.mark.parametrize("kind", list(KINDS) + list(EXTRA))
def test_icarus_from_copy(packages, kind):
    """The copied package passes on Icarus with its own command, and fails
    (non-zero status, one mismatch reported) with one wrong expected vector."""
    _, _, ic, _ = packages[kind]
    n = _manifest(ic)["testbench"]["vectors"]
    before = {str(p.relative_to(ic)): p.read_bytes() for p in ic.rglob("*") if p.is_file()}
    r = run(["sh", "run_tb.sh", "icarus"], ic)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"PASS {n} vectors" in r.stdout
    # the run leaves the package as shipped: every sha256 still verifies, nothing added
    assert {str(p.relative_to(ic)): p.read_bytes() for p in ic.rglob("*") if p.is_file()} == before
    orig = corrupt(expected_file(ic))
    try:
        r = run(["sh", "run_tb.sh", "icarus"], ic)
    finally:
        expected_file(ic).write_bytes(orig)
    assert r.returncode != 0
    assert "MISMATCH" in r.stdout and f"FAIL 1 mismatches in {n} vectors" in r.stdout, r.stdout


@pytest.mark.parametrize("kind", VERILATED)
def test_verilator_from_copy(packages, kind):
    _, _, _, fut = packages[kind]
    if fut is None:
        pytest.skip("verilator not installed")
    res = fut.result()
    n = None
    good, bad = res["good"], res["bad"]
    assert good.returncode == 0, (good.stdout + good.stderr)[-3000:]
    n = re.search(r"PASS (\d+) vectors", good.stdout)
    assert n and int(n.group(1)) > 0
    assert bad.returncode != 0
    assert f"FAIL 1 mismatches in {n.group(1)} vectors" in bad.stdout, bad.stdout[-2000:]
    assert res["untouched"]                       # run_tb.sh builds outside the package


@pytest.mark.parametrize("kind", list(KINDS))
def test_verilator_lint(packages, kind):
    """verilator --lint-only -Wall with the package's waivers is clean, and
    every waiver names its warning with a reason."""
    _, pkg, _, _ = packages[kind]
    man = _manifest(pkg)
    vlt = (pkg / f"lint/{man['top']}.vlt").read_text()
    rules = re.findall(r"lint_off -rule (\w+)", vlt)
    assert rules and all(re.search(rf"^// {r}: \S.{{20,}}", vlt, re.M) for r in rules)
    env = verilator_env()
    if env is None:
        pytest.skip("verilator not installed")
    r = run(man["commands"]["lint"].split(), pkg, env)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


@pytest.mark.parametrize("kind", ["int8", "softmax"])
def test_yosys_check(packages, kind):
    """The package's Yosys script (synth, check -assert, no latches) passes."""
    _, pkg, _, _ = packages[kind]
    man = _manifest(pkg)
    pytest.importorskip("pyosys")
    ys = f"lint/{man['top']}_check.ys"
    code = ("import sys\nfrom pyosys import libyosys as ys\nd = ys.Design()\n"
            f"for line in open({ys!r}):\n    line = line.strip()\n"
            "    if line and not line.startswith('#'):\n        ys.run_pass(line, d)\n")
    r = run([sys.executable, "-c", code], pkg)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "Found and reported 0 problems" in r.stdout


@needs_iverilog
def test_two_packages_in_one_simulation(packages, tmp_path):
    """Packages of different ops (with submodules) compile and run together:
    no module name clashes; each bench passes with FINISH=0 in a wrapper."""
    tops = {}
    for kind in ("softmax", "layernorm", "int8"):
        pkg = packages[kind][1]
        shutil.copytree(pkg, tmp_path / kind)
        tops[kind] = _manifest(pkg)["top"]
    inst = "\n".join(f'  tb_{t} #(.VECDIR("{k}/tb/"), .PROGDIR("{k}/prog/"), .FINISH(0)) u_{k} ();'
                     for k, t in tops.items())
    done = " && ".join(f"u_{k}.done" for k in tops)
    (tmp_path / "both.v").write_text(
        f"module both;\n{inst}\n  initial begin\n    wait ({done});\n"
        '    $display("ALL PASS");\n    $finish;\n  end\nendmodule\n')
    files = [f"{k}/rtl/{t}.v" for k, t in tops.items()] + [f"{k}/tb/tb_{t}.v" for k, t in tops.items()]
    r = run(["iverilog", "-g2005", "-s", "both", "-o", "both.vvp", *files, "both.v"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run(["vvp", "-n", "both.vvp"], tmp_path)
    assert r.returncode == 0 and len(re.findall(r"^PASS \d+ vectors", r.stdout, re.M)) == 3, r.stdout
    assert "ALL PASS" in r.stdout
    env = verilator_env()
    if env is not None:                # Verilator elaborates all units in one design too
        (tmp_path / "units.v").write_text(
            "module units;\n" + "\n".join(f"  tb_{t} #(.VECDIR(\"{k}/tb/\")) u_{k} ();" for k, t in tops.items())
            + "\nendmodule\n")
        r = run(["verilator", "--lint-only", "--timing", *[f"{k}/lint/{t}.vlt" for k, t in tops.items()],
                 *files, "units.v", "--top-module", "units"], tmp_path, env)
        assert r.returncode == 0, r.stderr[-3000:]


def test_regeneration_is_byte_identical(packages, tmp_path, monkeypatch):
    """Same unit -> same bytes, wherever the package is written; an
    unchanged package is not rewritten. (The generator version is pinned to
    the first build's: others may commit to this tree in between.)"""
    for kind in ("int8", "softmax"):
        unit, pkg, _, _ = packages[kind]
        version = _manifest(pkg)["generator_version"]
        monkeypatch.setattr(package, "generator_version", lambda: version)
        again = package.build(unit, tmp_path / kind)
        a = {str(p.relative_to(pkg)): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
        b = {str(p.relative_to(again)): p.read_bytes() for p in again.rglob("*") if p.is_file()}
        assert a == b
        mtimes = {p: p.stat().st_mtime_ns for p in pkg.rglob("*") if p.is_file()}
        package.build(unit)
        assert mtimes == {p: p.stat().st_mtime_ns for p in pkg.rglob("*") if p.is_file()}


def test_packaging_does_not_import_the_fitter(packages):
    unit = packages["layernorm"][0]
    code = ("import sys\nfrom hw.handoff.package import build\n"
            f"build({str(unit)!r})\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('fitter', 'flow')], 'fitter imported'\n")
    r = run([sys.executable, "-c", code], ROOT)
    assert r.returncode == 0, r.stderr
    r = run([sys.executable, "-m", "flow", "handoff", str(unit)], ROOT)
    assert r.returncode == 0 and "handoff" in r.stdout, r.stderr
    r = run([sys.executable, "-m", "flow", "handoff", str(unit.parent / "no_such_unit")], ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error:")
