"""The LUT spec: one piecewise-linear table for one input format.

The JSON field names are fixed by the design contract (``DESIGN.md``, "The LUT spec") and
read by chip teams' tools; extra fields are kept on load and written back.
Loading validates everything and raises :class:`SpecError` naming the field
and the offending value, so no hardware is ever built from a bad spec.

Integer spec::

    {"format": "gqa-lut-spec", "version": 1, "op": "gelu", "entries": 8,
     "input": {"bits": 8, "signed": true, "frac": 5},
     "breakpoints": [N-1 input codes, strictly increasing],
     "slopes": {"bits": 8, "frac": 6, "values": [N ints]},
     "intercepts": {"bits": 8, "frac": 6, "values": [N ints]},
     "output": {"bits": 8, "signed": true, "frac": 5},
     "fit": {...}}

Slopes and intercepts are always signed. An FP32 spec has
``"input": {"type": "fp32"}``, ``"output": {"type": "fp32"}``, and binary32
values (floats exactly representable in binary32) in ``breakpoints``,
``slopes.values`` and ``intercepts.values``.

Implementations (optional field ``"impl"``, integer formats only for the
last two; absent means ``"pwl"``, and a pwl spec is written without it, so
every existing spec file stays byte-identical):

* ``"pwl"``: the comparator-bank PWL unit above (``hw/pwl_int``).
* ``"uniform"``: the same fields, but ``entries`` = 2^k (2..2^bits) equal
  segments addressed by the top k bits of ``code - min_code``; the
  ``breakpoints`` must be exactly those segment boundaries,
  ``min_code + j * 2^(bits-k)`` for j = 1..N-1 (validated), so readers of
  the contract still see where each segment starts (``hw/uniform``).
* ``"table"``: a direct lookup, one output code per input code::

      {"format": "gqa-lut-spec", "version": 1, "op": "gelu", "impl": "table",
       "entries": 256, "input": {...}, "output": {...},
       "values": [2^bits output codes, for input codes min_code, min_code+1, ...]}

  ``entries`` = 2^bits (input bits <= 12); no ``breakpoints``, ``slopes``
  or ``intercepts`` (``Spec.slopes`` and ``Spec.intercepts`` are None).
  ``values`` belongs to table specs only (``hw/table``).
* ``"poly"``: a segment-local polynomial, ``entries`` = 2^k equal segments
  addressed by the input's top k bits, each segment's polynomial evaluated
  in the local offset t (the low bits)::

      {"format": "gqa-lut-spec", "version": 1, "op": "gelu", "impl": "poly",
       "entries": 256, "degree": 1, "input": {...},
       "coefficients": [{"bits": B0, "frac": F0, "values": [N ints]},    # c0
                        {"bits": B1, "frac": F1, "values": [N ints]}],   # c1
       "output": {...}}

  ``degree`` (1 or 2) + 1 signed coefficient columns, each with its own
  format (degree 2 adds c2); no ``breakpoints``, ``slopes`` or ``intercepts``
  (``hw/poly``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.fixed import Fixed
from hw.files import write_atomic

SPEC_FORMAT = "gqa-lut-spec"
SPEC_VERSION = 1
MAX_BITS = 32          # widest integer input / coefficient / output supported
MAX_ENTRIES = 256
MAX_FILE_BYTES = 16 << 20   # a spec of 4096 table values is well under 1 MiB
IMPLS = ("pwl", "table", "uniform", "poly")
#: a spec without ``impl`` is pwl (the first implementation; specs written before impl existed)
DEFAULT_IMPL = IMPLS[0]
MAX_TABLE_BITS = 12    # a table spec holds 2^bits values
MAX_POLY_ENTRIES = 4096   # a poly spec's segments: 2^k, k <= 12 (and k < input bits)
POLY_DEGREES = (1, 2)
_OP_RE = re.compile(r"[a-z][a-z0-9_]*")
#: the op names a unit, its folder and its Verilog module (gqa_<op>_<format>_e<N>_u<hash>...): 32
#: characters keep the longest such name far below a file name's 255 bytes and any tool's identifier limit
MAX_OP_CHARS = 32


class SpecError(ValueError):
    """A spec that does not validate; ``field`` is a dotted path."""

    def __init__(self, field: str, value, problem: str):
        self.field, self.value, self.problem = field, value, problem
        got = repr(value)
        if len(got) > 80:           # a message is one readable line, whatever the input holds
            got = got[:77] + "..."
        # the path holds the document's own keys: control characters escaped, length capped
        where = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(field))
        if len(where) > 80:
            where = where[:77] + "..."
        super().__init__(f"spec field '{where}': {problem} (got {got})")


@dataclass(frozen=True)
class Coeffs:
    """A signed coefficient column; ``fmt`` is None for binary32 values."""

    fmt: Fixed | None
    values: tuple


@dataclass
class Spec:
    op: str
    entries: int
    input: Fixed | None            # None: binary32
    breakpoints: tuple
    slopes: Coeffs | None          # None for a table spec
    intercepts: Coeffs | None      # None for a table spec
    output: Fixed | None
    fit: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # unknown top-level fields, kept
    impl: str = DEFAULT_IMPL       # one of IMPLS
    values: tuple | None = None    # table only: output code per input code, from min_code
    coefficients: tuple | None = None   # poly only: (c0, c1, ...) Coeffs columns, c_i multiplies t^i
    fold: tuple | None = None      # poly only: ("odd", K) or ("x", 0), the symmetry folding (DESIGN.md)

    @property
    def degree(self) -> int | None:
        """A poly spec's degree (None for the other impls)."""
        return None if self.coefficients is None else len(self.coefficients) - 1

    @property
    def is_fp32(self) -> bool:
        return self.input is None

    @property
    def format_name(self) -> str:
        return "fp32" if self.is_fp32 else f"int{self.input.bits}"

    # -- JSON -------------------------------------------------------------
    def to_json(self) -> dict:
        def fmt(f: Fixed | None) -> dict:
            return {"type": "fp32"} if f is None else f.to_json()

        def coeffs(c: Coeffs) -> dict:
            if c.fmt is None:
                return {"type": "fp32", "values": [float(v) for v in c.values]}
            return {"bits": c.fmt.bits, "frac": c.fmt.frac, "values": [int(v) for v in c.values]}

        conv = float if self.is_fp32 else int
        doc = {"format": SPEC_FORMAT, "version": SPEC_VERSION, "op": self.op}
        if self.impl != "pwl":
            doc["impl"] = self.impl
        doc.update(entries=self.entries, input=fmt(self.input))
        if self.impl == "table":
            doc.update(output=fmt(self.output), values=[int(v) for v in self.values])
        elif self.impl == "poly":
            doc.update(degree=self.degree)
            if self.fold is not None:
                doc["fold"] = {"kind": "odd", "offset": int(self.fold[1])} if self.fold[0] == "odd" else {"kind": "x"}
            doc.update(coefficients=[coeffs(c) for c in self.coefficients], output=fmt(self.output))
        else:
            doc.update(breakpoints=[conv(b) for b in self.breakpoints], slopes=coeffs(self.slopes),
                       intercepts=coeffs(self.intercepts), output=fmt(self.output))
        if self.fit:
            doc["fit"] = self.fit
        doc.update(self.extra)
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, path) -> bool:
        """Validate, then write atomically; False if the file was already identical."""
        validate_doc(self.to_json())
        return write_atomic(path, self.dumps())

    @classmethod
    def from_json(cls, doc) -> "Spec":
        return validate_doc(doc)

    @classmethod
    def load(cls, path) -> "Spec":
        path = Path(path)
        try:
            if path.is_dir():
                raise SpecError("<file>", str(path), "is a directory, need a spec file")
            if path.exists() and not path.is_file():     # a device or FIFO could block or never end
                raise SpecError("<file>", str(path), "is not a regular file")
            if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
                raise SpecError("<file>", str(path), f"larger than {MAX_FILE_BYTES >> 20} MiB: not a spec")
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise SpecError("<file>", str(path), "no such spec file") from None
        except UnicodeDecodeError:
            raise SpecError("<file>", str(path), "not a text file (UTF-8 JSON expected)") from None
        except json.JSONDecodeError as e:
            raise SpecError("<file>", str(path), f"not valid JSON: {e}") from None
        except RecursionError:
            raise SpecError("<file>", str(path), "nested too deeply to be a spec") from None
        except OSError as e:
            raise SpecError("<file>", str(path), f"cannot read: {e.strerror or e}") from None
        try:
            return validate_doc(doc)
        except RecursionError:
            raise SpecError("<file>", str(path), "nested too deeply to be a spec") from None

    # -- views used by models and generators --------------------------------
    def arrays(self):
        """(breakpoints, slopes, intercepts) as numpy arrays (int64 or float32)."""
        if self.impl in ("table", "poly"):
            raise ValueError(f"a {self.impl} spec has no breakpoints, slopes or intercepts "
                             f"(see Spec.{'values' if self.impl == 'table' else 'coefficients'})")
        dt = np.float32 if self.is_fp32 else np.int64
        return (np.array(self.breakpoints, dtype=dt).reshape(-1),
                np.array(self.slopes.values, dtype=dt),
                np.array(self.intercepts.values, dtype=dt))


# -- validation ---------------------------------------------------------------

def _get(doc: dict, key: str, path: str):
    if key not in doc:
        raise SpecError(path, None, "missing required field")
    return doc[key]


def _int(v, path: str, lo: int | None = None, hi: int | None = None) -> int:
    # bool is an int subclass in Python; true/false is never a valid number here.
    if not isinstance(v, int) or isinstance(v, bool):
        raise SpecError(path, v, "must be an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise SpecError(path, v, f"must be in {lo}..{hi}")
    return v


def _f32(v, path: str) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise SpecError(path, v, "must be a number")
    if not math.isfinite(v):
        raise SpecError(path, v, "must be finite")
    if float(np.float32(v)) != float(v):
        raise SpecError(path, v, "is not exactly representable in binary32")
    return float(v)


def _obj(v, path: str) -> dict:
    if not isinstance(v, dict):
        raise SpecError(path, v, "must be a JSON object")
    return v


def _number_format(doc, path: str) -> Fixed | None:
    doc = _obj(doc, path)
    if doc.get("type", "int") == "fp32":
        return None
    if doc.get("type", "int") != "int":
        raise SpecError(f"{path}.type", doc["type"], "must be 'int' or 'fp32'")
    bits = _int(_get(doc, "bits", f"{path}.bits"), f"{path}.bits", 2, MAX_BITS)
    signed = _get(doc, "signed", f"{path}.signed")
    if not isinstance(signed, bool):
        raise SpecError(f"{path}.signed", signed, "must be true or false")
    frac = _int(_get(doc, "frac", f"{path}.frac"), f"{path}.frac", -64, 64)
    return Fixed(bits, signed, frac)


def _coeffs(doc, path: str, n: int, fp32: bool) -> Coeffs:
    doc = _obj(doc, path)
    vals = _get(doc, "values", f"{path}.values")
    if not isinstance(vals, list):
        raise SpecError(f"{path}.values", vals, "must be a list")
    if len(vals) != n:
        raise SpecError(f"{path}.values", f"{len(vals)} values", f"must hold 'entries' = {n} values")
    if fp32:
        return Coeffs(None, tuple(_f32(v, f"{path}.values[{i}]") for i, v in enumerate(vals)))
    bits = _int(_get(doc, "bits", f"{path}.bits"), f"{path}.bits", 2, MAX_BITS)
    frac = _int(_get(doc, "frac", f"{path}.frac"), f"{path}.frac", -64, 64)
    fmt = Fixed(bits, True, frac)
    out = []
    for i, v in enumerate(vals):
        _int(v, f"{path}.values[{i}]")
        if not fmt.fits(v):
            raise SpecError(f"{path}.values[{i}]", v,
                            f"does not fit signed {bits}-bit ({fmt.min_code}..{fmt.max_code})")
        out.append(v)
    return Coeffs(fmt, tuple(out))


_KNOWN = {"format", "version", "op", "impl", "entries", "input", "breakpoints",
          "slopes", "intercepts", "output", "fit", "values", "degree", "coefficients", "fold"}


def _table_values(doc: dict, inp: Fixed, out: Fixed, n: int) -> tuple:
    """``values`` of a table spec: 2^bits integers that fit the output."""
    for key in ("breakpoints", "slopes", "intercepts"):
        if key in doc:
            raise SpecError(key, doc[key], "a table spec (impl 'table') has no breakpoints, slopes or "
                                           "intercepts; its outputs are in 'values'")
    vals = _get(doc, "values", "values")
    if not isinstance(vals, list):
        raise SpecError("values", vals, "must be a list")
    if len(vals) != n:
        raise SpecError("values", f"{len(vals)} values",
                        f"must hold one output code per input code, 2^{inp.bits} = {n} values")
    for i, v in enumerate(vals):
        _int(v, f"values[{i}]")
        if not out.fits(v):
            raise SpecError(f"values[{i}]", v, f"does not fit the output format {out.label()} "
                                               f"({out.min_code}..{out.max_code})")
    return tuple(vals)


def uniform_boundaries(inp: Fixed, entries: int) -> list[int]:
    """Segment starts of a uniform table (its breakpoints): ``min_code + j *
    2^(bits - k)`` for j = 1..entries-1, ``entries = 2^k``."""
    step = (1 << inp.bits) // entries
    return [inp.min_code + j * step for j in range(1, entries)]


def _all_finite(doc) -> None:
    """NaN and infinities anywhere (``fit`` included) are refused: JSON has
    no such numbers, and a spec must read back as the same document."""
    stack = [(doc, "")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(path or "<document>", v, "must be a finite number (JSON has no NaN or Infinity)")
        if isinstance(v, dict):
            stack += [(x, f"{path}.{k}" if path else str(k)) for k, x in v.items()]
        elif isinstance(v, list):
            stack += [(x, f"{path}[{i}]") for i, x in enumerate(v)]


def _poly(doc: dict, op: str, n: int, inp: Fixed, out: Fixed) -> Spec:
    """The rest of a poly spec: entries 2^k with k < input bits, ``degree``,
    ``degree`` + 1 coefficient columns of N signed values each."""
    for key in ("breakpoints", "slopes", "intercepts"):
        if key in doc:
            raise SpecError(key, doc[key], "a poly spec (impl 'poly') has no breakpoints, slopes or intercepts; "
                                           "its segments are the input's top bits, its lines in 'coefficients'")
    fold = _fold(doc.get("fold"), inp, out) if "fold" in doc else None
    top = min(MAX_POLY_ENTRIES, 1 << (inp.bits - (2 if fold else 1)))
    if n & (n - 1) or n > top:
        raise SpecError("entries", n, f"a poly spec needs a power of two 1..{top} entries (equal segments "
                                      f"addressed by the input's top bits, at least one bit of local offset"
                                      + (", of the folded w - 1 bits)" if fold else ")"))
    degree = _int(_get(doc, "degree", "degree"), "degree")
    if degree not in POLY_DEGREES:
        raise SpecError("degree", degree, f"this tool implements degree {', '.join(map(str, POLY_DEGREES))}")
    cols = _get(doc, "coefficients", "coefficients")
    if not isinstance(cols, list) or len(cols) != degree + 1:
        raise SpecError("coefficients", cols if not isinstance(cols, list) else f"{len(cols)} columns",
                        f"must be a list of degree + 1 = {degree + 1} coefficient columns (c0, c1, ...)")
    coeffs = tuple(_coeffs(c, f"coefficients[{i}]", n, False) for i, c in enumerate(cols))
    fit = doc.get("fit", {})
    _obj(fit, "fit")
    extra = {k: v for k, v in doc.items() if k not in _KNOWN}
    return Spec(op, n, inp, (), None, None, out, fit, extra, impl="poly", coefficients=coeffs, fold=fold)


def _fold(v, inp: Fixed, out: Fixed) -> tuple:
    """A poly spec's ``fold``: {"kind": "odd", "offset": K} or {"kind": "x"} (DESIGN.md)."""
    if not isinstance(v, dict) or v.get("kind") not in ("odd", "x"):
        raise SpecError("fold", v, 'must be {"kind": "odd", "offset": K} or {"kind": "x"}')
    if set(v) - {"kind", "offset"} or (v["kind"] == "odd") != ("offset" in v):
        raise SpecError("fold", v, 'must be {"kind": "odd", "offset": K} or {"kind": "x"}')
    if not inp.signed:
        raise SpecError("fold", v, "folds a signed input onto its magnitude: the input is unsigned")
    if v["kind"] == "x":
        if out.frac < inp.frac:
            raise SpecError("fold", v, f"kind 'x' subtracts the input aligned to the output: needs output frac "
                                       f">= input frac ({out.frac} < {inp.frac})")
        return ("x", 0)
    return ("odd", _int(v["offset"], "fold.offset", -(1 << 32), 1 << 32))


def validate_doc(doc) -> Spec:
    """Check every field of a spec document; return the :class:`Spec`."""
    doc = _obj(doc, "<document>")
    _all_finite(doc)
    if _get(doc, "format", "format") != SPEC_FORMAT:
        raise SpecError("format", doc["format"], f"must be '{SPEC_FORMAT}'")
    version = _get(doc, "version", "version")
    if version != SPEC_VERSION or isinstance(version, bool):
        raise SpecError("version", version, f"unknown version; this tool reads version {SPEC_VERSION}")
    op = _get(doc, "op", "op")
    if not isinstance(op, str) or not _OP_RE.fullmatch(op):
        raise SpecError("op", op, "must be a lower-case identifier ([a-z][a-z0-9_]*)")
    if len(op) > MAX_OP_CHARS:
        raise SpecError("op", op, f"is {len(op)} characters long; at most {MAX_OP_CHARS} (it names the unit, "
                                  "its folder and its Verilog module)")
    impl = doc.get("impl", "pwl")
    if not isinstance(impl, str) or impl not in IMPLS:
        raise SpecError("impl", impl, f"must be one of {', '.join(repr(i) for i in IMPLS)}")
    # a table's entries are bounded by its input width, checked below
    n = _get(doc, "entries", "entries")
    n = _int(n, "entries") if impl == "table" else _int(n, "entries", 1, MAX_POLY_ENTRIES if impl == "poly"
                                                         else MAX_ENTRIES)
    inp = _number_format(_get(doc, "input", "input"), "input")
    out = _number_format(_get(doc, "output", "output"), "output")
    fp32 = inp is None
    if (out is None) != fp32:
        raise SpecError("output", doc["output"], "an fp32 spec needs fp32 input and output")
    if impl != "pwl" and fp32:
        raise SpecError("impl", impl, f"impl '{impl}' needs integer input and output formats")
    for key in ("degree", "coefficients", "fold"):
        if key in doc and impl != "poly":
            raise SpecError(key, doc[key], "only a poly spec (impl 'poly') has 'degree', 'coefficients' and "
                                           "'fold'")
    if impl == "table":
        if inp.bits > MAX_TABLE_BITS:
            raise SpecError("input.bits", inp.bits, f"a table spec holds one value per input code: "
                                                    f"at most {MAX_TABLE_BITS} input bits")
        if n != 1 << inp.bits:
            raise SpecError("entries", n, f"a table spec of a {inp.bits}-bit input has 2^{inp.bits} = "
                                          f"{1 << inp.bits} entries")
        vals = _table_values(doc, inp, out, n)
        fit = doc.get("fit", {})
        _obj(fit, "fit")
        extra = {k: v for k, v in doc.items() if k not in _KNOWN}
        return Spec(op, n, inp, (), None, None, out, fit, extra, impl="table", values=vals)
    if "values" in doc:
        raise SpecError("values", doc["values"], "only a table spec (impl 'table') has 'values'")
    if impl == "poly":
        return _poly(doc, op, n, inp, out)
    if impl == "uniform" and (n < 2 or n & (n - 1) or n > 1 << inp.bits):
        raise SpecError("entries", n, f"a uniform spec needs a power of two 2..2^{inp.bits} entries "
                                      f"(equal segments addressed by the input's top bits)")

    bps = _get(doc, "breakpoints", "breakpoints")
    if not isinstance(bps, list):
        raise SpecError("breakpoints", bps, "must be a list")
    if len(bps) != n - 1:
        raise SpecError("breakpoints", f"{len(bps)} values", f"must hold entries - 1 = {n - 1} values")
    checked = []
    for i, b in enumerate(bps):
        p = f"breakpoints[{i}]"
        if fp32:
            b = _f32(b, p)
        else:
            _int(b, p)
            if not inp.fits(b):
                raise SpecError(p, b, f"lies outside the input range {inp.min_code}..{inp.max_code}")
        if checked and b <= checked[-1]:
            raise SpecError(p, b, f"breakpoints must be strictly increasing (previous is {checked[-1]!r})")
        checked.append(b)

    if impl == "uniform":
        for j, (b, want) in enumerate(zip(checked, uniform_boundaries(inp, n))):
            if b != want:
                raise SpecError(f"breakpoints[{j}]", b, f"a uniform spec's breakpoints are its segment "
                                                        f"boundaries min_code + {j + 1} * 2^"
                                                        f"{inp.bits - n.bit_length() + 1} = {want}")
    slopes = _coeffs(_get(doc, "slopes", "slopes"), "slopes", n, fp32)
    icpts = _coeffs(_get(doc, "intercepts", "intercepts"), "intercepts", n, fp32)
    fit = doc.get("fit", {})
    _obj(fit, "fit")
    extra = {k: v for k, v in doc.items() if k not in _KNOWN}
    return Spec(op, n, inp, tuple(checked), slopes, icpts, out, fit, extra, impl=impl)
