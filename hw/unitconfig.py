"""What every unit configuration kind is made of (issue 22: one declaration
per parameter).

A kind (:class:`UnitConfig`) is a frozen dataclass whose fields are its
``PARAMS`` table (:class:`hw.params.Param`: field, default, check, name part,
make variable, flag, help); its checks, name parts, make line, ``gqa-lut gen``
arguments and manifest ``request`` all come from that table. Here are the
pieces the kinds share: the fit options of a table (:class:`FitOptions`),
the base of every kind, the base of the row-wise kinds (:class:`RowConfig`,
whose ops declare their own kind in ``hw/<op>/config.py``), and the
parameters several kinds declare alike (entries, lanes, row store, row
buffers). The element-wise and spec-file kinds, and the registry of every
kind, are :mod:`flow.config`.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from hw.fixed import Fixed
from hw.params import ConfigError, Param, check_int, choice, fixed_parser, ints, number_text, parse_float, parse_int
from hw.pwl_common import LANES
from hw.rowbuf import DEFAULT_BUFFERS, ROW_BUFFERS
from hw.spec import MAX_ENTRIES

METHODS = ("ga", "uniform", "exact")
OBJECTIVES = ("hw", "fp", "rel", "maxerr")
RULES = ("auto", "lsq", "chord")
#: where a row-wise unit keeps a row: ff, flip-flop row buffers (ROW_BUFFERS=1|2); none, no store:
#: the caller streams every row twice (DESIGN.md "Multi-pass row protocol"); sram, the row in the
#: chip's SRAM macro, replayed by the unit (DESIGN.md "SRAM row store")
ROW_STORES = ("ff", "none", "sram")
ROW_RANGE = (2, 4096)


def check_lanes(v) -> int:
    """``v`` if it is a lane count (:data:`LANES`), else a one-line ConfigError."""
    use = ", ".join(map(str, LANES[:-1])) + f" or {LANES[-1]}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"lanes {v!r} is not an integer: use {use}")
    if v not in LANES:
        raise ConfigError(f"lanes {v} is not a lane count: use {use} (lanes on one table, a power of two)")
    return v


def parse_fixed(v: str, what: str, max_bits: int = 16) -> Fixed:
    """``s16.8`` -> a signed 16-bit format with 8 fractional bits (:func:`hw.params.fixed_parser`)."""
    return fixed_parser(what, max_bits)(v)


def content_hash(obj) -> str:
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
        return "" if not diff else "_v" + content_hash(diff)[:6]

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


def fit_make(fit: FitOptions, skip=("seed",)) -> list[tuple[str, str]]:
    pairs = [("SEED", str(fit.seed))] if fit.seed != 0 else []
    rest = fit.args(skip)
    return pairs + ([("FITARGS", shlex.join(rest))] if rest else [])


def fit_param(help: str) -> Param:
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
        return pairs + fit_make(self.fit)

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



def lanes_param(help: str, **kw) -> Param:
    return Param("lanes", 1, help, brief="elements per clock", check=check_lanes, parse=parse_int("--lanes"), make="LANES", flag="--lanes",
                 listed=True, suffix=lambda n: f"_l{n}", sparse=True, **kw)


def entries_param() -> Param:
    return ints("entries", 8, 1, MAX_ENTRIES, what="entries", make="ENTRIES", flag="--entries", listed=True,
                help="table entries", brief="table entries (segments)")



# -- row-wise ----------------------------------------------------------------------

def _rowwise_fit(fit: FitOptions, op: str, where: str) -> None:
    bad = [k for k in fit.changed_options() if k not in ROWWISE_FIT_OPTS]
    if bad:
        raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to {op}: its tables' ranges and "
                          f"formats are the unit's own ({where})")


def store_param() -> Param:
    return choice("row_store", "ff", ROW_STORES, what="--row-store", make="ROW_STORE", flag="--row-store",
                  sparse=True, suffix=lambda s: {"none": "_2pass", "sram": "_sram"}[s],
                  help="ff: rows in flip-flop buffers (--row-buffers); none: no row store, the caller streams "
                       "every row twice (pass 1: the statistics, pass 2: the outputs; suffix _2pass; softmax's "
                       "sum follows its maximum in base 2, DESIGN.md); sram: the row goes into "
                       "the chip's SRAM macro through sram_* ports (one word per element) and the unit replays it "
                       "(the caller streams once; suffix _sram)", brief="where a row is kept: flip-flops, the caller, SRAM")


def buffers_param() -> Param:
    return ints("row_buffers", DEFAULT_BUFFERS, ROW_BUFFERS[0], ROW_BUFFERS[-1], brief="flip-flop row buffers (ROW_STORE=ff)", make="ROW_BUFFERS", flag="--row-buffers",
                suffix=lambda b: f"_b{b}", metavar="B",
                help="row buffers (2: the next row loads while one is processed; 1 is smaller and slower, _b1)")


class RowConfig(UnitConfig):
    """What the row-wise kinds share: a row store with row buffers for ff,
    and tables fitted at ``table_format`` from ``table_options()``."""
    #: the format the unit's tables are fitted at
    table_format = "int8"
    #: the lane counts the default verification matrix (``make sim``) adds to its one-lane units
    VERIFY_LANES: tuple = ()
    #: the lane counts of the synth report's store-less rows
    SYNTH_LANES: tuple = (1,)
    #: {row store: the stores that compute as it, bit for bit}: one per distinct arithmetic of the
    #: op's golden models (make bench-rowwise measures each)
    ARITHMETIC_STORES: dict = {"ff": "ff, none, sram"}

    def summary(self) -> str:
        """The unit's formats in a few words (``gqa-lut ops``)."""
        raise NotImplementedError

    @property
    def row_length(self) -> int:
        """The row length (the longest row, where rows may be shorter)."""
        raise NotImplementedError

    @property
    def in_bits(self) -> int:
        """Bits of one input element (one word of an SRAM row store)."""
        raise NotImplementedError

    @classmethod
    def verify_units(cls) -> list:
        """The op's units in the default verification matrix: 8 and 16 entries, each row store at 8,
        and the :data:`VERIFY_LANES` lane counts with the SRAM store."""
        return ([cls(8), cls(16)] + [cls(8, row_store=store) for store in ("none", "sram")]
                + [cls(8, row_store="sram", lanes=p) for p in cls.VERIFY_LANES])

    def table_options(self) -> dict:
        """Fit requests of the unit's tables: {name: {"op": ..., options}}."""
        raise NotImplementedError

    def extra_files(self) -> dict[str, str]:
        """Files written beside the unit (and packaged) that its make line names: none by default."""
        return {}

    def check(self):
        if self.row_store != "ff" and self.changed("row_buffers"):
            raise ConfigError(f"--row-buffers applies to --row-store ff only (--row-store {self.row_store} keeps no "
                              "flip-flop buffers)")
        # the module that declares the op's tables, for the message
        _rowwise_fit(self.fit, self.op, type(self).table_options.__module__.replace(".", "/") + ".py")

