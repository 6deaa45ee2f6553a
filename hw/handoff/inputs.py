"""What the handoff checks before it reads or writes anything: the output
location, the unit's manifest, and that the unit's Verilog and tables are
the files the generator wrote together.

Each problem is a :class:`HandoffError`, one line that
names it (``gqa-lut handoff`` prints it as ``error: ...``, exit status 2);
nothing is written before these checks pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from hw.pwl_common import MAX_STAGES

#: a unit manifest is a few kB (an affine unit's gamma/beta a few more); this is no unit's
MAX_MANIFEST_BYTES = 4 << 20
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
REBUILD = "rebuild the unit with make gen (its manifest's regenerate line)"


class HandoffError(ValueError):
    """A package that cannot be built, or a unit that may not be shipped: one line."""


def _error(msg: str):
    return HandoffError(msg)


def check_out(unit_dir: Path, out: Path) -> None:
    """The package may go to ``unit_dir/handoff`` (the default) or to a
    folder outside the unit; anything else inside the unit, the unit itself
    or a folder containing it could overwrite the unit's own files."""
    unit, dest = unit_dir.resolve(), out.resolve()
    if dest == unit or dest in unit.parents:
        raise _error(f"output location {out}: {'is' if dest == unit else 'contains'} the unit folder {unit_dir}, "
                     "whose files the package would overwrite; give a folder outside it (default: "
                     f"{unit_dir / 'handoff'})")
    if unit in dest.parents and dest != unit / "handoff":
        raise _error(f"output location {out}: inside the unit folder {unit_dir}, where only its handoff/ "
                     "folder (the default) may go; give handoff/ or a folder outside the unit")
    if dest.exists() and not dest.is_dir():
        raise _error(f"output location {out}: exists and is not a directory")


def _plain_name(v) -> bool:
    """A file name inside the unit folder (no directory part, no '..')."""
    return isinstance(v, str) and v not in ("", ".", "..") and "/" not in v and "\\" not in v and "\0" not in v


def _field(path: Path, man: dict, key: str, ok, what: str):
    if key not in man:
        raise _error(f"{path} has no '{key}': not a unit manifest written by gqa-lut gen; {REBUILD}")
    if not ok(man[key]):
        raise _error(f"{path} field '{key}' must be {what}: not a unit manifest written by gqa-lut gen; "
                     f"{REBUILD}")
    return man[key]


def read_manifest(unit_dir: Path) -> dict:
    """The unit's manifest, if it is one that :mod:`hw.gen` wrote: complete
    JSON with the fields the package reads, of the right types."""
    if not unit_dir.is_dir():
        raise _error(f"{unit_dir}: not a unit directory (give the folder make gen printed, e.g. build/gelu_int8_e8)")
    path = unit_dir / "manifest.json"
    if not path.is_file():
        raise _error(f"{unit_dir}: no manifest.json (build the unit first: make gen)")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise _error(f"{path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB, not a unit manifest; {REBUILD}")
    try:
        man = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise _error(f"{path}: not UTF-8 text, not a unit manifest; {REBUILD}") from None
    except json.JSONDecodeError as e:
        raise _error(f"{path}: not valid JSON (truncated or damaged: {e.msg} at line {e.lineno} column "
                     f"{e.colno}); {REBUILD}") from None
    except RecursionError:
        raise _error(f"{path}: nested too deeply, not a unit manifest; {REBUILD}") from None
    if not isinstance(man, dict):
        raise _error(f"{path}: a JSON {type(man).__name__}, not a unit manifest; {REBUILD}")
    if man.get("format") == "gqa-lut-handoff":
        raise _error(f"{path} is a handoff package's manifest, not a unit's: give the unit folder (the package's "
                     "parent, which make gen printed)")
    _field(path, man, "top", lambda v: isinstance(v, str) and _IDENT.fullmatch(v), "a Verilog identifier")
    _field(path, man, "verilog", lambda v: isinstance(v, list) and len(v) == 1 and _plain_name(v[0]),
           "a list of one file name")
    _field(path, man, "op", lambda v: isinstance(v, str) and _IDENT.fullmatch(v), "an op name")
    _field(path, man, "ports", lambda v: isinstance(v, list) and v and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and _IDENT.fullmatch(p["name"])
        and p.get("dir") in ("in", "out") and type(p.get("width")) is int and p["width"] >= 1 for p in v),
        "a list of ports (name, dir in/out, width)")
    _field(path, man, "stages", lambda v: v is None or (type(v) is int and 0 <= v <= MAX_STAGES),
           f"null (row-wise) or 0..{MAX_STAGES}")
    if man["stages"] is None:
        _field(path, man, "specs", lambda v: isinstance(v, dict) and v and all(
            isinstance(k, str) and _IDENT.fullmatch(k) and _plain_name(f) for k, f in v.items()),
            "an object of table name to file name")
    else:
        _field(path, man, "spec", _plain_name, "a file name")
        if "lanes" in man:
            _field(path, man, "lanes", lambda v: type(v) is int and v >= 1, "a whole number >= 1")
        if man.get("lut") == "regs":
            _field(path, man, "cfg", lambda v: isinstance(v, dict) and all(k in v for k in ("addr_bits", "data_bits",
                                                                                       "map", "image")),
                   "an object with addr_bits, data_bits, map and image")
    _field(path, man, "regenerate", lambda v: isinstance(v, str) and v and "\n" not in v, "one command line")
    if "request" in man:        # the files it names travel in the package: they must be the unit's own
        _field(path, man, "request", lambda v: isinstance(v, dict) and all(
            v.get(k) is None or _plain_name(v[k]) for k in ("spec", "params")),
            "an object whose spec/params are file names in the unit folder")
    return man


def check_sources(unit_dir: Path, man: dict) -> None:
    """The Verilog and every table file hash to what the generator recorded
    when it wrote them together: an edited or replaced table would give a
    bench that checks the RTL against another table, an edited RTL a
    package that is not what the generator made for this table."""
    files = list(man["verilog"]) + ([man["spec"]] if man["stages"] is not None else list(man["specs"].values()))
    rec = man.get("sha256")
    if not isinstance(rec, dict):
        raise _error(f"{unit_dir}/manifest.json records no sha256 of the unit's RTL and tables (a manifest "
                     f"written by hand or by an older gqa-lut), so the RTL cannot be checked against them; "
                     f"{REBUILD}")
    for name in files:
        want = rec.get(name)
        if not (isinstance(want, str) and _HEX64.fullmatch(want)):
            raise _error(f"{unit_dir}/manifest.json records no sha256 of {name}; {REBUILD}")
        try:
            got = hashlib.sha256((unit_dir / name).read_bytes()).hexdigest()
        except FileNotFoundError:
            raise _error(f"{unit_dir}/{name}, listed in manifest.json, is missing; {REBUILD}") from None
        if got != want:
            what = ("the Verilog no longer is what the generator wrote for the unit's table" if name in man["verilog"]
                    else "the RTL no longer matches this table")
            raise _error(f"{unit_dir}/{name} changed after the unit was generated (its sha256 is not the one "
                         f"manifest.json records): {what}; {REBUILD}, or restore the file")
