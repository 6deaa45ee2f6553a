"""Command line of the fitter: ``python -m fitter fit OP [options]``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fitter import functions
from fitter.build import ensure_spec
from fitter.fit import FORMATS, METHODS
from fitter.problem import FitError
from hw.spec import Spec, SpecError


def unit_dir(build: Path, op: str, fmt: str, entries: int, suffix: str = "") -> Path:
    return build / f"{op}_{fmt}_e{entries}{suffix}"


def add_fit_args(p: argparse.ArgumentParser) -> None:
    """Fit options shared by ``fit`` and ``gen``."""
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same table (default 0)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="fitting range in x units (default: the op's, see `python -m fitter ops`)")
    p.add_argument("--method", default="ga", choices=METHODS,
                   help="ga: the GQA-LUT genetic search; uniform: evenly spaced breakpoints (baseline); "
                        "exact: optimal segmentation by dynamic programming over the input codes "
                        "(inputs up to 9 bits; see fitter/exact.py for what is optimal)")
    p.add_argument("--objective", default="hw", choices=["hw", "fp", "rel"],
                   help="hw: score by mse_hw through the golden model (quantization-aware, default); "
                        "fp: score by mse_fp, the reference code's protocol; rel: mse_hw weighted by "
                        "1/f(x)^2, i.e. relative error (softmax's exp table)")
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
    p.add_argument("--force", action="store_true", help="refit even when a matching spec is cached")
    p.add_argument("--build", type=Path, default=Path("build"), help="output root (default build/)")


def fit_opts(a) -> dict:
    """The fit options of parsed arguments, as :func:`fitter.build.ensure_spec` takes them."""
    for name, v, lo, hi in (("--population", a.population, 2, 100000), ("--generations", a.generations, 0, 10**7)):
        if not lo <= v <= hi:
            raise FitError(f"{name} {v} is out of range: use {lo}..{hi}")
    if a.range and not a.range[0] < a.range[1]:
        raise FitError(f"range [{a.range[0]}, {a.range[1]}] is empty: need LO < HI")
    return {"seed": a.seed, "method": a.method, "range": list(a.range) if a.range else None,
            "objective": a.objective, "rule": a.rule, "population": a.population,
            "generations": a.generations, "round_prob": a.round_prob,
            "in_frac": a.in_frac, "out_frac": a.out_frac, "slope_frac": a.slope_frac,
            "intercept_frac": a.intercept_frac, "slope_bits": a.slope_bits,
            "intercept_bits": a.intercept_bits}


def _entries(v: int) -> int:
    if not 1 <= v <= 256:
        raise FitError(f"--entries {v} is out of range: use 1..256")
    return v


def _fracs(v: str) -> list[int]:
    """'1..6', '1-6' or '1,3,5' -> input fractional bits."""
    try:
        for sep in ("..", "-"):
            if sep in v:
                lo, hi = (int(x) for x in v.split(sep))
                items = list(range(lo, hi + 1))
                break
        else:
            items = [int(x) for x in v.split(",")]
    except ValueError:
        raise FitError(f"--frac '{v}' is not a range J..K, J-K or a comma list") from None
    if not items or any(not 0 <= j <= 16 for j in items):
        raise FitError(f"--frac '{v}': use input fractional bits in 0..16, e.g. 1..6")
    return items


def _fit_scale(a, fmt: str, j: int):
    """One table of a multi-scale fit: input frac ``j``, cached like
    ensure_spec in build/<op>_<format>_e<N>_f<j>/ (wide formats reuse the
    int8 table of the same scale)."""
    from fitter.build import FORMAT_OPTS, _cached, _request, write_fit
    from fitter.fit import datapath, fit
    from fitter.ga import GAConfig
    opts = {**fit_opts(a), "in_frac": j}
    # the range shrinks to what the input format holds at this scale, so mse_fp stays meaningful
    func = functions.get(a.op)
    lo, hi = opts["range"] or func.range
    x = datapath(func, "int8", **{k: opts[k] for k in FORMAT_OPTS if k in opts}).x
    opts["range"] = [max(lo, x.to_real(x.min_code).item()), min(hi, x.to_real(x.max_code).item())]
    req = _request(a.op, fmt, a.entries, opts)
    out = unit_dir(a.build, a.op, fmt, a.entries, f"_f{j}")
    spec = None if a.force else _cached(out / "spec.json", req)
    if spec is None:
        bps8 = _fit_scale(a, "int8", j)[0].arrays()[0] if fmt != "int8" else None
        ga = GAConfig(population=req["population"], generations=req["generations"], objective=req["objective"],
                      rule=req["rule"], round_prob=req["round_prob"], quiet=a.quiet)
        try:
            spec, prob = fit(a.op, a.entries, fmt, req["seed"], req["method"],
                             tuple(req["range"]) if req["range"] else None, ga, bps8=bps8,
                             **{k: req[k] for k in FORMAT_OPTS if k in req})
        except FitError as e:
            raise FitError(f"--frac {j}: {e}") from None
        spec.fit["request"] = req
        write_fit(spec, prob, out)
    return spec, out / "spec.json"


def cmd_fit_scales(a) -> int:
    """``fit --frac J..K``: one spec per input scale 2^-j (paper: one table per scale)."""
    if a.format == "fp32":
        raise FitError("--frac: an fp32 table has no input scale; use an integer --format")
    if a.in_frac is not None:
        raise FitError("--frac and --in-frac both set the input scale; give one")
    for j in _fracs(a.fracs):
        t0 = time.perf_counter()
        spec, path = _fit_scale(a, a.format, j)
        m = spec.fit["metrics"]
        print(f"{path}  in {spec.input.label()}  mse_hw {m['mse_hw']:.3e}  mse_fp {m['mse_fp']:.3e}  "
              f"max_err {m['max_err_lsb']:.2f} LSB  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


def cmd_fit(a) -> int:
    t0 = time.perf_counter()
    functions.get(a.op)
    _entries(a.entries)
    if a.fracs is not None:
        return cmd_fit_scales(a)
    if a.force:
        (unit_dir(a.build, a.op, a.format, a.entries) / "spec.json").unlink(missing_ok=True)
    spec, path, _ = ensure_spec(a.op, a.format, _entries(a.entries), a.build, a.quiet, **fit_opts(a))
    m = spec.fit["metrics"]
    print(f"{path}  mse_hw {m['mse_hw']:.3e}  mse_fp {m['mse_fp']:.3e}  "
          f"max_err {m['max_err_lsb']:.2f} LSB  ({time.perf_counter() - t0:.1f} s)")
    return 0


def _list(v: str, conv, what: str, allowed=None) -> list:
    try:
        items = [conv(x) for x in v.split(",") if x != ""]
    except ValueError:
        raise FitError(f"{what} '{v}' is not a comma-separated list") from None
    for x in items:
        if allowed is not None and x not in allowed:
            raise FitError(f"unknown {what} '{x}'; known: {', '.join(map(str, allowed))}")
    return items


def _ln_options(a, ops):
    """LayerNorm generator options of parsed ``gen`` arguments."""
    from fitter.composite import LNOptions, parse_fixed
    given = [f"--ln-{k}" for k in ("in", "out", "eps", "gamma", "beta", "params", "rsqrt")
             if getattr(a, "ln_" + k) is not None] + (["--ln-affine"] if a.ln_affine else [])
    if given and "layernorm" not in ops:
        raise FitError(f"{given[0]} applies to layernorm only")
    try:
        kw = {}
        for key, opt, what in (("input", a.ln_in, "--ln-in"), ("out", a.ln_out, "--ln-out"),
                               ("gamma_fmt", a.ln_gamma, "--ln-gamma"), ("beta_fmt", a.ln_beta, "--ln-beta")):
            if opt is not None:
                kw[key] = parse_fixed(opt, what)
        if a.ln_eps is not None:
            if not 0 <= a.ln_eps < 1:
                raise ValueError(f"--ln-eps {a.ln_eps:g} is out of range: use 0 <= eps < 1")
            kw["eps"] = a.ln_eps
        if a.ln_params is not None:
            if not a.ln_params.is_file():
                raise ValueError(f"--ln-params {a.ln_params}: no such file")
            kw["params"] = a.ln_params
        if a.ln_rsqrt is not None:
            kw["rsqrt"] = a.ln_rsqrt
        affine = a.ln_affine or a.ln_params is not None
        if not affine and (a.ln_gamma or a.ln_beta):
            raise ValueError("--ln-gamma/--ln-beta need --ln-affine (or --ln-params)")
        return LNOptions(affine=affine, **kw)
    except ValueError as e:
        raise FitError(str(e)) from None


def cmd_gen(a) -> int:
    from fitter.build import build_unit
    from fitter.composite import COMPOSITES, check_sm_in_frac
    from hw.rowbuf import check_row_buffers
    known = list(functions.FUNCTIONS) + list(COMPOSITES)
    ops = known if a.op == "all" else a.op.split(",")
    for op in ops:
        if op not in known:
            raise functions.UnknownOp(op, known)
    ln = _ln_options(a, ops)
    if a.sm_in_frac is not None and "softmax" not in ops:
        raise FitError("--sm-in-frac applies to softmax only")
    if a.row is not None:
        if not any(op in COMPOSITES for op in ops):
            raise FitError("--row applies to softmax and layernorm only")
        if not 2 <= a.row <= 4096:
            raise FitError(f"--row {a.row} is out of range: use 2..4096")
    if a.row_buffers is not None and not any(op in COMPOSITES for op in ops):
        raise FitError("--row-buffers applies to softmax and layernorm only")
    try:                    # the generator's own checks, before anything is fitted or written
        if a.sm_in_frac is not None:
            check_sm_in_frac(a.sm_in_frac, "--sm-in-frac")
        if a.row_buffers is not None:
            check_row_buffers(a.row_buffers, "--row-buffers")
    except ValueError as e:
        raise FitError(str(e)) from None
    fmts = _list(a.format, str, "format", FORMATS)
    entries = [_entries(e) for e in _list(a.entries, int, "entries")]
    stages = _list(a.stages, int, "stages", [0, 1, 2, 3])
    luts = _list(a.lut, str, "lut", ["rom", "regs"])
    ftzs = _list(a.ftz, int, "ftz", [0, 1])
    opts = fit_opts(a)
    done = set()
    for op in ops:
        for fmt in fmts:
            for n in entries:
                for st in stages:
                    for lut in luts:
                        for ftz in ftzs:
                            ftz = bool(ftz) and fmt == "fp32"
                            if op in COMPOSITES:      # row-wise: int8 tables, own timing
                                fmt, st, lut, ftz = "int8", 1, "rom", False
                            key = (op, fmt, n, st, lut, ftz)
                            if key in done:
                                continue
                            done.add(key)
                            t0 = time.perf_counter()
                            if op in COMPOSITES:
                                try:
                                    out = build_unit(op, fmt, n, st, lut, ftz, a.build, a.quiet, row=a.row,
                                                     ln=ln if op == "layernorm" else None,
                                                     sm_in_frac=4 if a.sm_in_frac is None else a.sm_in_frac,
                                                     row_buffers=a.row_buffers or 2, **opts)
                                except ValueError as e:     # an impossible row-wise configuration
                                    raise FitError(str(e)) from None
                            else:
                                out = build_unit(op, fmt, n, st, lut, ftz, a.build, a.quiet, **opts)
                            m = json.loads((out / "manifest.json").read_text())
                            print(f"{out}/  top {m['top']}  latency {m['latency_cycles']}  "
                                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
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
    p.add_argument("op", help=f"operator to fit: {', '.join(functions.FUNCTIONS)}")
    p.add_argument("--entries", "-n", type=int, default=8, help="table entries N (segments), 1..256 (default 8)")
    p.add_argument("--format", default="int8", choices=list(FORMATS),
                   help="int8 (the paper's unit), int16, int32 (same ranges, 8 or 24 more fractional "
                        "bits, int8 breakpoints), fp32 (binary32 table from the int8 breakpoints)")
    p.add_argument("--frac", "--fracs", dest="fracs", default=None, metavar="J..K",
                   help="multi-scale: one table per input scale 2^-j (the paper keeps one per power-of-two "
                        "scale), j from a range 1..6 or 1-6 or a list 1,3,5; writes "
                        "build/<op>_<format>_e<N>_f<j>/spec.json; other formats unchanged")
    add_fit_args(p)
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("gen", help="fit or reuse the spec, then build the unit (what `make gen` runs)",
                       description="Build units into build/<op>_<format>_e<N>[_s<stages>][_regs][_ftz]/: "
                                   "Verilog, spec.json, manifest.json, fit.png. Every list option takes "
                                   "comma-separated values and builds the cross product.")
    p.add_argument("op", help=f"op, comma list, or 'all': {', '.join(functions.FUNCTIONS)}, "
                              "softmax, layernorm (row-wise; int8 only, --stages/--lut do not apply)")
    p.add_argument("--entries", "-n", default="8", help="table entries, comma list (default 8)")
    p.add_argument("--format", default="int8", help="int8|int16|int32|fp32, comma list (default int8)")
    p.add_argument("--stages", default="1", help="pipeline registers 0..3, comma list (default 1)")
    p.add_argument("--lut", default="rom", help="rom|regs, comma list (default rom)")
    p.add_argument("--ftz", default="0", help="fp32 only: 1 = flush subnormals to zero; comma list (default 0)")
    g = p.add_argument_group("row-wise units (softmax, layernorm)",
                             "Non-default values add a suffix to the unit's name (hw.gen.rowwise_name).")
    g.add_argument("--row", type=int, default=None, metavar="N",
                   help="softmax: longest row ROW_MAX (default 128, suffix _r<N>); layernorm: the row "
                        "length (default 64, suffix _n<N>); 2..4096")
    g.add_argument("--row-buffers", type=int, default=None, metavar="B",
                   help="row buffers, 1 or 2 (default 2: the next row loads while the previous one is "
                        "processed: softmax 2n+1 clocks per row, layernorm n). 1 halves the row memory, "
                        "a large part of the area where it is flip-flops (OSU 0.18 um: softmax about 40 %%, "
                        "layernorm 30 %% smaller), at softmax 3n+1 and layernorm n+2 clocks per row; "
                        "suffix _b1")
    g.add_argument("--sm-in-frac", type=int, default=None, metavar="F",
                   help="softmax: scores are s8.F, F in 0..7 (default 4); the exp table is fitted over "
                        "[-2^(7-F), 0] and the unit is named _i8f<F>")
    g.add_argument("--ln-in", default=None, metavar="sB.F",
                   help="layernorm input format, signed, 2..16 bits (default s8.4; suffix _i<B>f<F>)")
    g.add_argument("--ln-out", default=None, metavar="sB.F",
                   help="layernorm output format, signed, 2..16 bits (default s8.5; suffix _o<B>f<F>); fewer "
                        "fractional bits than the rsqrt table's output (8 at int8, 16 at int16)")
    g.add_argument("--ln-rsqrt", default=None, choices=["auto", "int8", "int16"],
                   help="layernorm rsqrt table: int8 (u8.6 -> u9.8), int16 (u16.14 -> u17.16), or auto "
                        "(default: int16 when --ln-out is wider than 8 bits); the unit is named after it")
    g.add_argument("--ln-eps", type=float, default=None, help="layernorm eps (default 1e-5)")
    g.add_argument("--ln-affine", action="store_true",
                   help="layernorm with per-channel gamma and beta: y = sat(round(z*gamma + beta)), "
                        "tables in registers reset to the initial contents, written through "
                        "cfg_we/cfg_addr/cfg_data (suffix _aff)")
    g.add_argument("--ln-gamma", default=None, metavar="sB.F", help="gamma format (default s8.6)")
    g.add_argument("--ln-beta", default=None, metavar="sB.F",
                   help="beta format, at most the output's fractional bits (default s8.5)")
    g.add_argument("--ln-params", type=Path, default=None, metavar="FILE",
                   help="initial gamma/beta (implies --ln-affine): JSON {\"gamma\": [...], \"beta\": [...]} "
                        "or .npy of shape (2, row) in real units, rounded to the formats "
                        "(default gamma 1, beta 0; other contents add _p<hash>)")
    add_fit_args(p)
    p.set_defaults(func=cmd_gen)
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
