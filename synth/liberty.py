"""Liberty (.lib) reader: the cells' area, leakage, pins, functions and units.

Enough of the format for the synthesis report: groups, attributes and
the unit declarations, each cell's area, leakage, pin directions and
capacitances and output functions (:func:`eval_function` evaluates them, to
find the NAND2 that area is counted in). ``synth.flow`` (area, cell check)
and ``synth.sta`` (leakage and power cross-checks) read a liberty through
:func:`load_liberty`, which parses each file once per process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from synth import DEFAULT_LIBERTY, LIBERTY_PACKAGE, SynthError


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
