"""The handoff bench cannot pass on nothing (issue 21): a vector file that is
missing, empty, short, longer than expected, not hex words or not a file
makes ``run_tb.sh`` print ``FAIL vector file ...`` and exit non-zero, on
Icarus and on Verilator, for an elementwise unit (LUT=regs: it also reads
the programming image and the second table's files) and a row-wise unit.

Each package's bench is built once per simulator with the package's own
command (Verilator in a background thread: its builds are slow) and the
binary reruns per case (the vectors are read at run time); ``run_tb.sh``
itself runs on Icarus for every case on the expected outputs' file and for
every file at once, and on Verilator once, with the programming image
missing.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
from pathlib import Path

import pytest

from hw.handoff import package
from tests.helpers import FAST_VERILATOR, build_fast, run, verilator_env

KINDS = {
    "regs": ("gelu", "int8", 8, 2, "regs"),
    "layernorm": ("layernorm", "int8", 8, 1, "rom"),
}
have_iverilog = shutil.which("iverilog") is not None
needs_iverilog = pytest.mark.skipif(not have_iverilog, reason="iverilog not installed")


def vector_files(pkg: Path) -> list[str]:
    top = json.loads((pkg / "manifest.json").read_text())["top"]
    names = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.hex"))
    assert f"tb/{top}.x.hex" in names or f"tb/{top}.in.hex" in names
    return names


def words(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("//")]


def spoil(path: Path, case: str) -> None:
    """Turn the vector file ``path`` into a bad one of kind ``case``."""
    text = path.read_text()
    if case == "missing":
        path.unlink()
    elif case == "empty":
        path.write_text("")
    elif case == "short":          # the last word dropped
        lines = text.splitlines(keepends=True)
        last = max(i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("//"))
        path.write_text("".join(lines[:last] + lines[last + 1:]))
    elif case == "long":           # one word too many
        path.write_text(text + words(text)[0].split()[0] + "\n")
    elif case == "not_hex":        # a word the bench cannot read
        lines = text.splitlines(keepends=True)
        i = [i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("//")][1]
        lines[i] = "0g" + lines[i].lstrip()[len(lines[i].split()[0]):]
        path.write_text("".join(lines))
    elif case == "directory":      # not a file at all
        path.unlink()
        path.mkdir()
    else:
        raise ValueError(case)


MESSAGE = {"missing": "cannot be opened", "directory": "words, expected", "empty": "0 words, expected",
           "short": "words, expected", "long": "words, expected", "not_hex": "not a file of hex words"}


class Spoiled:
    """Context: one vector file of the package spoiled, restored on exit."""

    def __init__(self, pkg: Path, name: str, case: str):
        self.path, self.case = pkg / name, case

    def __enter__(self):
        self.orig = self.path.read_bytes()
        spoil(self.path, self.case)
        return self

    def __exit__(self, *exc):
        if self.path.is_dir():
            self.path.rmdir()
        self.path.write_bytes(self.orig)


def assert_fails(r, name: str, case: str):
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert "PASS" not in r.stdout, out[-3000:]
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith(f"FAIL vector file {name}:")), None)
    assert line is not None and MESSAGE[case] in line, out[-3000:]
    if case == "empty":
        assert "0 words" in line


def _verilator_build(pkg: Path, env: dict) -> Path:
    """Build the bench with the package's own Verilator command; returns the binary."""
    man = json.loads((pkg / "manifest.json").read_text())
    cmd = " && ".join(man["commands"]["verilator"][:1]).replace(" -CFLAGS", f" {FAST_VERILATOR} -CFLAGS", 1)
    r = run(["sh", "-c", cmd], pkg, env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return pkg / f"obj_{man['top']}" / f"Vtb_{man['top']}"


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """kind -> (icarus copy, verilator copy, future of the Verilator binary)."""
    build = tmp_path_factory.mktemp("handoff_empty_build")
    copies = tmp_path_factory.mktemp("handoff_empty_copies")
    env = verilator_env()
    pool = cf.ThreadPoolExecutor(max_workers=1)
    out = {}
    for kind, args in KINDS.items():
        pkg = package.build(build_fast(*args, build))
        ic = shutil.copytree(pkg, copies / "icarus" / kind)
        vc = shutil.copytree(pkg, copies / "verilator" / kind)
        fut = pool.submit(_verilator_build, vc, env) if env is not None else None
        out[kind] = (ic, vc, fut)
    yield out
    pool.shutdown(wait=True)


CASES = ["missing", "empty", "short", "long", "not_hex", "directory"]


def _icarus_build(pkg: Path, out: Path) -> Path:
    """The bench compiled with the package's own Icarus command, the binary outside the package."""
    man = json.loads((pkg / "manifest.json").read_text())
    top = man["top"]
    cmd = man["commands"]["icarus"][0].replace(f"tb_{top}.vvp", str(out / f"tb_{top}.vvp"))
    r = run(["sh", "-c", cmd], pkg)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / f"tb_{top}.vvp"


@needs_iverilog
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_icarus_refuses_bad_vector_file(packages, kind, case, tmp_path):
    """The Icarus bench fails, naming the file, for each vector file spoiled
    in turn (the compiled bench rerun); ``run_tb.sh icarus`` itself for the
    expected outputs' file; the intact package passes."""
    ic = packages[kind][0]
    names = vector_files(ic)
    if kind == "regs":
        assert len(names) == 5 and any(n.startswith("prog/") for n in names)
    vvp = _icarus_build(ic, tmp_path)
    for name in names:
        with Spoiled(ic, name, case):
            assert_fails(run(["vvp", "-n", str(vvp)], ic), name, case)
    expected = [n for n in names if n.endswith((".y.hex", ".out.hex"))][0]
    with Spoiled(ic, expected, case):
        assert_fails(run(["sh", "run_tb.sh", "icarus"], ic), expected, case)
    r = run(["sh", "run_tb.sh", "icarus"], ic)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout[-3000:]


@needs_iverilog
@pytest.mark.parametrize("kind", list(KINDS))
def test_icarus_all_files_empty_or_missing(packages, kind):
    """The issue's case: every vector file emptied, or every one removed."""
    ic = packages[kind][0]
    names = vector_files(ic)
    for case in ("empty", "missing"):
        saved = {n: (ic / n).read_bytes() for n in names}
        try:
            for n in names:
                spoil(ic / n, case)
            r = run(["sh", "run_tb.sh", "icarus"], ic)
        finally:
            for n, data in saved.items():
                (ic / n).write_bytes(data)
        for n in names:
            assert_fails(r, n, case)
        assert f"FAIL {len(names)} vector file(s)" in r.stdout


@pytest.mark.parametrize("kind", list(KINDS))
def test_verilator_refuses_bad_vector_file(packages, kind):
    """The Verilator build of the bench fails, naming the file, for every
    case and every vector file; the intact package passes."""
    _, vc, fut = packages[kind]
    if fut is None:
        pytest.skip("verilator not installed")
    binary = fut.result()
    env = verilator_env()
    for name in vector_files(vc):
        for case in CASES:
            with Spoiled(vc, name, case):
                assert_fails(run([str(binary)], vc, env), name, case)
    r = run([str(binary)], vc, env)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout[-3000:]


def test_verilator_run_tb_missing_file(packages):
    """run_tb.sh verilator itself exits non-zero with the message."""
    _, vc, fut = packages["regs"]
    if fut is None:
        pytest.skip("verilator not installed")
    fut.result()                     # one build at a time
    env = dict(verilator_env(), VERILATOR_FLAGS=FAST_VERILATOR)
    name = [n for n in vector_files(vc) if n.endswith("_lut.hex")][0]
    with Spoiled(vc, name, "missing"):
        assert_fails(run(["sh", "run_tb.sh", "verilator"], vc, env), name, "missing")


@needs_iverilog
def test_every_expected_output_is_compared(packages, tmp_path):
    """A bench that compared fewer outputs than it expects fails (the
    EXPECTED count, here raised by one in a copy of the bench)."""
    ic = shutil.copytree(packages["regs"][0], tmp_path / "regs")
    tb = next((ic / "tb").glob("tb_*.v"))
    text = tb.read_text()
    n = int(text.split("localparam EXPECTED = ")[1].split(";")[0])
    tb.write_text(text.replace(f"localparam EXPECTED = {n};", f"localparam EXPECTED = {n + 1};"))
    r = run(["sh", "run_tb.sh", "icarus"], ic)
    assert r.returncode != 0 and f"MISMATCH {n} outputs compared, expected {n + 1}" in r.stdout, r.stdout[-2000:]
