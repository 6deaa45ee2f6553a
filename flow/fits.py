"""How each implementation's table is fitted, one entry per ``impl``: the
fit side of the implementation registry (the hardware side is
:mod:`hw.impls`). :func:`flow.build.ensure_spec` caches and writes the
table; the entry here computes it.

Each :class:`Fit` has

* ``fit(cfg, quiet, log, bps8)`` -> ``(spec, problem, drawn)``: the table of
  configuration ``cfg`` (:class:`flow.config.Elementwise`), with the problem
  and (breakpoints, slopes, intercepts) its ``fit.png`` draws (problem None:
  no plot);
* ``plot(cfg, spec)`` -> ``(problem, drawn)`` or None: the plot of a cached
  table, to redraw a missing or broken ``fit.png``;
* ``int8_first(cfg)``: whether the fit starts from the op's int8 table (its
  breakpoints, ``bps8``, fitted or reused by the caller first);
* for the configuration (:class:`flow.config.Elementwise` asks, and never
  names an implementation): ``options``, the fit options it takes (None:
  every one) and ``refused``, why the others mean nothing to it; ``fp32``,
  whether it builds FORMAT=fp32; ``own``, the configuration fields that are
  its alone (poly's degree and fold); ``check(cfg)``, its own rules;
  ``table_id(cfg)``, its table's name; ``default_bound``, the bound its fit
  meets when none is given;
* ``partner(cfg, other, build, ensure)``: the second table a ``LUT=regs`` bench loads (``ensure``:
  :func:`flow.build.ensure_spec`); ``size_text(spec)``: its table's size in
  the words of the fit plot's title; ``entries_word``: what its entries are
  called;
* for ``make dse`` (:mod:`flow.dse`): ``sweep(op, entries, bound)``, the
  configuration options of the implementation's sweep points at one op,
  format and LUT; ``label(cfg)``, its name in the report; ``by_bound(cfg)``,
  whether the unit is the fewest within a bound; ``skip(cfg)``, why the
  sweep does not synthesize it (None: it does).

A ``MAX_ERR_LSB`` search (:func:`fitter.minimal.fewest_entries`) has no plot;
pwl and uniform tables take it when the configuration has a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hw.params import ConfigError
from hw.unitconfig import FORMAT_OPTS, FitOptions

#: a programmable direct table wider than this is not synthesized by make dse: 2^bits words of
#: flip-flops (32,768 at 12 bits) and a 4096-way read multiplexer take Yosys/ABC tens of minutes and
#: lose to every other programmable unit by their flip-flops alone; the report lists them as skipped
MAX_TABLE_REGS_BITS = 10


def _formats(cfg) -> dict:
    """The format options the configuration sets (the fitters' ``**over``)."""
    return {k: getattr(cfg.fit, k) for k in FORMAT_OPTS if getattr(cfg.fit, k) is not None}


def _fewest(cfg, quiet: bool, log):
    """The fewest entries of ``cfg.impl`` (pwl or uniform; fitter.minimal.SEARCHES) within ``MAX_ERR_LSB``."""
    from fitter.minimal import fewest_entries
    f = cfg.fit
    if not quiet:
        print(f"searching the fewest {cfg.impl} entries of {cfg.op} at {cfg.format} within "
              f"{f.max_err_lsb:g} LSB", file=log)
    spec, _ = fewest_entries(cfg.op, cfg.format, f.max_err_lsb, cfg.impl, rng_range=f.range, **_formats(cfg))
    return spec, None, None


def _fit_pwl(cfg, quiet: bool, log, bps8):
    """The paper's GA (or another ``METHOD``) over N breakpoints; fp32 from the int8 breakpoints."""
    if cfg.fit.max_err_lsb is not None:
        return _fewest(cfg, quiet, log)
    from fitter.fit import fit
    from fitter.ga import GAConfig
    if not quiet:
        print(f"fitting {cfg.op}: {cfg.entries} entries, {cfg.format}, method {cfg.fit.method}, "
              f"seed {cfg.fit.seed}", file=log)
    f = cfg.fit
    ga = GAConfig(population=f.population, generations=f.generations, objective=f.objective, rule=f.rule,
                  round_prob=f.round_prob, quiet=quiet, log=log)
    if cfg.format == "fp32":
        from fitter.fp32 import fit_fp32
        spec, prob = fit_fp32(cfg.op, cfg.entries, bps8, request(cfg))
    else:
        spec, prob = fit(cfg.op, cfg.entries, cfg.format, f.seed, f.method, f.range, ga, bps8=bps8,
                         **{k: getattr(f, k) for k in FORMAT_OPTS})
    return spec, prob, None


def _plot_pwl(cfg, spec):
    from fitter import functions
    from fitter.problem import Problem
    from hw.pwl_int.model import Datapath
    func = functions.get(cfg.op)
    lo, hi = cfg.fit.range or func.range
    dp = Datapath(spec.input, spec.slopes.fmt, spec.intercepts.fmt, spec.output)
    return Problem(func, lo, hi, dp, spec.entries), spec.arrays()


def _fit_uniform(cfg, quiet: bool, log, bps8):
    """2^k equal segments, a line each by the configuration's rule (fitter/impls.py)."""
    if cfg.fit.max_err_lsb is not None:
        return _fewest(cfg, quiet, log)
    from fitter.impls import fit_uniform
    f = cfg.fit
    if not quiet:
        print(f"fitting {cfg.op}: impl {cfg.impl}, {cfg.format}, {cfg.entries} equal segments, rule "
              f"{'exact' if f.method == 'exact' else f.rule}", file=log)
    spec = fit_uniform(cfg.op, cfg.entries, cfg.format, "exact" if f.method == "exact" else f.rule,
                       f.objective, f.range, **_formats(cfg))
    return (spec, *_plot_uniform(cfg, spec))


def _plot_uniform(cfg, spec):
    """The segments inside the range."""
    from fitter import functions
    from fitter.fit import datapath
    from fitter.problem import Problem
    from hw.uniform.model import segment
    func = functions.get(cfg.op)
    lo, hi = cfg.fit.range or func.range
    prob = Problem(func, lo, hi, datapath(func, cfg.format, **_formats(cfg)), 1)
    seg = segment(prob.q, spec.input, spec.entries)
    s_lo, s_hi = int(seg[0]), int(seg[-1])
    bps, K, C = spec.arrays()
    return prob, (bps[s_lo:s_hi], K[s_lo:s_hi + 1], C[s_lo:s_hi + 1])


def _fit_table(cfg, quiet: bool, log, bps8):
    """Every input code, correctly rounded (fitter/impls.py; a bound is refused: a table meets 0.5 LSB)."""
    from fitter.impls import fit_table
    if not quiet:
        print(f"fitting {cfg.op}: impl {cfg.impl}, {cfg.format}, every input code, correctly rounded", file=log)
    spec = fit_table(cfg.op, cfg.format, cfg.fit.range, **_formats(cfg))
    return (spec, *_plot_table(cfg, spec))


def _plot_table(cfg, spec):
    """No breakpoints, and the values (the problem reads them as outputs)."""
    import numpy as np

    from fitter import functions
    from fitter.fit import datapath
    from fitter.impls import _TableProblem
    func = functions.get(cfg.op)
    lo, hi = cfg.fit.range or func.range
    prob = _TableProblem(func, lo, hi, datapath(func, cfg.format, **_formats(cfg)), 1)
    return prob, (np.zeros((1, 0), np.int64), np.zeros((1, 1), np.int64), np.array([spec.values]))


def _fit_poly(cfg, quiet: bool, log, bps8):
    """The fewest segments and narrowest coefficients within the bound (fitter/poly.py)."""
    from fitter.poly import fit_poly
    f = cfg.fit
    bound = POLY_BOUND if f.max_err_lsb is None else f.max_err_lsb
    if not quiet:
        print(f"fitting {cfg.op}: impl poly" + (f", degree {cfg.degree}" if cfg.degree != 1 else "")
              + (", folded" if cfg.fold else "") + f", {cfg.format}, "
              f"the fewest segments and narrowest coefficients within {bound:g} LSB", file=log)
    spec = fit_poly(cfg.op, cfg.format, bound, f.range, degree=cfg.degree, fold=cfg.fold, **_formats(cfg))
    return spec, None, None


def _no_plot(cfg, spec):
    return None


def _never(cfg) -> bool:
    return False


def _lines_sweep(op: str, entries, bound) -> list[dict]:
    """Every table size, and with a bound the fewest entries within it (``_m<B>``)."""
    return [dict(entries=n) for n in entries] + ([dict(fit=FitOptions(max_err_lsb=bound))] if bound is not None
                                                 else [])


def _table_sweep(op: str, entries, bound) -> list[dict]:
    return [dict(entries=8)]            # one size: every input code


def poly_variants(op: str) -> list[tuple[int, bool]]:
    """The (degree, fold) of the poly units the sweep builds for ``op``: degree 1 and 2, each
    also folded where the op has a known symmetry (fitter/poly.py ``FOLDS``; DESIGN.md)."""
    from fitter.poly import FOLDS
    from hw.poly.model import DEGREES
    return [(d, f) for d in DEGREES for f in ((False, True) if op in FOLDS else (False,))]


def _poly_sweep(op: str, entries, bound) -> list[dict]:
    """Found by its bound (the fewest segments and narrowest coefficients), so no table size: one unit
    per degree and fold at ``bound`` (default 1 LSB)."""
    fit = FitOptions(max_err_lsb=POLY_BOUND if bound is None else bound)
    return [dict(fit=fit, degree=d, fold=f) for d, f in poly_variants(op)]


def _name(cfg) -> str:
    """The implementation with its own fields' name parts (``poly_d2_fold``)."""
    return cfg.impl + cfg.part(*FITS[cfg.impl].own)


def _bounded(cfg) -> bool:
    return cfg.fit.max_err_lsb is not None


def _table_skip(cfg) -> str | None:
    from fitter import functions
    from fitter.fit import WIDEN
    if cfg.lut == "regs":
        f = functions.get(cfg.op)
        bits = f.input.bits + WIDEN[cfg.format]
        if bits > MAX_TABLE_REGS_BITS:
            flops = (1 << bits) * (f.output.bits + WIDEN[cfg.format])
            return (f"skipped: a programmable {1 << bits}-word table is {flops:,} flip-flops before its read "
                    "multiplexer; every other programmable unit of this op and width is smaller")
    return None


def _no_skip(cfg) -> str | None:
    return None


# -- the configuration's rules and names ------------------------------------------------

#: impl poly: the bound its fit meets when --max-err-lsb is not given (stored as None), and its widest input
POLY_BOUND, POLY_MAX_BITS = 1.0, 16


def _no_check(cfg) -> None:
    return None


def _keep_entries(cfg, why: str) -> None:
    if cfg.changed("entries"):
        raise ConfigError(f"ENTRIES={cfg.entries} does not apply to impl {cfg.impl}: {why}; leave ENTRIES at its "
                          "default")


def _check_uniform(cfg) -> None:
    from hw.spec import MAX_ENTRIES
    if cfg.fit.method == "uniform":
        raise ConfigError("--method uniform does not apply to impl uniform (its segments are equal already; "
                          "--method exact fits the lines by exact search)")
    if cfg.entries < 2 or cfg.entries & (cfg.entries - 1):
        raise ConfigError(f"entries {cfg.entries}: impl uniform needs a power of two, 2..{MAX_ENTRIES} "
                          "(equal segments addressed by the input's top bits)")


def _check_table(cfg) -> None:
    from hw.spec import MAX_TABLE_BITS
    _keep_entries(cfg, "it holds one value per input code (2^bits entries)")
    if cfg.in_bits > MAX_TABLE_BITS:
        given = f"--in-bits {cfg.fit.in_bits} at " if cfg.fit.in_bits else ""
        raise ConfigError(f"impl table holds one value per input code: at most {MAX_TABLE_BITS} input bits, "
                          f"{given}FORMAT={cfg.format} gives {cfg.in_bits}"
                          + ("" if given else " (use int8, int10 or int12)"))


def _check_poly(cfg) -> None:
    from fitter.poly import FOLDS
    if cfg.fold and cfg.op not in FOLDS:
        raise ConfigError(f"FOLD=1: no symmetry known for {cfg.op} (FOLD applies to {', '.join(FOLDS)})")
    _keep_entries(cfg, "its fit finds the fewest segments within MAX_ERR_LSB (default 1)")
    if cfg.in_bits > POLY_MAX_BITS:
        raise ConfigError(f"impl poly is certified on every input code: at most {POLY_MAX_BITS} input "
                          f"bits, FORMAT={cfg.format} gives {cfg.in_bits}")


def _sized_id(cfg) -> str:
    """``<op>_<format>_e<N>`` or, with a bound (given, or the implementation's default), ``_m<B>``; then
    ``_<impl>`` off the default implementation, and the implementation's own fields' parts."""
    bound = FITS[cfg.impl].default_bound if cfg.fit.max_err_lsb is None else cfg.fit.max_err_lsb
    size = f"e{cfg.entries}" if bound is None else "m" + f"{bound:g}".replace(".", "p").replace("+", "")
    return (f"{cfg.op}_{cfg.format}_{size}" + (f"_{cfg.impl}" if cfg.changed("impl") else "")
            + cfg.part(*FITS[cfg.impl].own))


def _table_id(cfg) -> str:
    return f"{cfg.op}_{cfg.format}_table"


# -- the second table of a LUT=regs bench -------------------------------------------------

def _partner_pwl(cfg, other: str, build, ensure):
    """The partner op's GA table of the same format and entries (tanh, no partner: its own uniform-breakpoint
    table)."""
    from dataclasses import replace
    from pathlib import Path
    method = "uniform" if other == cfg.op else "ga"
    partner = replace(cfg.table(), op=other, fit=FitOptions(method=method))
    return ensure(partner, Path(build) / "partners" / method)[1]


def _partner_formats(cfg, other: str, build, ensure):
    """The partner op's table of the same impl and size with the unit's format overrides (so the formats
    match; the range is the partner op's own); tanh: its own table with the other line rule."""
    from dataclasses import replace
    from pathlib import Path
    fit = FitOptions(**{k: getattr(cfg.fit, k) for k in FORMAT_OPTS})
    if other == cfg.op and "rule" in (FITS[cfg.impl].options or ()):
        fit = replace(fit, rule="chord" if cfg.fit.rule != "chord" else "lsq")
    partner = replace(cfg.table(), op=other, fit=fit)
    return ensure(partner, Path(build) / "partners" / cfg.impl)[1]


def _partner_reversed(cfg, other: str, build, ensure):
    """Formats fitted per op: the unit's own table with every coefficient column reversed."""
    from pathlib import Path

    from hw.handoff.vectors import alt_spec
    path = Path(build) / "partners" / cfg.impl / f"{cfg.table_id}{cfg.variant}.spec.json"
    alt_spec(ensure(cfg.table(), build)[0]).save(path)
    return path


def _entries_text(spec) -> str:
    return f"{spec.entries} entries"


@dataclass(frozen=True)
class Fit:
    fit: Callable               # (cfg, quiet, log, bps8) -> (spec, problem or None, drawn or None)
    plot: Callable              # (cfg, spec) -> (problem, drawn), or None: no plot
    sweep: Callable             # (op, entries, bound) -> [configuration options]: make dse's points
    partner: Callable           # (cfg, other op, build, ensure_spec) -> the spec path a LUT=regs bench loads second
    options: tuple | None = None    # the fit options it takes (None: every one)
    refused: str = ""           # why the other fit options mean nothing to it
    fp32: bool = False          # it builds FORMAT=fp32 units
    own: tuple = ()             # the configuration fields that are its alone
    check: Callable = _no_check     # cfg -> None, or a ConfigError: its own rules
    table_id: Callable = _sized_id  # cfg -> its table's name, before the _v variant tag
    default_bound: float | None = None  # the bound its fit meets when --max-err-lsb is not given
    size_text: Callable = _entries_text     # spec -> the table's size in the fit plot's title
    entries_word: str = "entries"   # what its entries are called (the MAX_ERR_LSB line)
    int8_first: Callable = _never   # cfg -> the fit takes the int8 table's breakpoints (bps8)
    label: Callable = _name     # cfg -> the implementation as make dse's report names it
    by_bound: Callable = _bounded   # cfg -> the unit is the fewest within a bound
    skip: Callable = _no_skip   # cfg -> why make dse does not synthesize it, or None


#: one line per implementation (the names of hw.impls.IMPLS)
FITS: dict[str, Fit] = {
    "pwl": Fit(_fit_pwl, _plot_pwl, _lines_sweep, _partner_pwl, fp32=True,
               int8_first=lambda cfg: cfg.format != "int8" and cfg.fit.max_err_lsb is None),
    # no breakpoint search: its lines are fitted by --rule/--objective, or by the exact window search
    "uniform": Fit(_fit_uniform, _plot_uniform, _lines_sweep, _partner_formats, check=_check_uniform,
                   options=("range", "method", "objective", "rule", *FORMAT_OPTS, "max_err_lsb"),
                   refused="its segments are fixed, 2^k equal ones; --method exact, --rule and --objective "
                           "choose the lines",
                   size_text=lambda spec: f"{spec.entries} entries (uniform)"),
    # no search and no lines
    "table": Fit(_fit_table, _plot_table, _table_sweep, _partner_formats, skip=_table_skip, check=_check_table,
                 options=("range", "in_bits", "in_frac", "out_bits", "out_frac"), table_id=_table_id,
                 refused="nothing is searched: every value is the function correctly rounded",
                 size_text=lambda spec: f"table of {spec.entries} codes"),
    # fitter/poly.py: the fewest segments and narrowest coefficient formats within the bound, always by it
    "poly": Fit(_fit_poly, _no_plot, _poly_sweep, _partner_reversed, check=_check_poly,
                options=("range", "in_bits", "in_frac", "out_bits", "out_frac", "max_err_lsb"),
                refused="its fit finds the fewest segments and the narrowest coefficient formats within "
                        "--max-err-lsb",
                own=("degree", "fold"), default_bound=POLY_BOUND, entries_word="segments",
                by_bound=lambda cfg: True),
}


def request(cfg) -> dict:
    """What a cached table must have been fitted for (``spec.fit.request``)."""
    req = {"op": cfg.op, "format": cfg.format, "entries": cfg.entries, **cfg.fit.request()}
    if cfg.changed("impl"):             # pwl (the default) requests stay as they were, so their caches stay valid
        req["impl"] = cfg.impl
    # impl poly: the degree (1 or 2) and symmetry folding; a degree-1, unfolded request stays as it was, so
    # its cache stays valid
    if cfg.degree != 1:
        req["degree"] = cfg.degree
    if cfg.fold:
        req["fold"] = True
    return req


def plot_parts(cfg, spec):
    """(problem, drawn) of a cached table's fit.png, or None for the tables
    that have no plot (fp32, poly, a MAX_ERR_LSB search)."""
    if spec.is_fp32 or cfg.fit.max_err_lsb is not None:
        return None
    return FITS[cfg.impl].plot(cfg, spec)
