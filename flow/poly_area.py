"""Area and timing of ``IMPL=poly`` units beside the README's current best (issue 24).

``python -m flow.poly_area [--ops gelu,silu,sigmoid,tanh,exp] [--formats int12,int16]
[--build build] [--max-err-lsb 1] [--degrees 1,2] [--d2-more 1]`` builds each unit as ``make gen OP=<op>
IMPL=poly FORMAT=<format>`` would (STAGES=1, LUT=rom, registered output),
timing the fit and certificate, then synthesizes them one at a time through
the project's flow (:func:`synth.measure.measure`: Yosys onto OSU 0.18 um,
OpenSTA at 10 ns) and prints one markdown table: segments, coefficient
formats, fit seconds, area, fmax, and the README "Which implementation
should I use?" table's best unit within 1 LSB with the ratio. Units and
synthesis results are cached in the build tree, as ``make synth-report``
caches them.

``--degrees 1,2`` adds degree-2 rows (Horner, ``fit_poly(degree=2)``): the
fewest segments and, with ``--d2-more 1``, also twice as many (degree 2
can win with more segments than its minimum, issue 24). A degree-2 unit
is generated directly (:func:`hw.gen.generate`, STAGES and LUT as given),
since a segment count above the fewest is no configuration option, into
``<build>/poly_area/<op>_<format>_m<B>_poly_d2[_e<N>]``.

``--fold`` adds, for each degree, the symmetry-folded unit (``fit_poly(fold=True)``,
tanh, sigmoid, gelu, silu and hswish; DESIGN.md), generated the same way
(``..._poly[_d2]_fold[_e<N>]``; degree 2 also with ``--d2-more`` doublings).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

#: the README table's smallest rom unit within 1 LSB (area um2, what it is), issue 24's list
README_BEST = {
    ("gelu", "int12"): (36959, "uniform, 64 entries"), ("gelu", "int16"): (87936, "uniform, 256 entries"),
    ("silu", "int12"): (38361, "uniform, 64 entries"), ("silu", "int16"): (91085, "uniform, 256 entries"),
    ("sigmoid", "int12"): (36175, "pwl, 53 entries"), ("sigmoid", "int16"): (107446, "pwl, 196 entries"),
    ("tanh", "int12"): (36774, "uniform, 128 entries"), ("tanh", "int16"): (104608, "pwl, 149 entries"),
    ("exp", "int12"): (32000, "direct table"), ("exp", "int16"): (95550, "pwl, 138 entries"),
    ("hswish", "int12"): (37742, "uniform, 64 entries"), ("hswish", "int16"): (83617, "uniform, 256 entries"),
    ("reciprocal", "int12"): (52913, "direct table"), ("rsqrt", "int12"): (54257, "direct table"),
}


def main(argv=None) -> int:
    from fitter.problem import FitError
    from flow.build import build, ensure_spec
    from flow.config import ConfigError, Elementwise, FitOptions
    from synth import DEFAULT_LIBERTY, DEFAULT_PERIOD_NS
    from synth.measure import measure
    ap = argparse.ArgumentParser(prog="python -m flow.poly_area", description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default="gelu,silu,sigmoid,tanh,exp")
    ap.add_argument("--formats", default="int12,int16")
    ap.add_argument("--build", type=Path, default=Path("build"))
    ap.add_argument("--max-err-lsb", type=float, default=1.0)
    ap.add_argument("--stages", type=int, default=1)
    ap.add_argument("--lut", default="rom")
    ap.add_argument("--degrees", default="1", help="comma list of 1, 2 (default 1)")
    ap.add_argument("--fold", action="store_true", help="also the symmetry-folded units (fit_poly(fold=True))")
    ap.add_argument("--d2-more", type=int, default=0,
                    help="degree 2: also 2x, 4x, ... the fewest segments, this many doublings (default 0)")
    a = ap.parse_args(argv)
    ap_fold = a.fold
    degrees = [int(d) for d in a.degrees.split(",") if d]
    cfg = {"out": str(a.build / "synth"), "liberty": DEFAULT_LIBERTY, "period_ns": DEFAULT_PERIOD_NS,
           "abc": "gqa", "activity": 0.5}
    print("| op | width | poly unit | segments | c0 | c1 | fit s | max err LSB | area um2 | fmax MHz "
          "| README best (rom, <= 1 LSB) | poly / best |")
    print("|---|---|---|---:|---|---|---:|---:|---:|---:|---|---:|")
    for op in a.ops.split(","):
        for fmt in a.formats.split(","):
            if 2 in degrees:
                _degree2_rows(op, fmt, a, cfg, measure)
            if ap_fold:
                from fitter.poly import FOLDS
                for d in degrees if op in FOLDS else ():
                    _degree2_rows(op, fmt, a, cfg, measure, degree=d, fold=True)
            if 1 not in degrees:
                continue
            try:
                u = Elementwise(op, fmt, stages=a.stages, lut=a.lut, impl="poly",
                                fit=FitOptions(max_err_lsb=a.max_err_lsb))
                t = time.perf_counter()
                spec, _, fitted = ensure_spec(u, a.build)
                fit_s = f"{time.perf_counter() - t:.2f}" if fitted else "cached"
                unit = build(u, a.build)
                row = measure(unit, cfg)
            except (FitError, ConfigError) as e:
                print(f"| {op} | {fmt} | error: {e} |", flush=True)
                continue
            c0, c1 = spec.coefficients
            best = README_BEST.get((op, fmt))
            ratio = f"{row['area_um2'] / best[0]:.2f}x" if best else "-"
            fmax = "-" if row["fmax_mhz"] is None else f"{row['fmax_mhz']:.1f}"
            print(f"| {op} | {fmt[3:]} | `{u.name}` | {spec.entries} | {c0.fmt.label()} | {c1.fmt.label()} | "
                  f"{fit_s} | {spec.fit['metrics']['max_err_lsb']:.3f} | {row['area_um2']:,.0f} | {fmax} | "
                  + (f"{best[0]:,} ({best[1]})" if best else "-") + f" | {ratio} |", flush=True)
    return 0


def _degree2_rows(op: str, fmt: str, a, cfg: dict, measure, degree: int = 2, fold: bool = False) -> None:
    """The degree-2 (or folded) rows of one op and format (see the module doc)."""
    from fitter.poly import fit_poly
    from fitter.problem import FitError
    from hw.gen import generate
    from hw.spec import Spec
    from synth import SynthError
    bound = f"m{a.max_err_lsb:g}".replace(".", "p")
    entries = None
    tag = ("_d2" if degree == 2 else "") + ("_fold" if fold else "")
    what = ", ".join(w for w in ("degree 2" if degree == 2 else "", "folded" if fold else "") if w)
    for more in range(a.d2_more + 1 if degree == 2 else 1):
        name = f"{op}_{fmt}_{bound}_poly{tag}" + (f"_e{entries}" if more else "")
        out = a.build / "poly_area" / name
        try:
            t = time.perf_counter()
            spec = fit_poly(op, fmt, a.max_err_lsb, entries=entries, degree=degree, fold=fold)
            fit_s = f"{time.perf_counter() - t:.2f}"
            if not (out / "spec.json").is_file() or Spec.load(out / "spec.json").dumps() != spec.dumps():
                spec.save(out / "spec.json")
            generate(spec, out, f"gqa_{name}", stages=a.stages, lut=a.lut)
            row = measure(out, cfg)
        except (FitError, SynthError) as e:
            print(f"| {op} | {fmt[3:]} | error ({what}): {e} |", flush=True)
            return
        c0, c1, *c2 = spec.coefficients
        best = README_BEST.get((op, fmt))
        ratio = f"{row['area_um2'] / best[0]:.2f}x" if best else "-"
        fmax = "-" if row["fmax_mhz"] is None else f"{row['fmax_mhz']:.1f}"
        print(f"| {op} | {fmt[3:]} | `{name}` ({what}) | {spec.entries} | {c0.fmt.label()} | {c1.fmt.label()}"
              + (f", c2 {c2[0].fmt.label()}" if c2 else "") + f" | {fit_s} | {spec.fit['metrics']['max_err_lsb']:.3f} | {row['area_um2']:,.0f} | "
              f"{fmax} | " + (f"{best[0]:,} ({best[1]})" if best else "-") + f" | {ratio} |", flush=True)
        entries = 2 * spec.entries


if __name__ == "__main__":
    sys.exit(main())
