"""A unit's configuration: one frozen object per unit kind, validated once.

Everything that names a unit or says how to rebuild it comes from here and
nowhere else: its name (build directory and ``gqa_<name>`` module), its
``make gen`` line, its ``gqa-lut gen`` arguments and the ``request`` stored
in its manifest. :func:`from_request` turns a manifest's request back into
the configuration, so a build directory alone says how to rebuild it.

Each kind declares its options once, in its ``PARAMS`` table
(:class:`flow.params.Param`: field, default, check, name part, make
variable, flag, help); its dataclass fields, its checks, its make line,
its request and the command line's flags (:mod:`flow.cli`) all come from
that table. Kinds: :class:`Elementwise` (one op, one table, any format),
:class:`Softmax`, :class:`LayerNorm`, :class:`RMSNorm` (row-wise, one per
op in :data:`ROW_KINDS`) and :class:`SpecUnit` (a table the user wrote).
Cross-option rules live in each kind's ``check``, which raises
:class:`ConfigError` with one line naming the option and the fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from fitter import functions
from fitter.fit import WIDEN
from flow.params import (ConfigError, Param, check_choice, check_int, choice, fixed, fixed_parser, ints,
                         number_text, one_line, parse_bit, parse_float, parse_int)
from hw.fixed import Fixed
from fitter.poly import FOLDS as POLY_FOLDS
from hw.poly.model import DEGREES as POLY_DEGREES
from hw.layernorm.model import DEFAULT_BETA, DEFAULT_GAMMA, DEFAULT_IN, DEFAULT_OUT
from hw.pwl_common import LANES, LUT_MODES as LUTS, MAX_STAGES
from hw.rowbuf import ROW_BUFFERS
from hw.spec import IMPLS, MAX_ENTRIES, MAX_TABLE_BITS
from synth.sdc import CLOCK_RANGE

__all__ = ["ConfigError", "one_line", "Elementwise", "Softmax", "LayerNorm", "RMSNorm", "SpecUnit", "FitOptions",
           "UnitConfig", "from_request", "parse_fixed", "KINDS", "ROW_KINDS", "ROWWISE"]

FORMATS = ("int8", "int10", "int12", "int16", "int32", "fp32")
#: IMPLS (hw/spec.py): element-wise implementations (hw/impls.py), pwl (comparator bank, the
#: default), table (direct lookup of every input code, at most MAX_TABLE_BITS input bits),
#: uniform (2^k equal segments addressed by the input's top bits), poly (segment-local lines).
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
#: where a row-wise unit keeps a row: ff, flip-flop row buffers (ROW_BUFFERS=1|2); none, no store:
#: the caller streams every row two (layernorm, rmsnorm) or three (softmax) times (DESIGN.md
#: "Multi-pass row protocol"); sram, the row in the chip's SRAM macro, replayed by the unit (DESIGN.md
#: "SRAM row store")
ROW_STORES = ("ff", "none", "sram")
ROW_RANGE = (2, 4096)
RSQRT_FORMATS = ("auto", "int8", "int16")
#: fractional bits of the layernorm rsqrt table's output at int8 (+8 at int16)
RSQRT_OUT_FRAC = 8


def check_lanes(v) -> int:
    """``v`` if it is a lane count (:data:`LANES`), else a one-line ConfigError."""
    use = ", ".join(map(str, LANES[:-1])) + f" or {LANES[-1]}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"lanes {v!r} is not an integer: use {use}")
    if v not in LANES:
        raise ConfigError(f"lanes {v} is not a lane count: use {use} (lanes on one table, a power of two)")
    return v


def parse_fixed(v: str, what: str, max_bits: int = 16) -> Fixed:
    """``s16.8`` -> a signed 16-bit format with 8 fractional bits (:func:`flow.params.fixed_parser`)."""
    return fixed_parser(what, max_bits)(v)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def declared(cls):
    """A frozen dataclass whose fields, in order, are ``cls.PARAMS``."""
    ann = dict(cls.__dict__.get("__annotations__", {}))
    for p in cls.PARAMS:
        ann[p.name] = "object"
        setattr(cls, p.name, p.default)       # every default is immutable (frozen FitOptions, Fixed, tuples)
    cls.__annotations__ = ann
    cls.PARAM = {p.name: p for p in cls.PARAMS}
    return dataclass(frozen=True)(cls)


class Declared:
    """Checks every declared parameter (its own check, in table order), then
    the kind's cross-option rules (:meth:`check`)."""
    PARAMS: tuple = ()
    PARAM: dict = {}

    def __post_init__(self):
        for p in self.PARAMS:
            object.__setattr__(self, p.name, p.check(getattr(self, p.name)))
        self.check()

    def check(self) -> None:
        """Rules between options (none by default)."""

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    def changed(self, name: str) -> bool:
        return self.PARAM[name].changed(getattr(self, name))

    def part(self, *names: str) -> str:
        """The name parts of these parameters (each empty at its default)."""
        return "".join(self.PARAM[n].name_part(getattr(self, n)) for n in names)


# -- fit options -----------------------------------------------------------------

def _fmt_opt(name: str, what: str, lo: int, hi: int, kind: str) -> Param:
    flag = "--" + name.replace("_", "-")
    return Param(name, None, f"{what} {kind} at int8, {lo}..{hi} (default: the op's)", flag=flag,
                 check=lambda v, f=flag: v if v is None else check_int(v, f, lo, hi),
                 parse=parse_int(flag))


def _check_range(r):
    if r is None:
        return None
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ConfigError(f"--range {r!r}: need two numbers LO HI") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and abs(lo) <= 1e6 and abs(hi) <= 1e6):
        raise ConfigError(f"--range {lo:g} {hi:g}: use finite bounds within +-1e6")
    if not lo < hi:
        raise ConfigError(f"--range {lo:g} {hi:g} is empty: need LO < HI")
    return (lo, hi)


def _parse_range(v: str) -> tuple:
    parts = str(v).replace(",", " ").split()
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise ConfigError(f"--range '{v}': need two numbers LO HI") from None
    return lo, hi


def _check_bound(b):
    if b is None:
        return None
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not (0 < b <= 1e6):
        raise ConfigError(f"--max-err-lsb {b!r} is out of range: use a bound in output LSB, 0 < B <= 1e6")
    return float(b)


def _check_prob(p):
    if p is not None and not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= p <= 1.0):
        raise ConfigError(f"--round-prob {p!r} is out of range: use 0..1")
    return p


#: the options that set a format of the table (at int8)
FORMAT_OPTS = ("in_bits", "in_frac", "out_bits", "out_frac", "slope_frac", "intercept_frac", "slope_bits",
               "intercept_bits")
#: options a row-wise unit passes to its tables (their formats are the unit's own)
ROWWISE_FIT_OPTS = ("seed", "method", "rule", "population", "generations", "round_prob")
#: the options of the GA search (refused with a bound: the bound's search is exact)
SEARCH_OPTS = ("seed", "method", "objective", "rule", "population", "generations", "round_prob")


@declared
class FitOptions(Declared):
    """How a table is searched; the defaults are the paper's GA."""
    PARAMS = (
        ints("seed", 0, 0, 2**32 - 1, flag="--seed", make="SEED",
             help="random seed; same seed, same table", brief="random seed of the GA"),
        choice("method", "ga", METHODS, flag="--method", make="METHOD",
               help="ga: the GQA-LUT genetic search; uniform: evenly spaced breakpoints; exact: optimal "
                    "segmentation by dynamic programming over the input codes (inputs up to 9 bits; fitter/exact.py)", brief="how the table is searched"),
        Param("range", None, "fitting range in x units, two numbers (default: the op's, see `gqa-lut ops`)",
              check=_check_range, parse=_parse_range, flag="--range", metavar="LO HI",
              text=lambda r: " ".join(number_text(x) for x in r), to_json=lambda r: None if r is None else list(r),
              from_json=lambda r: None if r is None else tuple(r)),
        choice("objective", "hw", OBJECTIVES, flag="--objective",
               help="hw: mse_hw through the golden model; fp: mse_fp, the reference code's protocol; rel: mse_hw "
                    "weighted by 1/f(x)^2 (relative error); maxerr: the largest error"),
        choice("rule", "auto", RULES, flag="--rule",
               help="slope/intercept per segment: least squares, the paper's chord, or auto = the better of the two"),
        ints("population", 50, 2, 100000, flag="--population", help="GA population"),
        ints("generations", 500, 0, 10**7, flag="--generations", help="GA generations"),
        Param("round_prob", None, "rounding-mutation probability 0..1 (default: paper Table 1, 0.05, or 0 for "
              "reciprocal/rsqrt)", check=_check_prob, parse=parse_float("--round-prob"), flag="--round-prob"),
        _fmt_opt("in_bits", "input", 2, 32, "width"), _fmt_opt("in_frac", "input", -32, 32, "fractional bits"),
        _fmt_opt("out_bits", "output", 2, 32, "width"), _fmt_opt("out_frac", "output", -32, 32, "fractional bits"),
        _fmt_opt("slope_frac", "slope", -32, 32, "fractional bits"),
        _fmt_opt("intercept_frac", "intercept", -32, 32, "fractional bits"),
        _fmt_opt("slope_bits", "slope", 2, 32, "width"), _fmt_opt("intercept_bits", "intercept", 2, 32, "width"),
        #: a bound instead of a size: the fewest entries whose table meets it (fitter/minimal.py)
        Param("max_err_lsb", None, "instead of --entries: the fewest entries (pwl or uniform) whose table meets max "
              "error <= B output LSB on every code, certified by the golden model (exact minimax search, "
              "fitter/minimal.py); the unit is named _m<B>", check=_check_bound,
              parse=parse_float("--max-err-lsb"), flag="--max-err-lsb", make="MAX_ERR_LSB", metavar="B", sparse=True, brief="the fewest entries/segments within B output LSB"),
    )

    def check(self):
        if self.max_err_lsb is not None:
            searched = [k for k in SEARCH_OPTS if self.changed(k)]
            if searched:
                raise ConfigError(f"--{searched[0].replace('_', '-')} does not apply with --max-err-lsb: the "
                                  "fewest entries are found by the exact minimax search (fitter/minimal.py)")

    def request(self) -> dict:
        return {p.name: p.to_json(getattr(self, p.name)) for p in self.PARAMS
                if not (p.sparse and not self.changed(p.name))}

    def changed_options(self) -> dict:
        """The options away from their defaults, as the request writes them."""
        return {k: v for k, v in self.request().items() if self.changed(k)}

    def variant_tag(self) -> str:
        """``""`` with every option at its default, else ``_v`` + six hex digits
        of a hash of the changed options: variants never share a directory.
        (A bound is in the unit's name instead, ``_m<B>``.)"""
        diff = {k: v for k, v in self.changed_options().items() if k != "max_err_lsb"}
        return "" if not diff else "_v" + _hash(diff)[:6]

    def args(self, skip=("seed",)) -> list[str]:
        """The changed options as ``gqa-lut gen`` arguments."""
        out = []
        for k in self.changed_options():
            if k in skip:
                continue
            v, p = getattr(self, k), self.PARAM[k]
            out += [p.flag, *(number_text(x) for x in v)] if k == "range" else [p.flag, str(v)]
        return out

    @classmethod
    def from_request(cls, req: dict) -> "FitOptions":
        return cls(**{p.name: p.from_json(req[p.name]) for p in cls.PARAMS if p.name in req})


#: every fit option and its default, in the order of the spec's ``fit.request``
FIT_DEFAULTS = {p.name: p.default for p in FitOptions.PARAMS}


def _make_line(target: str, pairs: list[tuple[str, str]]) -> str:
    return " ".join(["make", target] + [f"{k}={shlex.quote(str(v))}" for k, v in pairs])


def _fit_make(fit: FitOptions, skip=("seed",)) -> list[tuple[str, str]]:
    pairs = [("SEED", str(fit.seed))] if fit.seed != 0 else []
    rest = fit.args(skip)
    return pairs + ([("FITARGS", shlex.join(rest))] if rest else [])


def _fit_param(help: str) -> Param:
    """A kind's ``fit`` field: the fit options (their flags are FitOptions' own)."""
    return Param("fit", FitOptions(), help, check=lambda f: f if isinstance(f, FitOptions) else FitOptions(**f),
                 to_json=lambda f: f.request(), from_json=FitOptions.from_request)


class UnitConfig(Declared):
    """What every kind offers (see the module docstring). ``MAKE`` lists the
    parameters in make-line order (each written when away from its default)."""
    kind = ""
    MAKE: tuple = ()

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def top(self) -> str:
        return "gqa_" + self.name

    def directory(self, build) -> Path:
        return Path(build) / self.name

    def make_vars(self, **kw) -> list[tuple[str, str]]:
        pairs = [("OP", self.op)]
        for n in self.MAKE:
            p, v = self.PARAM[n], getattr(self, n)
            if p.changed(v) and v is not None:
                pairs.append((p.make, "1" if v is True else p.text(v)))
        return pairs + _fit_make(self.fit)

    def make_line(self, target: str = "gen", **kw) -> str:
        """The one ``make`` line that rebuilds this unit (add ``BUILD=dir``);
        ``params_as``: the path a layernorm's gamma/beta file is given by."""
        return _make_line(target, self.make_vars(**kw))

    def cli_args(self) -> list[str]:
        """``gqa-lut gen`` arguments that rebuild this unit: every option away from its default."""
        out = [self.op]
        for p in self.PARAMS:
            v = getattr(self, p.name)
            if p.name == "fit":
                out += (["--seed", str(v.seed)] if v.seed else []) + v.args()
            elif p.flag and p.changed(v) and v is not None:
                out += [p.flag] if p.switch else [p.flag, p.text(v)]
        return out

    def request(self) -> dict:
        """The manifest's ``request``: every field, enough to rebuild (a
        ``sparse`` field only away from its default, so requests written
        before it existed stay as they were)."""
        d = {"kind": self.kind}
        for p in self.PARAMS:
            v = getattr(self, p.name)
            if not (p.sparse and not p.changed(v)):
                d[p.name] = p.to_json(v)
        return d

    @classmethod
    def from_request(cls, req: dict, unit_dir: Path | None = None) -> "UnitConfig":
        return cls(**{p.name: p.from_json(req[p.name]) for p in cls.PARAMS if p.name in req})


# -- element-wise ----------------------------------------------------------------

def _check_op(op):
    if op not in functions.FUNCTIONS:
        raise ConfigError(str(functions.UnknownOp(op, list(functions.FUNCTIONS) + list(ROWWISE))))
    return op


def _check_bit(name: str):
    def check(v):
        if not isinstance(v, bool):
            raise ConfigError(f"{name} {v!r}: use 0 or 1")
        return v
    return check


def _check_stages(v):
    return v if v is None else check_int(v, "stages", 0, MAX_STAGES)


def _check_clock(v):
    return v if v is None else check_int(v, "CLOCK_MHZ", *CLOCK_RANGE, " (the target clock in MHz)")


def _lanes_param(help: str, **kw) -> Param:
    return Param("lanes", 1, help, brief="elements per clock", check=check_lanes, parse=parse_int("--lanes"), make="LANES", flag="--lanes",
                 listed=True, suffix=lambda n: f"_l{n}", sparse=True, **kw)


def _entries_param() -> Param:
    return ints("entries", 8, 1, MAX_ENTRIES, what="entries", make="ENTRIES", flag="--entries", listed=True,
                help="table entries", brief="table entries (segments)")


@declared
class Elementwise(UnitConfig):
    """One element-wise op: ``y = f(x)`` through one table.

    ``impl`` (:data:`IMPLS`, ``hw/impls.py``) picks the unit: ``pwl`` (the
    default; a pwl unit's name, make line and request are exactly what they
    were before impl existed: ``impl`` is written only when it is not pwl),
    ``uniform`` (``entries`` = 2^k equal segments, integer formats),
    ``table`` (one correctly rounded output per input code, integer formats
    of at most 12 input bits: the unit is ``<op>_<format>_table``) or
    ``poly`` (segment-local lines, the fewest segments within the bound).
    Fit options that mean nothing to an impl are refused
    (:data:`IMPL_FIT_OPTS`).

    ``lanes`` (``LANES=P``): P inputs and P results per clock on one table
    (name ``_l<P>`` after the table's part). ``clock_mhz`` (``CLOCK_MHZ=F``):
    the unit is sold at clock F; ``stages`` is then chosen when the unit is
    built (:mod:`flow.clock`), so it is ``None`` in the configuration and an
    explicit STAGES is refused (name ``_c<F>`` where ``_s<S>`` would be)."""
    PARAMS = (
        Param("op", None, "element-wise op", check=_check_op),
        choice("format", "int8", FORMATS, make="FORMAT", flag="--format", listed=True,
               help="int8, int10, int12, int16, int32 (2, 4, 8 or 24 more fractional bits, int8 breakpoints) or "
                    "fp32 (binary32 lines on the int8 breakpoints)", brief="input/output width"),
        _entries_param(),
        Param("stages", 1, f"pipeline registers 0..{MAX_STAGES} (latency in clocks; 0: combinational)",
              check=_check_stages, parse=parse_int("--stages"), make="STAGES", flag="--stages", listed=True,
              bounds=(0, MAX_STAGES), brief="pipeline registers = latency in clocks"),
        choice("lut", "rom", LUTS, make="LUT", flag="--lut", listed=True,
               help="rom: constants; regs: registers written through cfg_*", brief="table in constants or in cfg-written registers"),
        Param("ftz", False, "fp32 only: 1 = flush subnormals to zero", check=_check_bit("ftz"), parse=parse_bit("ftz"),
              make="FTZ", flag="--ftz", listed=True, suffix=lambda v: "_ftz", text=lambda v: str(int(v)), brief="fp32: flush subnormals to zero"),
        _fit_param("how the table is fitted"),
        choice("impl", "pwl", IMPLS, make="IMPL", flag="--impl", listed=True, sparse=True,
               help="pwl: the GQA-LUT comparator bank; uniform: 2^k equal segments addressed by the input's top bits "
                    "(--entries a power of two; name <op>_<format>_e<N>_uniform); table: direct lookup of every "
                    "input code, correctly rounded (int8, int10, int12 only; name <op>_<format>_table); poly: "
                    "segment-local lines, the fewest segments within MAX_ERR_LSB (default 1; up to 16 bits; name "
                    "<op>_<format>_m1_poly). Search options (--seed, --population, ...) apply to pwl only", brief="the implementation (make dse compares them)"),
        _lanes_param("P = 1, 2, 4, 8, 16 or 32 inputs and results per clock on one table, flat vector ports "
                     "(lane i in x[i*w +: w], y[i*w +: w]; name suffix _l<P>)"),
        choice("degree", 1, POLY_DEGREES, make="DEGREE", flag="--degree", sparse=True, listed=True,
               parse=parse_int("--degree"),
               suffix=lambda d: f"_d{d}",
               brief="impl poly: degree of each segment's polynomial",
               help="impl poly: 1, a line per segment, or 2, a parabola in Horner's form (DESIGN.md \"Segment-local "
                    "polynomial semantics\"; name suffix _d2)"),
        Param("fold", False, f"impl poly: 1 = store the non-negative half only, the negative through the op's "
              f"symmetry ({', '.join(POLY_FOLDS)}; DESIGN.md \"Symmetry folding\"; name suffix _fold)",
              check=_check_bit("fold"), parse=parse_bit("fold"), make="FOLD", flag="--fold", listed=True, sparse=True,
              suffix=lambda v: "_fold", text=lambda v: str(int(v)), brief="impl poly: symmetry folding (half the table)"),
        Param("clock_mhz", None, "element-wise units: the target clock, integer MHz (name suffix _c<F>): the unit is "
              f"synthesized and timed by OpenSTA at 1000/F ns at STAGES 1..{MAX_STAGES} and the least area that "
              "meets F is built; if none does, an error names the best fmax. Not with --stages",
              check=_check_clock, parse=parse_int("--clock-mhz"), make="CLOCK_MHZ", flag="--clock-mhz", metavar="F",
              suffix=lambda f: f"_c{f}", sparse=True, bounds=CLOCK_RANGE, brief="sell the unit at this clock: STAGES chosen by OpenSTA"),
    )
    MAKE = ("impl", "degree", "fold", "format", "entries", "stages", "lut", "lanes", "clock_mhz", "ftz")
    kind = "elementwise"

    def check(self):
        if self.clock_mhz is not None:
            if self.stages not in (None, 1):
                raise ConfigError(f"STAGES={self.stages} and CLOCK_MHZ={self.clock_mhz} both set the pipelining: "
                                  "give one (with CLOCK_MHZ the STAGES that meets it with the least area is chosen)")
            self._set("stages", None)        # chosen when the unit is built (flow/clock.py)
        elif self.stages is None:
            raise ConfigError(f"stages None is not an integer: use 0..{MAX_STAGES}")
        if self.ftz and self.format != "fp32":
            raise ConfigError(f"FTZ=1 applies to fp32 units only (FORMAT={self.format})")
        if self.format == "fp32" and any(getattr(self.fit, k) is not None for k in FORMAT_OPTS):
            raise ConfigError("format options (--in-frac, ...) do not apply to fp32 units")
        if self.impl != "poly" and self.changed("degree"):
            raise ConfigError(f"DEGREE={self.degree} applies to impl poly (IMPL=poly), not {self.impl}")
        if self.fold and self.impl != "poly":
            raise ConfigError(f"FOLD=1 applies to impl poly (IMPL=poly), not {self.impl}")
        if self.fold and self.op not in POLY_FOLDS:
            raise ConfigError(f"FOLD=1: no symmetry known for {self.op} (FOLD applies to {', '.join(POLY_FOLDS)})")
        if self.impl != "pwl":
            self._check_impl()
        if self.fit.max_err_lsb is not None:
            if self.impl == "table" or self.format == "fp32":
                raise ConfigError("--max-err-lsb applies to pwl and uniform units of an integer format (a table "
                                  "is correctly rounded already)")
            if self.changed("entries"):
                raise ConfigError(f"ENTRIES={self.entries} does not apply with --max-err-lsb: the search finds the "
                                  "fewest entries; leave ENTRIES at its default")

    def _in_bits(self) -> int:
        return (self.fit.in_bits or functions.get(self.op).input.bits) + WIDEN[self.format]

    def _check_impl(self) -> None:
        impl = self.impl
        if self.format == "fp32":
            raise ConfigError(f"impl {impl} needs an integer format (FORMAT=fp32 is pwl only)")
        bad = [k for k in self.fit.changed_options() if k not in IMPL_FIT_OPTS[impl]]
        if bad:
            why = {"table": "nothing is searched: every value is the function correctly rounded",
                   "poly": "its fit finds the fewest segments and the narrowest coefficient formats within "
                           "--max-err-lsb"}.get(impl, "its segments are fixed, 2^k equal ones; --method exact, "
                                                      "--rule and --objective choose the lines")
            raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to impl {impl} ({why})")
        if impl == "poly":
            if self.changed("entries"):
                raise ConfigError(f"ENTRIES={self.entries} does not apply to impl poly: its fit finds the fewest "
                                  "segments within MAX_ERR_LSB (default 1); leave ENTRIES at its default")
            if self._in_bits() > POLY_MAX_BITS:
                raise ConfigError(f"impl poly is certified on every input code: at most {POLY_MAX_BITS} input "
                                  f"bits, FORMAT={self.format} gives {self._in_bits()}")
            if self.fit.max_err_lsb == POLY_BOUND:      # the default bound: one unit, one name, one make line
                self._set("fit", replace(self.fit, max_err_lsb=None))
            return
        if impl == "uniform" and self.fit.method == "uniform":
            raise ConfigError("--method uniform does not apply to impl uniform (its segments are equal already; "
                              "--method exact fits the lines by exact search)")
        if impl == "table":
            if self.changed("entries"):
                raise ConfigError(f"ENTRIES={self.entries} does not apply to impl table: it holds one value per "
                                  "input code (2^bits entries); leave ENTRIES at its default")
            if self._in_bits() > MAX_TABLE_BITS:
                given = f"--in-bits {self.fit.in_bits} at " if self.fit.in_bits else ""
                raise ConfigError(f"impl table holds one value per input code: at most {MAX_TABLE_BITS} input bits, "
                                  f"{given}FORMAT={self.format} gives {self._in_bits()}"
                                  + ("" if given else " (use int8, int10 or int12)"))
        elif self.entries < 2 or self.entries & (self.entries - 1):
            raise ConfigError(f"entries {self.entries}: impl uniform needs a power of two, 2..{MAX_ENTRIES} "
                              "(equal segments addressed by the input's top bits)")

    @property
    def variant(self) -> str:
        return self.fit.variant_tag()

    @property
    def table_id(self) -> str:
        """``<op>_<format>_e<N>``, ``<op>_<format>_e<N>_uniform``,
        ``<op>_<format>_m<B>[_poly]`` or ``<op>_<format>_table``: the table,
        before its ``_v`` variant tag."""
        if self.impl == "table":
            return f"{self.op}_{self.format}_table"
        bound = POLY_BOUND if self.impl == "poly" and self.fit.max_err_lsb is None else self.fit.max_err_lsb
        size = f"e{self.entries}" if bound is None else "m" + f"{bound:g}".replace(".", "p").replace("+", "")
        return (f"{self.op}_{self.format}_{size}" + ("" if self.impl == "pwl" else f"_{self.impl}")
                + self.part("degree", "fold"))

    @property
    def name(self) -> str:
        pipe = self.part("clock_mhz") if self.clock_mhz is not None else (
            f"_s{self.stages}" if self.changed("stages") else "")
        return (f"{self.table_id}{self.variant}" + self.part("lanes") + pipe
                + (f"_{self.lut}" if self.changed("lut") else "") + self.part("ftz"))

    def fit_dir(self, build) -> Path:
        """Where the table's fit is cached (shared by stages/lut/lanes variants;
        one per impl, since the impl is in the name)."""
        return Path(build) / f"{self.table_id}{self.variant}"

    def table(self, fmt: str | None = None) -> "Elementwise":
        """The same table at another format (wide tables reuse int8 breakpoints)."""
        d = {n: self.PARAM[n].default for n in ("stages", "lut", "ftz", "lanes", "clock_mhz")}
        return replace(self, format=fmt or self.format, **d)

    def at_stages(self, stages: int) -> "Elementwise":
        """This unit at a fixed STAGES, without a clock target (a candidate of :mod:`flow.clock`)."""
        return replace(self, stages=stages, clock_mhz=None)


# -- row-wise ----------------------------------------------------------------------

def _rowwise_fit(fit: FitOptions, op: str) -> None:
    bad = [k for k in fit.changed_options() if k not in ROWWISE_FIT_OPTS]
    if bad:
        raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to {op}: its tables' ranges and "
                          "formats are the unit's own (fitter/composite.py)")


def _store_param(passes: int) -> Param:
    return choice("row_store", "ff", ROW_STORES, what="--row-store", make="ROW_STORE", flag="--row-store",
                  sparse=True, suffix=lambda s: {"none": f"_{passes}pass", "sram": "_sram"}[s],
                  help="ff: rows in flip-flop buffers (--row-buffers); none: no row store, the caller streams "
                       "every row again for each pass (layernorm and rmsnorm twice: statistics, outputs, suffix "
                       "_2pass; softmax three times: maximum, sum, outputs, suffix _3pass); sram: the row goes into "
                       "the chip's SRAM macro through sram_* ports (one word per element) and the unit replays it "
                       "(the caller streams once; suffix _sram)", brief="where a row is kept: flip-flops, the caller, SRAM")


def _buffers_param() -> Param:
    return ints("row_buffers", 2, ROW_BUFFERS[0], ROW_BUFFERS[-1], brief="flip-flop row buffers (ROW_STORE=ff)", make="ROW_BUFFERS", flag="--row-buffers",
                suffix=lambda b: f"_b{b}", metavar="B",
                help="row buffers (2: the next row loads while one is processed; 1 is smaller and slower, _b1)")


class RowConfig(UnitConfig):
    """What the row-wise kinds share: a row store with row buffers for ff."""

    def extra_files(self) -> dict[str, str]:
        """Files written beside the unit (and packaged) that its make line names: none by default."""
        return {}

    def check(self):
        if self.row_store != "ff" and self.changed("row_buffers"):
            raise ConfigError(f"--row-buffers applies to --row-store ff only (--row-store {self.row_store} keeps no "
                              "flip-flop buffers)")
        _rowwise_fit(self.fit, self.op)


@declared
class Softmax(RowConfig):
    """Row-wise softmax over rows of 1..``row_max`` scores in s8.``in_frac``."""
    PARAMS = (
        _entries_param(),
        ints("row_max", 128, *ROW_RANGE, what="--row", make="ROW", flag="--row", metavar="N",
             suffix=lambda n: f"_r{n}", help="the longest row", brief="the longest row (softmax), the row length (norms)"),
        ints("in_frac", 4, 0, 7, " (scores s8.F)", what="--sm-in-frac", make="SM_IN_FRAC", flag="--sm-in-frac",
             metavar="F", suffix=lambda f: f"_i8f{f}", help="scores s8.F", brief="fractional bits of the s8 scores"),
        _buffers_param(),
        _fit_param("how the tables are fitted"),
        _store_param(3),
        #: one lane only, for now: the field exists so that every row-wise configuration takes LANES alike
        _lanes_param("one lane only (LANES applies to layernorm and rmsnorm)"),
    )
    MAKE = ("entries", "row_max", "in_frac", "row_buffers", "row_store")
    kind = "softmax"
    op = "softmax"

    def check(self):
        if self.lanes != 1:
            raise ConfigError(f"--lanes {self.lanes}: the softmax unit has one lane (LANES applies to layernorm "
                              "and rmsnorm with --row-store none or sram)")
        super().check()

    @property
    def name(self) -> str:
        return (f"softmax_int8_e{self.entries}{self.fit.variant_tag()}"
                + self.part("row_max", "in_frac", "row_buffers", "row_store"))

    def model(self, tabs: dict):
        """The golden model of this unit, from its fitted tables."""
        from hw.rowwise import model_class
        return model_class(self.op)(tabs["exp"], tabs["recip"], row_max=self.row_max)

    def request(self) -> dict:
        d = super().request()
        d.pop("lanes", None)                # always 1
        return d


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


def _check_eps(v):
    if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v < 1):
        raise ConfigError(f"--ln-eps {v!r} is out of range: use 0 <= eps < 1")
    return float(v)


def _eps_tag(e: float) -> str:
    return "_eps" + f"{e:g}".replace("-", "m").replace("+", "").replace(".", "p")


def _codes(v):
    return None if v is None else tuple(int(c) for c in v)


@declared
class LayerNorm(RowConfig):
    """Row-wise layernorm over rows of exactly ``row_len`` elements.

    ``params`` is where the initial gamma/beta were read from (real values);
    ``gamma``/``beta`` are their codes, read and checked at construction when
    ``params`` is given (pass ``gamma``/``beta`` directly to skip the file)."""
    PARAMS = (
        _entries_param(),
        ints("row_len", 64, *ROW_RANGE, what="--row", make="ROW", flag="--row", metavar="N",
             suffix=lambda n: f"_n{n}", help="the row length"),
        fixed("input", DEFAULT_IN, "--ln-in", "LN_IN", "i", "input format, signed 2..16 bits", brief="input format sB.F"),
        fixed("out", DEFAULT_OUT, "--ln-out", "LN_OUT", "o", "output format, signed 2..16 bits, fewer fractional "
              "bits than the rsqrt table's (8 at int8, 16 at int16)", brief="output format sB.F"),
        Param("eps", 1e-5, "eps, 0 <= eps < 1", check=_check_eps, parse=parse_float("--ln-eps"), text=number_text,
              make="LN_EPS", flag="--ln-eps", suffix=_eps_tag, brief="eps added to the variance"),
        Param("affine", False, "per-channel gamma/beta in registers (cfg_*), y = sat(round(z*gamma + beta)); _aff",
              check=bool, parse=parse_bit("LN_AFFINE"), make="LN_AFFINE", flag="--ln-affine", switch=True, brief="per-channel gamma (and beta) in registers"),
        fixed("gamma_fmt", DEFAULT_GAMMA, "--ln-gamma", "LN_GAMMA", "g", "gamma format (with --ln-affine)", brief="gamma format sB.F"),
        fixed("beta_fmt", DEFAULT_BETA, "--ln-beta", "LN_BETA", "b", "beta format (with --ln-affine)", brief="beta format sB.F"),
        choice("rsqrt", "auto", RSQRT_FORMATS, what="--ln-rsqrt", make="LN_RSQRT", flag="--ln-rsqrt",
               help="rsqrt table (auto: int16 when the output is wider than 8 bits)", brief="the rsqrt table's width"),
        _buffers_param(),
        Param("params", None, "initial gamma/beta (implies --ln-affine): JSON {\"gamma\": [...], \"beta\": [...]} "
              "or .npy of shape (2, row), real values; non-default contents add _p<hash>",
              check=lambda v: None if v is None else Path(v), parse=Path, make="LN_PARAMS", flag="--ln-params",
              metavar="FILE", to_json=lambda v: None if v is None else str(v), brief="initial gamma/beta, JSON or .npy"),
        Param("gamma", None, check=_codes, to_json=lambda v: None if v is None else list(v)),
        Param("beta", None, check=_codes, to_json=lambda v: None if v is None else list(v)),
        _fit_param("how the rsqrt table is fitted"),
        _store_param(2),
        _lanes_param("P elements per transfer (in_data, out_data), with --row-store none or sram; name suffix "
                     "_l<P>"),
    )
    MAKE = ("entries", "row_len", "input", "out", "eps", "rsqrt", "row_buffers", "row_store", "lanes")
    kind = "layernorm"
    op = "layernorm"

    def check(self):
        super().check()
        if self.lanes != 1 and self.row_store == "ff":
            raise ConfigError(f"--lanes {self.lanes} needs --row-store none or sram (the flip-flop buffered unit "
                              "has one lane)")
        if self.params is not None:
            self._set("affine", True)
            g, b = read_params(self.params, self.row_len, self.gamma_fmt, self.beta_fmt)
            self._set("gamma", g)
            self._set("beta", b)
        if not self.affine and (self.changed("gamma_fmt") or self.changed("beta_fmt")):
            raise ConfigError("--ln-gamma/--ln-beta need --ln-affine (or --ln-params)")
        if self.affine and self.gamma is None:
            g = self.gamma_fmt
            self._set("gamma", (1 << g.frac,) * self.row_len if 0 <= g.frac < g.bits - 1 else
                      _quantize([1.0] * self.row_len, g, "gamma", self.row_len))
            self._set("beta", (0,) * self.row_len)
        if self.affine:
            for what, codes, f in (("gamma", self.gamma, self.gamma_fmt), ("beta", self.beta, self.beta_fmt)):
                if len(codes) != self.row_len or not all(f.fits(int(c)) for c in codes):
                    raise ConfigError(f"{what}: need {self.row_len} codes of {f.label()}")
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
        name += self.part("row_len", "input", "out", "eps")
        if self.affine:
            name += "_aff" + self.part("gamma_fmt", "beta_fmt")
            if not self.default_params:
                name += "_p" + hashlib.sha256(json.dumps([list(self.gamma), list(self.beta)]).encode()
                                              ).hexdigest()[:8]
        return name + self.part("row_buffers", "row_store", "lanes")

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

    def extra_files(self) -> dict[str, str]:
        """Non-default gamma/beta: the params file its make line names (``LN_PARAMS``)."""
        return {self.PARAMS_FILE: self.params_json()} if self.affine and not self.default_params else {}

    def make_vars(self, params_as: str | None = None):
        pairs = super().make_vars()
        fit = _fit_make(self.fit)
        pairs = pairs[:len(pairs) - len(fit)]
        if self.affine:
            pairs.append(("LN_AFFINE", "1"))
            for n in ("gamma_fmt", "beta_fmt"):
                if self.changed(n):
                    pairs.append((self.PARAM[n].make, getattr(self, n).label()))
            if not self.default_params:
                pairs.append(("LN_PARAMS", params_as or self.PARAMS_FILE))
        return pairs + fit

    def cli_args(self):
        a = [x for x in super().cli_args()]
        if self.affine and not self.default_params:
            i = a.index("--ln-params") if "--ln-params" in a else None
            if i is None:
                a += ["--ln-params", self.PARAMS_FILE]
            else:
                a[i + 1] = self.PARAMS_FILE
        elif "--ln-params" in a:
            i = a.index("--ln-params")
            del a[i:i + 2]
        return a

    def params_json(self) -> str:
        """gamma/beta as real values that read back to exactly these codes."""
        g = [c * 2.0 ** -self.gamma_fmt.frac for c in self.gamma]
        b = [c * 2.0 ** -self.beta_fmt.frac for c in self.beta]
        return json.dumps({"gamma": g, "beta": b}) + "\n"

    def request(self) -> dict:
        d = super().request()
        d["params"] = self.PARAMS_FILE if self.affine and not self.default_params else None
        return d

    @classmethod
    def from_request(cls, req: dict, unit_dir: Path | None = None) -> "LayerNorm":
        req = {k: v for k, v in req.items() if k not in ("gamma", "beta")}
        if req.get("params") is not None:
            req["params"] = str(Path(unit_dir or ".") / req["params"])
        return super().from_request(req, unit_dir)


@declared
class RMSNorm(LayerNorm):
    """Row-wise RMSNorm: :class:`LayerNorm`'s options and arithmetic without
    the mean, and gamma only (no beta: ``--ln-beta`` and beta values are refused)."""
    kind = "rmsnorm"
    op = "rmsnorm"

    def check(self):
        if self.changed("beta_fmt"):
            raise ConfigError("--ln-beta does not apply to rmsnorm: y = sat(round(x / rms(x) * gamma)), no beta")
        super().check()
        if self.affine and any(self.beta):
            raise ConfigError("rmsnorm has no beta: give gamma only in --ln-params")


# -- a table the user wrote ---------------------------------------------------

@declared
class SpecUnit(UnitConfig):
    """A unit built from the user's own spec file. It is named after the
    spec's content (``_u`` + six hex digits), so it never lands in a fit
    cache and two different tables never share a directory. ``stages``,
    ``lut``, ``ftz`` and ``lanes`` are :class:`Elementwise`'s own."""
    PARAMS = (
        Param("spec", None, "your own spec file", check=Path, parse=Path, make="SPEC", flag="--spec",
              metavar="FILE", brief="build from your own spec file"),
        Elementwise.PARAM["stages"], Elementwise.PARAM["lut"], Elementwise.PARAM["ftz"],
        Param("digest", ""), Param("op", ""), Param("format", ""), Param("entries", 0),
        Elementwise.PARAM["lanes"],
    )
    MAKE = ("stages", "lut", "lanes", "ftz")
    kind = "spec"
    #: the spec's file name beside the unit and in its package
    SPEC_FILE = "spec.json"

    def check(self):
        from hw.spec import Spec
        if self.stages is None:
            raise ConfigError(f"stages None is not an integer: use 0..{MAX_STAGES}")
        s = Spec.load(self.spec)
        if self.ftz and not s.is_fp32:
            raise ConfigError(f"FTZ=1 applies to fp32 units only (the spec is {s.format_name})")
        self._set("digest", table_digest(s))
        self._set("op", s.op)
        self._set("format", s.format_name)
        self._set("entries", s.entries)

    def load(self):
        from hw.spec import Spec
        return Spec.load(self.spec)

    @property
    def fit(self) -> FitOptions:
        return FitOptions()

    @property
    def name(self) -> str:
        return (f"{self.op}_{self.format}_e{self.entries}_u{self.digest[:6]}" + self.part("lanes")
                + (f"_s{self.stages}" if self.changed("stages") else "")
                + (f"_{self.lut}" if self.changed("lut") else "") + self.part("ftz"))

    def make_vars(self, **_):
        return [("SPEC", self.SPEC_FILE)] + super().make_vars()[1:]

    def cli_args(self):
        rest = super().cli_args()[1:]
        i = rest.index("--spec")
        return ["--spec", self.SPEC_FILE] + rest[:i] + rest[i + 2:]

    def request(self) -> dict:
        return {"kind": self.kind, "spec": self.SPEC_FILE, "digest": self.digest, "stages": self.stages,
                "lut": self.lut, "ftz": self.ftz, **({"lanes": self.lanes} if self.changed("lanes") else {})}

    @classmethod
    def from_request(cls, req: dict, unit_dir: Path | None = None) -> "SpecUnit":
        return cls(Path(unit_dir or ".") / req["spec"], req["stages"], req["lut"], req["ftz"],
                   lanes=req.get("lanes", 1))


def table_digest(spec) -> str:
    """sha256 of what defines a table (everything but the ``fit`` record)."""
    doc = json.loads(spec.dumps())
    doc.pop("fit", None)
    return _hash(doc)


#: the row-wise ops, one configuration kind each (the element-wise ops are all :class:`Elementwise`)
ROW_KINDS = {"softmax": Softmax, "layernorm": LayerNorm, "rmsnorm": RMSNorm}
ROWWISE = tuple(ROW_KINDS)
KINDS = {"elementwise": Elementwise, **ROW_KINDS, "spec": SpecUnit}


def kind_of(op: str) -> type:
    """The configuration kind that builds ``op``."""
    return ROW_KINDS.get(op, Elementwise)


def from_request(req: dict, unit_dir: Path | None = None) -> UnitConfig:
    """The configuration a manifest's ``request`` describes; files it names
    (a user's spec, gamma/beta) are read from ``unit_dir``."""
    kind = req.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"request kind {kind!r} is not one of {', '.join(KINDS)}")
    return KINDS[kind].from_request(req, unit_dir)
