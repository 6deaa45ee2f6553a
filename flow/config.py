"""A unit's configuration: one frozen object per unit kind, validated once.

Everything that names a unit or says how to rebuild it comes from here and
nowhere else: its name (build directory and ``gqa_<name>`` module), its
``make gen`` line, its ``gqa-lut gen`` arguments and the ``request`` stored
in its manifest. :func:`from_request` turns a manifest's request back into
the configuration, so a build directory alone says how to rebuild it.

Kinds: :class:`Elementwise` (one op, one table, any format), :class:`Softmax`,
:class:`LayerNorm` (row-wise) and :class:`SpecUnit` (a table the user wrote).
Each is constructed through its ``__post_init__`` checks, which raise
:class:`ConfigError` with one line naming the option and the fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from fitter import functions
from synth.sdc import CLOCK_RANGE
from fitter.fit import WIDEN
from hw.fixed import Fixed
from hw.pwl_common import MAX_STAGES
from hw.layernorm.model import DEFAULT_BETA, DEFAULT_GAMMA, DEFAULT_IN, DEFAULT_OUT
from hw.spec import IMPLS, MAX_TABLE_BITS

FORMATS = ("int8", "int10", "int12", "int16", "int32", "fp32")
#: IMPLS (hw/spec.py): element-wise implementations (hw/impls.py), pwl (comparator bank, the
#: default), table (direct lookup of every input code, at most MAX_TABLE_BITS input bits),
#: uniform (2^k equal segments addressed by the input's top bits).
#: fit options that mean something per impl (the rest are refused): a table has no search and no
#: lines, a uniform table no breakpoint search (its lines are fitted by --rule/--objective, or by
#: the exact window search with --method exact)
IMPL_FIT_OPTS = {
    "table": ("range", "in_bits", "in_frac", "out_bits", "out_frac"),
    "uniform": ("range", "method", "objective", "rule", "in_bits", "in_frac", "out_bits", "out_frac",
                "slope_frac", "intercept_frac", "slope_bits", "intercept_bits", "max_err_lsb"),
    # poly (fitter/poly.py): the fewest segments and narrowest coefficient formats within the bound
    "poly": ("range", "in_bits", "in_frac", "out_bits", "out_frac", "max_err_lsb"),
}
#: impl poly: the bound its fit meets when --max-err-lsb is not given (stored as None), and its widest input
POLY_BOUND, POLY_MAX_BITS = 1.0, 16
METHODS = ("ga", "uniform", "exact")
OBJECTIVES = ("hw", "fp", "rel", "maxerr")
RULES = ("auto", "lsq", "chord")
LUTS = ("rom", "regs")
#: LANES=P: P inputs and P results per clock on one table (hw/pwl_common.py LANES)
LANES = (1, 2, 4, 8, 16, 32)
#: CLOCK_MHZ=F: the target clock an element-wise unit is pipelined to meet (flow/clock.py), integer MHz
#: in CLOCK_RANGE (declared once, in synth/sdc.py, beside the period it becomes)
ROWWISE = ("softmax", "layernorm", "rmsnorm")
#: where a row-wise unit keeps a row: ff, flip-flop row buffers (ROW_BUFFERS=1|2); none, no store:
#: the caller streams every row two (layernorm, rmsnorm) or three (softmax) times (DESIGN.md
#: "Multi-pass row protocol"); sram, the row in the chip's SRAM macro, replayed by the unit (DESIGN.md
#: "SRAM row store")
ROW_STORES = ("ff", "none", "sram")


def _store_suffix(row_store: str, passes: int) -> str:
    """The name's row-store part: none for ff, _<P>pass for none, _sram."""
    return {"ff": "", "none": f"_{passes}pass", "sram": "_sram"}[row_store]
MAX_ENTRIES = 256
ROW_BUFFERS = (1, 2)
SM_IN_FRACS = range(0, 8)
ROW_RANGE = (2, 4096)
RSQRT_FORMATS = ("auto", "int8", "int16")
#: fractional bits of the layernorm rsqrt table's output at int8 (+8 at int16)
RSQRT_OUT_FRAC = 8


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a make variable, say)
    written as escapes, so an error message stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


class ConfigError(ValueError):
    """An option out of range or not applicable; the message is one line."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


def _check_int(v, what: str, lo: int, hi: int, hint: str = "") -> int:
    use = f"{lo} or {hi}" if hi == lo + 1 else f"{lo}..{hi}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{what} {v!r} is not an integer: use {use}{hint}")
    if not lo <= v <= hi:
        raise ConfigError(f"{what} {v} is out of range: use {use}{hint}")
    return v


def _check_choice(v, what: str, allowed) -> str:
    if v not in allowed:
        raise ConfigError(f"unknown {what} {v!r}; known: {', '.join(map(str, allowed))}")
    return v


def check_lanes(v) -> int:
    """``v`` if it is a lane count (:data:`LANES`), else a one-line ConfigError."""
    use = ", ".join(map(str, LANES[:-1])) + f" or {LANES[-1]}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"lanes {v!r} is not an integer: use {use}")
    if v not in LANES:
        raise ConfigError(f"lanes {v} is not a lane count: use {use} (lanes on one table, a power of two)")
    return v


def _num(v: float) -> str:
    """A float as the shortest text that reads back to it (repr)."""
    return repr(float(v))


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def parse_fixed(v: str, what: str, max_bits: int = 16) -> Fixed:
    """``s16.8`` -> a signed 16-bit format with 8 fractional bits. The
    fractional part may be negative (``s8.-1``: codes count steps of 2), as
    a calibrated power-of-two scale of a wide-ranged tensor can be."""
    mt = re.fullmatch(r"s(\d{1,3})\.(-?\d{1,3})", str(v).strip())
    if not mt:
        raise ConfigError(f"{what} '{v}' is not a signed format sB.F (e.g. s16.8)")
    bits, frac = int(mt.group(1)), int(mt.group(2))
    if not 2 <= bits <= max_bits or not -8 <= frac <= 31:
        raise ConfigError(f"{what} '{v}' is out of range: use 2..{max_bits} bits and -8..31 fractional bits")
    return Fixed(bits, True, frac)


def _fmt_tag(f: Fixed) -> str:
    """``s16.8`` -> ``16f8``, ``s8.-1`` -> ``8fm1``: a format in an identifier."""
    return f"{f.bits}f{f.frac}".replace("-", "m")


# -- fit options -----------------------------------------------------------------

#: Fit options and their defaults, in the order of the spec's ``fit.request``.
FIT_DEFAULTS = {"seed": 0, "method": "ga", "range": None, "objective": "hw", "rule": "auto",
                "population": 50, "generations": 500, "round_prob": None,
                "in_bits": None, "in_frac": None, "out_bits": None, "out_frac": None, "slope_frac": None,
                "intercept_frac": None, "slope_bits": None, "intercept_bits": None, "max_err_lsb": None}
#: the options that set a format of the table (at int8)
FORMAT_OPTS = ("in_bits", "in_frac", "out_bits", "out_frac", "slope_frac", "intercept_frac", "slope_bits",
               "intercept_bits")
#: options a row-wise unit passes to its tables (their formats are the unit's own)
ROWWISE_FIT_OPTS = ("seed", "method", "rule", "population", "generations", "round_prob")


@dataclass(frozen=True)
class FitOptions:
    """How a table is searched; the defaults are the paper's GA."""
    seed: int = 0
    method: str = "ga"
    range: tuple | None = None
    objective: str = "hw"
    rule: str = "auto"
    population: int = 50
    generations: int = 500
    round_prob: float | None = None
    in_bits: int | None = None
    in_frac: int | None = None
    out_bits: int | None = None
    out_frac: int | None = None
    slope_frac: int | None = None
    intercept_frac: int | None = None
    slope_bits: int | None = None
    intercept_bits: int | None = None
    #: a bound instead of a size: the fewest entries whose table meets it (fitter/minimal.py)
    max_err_lsb: float | None = None

    def __post_init__(self):
        _check_int(self.seed, "--seed", 0, 2**32 - 1)
        if self.max_err_lsb is not None:
            b = self.max_err_lsb
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not (0 < b <= 1e6):
                raise ConfigError(f"--max-err-lsb {b!r} is out of range: use a bound in output LSB, 0 < B <= 1e6")
            object.__setattr__(self, "max_err_lsb", float(b))
            searched = [k for k in ("seed", "method", "objective", "rule", "population", "generations",
                                    "round_prob") if getattr(self, k) != FIT_DEFAULTS[k]]
            if searched:
                raise ConfigError(f"--{searched[0].replace('_', '-')} does not apply with --max-err-lsb: the "
                                  "fewest entries are found by the exact minimax search (fitter/minimal.py)")
        _check_choice(self.method, "method", METHODS)
        _check_choice(self.objective, "objective", OBJECTIVES)
        _check_choice(self.rule, "rule", RULES)
        _check_int(self.population, "--population", 2, 100000)
        _check_int(self.generations, "--generations", 0, 10**7)
        if self.round_prob is not None and not (isinstance(self.round_prob, (int, float))
                                                and 0.0 <= self.round_prob <= 1.0):
            raise ConfigError(f"--round-prob {self.round_prob!r} is out of range: use 0..1")
        if self.range is not None:
            try:
                lo, hi = (float(v) for v in self.range)
            except (TypeError, ValueError):
                raise ConfigError(f"--range {self.range!r}: need two numbers LO HI") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and abs(lo) <= 1e6 and abs(hi) <= 1e6):
                raise ConfigError(f"--range {lo:g} {hi:g}: use finite bounds within +-1e6")
            if not lo < hi:
                raise ConfigError(f"--range {lo:g} {hi:g} is empty: need LO < HI")
            object.__setattr__(self, "range", (lo, hi))
        for name in FORMAT_OPTS:
            v = getattr(self, name)
            if v is not None:
                if name.endswith("_bits"):
                    _check_int(v, "--" + name.replace("_", "-"), 2, 32)
                else:
                    _check_int(v, "--" + name.replace("_", "-"), -32, 32)

    def request(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["range"] = list(self.range) if self.range is not None else None
        if self.max_err_lsb is None:        # requests without a bound stay as they were
            del d["max_err_lsb"]
        return d

    def changed(self) -> dict:
        """The options away from their defaults."""
        return {k: v for k, v in self.request().items() if v != FIT_DEFAULTS.get(k)}

    def variant_tag(self) -> str:
        """``""`` with every option at its default, else ``_v`` + six hex digits
        of a hash of the changed options: variants never share a directory.
        (A bound is in the unit's name instead, ``_m<B>``.)"""
        diff = {k: v for k, v in self.changed().items() if k != "max_err_lsb"}
        return "" if not diff else "_v" + _hash(diff)[:6]

    def args(self, skip=("seed",)) -> list[str]:
        """The changed options as ``gqa-lut gen`` arguments."""
        out = []
        for k, v in self.changed().items():
            if k in skip:
                continue
            opt = "--" + k.replace("_", "-")
            out += [opt, *(_num(x) for x in v)] if k == "range" else [opt, str(v)]
        return out

    @classmethod
    def from_request(cls, req: dict) -> "FitOptions":
        kw = {k: req[k] for k in FIT_DEFAULTS if k in req}
        if kw.get("range") is not None:
            kw["range"] = tuple(kw["range"])
        return cls(**kw)


def _make_line(target: str, pairs: list[tuple[str, str]]) -> str:
    return " ".join(["make", target] + [f"{k}={shlex.quote(str(v))}" for k, v in pairs])


class UnitConfig:
    """What every kind offers (see the module docstring)."""
    kind = ""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def top(self) -> str:
        return "gqa_" + self.name

    def directory(self, build) -> Path:
        return Path(build) / self.name

    def make_vars(self, **kw) -> list[tuple[str, str]]:
        raise NotImplementedError

    def make_line(self, target: str = "gen", **kw) -> str:
        """The one ``make`` line that rebuilds this unit (add ``BUILD=dir``);
        ``params_as``: the path a layernorm's gamma/beta file is given by."""
        return _make_line(target, self.make_vars(**kw))

    def cli_args(self) -> list[str]:
        """``gqa-lut gen`` arguments that rebuild this unit."""
        raise NotImplementedError

    def request(self) -> dict:
        """The manifest's ``request``: every field, enough to rebuild."""
        d = {"kind": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, FitOptions):
                v = v.request()
            elif isinstance(v, Fixed):
                v = v.label()
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d


def _fit_make(fit: FitOptions, skip=("seed",)) -> list[tuple[str, str]]:
    pairs = [("SEED", str(fit.seed))] if fit.seed != 0 else []
    rest = fit.args(skip)
    return pairs + ([("FITARGS", shlex.join(rest))] if rest else [])


# -- element-wise ----------------------------------------------------------------

@dataclass(frozen=True)
class Elementwise(UnitConfig):
    """One element-wise op: ``y = f(x)`` through one table.

    ``impl`` (:data:`IMPLS`, ``hw/impls.py``) picks the unit: ``pwl`` (the
    default; a pwl unit's name, make line and request are exactly what they
    were before impl existed: ``impl`` is written only when it is not pwl),
    ``uniform`` (``entries`` = 2^k equal segments, integer formats) or
    ``table`` (one correctly rounded output per input code, integer formats
    of at most 12 input bits: int8, int10, int12). A table's size is its
    input width's, so ``entries`` must stay at its default (8) and is
    ignored: the unit is ``<op>_<format>_table`` and its spec has 2^bits
    entries. Fit options that mean nothing to an impl are refused
    (:data:`IMPL_FIT_OPTS`).

    ``lanes`` (:data:`LANES`, ``LANES=P``; the last field, so positional
    calls keep their meaning): P inputs and P results per clock on one
    table. Like ``impl`` it is written only when it is not 1 (name ``_l<P>``
    after the table's part, make line ``LANES=P``, ``--lanes P``, the
    request's ``lanes``), so every one-lane unit is what it was before.

    ``clock_mhz`` (``CLOCK_MHZ=F``, integer MHz in :data:`CLOCK_RANGE`; the
    last field): the unit is sold at clock F. ``stages`` is then chosen when
    the unit is built (:mod:`flow.clock`: STAGES 0..3 synthesized and timed
    by OpenSTA at period 1000/F ns, the least area that meets F), so it is
    ``None`` in the configuration and an explicit STAGES is refused. Written
    only when given (name ``_c<F>`` where ``_s<S>`` would be, make line
    ``CLOCK_MHZ=F``, ``--clock-mhz F``, the request's ``clock_mhz``)."""
    op: str
    format: str = "int8"
    entries: int = 8
    stages: int = 1
    lut: str = "rom"
    ftz: bool = False
    fit: FitOptions = field(default_factory=FitOptions)
    impl: str = "pwl"
    lanes: int = 1
    clock_mhz: int | None = None
    kind = "elementwise"

    def __post_init__(self):
        if self.op not in functions.FUNCTIONS:
            raise ConfigError(str(functions.UnknownOp(self.op, list(functions.FUNCTIONS) + list(ROWWISE))))
        _check_choice(self.format, "format", FORMATS)
        _check_int(self.entries, "entries", 1, MAX_ENTRIES)
        if self.clock_mhz is not None:
            _check_int(self.clock_mhz, "CLOCK_MHZ", *CLOCK_RANGE, " (the target clock in MHz)")
            if self.stages not in (None, 1):
                raise ConfigError(f"STAGES={self.stages} and CLOCK_MHZ={self.clock_mhz} both set the pipelining: "
                                  "give one (with CLOCK_MHZ the STAGES that meets it with the least area is chosen)")
            object.__setattr__(self, "stages", None)        # chosen when the unit is built (flow/clock.py)
        else:
            _check_int(self.stages, "stages", 0, MAX_STAGES)
        _check_choice(self.lut, "lut", LUTS)
        _check_choice(self.impl, "impl", IMPLS)
        check_lanes(self.lanes)
        if not isinstance(self.ftz, bool):
            raise ConfigError(f"ftz {self.ftz!r}: use 0 or 1")
        if self.ftz and self.format != "fp32":
            raise ConfigError(f"FTZ=1 applies to fp32 units only (FORMAT={self.format})")
        if self.format == "fp32" and any(getattr(self.fit, k) is not None for k in FORMAT_OPTS):
            raise ConfigError("format options (--in-frac, ...) do not apply to fp32 units")
        if self.impl != "pwl":
            self._check_impl()
        if self.fit.max_err_lsb is not None:
            if self.impl == "table" or self.format == "fp32":
                raise ConfigError("--max-err-lsb applies to pwl and uniform units of an integer format (a table "
                                  "is correctly rounded already)")
            if self.entries != 8:
                raise ConfigError(f"ENTRIES={self.entries} does not apply with --max-err-lsb: the search finds the "
                                  "fewest entries; leave ENTRIES at its default")

    def _check_impl(self) -> None:
        impl = self.impl
        if self.format == "fp32":
            raise ConfigError(f"impl {impl} needs an integer format (FORMAT=fp32 is pwl only)")
        bad = [k for k in self.fit.changed() if k not in IMPL_FIT_OPTS[impl]]
        if bad:
            why = {"table": "nothing is searched: every value is the function correctly rounded",
                   "poly": "its fit finds the fewest segments and the narrowest coefficient formats within "
                           "--max-err-lsb"}.get(impl, "its segments are fixed, 2^k equal ones; --method exact, "
                                                      "--rule and --objective choose the lines")
            raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to impl {impl} ({why})")
        if impl == "poly":
            if self.entries != 8:
                raise ConfigError(f"ENTRIES={self.entries} does not apply to impl poly: its fit finds the fewest "
                                  "segments within MAX_ERR_LSB (default 1); leave ENTRIES at its default")
            bits = (self.fit.in_bits or functions.get(self.op).input.bits) + WIDEN[self.format]
            if bits > POLY_MAX_BITS:
                raise ConfigError(f"impl poly is certified on every input code: at most {POLY_MAX_BITS} input "
                                  f"bits, FORMAT={self.format} gives {bits}")
            if self.fit.max_err_lsb == POLY_BOUND:      # the default bound: one unit, one name, one make line
                object.__setattr__(self, "fit", replace(self.fit, max_err_lsb=None))
            return
        if impl == "uniform" and self.fit.method == "uniform":
            raise ConfigError("--method uniform does not apply to impl uniform (its segments are equal already; "
                              "--method exact fits the lines by exact search)")
        if impl == "table":
            if self.entries != 8:
                raise ConfigError(f"ENTRIES={self.entries} does not apply to impl table: it holds one value per "
                                  "input code (2^bits entries); leave ENTRIES at its default")
            bits = (self.fit.in_bits or functions.get(self.op).input.bits) + WIDEN[self.format]
            if bits > MAX_TABLE_BITS:
                given = f"--in-bits {self.fit.in_bits} at " if self.fit.in_bits else ""
                raise ConfigError(f"impl table holds one value per input code: at most {MAX_TABLE_BITS} input bits, "
                                  f"{given}FORMAT={self.format} gives {bits}"
                                  + ("" if given else " (use int8, int10 or int12)"))
        elif self.entries < 2 or self.entries & (self.entries - 1):
            raise ConfigError(f"entries {self.entries}: impl uniform needs a power of two, 2..{MAX_ENTRIES} "
                              "(equal segments addressed by the input's top bits)")

    @property
    def variant(self) -> str:
        return self.fit.variant_tag()

    @property
    def table_id(self) -> str:
        """``<op>_<format>_e<N>``, ``<op>_<format>_e<N>_uniform`` or
        ``<op>_<format>_table``: the table, before its ``_v`` variant tag."""
        if self.impl == "table":
            return f"{self.op}_{self.format}_table"
        bound = POLY_BOUND if self.impl == "poly" and self.fit.max_err_lsb is None else self.fit.max_err_lsb
        size = f"e{self.entries}" if bound is None else "m" + f"{bound:g}".replace(".", "p").replace("+", "")
        return f"{self.op}_{self.format}_{size}" + ("" if self.impl == "pwl" else f"_{self.impl}")

    @property
    def name(self) -> str:
        name = f"{self.table_id}{self.variant}" + (f"_l{self.lanes}" if self.lanes != 1 else "")
        if self.clock_mhz is not None:
            name += f"_c{self.clock_mhz}"
        elif self.stages != 1:
            name += f"_s{self.stages}"
        if self.lut != "rom":
            name += f"_{self.lut}"
        return name + ("_ftz" if self.ftz else "")

    def fit_dir(self, build) -> Path:
        """Where the table's fit is cached (shared by stages/lut/lanes variants;
        one per impl, since the impl is in the name)."""
        return Path(build) / f"{self.table_id}{self.variant}"

    def table(self, fmt: str | None = None) -> "Elementwise":
        """The same table at another format (wide tables reuse int8 breakpoints)."""
        return replace(self, format=fmt or self.format, stages=1, lut="rom", ftz=False, lanes=1, clock_mhz=None)

    def at_stages(self, stages: int) -> "Elementwise":
        """This unit at a fixed STAGES, without a clock target (a candidate of :mod:`flow.clock`)."""
        return replace(self, stages=stages, clock_mhz=None)

    def make_vars(self, **_):
        pairs = [("OP", self.op)] + ([("IMPL", self.impl)] if self.impl != "pwl" else [])
        for var, v, d in (("FORMAT", self.format, "int8"), ("ENTRIES", self.entries, 8),
                          ("STAGES", self.stages, 1), ("LUT", self.lut, "rom"), ("LANES", self.lanes, 1),
                          ("CLOCK_MHZ", self.clock_mhz, None)):
            if v != d and v is not None:
                pairs.append((var, str(v)))
        if self.ftz:
            pairs.append(("FTZ", "1"))
        return pairs + _fit_make(self.fit)

    def cli_args(self):
        pipe = ["--stages", str(self.stages)] if self.clock_mhz is None else ["--clock-mhz", str(self.clock_mhz)]
        return [self.op, "--format", self.format, "--entries", str(self.entries)] + pipe + [
                "--lut", self.lut, "--ftz", str(int(self.ftz)),
                "--seed", str(self.fit.seed)] + self.fit.args() + (
                    ["--impl", self.impl] if self.impl != "pwl" else []) + (
                    ["--lanes", str(self.lanes)] if self.lanes != 1 else [])

    def request(self) -> dict:
        """Every field; ``impl`` only when it is not pwl, ``lanes`` only
        when it is not 1 and ``clock_mhz`` only when given (so a one-lane pwl
        unit's request, and its manifest, are what they were before any of
        them existed)."""
        d = super().request()
        if self.impl == "pwl":
            del d["impl"]
        if self.lanes == 1:
            del d["lanes"]
        if self.clock_mhz is None:
            del d["clock_mhz"]
        return d


# -- row-wise ----------------------------------------------------------------------

def _rowwise_fit(fit: FitOptions, op: str) -> None:
    bad = [k for k in fit.changed() if k not in ROWWISE_FIT_OPTS]
    if bad:
        raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to {op}: its tables' ranges and "
                          "formats are the unit's own (fitter/composite.py)")


@dataclass(frozen=True)
class Softmax(UnitConfig):
    """Row-wise softmax over rows of 1..``row_max`` scores in s8.``in_frac``."""
    entries: int = 8
    row_max: int = 128
    in_frac: int = 4
    row_buffers: int = 2
    fit: FitOptions = field(default_factory=FitOptions)
    #: ff (row buffers), none (three passes; name suffix _3pass) or sram (_sram); written only when not ff
    row_store: str = "ff"
    #: one lane only, for now: the field exists so that every row-wise configuration takes LANES alike
    lanes: int = 1
    kind = "softmax"
    op = "softmax"

    def __post_init__(self):
        _check_int(self.entries, "entries", 1, MAX_ENTRIES)
        _check_int(self.row_max, "--row", *ROW_RANGE)
        if check_lanes(self.lanes) != 1:
            raise ConfigError(f"--lanes {self.lanes}: the softmax unit has one lane (LANES applies to layernorm "
                              "and rmsnorm with --row-store none or sram)")
        _check_int(self.in_frac, "--sm-in-frac", SM_IN_FRACS[0], SM_IN_FRACS[-1], " (scores s8.F)")
        _check_int(self.row_buffers, "--row-buffers", 1, 2)
        _check_store(self.row_store, self.row_buffers)
        _rowwise_fit(self.fit, "softmax")

    @property
    def name(self) -> str:
        return (f"softmax_int8_e{self.entries}{self.fit.variant_tag()}"
                + ("" if self.row_max == 128 else f"_r{self.row_max}")
                + ("" if self.in_frac == 4 else f"_i8f{self.in_frac}")
                + ("" if self.row_buffers == 2 else f"_b{self.row_buffers}")
                + _store_suffix(self.row_store, 3))

    def make_vars(self, **_):
        pairs = [("OP", "softmax")]
        for var, v, d in (("ENTRIES", self.entries, 8), ("ROW", self.row_max, 128),
                          ("SM_IN_FRAC", self.in_frac, 4), ("ROW_BUFFERS", self.row_buffers, 2),
                          ("ROW_STORE", self.row_store, "ff")):
            if v != d:
                pairs.append((var, str(v)))
        return pairs + _fit_make(self.fit)

    def model(self, tabs: dict):
        """The golden model of this unit, from its fitted tables."""
        from hw.rowwise import model_class
        return model_class(self.op)(tabs["exp"], tabs["recip"], row_max=self.row_max)

    def cli_args(self):
        return ["softmax", "--entries", str(self.entries), "--row", str(self.row_max), "--sm-in-frac",
                str(self.in_frac), "--row-buffers", str(self.row_buffers), "--seed",
                str(self.fit.seed)] + self.fit.args() + (
                    ["--row-store", self.row_store] if self.row_store != "ff" else [])

    def request(self) -> dict:
        d = super().request()
        if self.row_store == "ff":          # requests of ff units stay as they were
            del d["row_store"]
        del d["lanes"]                      # always 1
        return d


def _check_store(row_store, row_buffers) -> None:
    _check_choice(row_store, "--row-store", ROW_STORES)
    if row_store != "ff" and row_buffers != 2:
        raise ConfigError(f"--row-buffers applies to --row-store ff only (--row-store {row_store} keeps no "
                          "flip-flop buffers)")


def _quantize(vals, f: Fixed, what: str, n: int) -> tuple:
    import numpy as np
    try:
        v = np.asarray(vals, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: not a list of numbers") from None
    if len(v) != n:
        raise ConfigError(f"{what}: {len(v)} values for a row length of {n}")
    lo, hi = (f.min_code - 0.5) * f.lsb, (f.max_code + 0.5) * f.lsb
    bad = np.flatnonzero(~((v >= lo) & (v < hi)))
    if len(bad):
        i = int(bad[0])
        raise ConfigError(f"{what}[{i}] = {v[i]:g} is outside {f.label()} "
                          f"[{f.min_code * f.lsb:g}, {f.max_code * f.lsb:g}]")
    return tuple(int(c) for c in f.quantize(v))


MAX_PARAMS_BYTES = 16 << 20


def read_params(path: Path, n: int, gamma_fmt: Fixed, beta_fmt: Fixed) -> tuple[tuple, tuple]:
    """Gamma and beta codes from a JSON ``{"gamma": [...], "beta": [...]}``
    (either may be missing) or a .npy of shape (2, n), real values rounded
    half up to the formats; gamma 1 and beta 0 where not given."""
    import numpy as np
    path = Path(path)
    gamma, beta = np.ones(n), np.zeros(n)
    try:
        if not path.exists():
            raise ConfigError(f"--ln-params {path}: no such file")
        if not path.is_file():
            raise ConfigError(f"--ln-params {path}: not a regular file")
        if path.stat().st_size > MAX_PARAMS_BYTES:
            raise ConfigError(f"--ln-params {path}: larger than {MAX_PARAMS_BYTES >> 20} MiB")
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.shape != (2, n):
                raise ConfigError(f"--ln-params {path}: shape {arr.shape}, need (2, {n}) (gamma row, beta row)")
            gamma, beta = arr[0], arr[1]
        else:
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or not set(doc) <= {"gamma", "beta"}:
                raise ConfigError(f"--ln-params {path}: need a JSON object with 'gamma' and/or 'beta' lists")
            gamma, beta = doc.get("gamma", gamma), doc.get("beta", beta)
    except (OSError, ValueError, RecursionError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"--ln-params {path}: cannot read gamma/beta ({type(e).__name__})") from None
    return _quantize(gamma, gamma_fmt, "gamma", n), _quantize(beta, beta_fmt, "beta", n)


@dataclass(frozen=True)
class LayerNorm(UnitConfig):
    """Row-wise layernorm over rows of exactly ``row_len`` elements.

    ``params`` is where the initial gamma/beta were read from (real values);
    ``gamma``/``beta`` are their codes, read and checked at construction when
    ``params`` is given (pass ``gamma``/``beta`` directly to skip the file)."""
    entries: int = 8
    row_len: int = 64
    input: Fixed = DEFAULT_IN
    out: Fixed = DEFAULT_OUT
    eps: float = 1e-5
    affine: bool = False
    gamma_fmt: Fixed = DEFAULT_GAMMA
    beta_fmt: Fixed = DEFAULT_BETA
    rsqrt: str = "auto"
    row_buffers: int = 2
    params: Path | None = None
    gamma: tuple | None = None
    beta: tuple | None = None
    fit: FitOptions = field(default_factory=FitOptions)
    #: ff (row buffers), none (two passes; name suffix _2pass) or sram (_sram); written only when not ff
    row_store: str = "ff"
    #: LANES=P: P elements per transfer (row store none or sram only; name _l<P>, written only when not 1)
    lanes: int = 1
    kind = "layernorm"
    op = "layernorm"

    def __post_init__(self):
        _check_int(self.entries, "entries", 1, MAX_ENTRIES)
        _check_int(self.row_len, "--row", *ROW_RANGE)
        _check_int(self.row_buffers, "--row-buffers", 1, 2)
        _check_store(self.row_store, self.row_buffers)
        if check_lanes(self.lanes) != 1 and self.row_store == "ff":
            raise ConfigError(f"--lanes {self.lanes} needs --row-store none or sram (the flip-flop buffered unit "
                              "has one lane)")
        _check_choice(self.rsqrt, "--ln-rsqrt", RSQRT_FORMATS)
        if not (isinstance(self.eps, (int, float)) and 0 <= self.eps < 1):
            raise ConfigError(f"--ln-eps {self.eps!r} is out of range: use 0 <= eps < 1")
        object.__setattr__(self, "eps", float(self.eps))
        for what, f in (("--ln-in", self.input), ("--ln-out", self.out), ("--ln-gamma", self.gamma_fmt),
                        ("--ln-beta", self.beta_fmt)):
            if not isinstance(f, Fixed):
                raise ConfigError(f"{what}: not a format")
        _rowwise_fit(self.fit, "layernorm")
        if self.params is not None:
            object.__setattr__(self, "affine", True)
            g, b = read_params(self.params, self.row_len, self.gamma_fmt, self.beta_fmt)
            object.__setattr__(self, "gamma", g)
            object.__setattr__(self, "beta", b)
        if not self.affine and (self.gamma_fmt != DEFAULT_GAMMA or self.beta_fmt != DEFAULT_BETA):
            raise ConfigError("--ln-gamma/--ln-beta need --ln-affine (or --ln-params)")
        if self.affine and self.gamma is None:
            object.__setattr__(self, "gamma", (1 << self.gamma_fmt.frac,) * self.row_len
                               if 0 <= self.gamma_fmt.frac < self.gamma_fmt.bits - 1 else
                               _quantize([1.0] * self.row_len, self.gamma_fmt, "gamma", self.row_len))
            object.__setattr__(self, "beta", (0,) * self.row_len)
        if self.affine:
            for what, codes, f in (("gamma", self.gamma, self.gamma_fmt), ("beta", self.beta, self.beta_fmt)):
                if len(codes) != self.row_len or not all(f.fits(int(c)) for c in codes):
                    raise ConfigError(f"{what}: need {self.row_len} codes of {f.label()}")
            object.__setattr__(self, "gamma", tuple(int(c) for c in self.gamma))
            object.__setattr__(self, "beta", tuple(int(c) for c in self.beta))
        f_r = RSQRT_OUT_FRAC + (8 if self.rsqrt_format == "int16" else 0)
        if self.out.frac >= f_r:
            raise ConfigError(f"--ln-out {self.out.label()}: the {self.rsqrt_format} rsqrt table has {f_r} "
                              f"fractional bits, the output needs fewer (at most {f_r - 1})")
        if self.affine and self.beta_fmt.frac > self.out.frac:
            raise ConfigError(f"--ln-beta {self.beta_fmt.label()} is finer than the output {self.out.label()}: "
                              f"use at most {self.out.frac} fractional bits")

    @property
    def rsqrt_format(self) -> str:
        if self.rsqrt == "auto":
            return "int16" if self.out.bits > 8 else "int8"
        return self.rsqrt

    @property
    def default_params(self) -> bool:
        one = 1 << self.gamma_fmt.frac if self.gamma_fmt.frac >= 0 else None
        return all(g == one for g in self.gamma) and not any(self.beta)

    @property
    def name(self) -> str:
        name = f"{self.op}_{self.rsqrt_format}_e{self.entries}{self.fit.variant_tag()}"
        if self.row_len != 64:
            name += f"_n{self.row_len}"
        if self.input != DEFAULT_IN:
            name += f"_i{_fmt_tag(self.input)}"
        if self.out != DEFAULT_OUT:
            name += f"_o{_fmt_tag(self.out)}"
        if self.eps != 1e-5:
            name += "_eps" + f"{self.eps:g}".replace("-", "m").replace("+", "").replace(".", "p")
        if self.affine:
            name += "_aff"
            if self.gamma_fmt != DEFAULT_GAMMA:
                name += f"_g{_fmt_tag(self.gamma_fmt)}"
            if self.beta_fmt != DEFAULT_BETA:
                name += f"_b{_fmt_tag(self.beta_fmt)}"
            if not self.default_params:
                name += "_p" + hashlib.sha256(json.dumps([list(self.gamma), list(self.beta)]).encode()
                                              ).hexdigest()[:8]
        return (name + ("" if self.row_buffers == 2 else f"_b{self.row_buffers}") + _store_suffix(self.row_store, 2)
                + ("" if self.lanes == 1 else f"_l{self.lanes}"))

    def model(self, tabs: dict):
        """The golden model of this unit, from its fitted table."""
        from hw.rowwise import model_class
        kw = {}
        if self.affine:
            kw = {"gamma": self.gamma, "beta": self.beta, "gamma_fmt": self.gamma_fmt, "beta_fmt": self.beta_fmt}
        return model_class(self.op)(tabs["rsqrt"], row_len=self.row_len, input=self.input, out=self.out,
                                    eps=self.eps, **kw)

    #: the file beside a unit (and in its package) holding its gamma/beta
    PARAMS_FILE = "ln_params.json"

    def make_vars(self, params_as: str | None = None):
        pairs = [("OP", self.op)]
        for var, v, d in (("ENTRIES", self.entries, 8), ("ROW", self.row_len, 64),
                          ("LN_IN", self.input.label(), DEFAULT_IN.label()),
                          ("LN_OUT", self.out.label(), DEFAULT_OUT.label()), ("LN_EPS", _num(self.eps), _num(1e-5)),
                          ("LN_RSQRT", self.rsqrt, "auto"), ("ROW_BUFFERS", self.row_buffers, 2),
                          ("ROW_STORE", self.row_store, "ff"), ("LANES", self.lanes, 1)):
            if v != d:
                pairs.append((var, str(v)))
        if self.affine:
            pairs.append(("LN_AFFINE", "1"))
            if self.gamma_fmt != DEFAULT_GAMMA:
                pairs.append(("LN_GAMMA", self.gamma_fmt.label()))
            if self.beta_fmt != DEFAULT_BETA:
                pairs.append(("LN_BETA", self.beta_fmt.label()))
            if not self.default_params:
                pairs.append(("LN_PARAMS", params_as or self.PARAMS_FILE))
        return pairs + _fit_make(self.fit)

    def cli_args(self):
        a = [self.op, "--entries", str(self.entries), "--row", str(self.row_len), "--ln-in",
             self.input.label(), "--ln-out", self.out.label(), "--ln-eps", _num(self.eps), "--ln-rsqrt",
             self.rsqrt, "--row-buffers", str(self.row_buffers), "--seed", str(self.fit.seed)]
        if self.row_store != "ff":
            a += ["--row-store", self.row_store]
        if self.lanes != 1:
            a += ["--lanes", str(self.lanes)]
        if self.affine:
            a += ["--ln-affine", "--ln-gamma", self.gamma_fmt.label(), "--ln-beta", self.beta_fmt.label()]
            if not self.default_params:
                a += ["--ln-params", self.PARAMS_FILE]
        return a + self.fit.args()

    def params_json(self) -> str:
        """gamma/beta as real values that read back to exactly these codes."""
        g = [c * 2.0 ** -self.gamma_fmt.frac for c in self.gamma]
        b = [c * 2.0 ** -self.beta_fmt.frac for c in self.beta]
        return json.dumps({"gamma": g, "beta": b}) + "\n"

    def request(self) -> dict:
        d = super().request()
        d["params"] = self.PARAMS_FILE if self.affine and not self.default_params else None
        if self.row_store == "ff":          # requests of ff units stay as they were
            del d["row_store"]
        if self.lanes == 1:                 # and so do those of one-lane units
            del d["lanes"]
        return d


@dataclass(frozen=True)
class RMSNorm(LayerNorm):
    """Row-wise RMSNorm: :class:`LayerNorm`'s options and arithmetic without
    the mean, and gamma only (no beta: ``--ln-beta`` and beta values are refused)."""
    kind = "rmsnorm"
    op = "rmsnorm"

    def __post_init__(self):
        if self.beta_fmt != DEFAULT_BETA:
            raise ConfigError("--ln-beta does not apply to rmsnorm: y = sat(round(x / rms(x) * gamma)), no beta")
        super().__post_init__()
        if self.affine and any(self.beta):
            raise ConfigError("rmsnorm has no beta: give gamma only in --ln-params")


# -- a table the user wrote ---------------------------------------------------

@dataclass(frozen=True)
class SpecUnit(UnitConfig):
    """A unit built from the user's own spec file. It is named after the
    spec's content (``_u`` + six hex digits), so it never lands in a fit
    cache and two different tables never share a directory. ``lanes`` as
    for :class:`Elementwise` (written only when not 1)."""
    spec: Path
    stages: int = 1
    lut: str = "rom"
    ftz: bool = False
    digest: str = ""
    op: str = ""
    format: str = ""
    entries: int = 0
    lanes: int = 1
    kind = "spec"
    #: the spec's file name beside the unit and in its package
    SPEC_FILE = "spec.json"

    def __post_init__(self):
        from hw.spec import Spec
        _check_int(self.stages, "stages", 0, MAX_STAGES)
        _check_choice(self.lut, "lut", LUTS)
        check_lanes(self.lanes)
        s = Spec.load(self.spec)
        if self.ftz and not s.is_fp32:
            raise ConfigError(f"FTZ=1 applies to fp32 units only (the spec is {s.format_name})")
        object.__setattr__(self, "digest", table_digest(s))
        object.__setattr__(self, "op", s.op)
        object.__setattr__(self, "format", s.format_name)
        object.__setattr__(self, "entries", s.entries)

    def load(self):
        from hw.spec import Spec
        return Spec.load(self.spec)

    @property
    def name(self) -> str:
        name = f"{self.op}_{self.format}_e{self.entries}_u{self.digest[:6]}"
        if self.lanes != 1:
            name += f"_l{self.lanes}"
        if self.stages != 1:
            name += f"_s{self.stages}"
        if self.lut != "rom":
            name += f"_{self.lut}"
        return name + ("_ftz" if self.ftz else "")

    def make_vars(self, **_):
        pairs = [("SPEC", self.SPEC_FILE)]
        if self.stages != 1:
            pairs.append(("STAGES", str(self.stages)))
        if self.lut != "rom":
            pairs.append(("LUT", self.lut))
        if self.lanes != 1:
            pairs.append(("LANES", str(self.lanes)))
        return pairs + ([("FTZ", "1")] if self.ftz else [])

    def cli_args(self):
        return ["--spec", self.SPEC_FILE, "--stages", str(self.stages), "--lut", self.lut,
                "--ftz", str(int(self.ftz))] + (["--lanes", str(self.lanes)] if self.lanes != 1 else [])

    def request(self) -> dict:
        return {"kind": self.kind, "spec": self.SPEC_FILE, "digest": self.digest, "stages": self.stages,
                "lut": self.lut, "ftz": self.ftz, **({"lanes": self.lanes} if self.lanes != 1 else {})}


def table_digest(spec) -> str:
    """sha256 of what defines a table (everything but the ``fit`` record)."""
    doc = json.loads(spec.dumps())
    doc.pop("fit", None)
    return _hash(doc)


KINDS = {"elementwise": Elementwise, "softmax": Softmax, "layernorm": LayerNorm, "rmsnorm": RMSNorm,
         "spec": SpecUnit}


def from_request(req: dict, unit_dir: Path | None = None) -> UnitConfig:
    """The configuration a manifest's ``request`` describes; files it names
    (a user's spec, gamma/beta) are read from ``unit_dir``."""
    kind = req.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"request kind {kind!r} is not one of {', '.join(KINDS)}")
    cls = KINDS[kind]
    if kind == "spec":
        return SpecUnit(Path(unit_dir or ".") / req["spec"], req["stages"], req["lut"], req["ftz"],
                        lanes=req.get("lanes", 1))
    kw = {}
    for f in fields(cls):
        if f.name not in req or f.name in ("gamma", "beta"):
            continue
        v = req[f.name]
        if f.name == "fit":
            v = FitOptions.from_request(v)
        elif f.name in ("input", "out", "gamma_fmt", "beta_fmt"):
            v = parse_fixed(v, f.name)
        elif f.name == "params":
            v = None if v is None else Path(unit_dir or ".") / v
        kw[f.name] = v
    return cls(**kw)
