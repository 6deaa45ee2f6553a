"""Yosys flow (pyosys 0.70): a unit's Verilog -> gate netlist on a liberty.

The command list is ``synth/gqa_synth.ys`` with its ``@NAME@`` placeholders
filled in (``synth.script``); this module never adds commands of its own, so
what a chip team runs from that file is what the report measured. Areas and
cell kinds come from the liberty (``synth.liberty``).

Each synthesis runs pyosys in a child Python process: Yosys ends the process
on an error (no Python exception), keeps global state between designs, and
writes its log to stdout. The child's stdout becomes ``yosys.log``.

Command line::

    python -m synth.flow run    --unit build/gelu_int8_e8 [--liberty L] [--period-ns 10] [--out DIR]
    python -m synth.flow script --unit build/gelu_int8_e8 [--liberty L] [--period-ns 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from synth import DEFAULT_LIBERTY, DEFAULT_PERIOD_NS, SynthError
from synth.liberty import check_liberty, load_liberty
from synth.script import ABC_CHOICES, yosys_path, render_commands

# Bump when the meaning of a cached result changes (result fields, parsing).
FLOW_REVISION = 1


def read_manifest(unit_dir: str | os.PathLike) -> dict:
    unit_dir = Path(unit_dir)
    mf = unit_dir / "manifest.json"
    if not mf.is_file():
        raise SynthError(f"{unit_dir}: no manifest.json (build the unit first: make gen)")
    try:
        man = json.loads(mf.read_text())
    except json.JSONDecodeError as e:
        raise SynthError(f"{mf}: not valid JSON ({e})") from None
    for k in ("top", "verilog"):
        if k not in man:
            raise SynthError(f"{mf}: missing key {k!r}")
    for v in man["verilog"]:
        if not (unit_dir / v).is_file():
            raise SynthError(f"{unit_dir}: Verilog file {v} named in manifest.json is missing")
    return man


# -- running ------------------------------------------------------------------

@dataclass
class SynthResult:
    top: str
    liberty: str
    period_ns: float
    area_um2: float
    seq_area_um2: float
    comb_area_um2: float
    cells: int
    flip_flops: int
    cells_by_type: dict[str, int]
    nand2_cell: str
    nand2_area_um2: float
    nand2_eq: float
    netlist: str
    yosys: str
    runtime_s: float
    cached: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def _pyosys_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pyosys")
    except PackageNotFoundError:
        raise SynthError("pyosys is not installed in this Python; install it with: "
                         f"{sys.executable} -m pip install pyosys==0.70 (or run: make synth-report)") from None


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def synthesize(verilog: list[str | os.PathLike], top: str, out_dir: str | os.PathLike,
               liberty: str | os.PathLike | None = None, period_ns: float = DEFAULT_PERIOD_NS,
               reuse: bool = True, timeout: float = 1800, abc: str = "gqa") -> SynthResult:
    """Run gqa_synth.ys on ``verilog`` (top module ``top``), writing
    synth.ys, yosys.log, netlist.v, stat.json, stat.txt and synth.json into
    ``out_dir``. With ``reuse``, an ``out_dir`` whose synth.json was made
    from identical inputs is read back instead of rerun. ``abc`` picks the
    ABC script (:data:`ABC_CHOICES`)."""
    from hw.files import write_atomic

    lib_path = check_liberty(liberty)
    pyosys_ver = _pyosys_version()
    lib = load_liberty(lib_path)
    out = Path(out_dir).resolve()
    vfiles = [Path(v).resolve() for v in verilog]
    for v in vfiles:
        if not v.is_file():
            raise SynthError(f"Verilog file {v} not found")
    if not (period_ns > 0):
        raise SynthError(f"clock period must be positive, got {period_ns} ns")
    period_ps = int(round(period_ns * 1000))
    values = {
        "LIBERTY": yosys_path(lib_path),
        "VERILOG": " ".join(yosys_path(v) for v in vfiles),
        "TOP": top,
        "PERIOD_PS": str(period_ps),
        "NETLIST": yosys_path(out / "netlist.v"),
        "STAT_JSON": yosys_path(out / "stat.json"),
        "STAT_TXT": yosys_path(out / "stat.txt"),
    }
    cmds = render_commands(values, abc)
    script = "# generated from synth/gqa_synth.ys by synth.flow\n" + "\n".join(cmds) + "\n"
    st = lib_path.stat()
    key = _digest([script.encode(), pyosys_ver.encode(), str(FLOW_REVISION).encode(),
                   f"{lib_path}:{st.st_size}:{st.st_mtime_ns}".encode()]
                  + [v.read_bytes() for v in vfiles])
    res_file = out / "synth.json"
    if reuse and res_file.is_file() and (out / "netlist.v").is_file():
        try:
            old = json.loads(res_file.read_text())
            if old.get("key") == key:
                old.pop("key")
                old["cached"] = True
                return SynthResult(**old)
        except (json.JSONDecodeError, TypeError):
            pass
    out.mkdir(parents=True, exist_ok=True)
    for f in ("netlist.v", "stat.json", "stat.txt", "synth.json"):
        (out / f).unlink(missing_ok=True)
    write_atomic(out / "synth.ys", script)
    t0 = time.monotonic()
    log_path = out / "yosys.log"
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run([sys.executable, "-m", "synth.flow", "_yosys", str(out / "synth.ys")],
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  cwd=out, env={**os.environ, "PYTHONPATH": _pythonpath()})
        except subprocess.TimeoutExpired:
            raise SynthError(f"Yosys did not finish {top} within {timeout:.0f} s (log: {log_path})") from None
    runtime = time.monotonic() - t0
    if proc.returncode != 0 or not (out / "stat.json").is_file():
        raise SynthError(f"Yosys failed on {top}: {_yosys_error(log_path)} (log: {log_path})")
    stat = json.loads((out / "stat.json").read_text())
    mod = stat.get("design") or next(iter(stat["modules"].values()))
    by_type = {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()}
    unknown = sorted(t for t in by_type if t not in lib.cells)
    if unknown:
        raise SynthError(f"{top}: netlist has cells that are not in the liberty: {unknown}")
    area = sum(lib.cells[t].area * n for t, n in by_type.items())
    seq_area = sum(lib.cells[t].area * n for t, n in by_type.items() if lib.cells[t].sequential)
    if abs(area - float(mod.get("area", area))) > 1e-6 * max(area, 1.0):
        raise SynthError(f"{top}: Yosys stat area {mod.get('area')} disagrees with the liberty sum {area}")
    ffs = sum(n for t, n in by_type.items() if lib.cells[t].sequential)
    nand2 = lib.nand2
    creator = stat.get("creator", "")
    m = re.search(r"Yosys [\w.+-]+", creator)
    res = SynthResult(
        top=top, liberty=str(lib_path), period_ns=period_ns,
        area_um2=area, seq_area_um2=seq_area, comb_area_um2=area - seq_area,
        cells=sum(by_type.values()), flip_flops=ffs, cells_by_type=dict(sorted(by_type.items())),
        nand2_cell=nand2.name, nand2_area_um2=nand2.area, nand2_eq=area / nand2.area,
        netlist=str(out / "netlist.v"), yosys=(m.group(0) if m else creator) + f" (pyosys {pyosys_ver})",
        runtime_s=round(runtime, 3))
    write_atomic(res_file, json.dumps({**res.to_json(), "key": key}, indent=1) + "\n")
    return res


def synthesize_unit(unit_dir: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> SynthResult:
    unit_dir = Path(unit_dir)
    man = read_manifest(unit_dir)
    return synthesize([unit_dir / v for v in man["verilog"]], man["top"], out_dir, **kw)


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    old = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + old if old else "")


def _yosys_error(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    return (lines[-1].strip() if lines else "no output")


def _run_yosys_script(script: str) -> int:
    """Child process: run the rendered script's commands in pyosys."""
    try:
        from pyosys import libyosys as ys
    except ImportError as e:
        print(f"ERROR: cannot import pyosys: {e}")
        return 2
    design = ys.Design()
    for line in Path(script).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ys.run_pass(line, design)   # a Yosys ERROR exits this process
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synth.flow", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "script"):
        p = sub.add_parser(name)
        p.add_argument("--unit", required=True, help="unit directory holding manifest.json")
        p.add_argument("--liberty", default=None, help=f"liberty file (default {DEFAULT_LIBERTY})")
        p.add_argument("--period-ns", type=float, default=DEFAULT_PERIOD_NS,
                       help=f"clock period for ABC's delay target, ns (default {DEFAULT_PERIOD_NS})")
        p.add_argument("--abc", default="gqa", choices=ABC_CHOICES,
                       help="ABC script: gqa = the one in gqa_synth.ys (default), yosys = Yosys's built-in default")
        if name == "run":
            p.add_argument("--out", default=None, help="output directory (default build/synth/<unit>)")
    p = sub.add_parser("_yosys")
    p.add_argument("script")
    args = ap.parse_args(argv)
    if args.cmd == "_yosys":
        return _run_yosys_script(args.script)
    try:
        unit = Path(args.unit)
        if args.cmd == "script":
            man = read_manifest(unit)
            lib = check_liberty(args.liberty)
            vals = {"LIBERTY": str(lib), "VERILOG": " ".join(str((unit / v).resolve()) for v in man["verilog"]),
                    "TOP": man["top"], "PERIOD_PS": str(int(round(args.period_ns * 1000))),
                    "NETLIST": "netlist.v", "STAT_JSON": "stat.json", "STAT_TXT": "stat.txt"}
            print("\n".join(render_commands(vals, args.abc)))
            return 0
        out = Path(args.out) if args.out else unit.parent / "synth" / unit.name
        res = synthesize_unit(unit, out, liberty=args.liberty, period_ns=args.period_ns, abc=args.abc)
        print(json.dumps(res.to_json(), indent=1))
        return 0
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
