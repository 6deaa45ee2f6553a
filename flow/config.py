"""A unit's configuration: one frozen object per unit kind, validated once.

Everything that names a unit or says how to rebuild it comes from its
configuration and nowhere else: its name (build directory and
``gqa_<name>`` module), its ``make gen`` line, its ``gqa-lut gen``
arguments and the ``request`` stored in its manifest. :func:`from_request`
turns a manifest's request back into the configuration, so a build
directory alone says how to rebuild it.

Each kind declares its options once, in its ``PARAMS`` table
(:class:`hw.params.Param`: field, default, check, name part, make
variable, flag, help); its dataclass fields, its checks, its make line,
its request and the command line's flags (:mod:`flow.cli`) all come from
that table (:mod:`hw.unitconfig`). Kinds: :class:`Elementwise` (one op, one
table, any format) and :class:`SpecUnit` (a table the user wrote), here;
one per row-wise op, declared in its folder (``hw/<op>/config.py``) and
found through the op registry (:data:`hw.rowwise.ROWWISE_OPS`), in
:data:`ROW_KINDS`. Cross-option rules live in each kind's ``check``, which
raises :class:`ConfigError` with one line naming the option and the fix.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from fitter import functions
from fitter.fit import WIDEN
from fitter.poly import FOLDS as POLY_FOLDS
from flow.fits import FITS
from hw.params import ConfigError, Param, check_int, choice, one_line, parse_bit, parse_int
from hw.poly.model import DEGREES as POLY_DEGREES
from hw.pwl_common import LUT_MODES as LUTS, MAX_STAGES
from hw.rowwise import ROWWISE_OPS, config_class
from hw.spec import IMPLS
from hw.unitconfig import (FIT_DEFAULTS, FORMAT_OPTS, FitOptions, RowConfig, UnitConfig, content_hash, declared,
                           entries_param, fit_param, lanes_param, parse_fixed)
from synth.sdc import CLOCK_RANGE

__all__ = ["ConfigError", "one_line", "Elementwise", "SpecUnit", "FitOptions", "UnitConfig", "RowConfig",
           "from_request", "parse_fixed", "KINDS", "ROW_KINDS", "ROWWISE", "FORMAT_OPTS", "FIT_DEFAULTS"]

FORMATS = ("int8", "int10", "int12", "int16", "int32", "fp32")
#: the configuration fields that belong to one implementation (refused with the others)
OWN_FIELDS = tuple(dict.fromkeys(n for how in FITS.values() for n in how.own))
#: IMPLS (hw/spec.py): element-wise implementations (hw/impls.py; their fits, option rules and names
#: flow/fits.py), pwl (comparator bank, the default), table (direct lookup of every input code),
#: uniform (2^k equal segments addressed by the input's top bits), poly (segment-local lines).


# -- element-wise ----------------------------------------------------------------

def _check_op(op):
    if not functions.known(op):         # an element-wise op, or a row-wise unit's table function
        raise ConfigError(str(functions.UnknownOp(op, list(functions.FUNCTIONS) + list(ROWWISE_OPS))))
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
    Fit options that mean nothing to an impl are refused (its ``options``
    in :data:`flow.fits.FITS`, which holds every rule of its own).

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
        entries_param(),
        Param("stages", 1, f"pipeline registers 0..{MAX_STAGES} (latency in clocks; 0: combinational)",
              check=_check_stages, parse=parse_int("--stages"), make="STAGES", flag="--stages", listed=True,
              bounds=(0, MAX_STAGES), brief="pipeline registers = latency in clocks"),
        choice("lut", "rom", LUTS, make="LUT", flag="--lut", listed=True,
               help="rom: constants; regs: registers written through cfg_*", brief="table in constants or in cfg-written registers"),
        Param("ftz", False, "fp32 only: 1 = flush subnormals to zero", check=_check_bit("ftz"), parse=parse_bit("ftz"),
              make="FTZ", flag="--ftz", listed=True, suffix=lambda v: "_ftz", text=lambda v: str(int(v)), brief="fp32: flush subnormals to zero"),
        fit_param("how the table is fitted"),
        choice("impl", "pwl", IMPLS, make="IMPL", flag="--impl", listed=True, sparse=True,
               help="pwl: the GQA-LUT comparator bank; uniform: 2^k equal segments addressed by the input's top bits "
                    "(--entries a power of two; name <op>_<format>_e<N>_uniform); table: direct lookup of every "
                    "input code, correctly rounded (int8, int10, int12 only; name <op>_<format>_table); poly: "
                    "segment-local lines, the fewest segments within MAX_ERR_LSB (default 1; up to 16 bits; name "
                    "<op>_<format>_m1_poly). Search options (--seed, --population, ...) apply to pwl only", brief="the implementation (make dse compares them)"),
        lanes_param("P = 1, 2, 4, 8, 16 or 32 inputs and results per clock on one table, flat vector ports "
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
        self._check_impl()
        if self.fit.max_err_lsb is not None:
            if self.format == "fp32":
                raise ConfigError("--max-err-lsb applies to pwl and uniform units of an integer format (a table "
                                  "is correctly rounded already)")
            if self.changed("entries"):
                raise ConfigError(f"ENTRIES={self.entries} does not apply with --max-err-lsb: the search finds the "
                                  "fewest entries; leave ENTRIES at its default")

    @property
    def in_bits(self) -> int:
        """Bits of one input element (the table's input)."""
        return (self.fit.in_bits or functions.get(self.op).input.bits) + WIDEN[self.format]

    def _check_impl(self) -> None:
        """The implementation's own rules, from its entry in :data:`flow.fits.FITS`: the fields that are
        another implementation's, FORMAT=fp32, the fit options it takes, then its ``check``."""
        impl, how = self.impl, FITS[self.impl]
        for name in OWN_FIELDS:
            if self.changed(name) and name not in how.own:
                p, owner = self.PARAM[name], next(i for i, f in FITS.items() if name in f.own)
                raise ConfigError(f"{p.make}={p.text(getattr(self, name))} applies to impl {owner} (IMPL={owner}), "
                                  f"not {impl}")
        if self.format == "fp32" and not how.fp32:
            raise ConfigError(f"impl {impl} needs an integer format (FORMAT=fp32 is "
                              f"{', '.join(i for i, f in FITS.items() if f.fp32)} only)")
        bad = [k for k in self.fit.changed_options() if how.options is not None and k not in how.options]
        if bad:
            raise ConfigError(f"--{bad[0].replace('_', '-')} does not apply to impl {impl} ({how.refused})")
        how.check(self)
        if how.default_bound is not None and self.fit.max_err_lsb == how.default_bound:
            self._set("fit", replace(self.fit, max_err_lsb=None))   # the default bound: one unit, one name

    @property
    def variant(self) -> str:
        return self.fit.variant_tag()

    @property
    def table_id(self) -> str:
        """``<op>_<format>_e<N>``, ``<op>_<format>_e<N>_uniform``,
        ``<op>_<format>_m<B>[_poly]`` or ``<op>_<format>_table``: the table,
        before its ``_v`` variant tag (the implementation's ``table_id``)."""
        return FITS[self.impl].table_id(self)

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
    return content_hash(doc)


#: the row-wise ops, one configuration kind each (the element-wise ops are all :class:`Elementwise`)
ROW_KINDS = {op: config_class(op) for op in ROWWISE_OPS}
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
