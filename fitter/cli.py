"""Command line of the fitter: ``python -m fitter fit OP [options]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fitter import functions
from fitter.fit import FORMATS, METHODS, fit
from fitter.ga import GAConfig
from fitter.plot import plot_png
from fitter.problem import FitError
from hw.files import write_atomic
from hw.spec import Spec, SpecError


def unit_dir(build: Path, op: str, fmt: str, entries: int, suffix: str = "") -> Path:
    return build / f"{op}_{fmt}_e{entries}{suffix}"


def add_fit_args(p: argparse.ArgumentParser) -> None:
    """Options shared by ``fit`` and by the generator's ``gen``."""
    p.add_argument("op", help=f"operator to fit: {', '.join(functions.FUNCTIONS)}")
    p.add_argument("--entries", "-n", type=int, default=8, help="table entries N (segments), 1..256 (default 8)")
    p.add_argument("--format", default="int8", choices=[f for f in FORMATS if f != "fp32"],
                   help="input/coefficient/output width: int8 (the paper's unit), int16, int32 "
                        "(same ranges, 8 or 24 more fractional bits; breakpoints from the int8 fit)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same table (default 0)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="fitting range in x units (default: the op's, see `python -m fitter ops`)")
    p.add_argument("--method", default="ga", choices=METHODS,
                   help="ga: the GQA-LUT genetic search; uniform: evenly spaced breakpoints (baseline)")
    p.add_argument("--objective", default="hw", choices=["hw", "fp"],
                   help="hw: score by mse_hw through the golden model (quantization-aware, default); "
                        "fp: score by mse_fp, the reference code's protocol")
    p.add_argument("--rule", default="auto", choices=["auto", "lsq", "chord"],
                   help="slope/intercept rule per segment: least squares, the paper's chord, "
                        "or auto = the better of the two per segment (default)")
    p.add_argument("--population", type=int, default=50, help="GA population (default 50, as the paper)")
    p.add_argument("--generations", type=int, default=500, help="GA generations (default 500, as the paper)")
    p.add_argument("--round-prob", type=float, default=None,
                   help="rounding-mutation probability (default: paper Table 1, 0.05 or 0 for reciprocal/rsqrt)")
    for name, what in (("in-frac", "input"), ("out-frac", "output"), ("slope-frac", "slope"),
                       ("intercept-frac", "intercept")):
        p.add_argument(f"--{name}", type=int, default=None,
                       help=f"fractional bits of the {what} format at int8 (default: the op's)")
    p.add_argument("--slope-bits", type=int, default=None, help="slope width at int8 (default 8)")
    p.add_argument("--intercept-bits", type=int, default=None, help="intercept width at int8 (default 8)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--build", type=Path, default=Path("build"), help="output root (default build/)")


def run_fit(a) -> tuple[Spec, object]:
    ga = GAConfig(population=a.population, generations=a.generations, objective=a.objective,
                  rule=a.rule, round_prob=a.round_prob, quiet=a.quiet)
    for name, v, lo, hi in (("--entries", a.entries, 1, 256), ("--population", a.population, 2, 100000),
                            ("--generations", a.generations, 0, 10**7)):
        if not lo <= v <= hi:
            raise FitError(f"{name} {v} is out of range: use {lo}..{hi}")
    return fit(a.op, a.entries, a.format, a.seed, a.method, tuple(a.range) if a.range else None, ga,
               in_frac=a.in_frac, out_frac=a.out_frac, slope_frac=a.slope_frac,
               intercept_frac=a.intercept_frac, slope_bits=a.slope_bits, intercept_bits=a.intercept_bits)


def write_fit(spec: Spec, prob, out: Path, quiet: bool) -> list[Path]:
    """Write spec.json and fit.png into ``out``; returns the files changed."""
    bps, K, C = spec.arrays()
    changed = []
    if spec.save(out / "spec.json"):
        changed.append(out / "spec.json")
    title = (f"{spec.op}, {spec.entries} entries, {spec.format_name}: "
             f"mse_hw {spec.fit['metrics']['mse_hw']:.3g}, max err {spec.fit['metrics']['max_err_lsb']:.3g} LSB")
    if write_atomic(out / "fit.png", plot_png(prob, bps, K, C, title)):
        changed.append(out / "fit.png")
    return changed


def cmd_fit(a) -> int:
    t0 = time.perf_counter()
    if not a.quiet:
        print(f"fitting {a.op}: {a.entries} entries, {a.format}, method {a.method}, seed {a.seed}", file=sys.stderr)
    spec, prob = run_fit(a)
    out = unit_dir(a.build, a.op, a.format, a.entries)
    write_fit(spec, prob, out, a.quiet)
    m = spec.fit["metrics"]
    print(f"{out}/spec.json  mse_hw {m['mse_hw']:.3e}  mse_fp {m['mse_fp']:.3e}  "
          f"max_err {m['max_err_lsb']:.2f} LSB  ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_ops(a) -> int:
    for f in functions.FUNCTIONS.values():
        print(f"{f.name:11s} range [{f.range[0]:g}, {f.range[1]:g}]  in {f.input.label()}  "
              f"out {f.output.label()}  slope {f.slopes.label()}  intercept {f.intercepts.label()}  {f.doc}")
    return 0


def cmd_check(a) -> int:
    spec = Spec.load(a.spec)
    print(f"{a.spec}: valid {spec.format_name} spec for {spec.op}, {spec.entries} entries")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fitter",
                                 description="GQA-LUT fitter: fit a quantized piecewise-linear table to a function.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fit", help="fit an op and write build/<op>_<format>_e<N>/spec.json and fit.png",
                       description="Fit an op with the GQA-LUT genetic search; writes spec.json "
                                   "(DESIGN.md format, metrics filled in) and fit.png.")
    add_fit_args(p)
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("ops", help="list the known ops with their default ranges and formats")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("check", help="validate a spec file")
    p.add_argument("spec", type=Path)
    p.set_defaults(func=cmd_check)
    a = ap.parse_args(argv)
    try:
        return a.func(a)
    except (SpecError, FitError, functions.UnknownOp) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
