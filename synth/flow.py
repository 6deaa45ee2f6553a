"""Yosys flow (pyosys 0.70): a unit's Verilog -> gate netlist on a liberty.

The command list is ``synth/gqa_synth.ys`` with its ``@NAME@`` placeholders
filled in; this module never adds commands of its own, so what a chip team
runs from that file is what the report measured.

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
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from synth import DEFAULT_LIBERTY, LIBERTY_PACKAGE, SynthError

SCRIPT = Path(__file__).with_name("gqa_synth.ys")
PLACEHOLDERS = ("LIBERTY", "VERILOG", "TOP", "PERIOD_PS", "NETLIST", "STAT_JSON", "STAT_TXT")
DEFAULT_PERIOD_NS = 10.0
# Bump when the meaning of a cached result changes (result fields, parsing).
FLOW_REVISION = 1
# "gqa": the script's ABC lines as written; "yosys": the same lines without
# their -script argument, i.e. Yosys's built-in default ABC script (slower,
# see the .ys)
ABC_CHOICES = ("gqa", "yosys")


# -- liberty ------------------------------------------------------------------

class Group:
    """One liberty group: ``type (args) { attrs; subgroups }``."""

    __slots__ = ("type", "args", "attrs", "groups")

    def __init__(self, type_: str, args: list[str]):
        self.type = type_
        self.args = args
        self.attrs: dict[str, list[str]] = {}
        self.groups: list[Group] = []

    def attr(self, name: str, default=None):
        v = self.attrs.get(name)
        return default if not v else v[0]

    def sub(self, type_: str) -> list["Group"]:
        return [g for g in self.groups if g.type == type_]


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[(){}:;,]|[^\s(){}:;,"]+')


def _parse_liberty_text(text: str) -> Group:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = text.replace("\\\n", " ")
    toks = [m.group(0) for m in _TOKEN.finditer(text)]
    n = len(toks)
    pos = 0

    def unq(t: str) -> str:
        return t[1:-1] if len(t) >= 2 and t[0] == '"' == t[-1] else t

    def body(group: Group) -> None:
        nonlocal pos
        while pos < n:
            t = toks[pos]
            if t == "}":
                pos += 1
                return
            if t == ";":
                pos += 1
                continue
            name = t
            pos += 1
            if pos < n and toks[pos] == ":":
                pos += 1
                value = unq(toks[pos]) if pos < n else ""
                pos += 1
                # rare multi-token values (expressions): join up to ';'
                while pos < n and toks[pos] not in (";", "}") and toks[pos + 1:pos + 2] not in ([":"], ["("]):
                    value += " " + unq(toks[pos])
                    pos += 1
                group.attrs.setdefault(name, []).append(value)
            elif pos < n and toks[pos] == "(":
                pos += 1
                args = []
                while pos < n and toks[pos] != ")":
                    if toks[pos] != ",":
                        args.append(unq(toks[pos]))
                    pos += 1
                pos += 1
                if pos < n and toks[pos] == "{":
                    pos += 1
                    g = Group(name, args)
                    body(g)
                    group.groups.append(g)
                else:
                    group.attrs.setdefault(name, []).append(",".join(args))
            # else: stray token, skip

    root = Group("file", [])
    body(root)
    libs = root.sub("library")
    if not libs:
        raise SynthError("not a liberty file: no library(...) group")
    return libs[0]


_UNIT = re.compile(r"^\s*([0-9.eE+-]*)\s*([a-zA-Z]+)\s*$")
_PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3}


def _unit_scale(text: str, base: str) -> float:
    """'1ns' -> 1e-9 (base 's'); '10ps' -> 1e-11; '1nW' -> 1e-9."""
    m = _UNIT.match(text.replace('"', ""))
    if not m:
        raise SynthError(f"liberty: cannot read unit {text!r}")
    num = float(m.group(1) or 1)
    u = m.group(2)
    if not u.lower().endswith(base.lower()):
        raise SynthError(f"liberty: unit {text!r} is not in {base}")
    prefix = u[:-len(base)]
    if prefix not in _PREFIX:
        raise SynthError(f"liberty: unknown unit prefix in {text!r}")
    return num * _PREFIX[prefix]


# Liberty boolean functions: ! prefix, ' postfix, & * or juxtaposition = and,
# ^ = xor, | + = or, 0/1 constants.
_FTOK = re.compile(r"\s*([A-Za-z_][\w\[\]\.]*|[!'&*|+^()01])")


def eval_function(expr: str, env: dict[str, bool]) -> bool:
    toks = []
    s = expr.strip()
    i = 0
    while i < len(s):
        m = _FTOK.match(s, i)
        if not m:
            if s[i:].strip() == "":
                break
            raise SynthError(f"liberty: cannot parse function {expr!r}")
        toks.append(m.group(1))
        i = m.end()
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def or_():
        v = xor_()
        while peek() in ("|", "+"):
            take()
            v = xor_() or v
        return v

    def xor_():
        v = and_()
        while peek() == "^":
            take()
            v = v ^ and_()
        return v

    def and_():
        v = unary()
        while True:
            p = peek()
            if p in ("&", "*"):
                take()
                v = unary() and v
            elif p is not None and (p in ("!", "(", "0", "1") or p[0].isalpha() or p[0] == "_"):
                v = unary() and v
            else:
                return v

    def unary():
        if peek() == "!":
            take()
            return not unary()
        v = primary()
        while peek() == "'":
            take()
            v = not v
        return v

    def primary():
        t = take()
        if t == "(":
            v = or_()
            if take() != ")":
                raise SynthError(f"liberty: unbalanced function {expr!r}")
            return v
        if t in ("0", "1"):
            return t == "1"
        if t not in env:
            raise KeyError(t)
        return env[t]

    v = or_()
    if pos != len(toks):
        raise SynthError(f"liberty: cannot parse function {expr!r}")
    return bool(v)


@dataclass
class Cell:
    name: str
    area: float
    leakage_w: float
    sequential: bool
    inputs: list[str]
    outputs: dict[str, str | None]          # pin -> function
    input_cap_f: dict[str, float]           # pin -> capacitance, farad
    group: Group = field(repr=False)


@dataclass
class Liberty:
    path: str
    name: str
    time_s: float            # one liberty time unit in seconds
    cap_f: float             # one capacitance unit in farads
    leakage_w: float         # one leakage power unit in watts
    voltage: float | None    # nominal supply, volts
    volt_unit: float         # one voltage unit in volts
    cells: dict[str, Cell]
    root: Group = field(repr=False, default=None)

    @property
    def energy_j(self) -> float:
        """One internal-power table unit: capacitance unit x voltage unit^2."""
        return self.cap_f * self.volt_unit ** 2

    def templates(self) -> dict[str, Group]:
        return {g.args[0]: g for g in self.root.groups
                if g.type in ("power_lut_template", "lu_table_template") and g.args}

    @property
    def nand2(self) -> Cell:
        """The smallest 2-input NAND: the NAND2-equivalent area unit."""
        cands = []
        for c in self.cells.values():
            if c.sequential or len(c.inputs) != 2 or len(c.outputs) != 1:
                continue
            func = next(iter(c.outputs.values()))
            if not func:
                continue
            a, b = c.inputs
            try:
                ok = all(eval_function(func, {a: x, b: y}) == (not (x and y))
                         for x in (False, True) for y in (False, True))
            except (KeyError, SynthError):
                ok = False
            if ok and c.area > 0:
                cands.append((c.area, c.name, c))
        if not cands:
            raise SynthError(f"liberty {self.path}: no 2-input NAND cell found for NAND2 equivalents")
        return min(cands)[2]


@lru_cache(maxsize=8)
def _load_liberty(path: str, mtime: float, size: int) -> Liberty:
    text = Path(path).read_text(errors="replace")
    lib = _parse_liberty_text(text)
    time_s = _unit_scale(lib.attr("time_unit", "1ns"), "s")
    cap = lib.attrs.get("capacitive_load_unit")
    if cap:
        num, unit = cap[0].split(",")
        cap_f = float(num) * _unit_scale("1" + unit.strip(), "f")
    else:
        cap_f = 1e-12
    leak_w = _unit_scale(lib.attr("leakage_power_unit", "1nW"), "W")
    volt = lib.attr("nom_voltage")
    volt_unit = _unit_scale(lib.attr("voltage_unit", "1V"), "V")
    cells = {}
    for g in lib.sub("cell"):
        name = g.args[0]
        inputs, outputs, caps = [], {}, {}
        pins = list(g.sub("pin"))
        for bus in g.sub("bus"):
            pins += bus.sub("pin")
        for p in pins:
            d = p.attr("direction")
            for pname in p.args:
                if d == "input":
                    inputs.append(pname)
                    caps[pname] = float(p.attr("capacitance", 0) or 0) * cap_f
                elif d in ("output", "inout"):
                    outputs[pname] = p.attr("function")
        seq = bool(g.sub("ff") or g.sub("latch") or g.sub("ff_bank") or g.sub("latch_bank")
                   or g.sub("statetable"))
        cells[name] = Cell(name=name, area=float(g.attr("area", 0) or 0),
                           leakage_w=float(g.attr("cell_leakage_power", 0) or 0) * leak_w,
                           sequential=seq, inputs=inputs, outputs=outputs,
                           input_cap_f=caps, group=g)
    return Liberty(path=path, name=lib.args[0] if lib.args else "", time_s=time_s, cap_f=cap_f,
                   leakage_w=leak_w, voltage=float(volt) * volt_unit if volt else None,
                   volt_unit=volt_unit, cells=cells, root=lib)


def check_liberty(path: str | os.PathLike | None) -> Path:
    """The liberty path, or a SynthError naming the fix."""
    p = Path(path or DEFAULT_LIBERTY)
    if not p.is_file():
        if str(p) == DEFAULT_LIBERTY:
            raise SynthError(f"liberty {p} not found; install it with: apt-get install {LIBERTY_PACKAGE} "
                             f"(or choose another library with LIBERTY=path / --liberty path)")
        raise SynthError(f"liberty {p} not found (LIBERTY=/--liberty must name an existing .lib file)")
    return p.resolve()


def load_liberty(path: str | os.PathLike | None = None) -> Liberty:
    p = check_liberty(path)
    st = p.stat()
    return _load_liberty(str(p), st.st_mtime, st.st_size)


# -- the script ---------------------------------------------------------------

def script_commands() -> list[str]:
    """gqa_synth.ys as a list of commands with placeholders."""
    cmds = []
    for line in SCRIPT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            cmds.append(line)
    return cmds


def _yosys_path(p: str | os.PathLike) -> str:
    s = str(p)
    if any(c.isspace() for c in s) or '"' in s:
        raise SynthError(f"path {s!r} contains white space or quotes; Yosys scripts cannot take it")
    return s


def render_commands(values: dict[str, str], abc: str = "gqa", keep: tuple[str, ...] = ()) -> list[str]:
    """gqa_synth.ys's commands with ``values`` filled in. Placeholders named
    in ``keep`` stay as ``@NAME@`` for the user to fill (the handoff
    package's script keeps @LIBERTY@ and @PERIOD_PS@)."""
    if abc not in ABC_CHOICES:
        raise SynthError(f"unknown ABC script '{abc}'; choose from {', '.join(ABC_CHOICES)}")
    unknown = set(keep) - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholders to keep {sorted(unknown)}")
    missing = set(PLACEHOLDERS) - set(values) - set(keep)
    if missing:
        raise ValueError(f"missing placeholders {sorted(missing)}")
    out = []
    for cmd in script_commands():
        for k in PLACEHOLDERS:
            if k not in keep:
                cmd = cmd.replace(f"@{k}@", str(values[k]))
        left = set(re.findall(r"@([A-Z_]+)@", cmd)) - set(keep)
        if left:
            raise ValueError(f"unknown placeholder in {cmd!r}")
        if abc == "yosys" and cmd.startswith("abc "):
            cmd = re.sub(r"\s+-script\s+\S+", "", cmd)
        out.append(cmd)
    return out


#: placeholders a handoff package's script leaves to its user (filled by its synth.sh)
PACKAGE_KEEP = ("LIBERTY", "PERIOD_PS")
PACKAGE_OUT = "synth_out"


def package_script(top: str, verilog: list[str], abc: str = "gqa") -> str:
    """gqa_synth.ys for a handoff package: the RTL (paths relative to the
    package directory) and top filled in, the outputs in ``synth_out/``, and
    ``@LIBERTY@`` / ``@PERIOD_PS@`` (:data:`PACKAGE_KEEP`) left for the
    package's ``synth.sh`` (or sed) to fill. Same commands as the report's."""
    o = PACKAGE_OUT
    vals = {"VERILOG": " ".join(_yosys_path(v) for v in verilog), "TOP": top,
            "NETLIST": f"{o}/{top}_netlist.v", "STAT_JSON": f"{o}/{top}_stat.json",
            "STAT_TXT": f"{o}/{top}_stat.txt"}
    head = [f"# Yosys synthesis of {top} onto a liberty: the GQA-LUT generator's flow script",
            "# (synth/gqa_synth.ys, the commands its synthesis report runs) with this package's RTL and top",
            "# filled in. Run it in the package directory with: LIBERTY=/path/to/cells.lib sh synth.sh",
            "# which replaces @LIBERTY@ (your liberty) and @PERIOD_PS@ (ABC's delay target, ps; default the",
            f"# SDC's clock period) and writes {o}/: the mapped netlist, area statistics and the Yosys log.",
            "# By hand: sed -e 's|@LIBERTY@|my.lib|g' -e 's|@PERIOD_PS@|10000|g' THIS_FILE > run.ys && yosys -s run.ys",
            f"# (create {o}/ first). Written for Yosys 0.70 (the generator's pinned pyosys).", ""]
    return "\n".join(head + render_commands(vals, abc, keep=PACKAGE_KEEP)) + "\n"


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
        "LIBERTY": _yosys_path(lib_path),
        "VERILOG": " ".join(_yosys_path(v) for v in vfiles),
        "TOP": top,
        "PERIOD_PS": str(period_ps),
        "NETLIST": _yosys_path(out / "netlist.v"),
        "STAT_JSON": _yosys_path(out / "stat.json"),
        "STAT_TXT": _yosys_path(out / "stat.txt"),
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
