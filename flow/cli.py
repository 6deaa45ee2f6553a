"""``gqa-lut``: the one command line of the project (``make`` calls it).

``gqa-lut gen|fit|ops|check|handoff`` live here; ``sim``, ``synth``,
``bench-fit``, ``bench-rowwise``, ``sim-long`` and ``eval`` hand their
arguments to their own modules. ``--from-env`` (what the Makefile passes)
reads the make variables (OP, FORMAT, ...) from the environment, so a
variable's value reaches the program as one argument and never as shell
text. Every failure is one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from flow.config import (FIT_DEFAULTS, IMPLS, one_line, FORMATS, LUTS, METHODS, OBJECTIVES, ROWWISE, RULES, ConfigError,
                         Elementwise, FitOptions, LayerNorm, RMSNorm, Softmax, SpecUnit, check_lanes, parse_fixed)
from flow.config import ROW_STORES  # noqa: E402

#: the normalizations: one set of options (--ln-*), one configuration class each
NORMS = {"layernorm": LayerNorm, "rmsnorm": RMSNorm}

#: subcommands run by another module's ``main(argv)``
DELEGATES = {"sim": "sim.units", "synth": "synth.report", "bench-fit": "eval.bench_fit",
             "bench-rowwise": "eval.bench_rowwise",
             "bench-rowstore": "eval.bench_rowstore", "sim-long": "sim.long", "eval": "eval.minilm.run",
             "dse": "flow.dse", "dse-model": "eval.dse_model", "clean": "flow.clean"}

#: make variable -> option, per subcommand (None: positional; "list": shlex-split arguments)
MAKE_VARS = {
    "gen": [("OP", None), ("SPEC", "--spec"), ("FORMAT", "--format"), ("ENTRIES", "--entries"),
            ("STAGES", "--stages"), ("LUT", "--lut"), ("IMPL", "--impl"), ("FTZ", "--ftz"), ("LANES", "--lanes"),
            ("CLOCK_MHZ", "--clock-mhz"),
            ("SEED", "--seed"), ("METHOD", "--method"), ("MAX_ERR_LSB", "--max-err-lsb"),
            ("ROW", "--row"), ("ROW_BUFFERS", "--row-buffers"), ("ROW_STORE", "--row-store"),
            ("SM_IN_FRAC", "--sm-in-frac"),
            ("LN_IN", "--ln-in"), ("LN_OUT", "--ln-out"), ("LN_RSQRT", "--ln-rsqrt"), ("LN_EPS", "--ln-eps"),
            ("LN_AFFINE", "--ln-affine"), ("LN_GAMMA", "--ln-gamma"), ("LN_BETA", "--ln-beta"),
            ("LN_PARAMS", "--ln-params"), ("HANDOFF", "--handoff"), ("BUILD", "--build"),
            ("FITARGS", "list"), ("GENARGS", "list")],
    "dse": [("OP", "--ops"), ("FORMATS", "--formats"), ("MAX_ERR_LSB", "--max-err-lsb"), ("CLOCK_MHZ", "--clock-mhz"),
            ("BUILD", "--build"),
            ("JOBS", "--jobs"), ("DSE_SCHEDULER", "--scheduler"), ("LIBERTY", "--liberty"), ("DSEARGS", "list")],
    "fit": [("OP", None), ("FORMAT", "--format"), ("ENTRIES", "--entries"), ("IMPL", "--impl"), ("SEED", "--seed"),
            ("METHOD", "--method"), ("MAX_ERR_LSB", "--max-err-lsb"), ("FRACS", "--frac"), ("BUILD", "--build"), ("FITARGS", "list")],
}


#: the longest make variable value accepted (PATH_MAX: the longest path the system takes)
MAX_VAR_CHARS = 4096


class UsageError(Exception):
    """argparse's complaint, turned into one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(one_line(f"{self.prog}: {message} (see {self.prog} --help)"))


def from_env(cmd: str, env=os.environ) -> list[str]:
    """The make variables of ``cmd`` found in ``env`` as arguments."""
    argv: list[str] = []
    for var, opt in MAKE_VARS[cmd]:
        v = env.get(var, "")
        if v == "":
            continue
        if len(v) > MAX_VAR_CHARS:      # no option needs more (a path is at most 4096 bytes); keeps errors readable
            raise UsageError(f"{var} is {len(v)} characters long; at most {MAX_VAR_CHARS}")
        if opt is None:
            argv.insert(0, v)
        elif opt == "list":
            try:
                argv += shlex.split(v)
            except ValueError as e:
                raise UsageError(one_line(f"{var}: {e} (quote the value as for a shell command line)")) from None
        elif opt == "--ln-affine":
            if v not in ("0", "1"):
                raise UsageError(one_line(f"LN_AFFINE={v}: use 0 or 1"))
            argv += [opt] if v == "1" else []
        elif opt == "--handoff":
            if v not in ("0", "1"):
                raise UsageError(one_line(f"HANDOFF={v}: use 0 or 1"))
            argv += ["--no-handoff"] if v == "0" else []
        else:
            argv += [opt, v]
    if cmd == "gen" and env.get("HANDOFF", "") != "0":
        argv.append("--handoff")
    if cmd == "gen" and not env.get("OP") and not env.get("SPEC"):
        argv.insert(0, "gelu")
    if cmd == "fit" and not env.get("OP"):
        argv.insert(0, "gelu")
    return argv


def _int(what: str):
    def conv(v: str) -> int:
        try:
            return int(v, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} '{v}' is not an integer") from None
    return conv


def _float(what: str):
    def conv(v: str) -> float:
        try:
            return float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} '{v}' is not a number") from None
    return conv


def _range(v: str) -> tuple:
    parts = v.replace(",", " ").split()
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--range '{v}': need two numbers LO HI") from None
    return lo, hi


def _merge_range(argv: list[str]) -> list[str]:
    """``--range LO HI`` -> one argument, so that LO may start with a minus
    sign in any spelling (-4e0, -.5) without argparse taking it for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--range" and i + 2 < len(argv):
            out += ["--range", f"{argv[i + 1]} {argv[i + 2]}"]
            i += 3
        else:
            out.append(argv[i])
            i += 1
    return out


def _list(v: str, conv, what: str) -> list:
    items = [x for x in v.split(",") if x != ""]
    out = []
    for x in items:
        try:
            out.append(conv(x))
        except ValueError:
            raise ConfigError(f"{what} '{x}' is not {'an integer' if conv is int else 'valid'}") from None
    if not out:
        raise ConfigError(f"{what} '{v}' is empty")
    return out


def add_fit_args(p: argparse.ArgumentParser) -> None:
    """Fit options shared by ``fit`` and ``gen`` (defaults: the paper's GA)."""
    g = p.add_argument_group("fit options (any away from its default gives the unit a _v<hash> suffix)")
    g.add_argument("--seed", type=_int("--seed"), default=0, help="random seed; same seed, same table (default 0)")
    g.add_argument("--range", type=_range, metavar="LO HI",
                   help="fitting range in x units, two numbers (default: the op's, see `gqa-lut ops`)")
    g.add_argument("--method", default="ga", choices=METHODS,
                   help="ga: the GQA-LUT genetic search (default); uniform: evenly spaced breakpoints; "
                        "exact: optimal segmentation by dynamic programming over the input codes "
                        "(inputs up to 9 bits; fitter/exact.py)")
    g.add_argument("--objective", default="hw", choices=OBJECTIVES,
                   help="hw: mse_hw through the golden model (default); fp: mse_fp, the reference code's "
                        "protocol; rel: mse_hw weighted by 1/f(x)^2 (relative error)")
    g.add_argument("--rule", default="auto", choices=RULES,
                   help="slope/intercept per segment: least squares, the paper's chord, or auto = the better "
                        "of the two (default)")
    g.add_argument("--max-err-lsb", type=_float("--max-err-lsb"), default=None, metavar="B",
                   help="instead of --entries: the fewest entries (pwl or uniform) whose table meets max error "
                        "<= B output LSB on every code, certified by the golden model (exact minimax search, "
                        "fitter/minimal.py); the unit is named _m<B>")
    g.add_argument("--population", type=_int("--population"), default=50, help="GA population, 2..100000 (default 50)")
    g.add_argument("--generations", type=_int("--generations"), default=500,
                   help="GA generations, 0..10^7 (default 500)")
    g.add_argument("--round-prob", type=_float("--round-prob"), default=None,
                   help="rounding-mutation probability 0..1 (default: paper Table 1, 0.05, or 0 for "
                        "reciprocal/rsqrt)")
    for name, what in (("in-frac", "input"), ("out-frac", "output"), ("slope-frac", "slope"),
                       ("intercept-frac", "intercept")):
        g.add_argument(f"--{name}", type=_int(f"--{name}"), default=None,
                       help=f"fractional bits of the {what} format at int8, -32..32 (default: the op's)")
    for name, what in (("in-bits", "input"), ("out-bits", "output"), ("slope-bits", "slope"),
                       ("intercept-bits", "intercept")):
        g.add_argument(f"--{name}", type=_int(f"--{name}"), default=None,
                       help=f"{what} width at int8, 2..32 (default: the op's)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--force", action="store_true", help="refit even when a matching table is cached")
    p.add_argument("--build", type=Path, default=Path("build"), help="output root (default build/)")


def fit_options(a, **over) -> FitOptions:
    kw = {k: getattr(a, k) for k in FIT_DEFAULTS}
    kw["range"] = tuple(a.range) if a.range else None
    kw.update(over)
    return FitOptions(**kw)


def _rowwise_opts_given(a) -> list[str]:
    flags = [("--row", a.row), ("--row-buffers", a.row_buffers), ("--row-store", a.row_store),
             ("--sm-in-frac", a.sm_in_frac),
             ("--ln-in", a.ln_in), ("--ln-out", a.ln_out), ("--ln-rsqrt", a.ln_rsqrt), ("--ln-eps", a.ln_eps),
             ("--ln-gamma", a.ln_gamma), ("--ln-beta", a.ln_beta), ("--ln-params", a.ln_params)]
    return [k for k, v in flags if v is not None] + (["--ln-affine"] if a.ln_affine else [])


def _given(v, default):
    return default if v is None else v


def configs(a) -> list:
    """Every configuration a ``gen`` command line asks for, all validated
    before anything is fitted or written."""
    from fitter import functions
    if a.clock_mhz is not None:
        if a.stages is not None:
            raise ConfigError(f"STAGES={a.stages} and CLOCK_MHZ={a.clock_mhz} both set the pipelining: give one (with "
                              "CLOCK_MHZ the STAGES that meets it with the least area is chosen)")
        if a.spec is not None:
            raise ConfigError("CLOCK_MHZ applies to the fitted element-wise units, not to a unit built from --spec "
                              "(give STAGES=n)")
        if all(op in ROWWISE for op in _list(a.op or "gelu", str, "op")):
            raise ConfigError(f"CLOCK_MHZ applies to the element-wise ops, not to {a.op} (row-wise)")
    a.stages = "1" if a.stages is None else a.stages
    if a.spec is not None:
        if a.op is not None:
            raise ConfigError("give an op or --spec, not both")
        if _rowwise_opts_given(a):
            raise ConfigError(f"{_rowwise_opts_given(a)[0]} does not apply to a unit built from --spec")
        if a.impl is not None:
            raise ConfigError("--impl does not apply to a unit built from --spec (the spec's own 'impl' field "
                              "says which unit it is)")
        if a.spec.is_dir():
            raise ConfigError(f"--spec {a.spec}: is a directory, need a spec file")
        lanes = [check_lanes(n) for n in _list(a.lanes, int, "lanes")]
        return [SpecUnit(a.spec, s, lut, bool(f), lanes=n) for s in _list(a.stages, int, "stages")
                for lut in _list(a.lut, str, "lut") for f in _list(a.ftz, int, "ftz") for n in lanes]
    op_arg = a.op or "gelu"
    known = list(functions.FUNCTIONS) + list(ROWWISE)
    ops = known if op_arg == "all" else _list(op_arg, str, "op")
    for op in ops:
        if op not in known:
            raise ConfigError(str(functions.UnknownOp(op, known)))
    fit = fit_options(a)
    given = _rowwise_opts_given(a)
    ln_given = [g for g in given if g.startswith("--ln-")]
    norms = [op for op in ops if op in NORMS]
    if ln_given and not norms:
        raise ConfigError(f"{ln_given[0]} applies to layernorm and rmsnorm only")
    if a.sm_in_frac is not None and "softmax" not in ops:
        raise ConfigError("--sm-in-frac applies to softmax only")
    for flag in ("--row", "--row-buffers", "--row-store"):
        if flag in given and not any(op in ROWWISE for op in ops):
            raise ConfigError(f"{flag} applies to the row-wise ops only ({', '.join(ROWWISE)})")
    fmts, entries = _list(a.format, str, "format"), _list(a.entries, int, "entries")
    stages, luts, ftzs = _list(a.stages, int, "stages"), _list(a.lut, str, "lut"), _list(a.ftz, int, "ftz")
    for f in ftzs:
        if f not in (0, 1):
            raise ConfigError(f"ftz {f}: use 0 or 1")
    if 1 in ftzs and "fp32" not in fmts:
        raise ConfigError(f"FTZ=1 applies to fp32 units only (FORMAT={a.format})")
    impls = _list(a.impl or "pwl", str, "impl")
    lanes = [check_lanes(n) for n in _list(a.lanes, int, "lanes")]
    element_wise_opts = any(f != "int8" for f in fmts) or stages != [1] or luts != ["rom"] or 1 in ftzs or impls != ["pwl"]
    if all(op in ROWWISE for op in ops) and element_wise_opts:
        raise ConfigError("--format/--stages/--lut/--ftz/--impl do not apply to the row-wise ops "
                          "(their formats are options of their own: --ln-in, --ln-out, --sm-in-frac)")
    out, seen = [], set()
    for op in ops:
        for n in entries:
            if op == "softmax":
                cfgs = [Softmax(n, _given(a.row, 128), _given(a.sm_in_frac, 4), _given(a.row_buffers, 2), fit,
                                _given(a.row_store, "ff"), p) for p in lanes]
            elif op in NORMS:
                if (a.ln_gamma or a.ln_beta) and not (a.ln_affine or a.ln_params):
                    raise ConfigError("--ln-gamma/--ln-beta need --ln-affine (or --ln-params)")
                kw = {}
                for key, v, what in (("input", a.ln_in, "--ln-in"), ("out", a.ln_out, "--ln-out"),
                                     ("gamma_fmt", a.ln_gamma, "--ln-gamma"), ("beta_fmt", a.ln_beta, "--ln-beta")):
                    if v is not None:
                        kw[key] = parse_fixed(v, what)
                if a.ln_eps is not None:
                    kw["eps"] = a.ln_eps
                if a.ln_rsqrt is not None:
                    kw["rsqrt"] = a.ln_rsqrt
                cfgs = [NORMS[op](n, _given(a.row, 64), affine=a.ln_affine, row_buffers=_given(a.row_buffers, 2),
                                  params=a.ln_params, fit=fit, row_store=_given(a.row_store, "ff"), lanes=p, **kw)
                        for p in lanes]
            else:
                cfgs = [Elementwise(op, fmt, n, st, lut, bool(ftz) and fmt == "fp32", fit, impl, p, a.clock_mhz)
                        for impl in impls for fmt in fmts for st in stages for lut in luts for ftz in ftzs
                        for p in lanes]
            for c in cfgs:
                if c.name not in seen:
                    seen.add(c.name)
                    out.append(c)
    return out


def cmd_gen(a) -> int:
    from flow.build import build, check_output_root
    cfgs = configs(a)
    check_output_root(a.build)
    for cfg in cfgs:
        t0 = time.perf_counter()
        unit = build(cfg, a.build, a.quiet, a.force, handoff=a.handoff)
        man = json.loads((unit / "manifest.json").read_text())
        print(f"{shlex.quote(str(unit) + '/')}  top {man['top']}  latency {man['latency_cycles'] if man.get('stages') is not None else 'row-wise'}"
              f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
        if man.get("clock_mhz") is not None:
            c = man["clock"]
            print(f"  clock {c['target_mhz']} MHz: STAGES={c['stages']} (latency {c['latency_cycles']}), fmax "
                  f"{c['fmax_mhz']} MHz, {c['area_um2']:,.0f} um2 (OpenSTA, {c['liberty']})", flush=True)
        found = _found_line(unit, man) if getattr(getattr(cfg, "fit", None), "max_err_lsb", None) is not None \
            else None
        if found:
            print(found, flush=True)
        if a.handoff:
            print(f"  handoff: {shlex.quote(str(unit / 'handoff'))}  (verify: sh "
                  f"{shlex.quote(str(unit / 'handoff' / 'run_tb.sh'))} icarus)", flush=True)
    return 0


def _found_line(unit: Path, man: dict) -> str | None:
    """What a MAX_ERR_LSB search found (the unit's spec records it in
    ``fit.minimal``): the entry count and the certified maximum error."""
    try:
        spec = json.loads((unit / man.get("spec", "spec.json")).read_text())
        found = spec["fit"]["minimal"]
        cert = found["certificate"]
        bound, err, n = float(found["bound_lsb"]), float(cert["max_err_lsb"]), int(found["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    what = "segments" if found.get("impl") == "poly" else "entries"
    return (f"  max-err-lsb {bound:g}: found {n} {what} (the fewest within {bound:g} LSB), certified max error "
            f"{err:.3f} LSB on every input code")


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
        raise ConfigError(f"--frac '{v}' is not a range J..K, J-K or a comma list") from None
    if not items or any(not 0 <= j <= 16 for j in items):
        raise ConfigError(f"--frac '{v}': use input fractional bits in 0..16, e.g. 1..6")
    return items


def _fit_scale(a, cfg: Elementwise, j: int, cache: dict):
    """One table of a multi-scale fit at input frac ``j``, cached in
    build/<op>_<format>_e<N>_f<j>/ (``cfg.table_id`` + ``_f<j>``: impl table
    or uniform name their own directories; wide pwl formats reuse the int8
    table of the same scale); its range shrinks to what the scale's input
    format holds."""
    from fitter import functions
    from fitter.fit import datapath
    from flow.build import ensure_spec
    if (cfg.format, j) in cache:
        return cache[(cfg.format, j)]
    lo, hi = cfg.fit.range or functions.get(cfg.op).range
    x = datapath(functions.get(cfg.op), "int8", in_frac=j, in_bits=cfg.fit.in_bits).x
    rng = (max(lo, x.to_real(x.min_code).item()), min(hi, x.to_real(x.max_code).item()))
    from dataclasses import replace
    scaled = replace(cfg, fit=replace(cfg.fit, in_frac=j, range=rng))
    bps8 = (_fit_scale(a, cfg.table("int8"), j, cache)[0].arrays()[0]
            if cfg.format != "int8" and cfg.impl == "pwl" else None)
    from fitter.problem import FitError
    try:
        r = ensure_spec(scaled, a.build, a.quiet, out=Path(a.build) / f"{cfg.table_id}_f{j}",
                        bps8=bps8, force=a.force)
    except FitError as e:
        raise ConfigError(f"--frac {j}: {e}") from None
    cache[(cfg.format, j)] = r
    return r


def fit_configs(a) -> list[Elementwise]:
    """Every table a ``fit`` command line asks for (op, format, entries and
    impl take comma lists, as for ``gen``), all validated before anything
    is fitted. Only element-wise ops have a table of their own to fit."""
    from fitter import functions
    elementwise = list(functions.FUNCTIONS)
    ops = elementwise if a.op == "all" else _list(a.op, str, "op")
    for op in ops:
        if op in ROWWISE:
            raise ConfigError(f"fit applies to the element-wise ops ({', '.join(elementwise)}); {op} is "
                              f"row-wise: make gen OP={op} fits its tables")
        if op not in elementwise:
            raise ConfigError(f"{functions.UnknownOp(op, elementwise)} (fit applies to the element-wise ops)")
    fmts, entries = _list(a.format, str, "format"), _list(a.entries, int, "entries")
    impls = _list(a.impl, str, "impl")
    fit = fit_options(a)
    out, seen = [], set()
    for op in ops:
        for impl in impls:
            for fmt in fmts:
                for n in entries:
                    cfg = Elementwise(op, fmt, n, fit=fit, impl=impl)
                    if cfg.fit_dir(a.build) not in seen:
                        seen.add(cfg.fit_dir(a.build))
                        out.append(cfg)
    return out


def cmd_fit(a) -> int:
    from flow.build import check_output_root, ensure_spec
    cfgs = fit_configs(a)
    if a.fracs is not None:
        if any(c.format == "fp32" for c in cfgs):
            raise ConfigError("--frac: an fp32 table has no input scale; use an integer --format")
        if a.in_frac is not None:
            raise ConfigError("--frac and --in-frac both set the input scale; give one")
        fracs = _fracs(a.fracs)
    check_output_root(a.build)
    for cfg in cfgs:
        if a.fracs is not None:
            cache: dict = {}
            for j in fracs:
                t1 = time.perf_counter()
                spec, path, _ = _fit_scale(a, cfg, j, cache)
                m = spec.fit["metrics"]
                print(f"{path}  in {spec.input.label()}  mse_hw {m['mse_hw']:.3e}  mse_fp {m['mse_fp']:.3e}  "
                      f"max_err {m['max_err_lsb']:.2f} LSB  ({time.perf_counter() - t1:.1f} s)", flush=True)
            continue
        t0 = time.perf_counter()
        spec, path, _ = ensure_spec(cfg, a.build, a.quiet, force=a.force)
        m = spec.fit["metrics"]
        print(f"{path}  mse_hw {m['mse_hw']:.3e}  mse_fp {m['mse_fp']:.3e}  "
              f"max_err {m['max_err_lsb']:.2f} LSB  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


def cmd_ops(a) -> int:
    from fitter import functions
    for f in functions.FUNCTIONS.values():
        print(f"{f.name:11s} range [{f.range[0]:g}, {f.range[1]:g}]  in {f.input.label()}  "
              f"out {f.output.label()}  slope {f.slopes.label()}  intercept {f.intercepts.label()}  {f.doc}")
    print("softmax     row-wise: scores s8.4 (SM_IN_FRAC), probabilities u8.8; tables exp, recip")
    print("layernorm   row-wise: s8.4 in, s8.5 out (LN_IN, LN_OUT); table rsqrt")
    print("rmsnorm     row-wise: s8.4 in, s8.5 out (LN_IN, LN_OUT); table rsqrt; no mean, gamma only")
    return 0


def cmd_check(a) -> int:
    from hw.spec import Spec
    spec = Spec.load(a.spec)
    print(f"{a.spec}: valid {spec.format_name} spec for {spec.op}, {spec.entries} entries")
    return 0


def cmd_handoff(a) -> int:
    from hw.handoff.package import build
    out = build(a.unit_dir, a.out)
    print(f"{shlex.quote(str(out))}  (verify: sh {shlex.quote(str(out / 'run_tb.sh'))} icarus)")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="gqa-lut", description="GQA-LUT: fit quantization-aware PWL tables and build bit-exact "
                "units (Verilog, golden model, handoff package). Subcommands sim, synth, bench-fit, "
                "bench-rowwise, sim-long and eval take their own --help.")
    ap.add_argument("--from-env", action="store_true",
                    help="read the make variables (OP, FORMAT, ...) from the environment (what make runs)")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    p = sub.add_parser("fit", help="fit one table: build/<op>_<format>_e<N>[_v<hash>]/spec.json + fit.png",
                       description="Fit an op's table with the GQA-LUT genetic search (or --method); "
                                   "writes spec.json (DESIGN.md, 'The LUT spec') and fit.png.")
    p.add_argument("op", help="element-wise op, comma list or 'all': gelu, hswish, silu, sigmoid, tanh, exp, "
                              "reciprocal, rsqrt (the row-wise units' tables are fitted by gen)")
    p.add_argument("--entries", "-n", default="8", help="table entries 1..256, comma list (default 8)")
    p.add_argument("--format", default="int8",
                   help="int8 (default), int10, int12, int16, int32 (2, 4, 8 or 24 more fractional bits, int8 "
                        "breakpoints), fp32 (binary32 lines on the int8 breakpoints); comma list")
    p.add_argument("--impl", default="pwl",
                   help=f"{'|'.join(IMPLS)}, comma list: pwl (default): GQA-LUT breakpoints; uniform: 2^k equal "
                        "segments (entries a power of two), writes build/<op>_<format>_e<N>_uniform/; table: "
                        "every input code correctly rounded (int8/int10/int12), build/<op>_<format>_table/")
    p.add_argument("--frac", "--fracs", dest="fracs", default=None, metavar="J..K",
                   help="multi-scale: one table per input scale 2^-j, j in 0..16 as 1..6, 1-6 or 1,3,5; "
                        "writes build/<op>_<format>_e<N>_f<j>/spec.json")
    add_fit_args(p)
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("gen", help="fit or reuse the tables, build units (what `make gen` runs)",
                       description="Build units into build/<unit name>/: Verilog, spec(s), manifest.json "
                                   "(with the unit's request and regenerate line), fit.png; --handoff adds "
                                   "the stand-alone package. List options take comma-separated values and "
                                   "build the cross product.")
    p.add_argument("op", nargs="?", default=None,
                   help="op, comma list or 'all' (default gelu): gelu, hswish, silu, sigmoid, tanh, exp, "
                        "reciprocal, rsqrt; softmax, layernorm, rmsnorm (row-wise)")
    p.add_argument("--spec", type=Path, default=None,
                   help="build from your own spec file instead of fitting (DESIGN.md, 'The LUT spec'); the "
                        "unit is named after the table's content: <op>_<format>_e<N>_u<hash>")
    p.add_argument("--entries", "-n", default="8", help="table entries 1..256, comma list (default 8)")
    p.add_argument("--format", default="int8", help="int8|int10|int12|int16|int32|fp32, comma list (default int8)")
    p.add_argument("--impl", default=None,
                   help=f"{'|'.join(IMPLS)}, comma list (default pwl; IMPL=): pwl, the GQA-LUT comparator bank; "
                        "uniform, 2^k equal segments addressed by the input's top bits (--entries a power of two; "
                        "name <op>_<format>_e<N>_uniform); table, direct lookup of every input code, correctly "
                        "rounded (int8, int10, int12 only; --entries does not apply; name <op>_<format>_table). "
                        "Search options (--seed, --population, ...) apply to pwl only")
    p.add_argument("--stages", default=None, help="pipeline registers 0..3, comma list (default 1)")
    p.add_argument("--clock-mhz", type=_int("--clock-mhz"), default=None, metavar="F",
                   help="element-wise units: the target clock, integer MHz 1..2000 (CLOCK_MHZ=; name suffix _c<F>): "
                        "STAGES 0..3 are synthesized and timed by OpenSTA at 1000/F ns and the least area that meets "
                        "F is built; if none does, an error names the best fmax. Not with --stages")
    p.add_argument("--lut", default="rom", help=f"{'|'.join(LUTS)}, comma list (default rom): constants, or "
                   "registers written through cfg_*")
    p.add_argument("--ftz", default="0", help="fp32 only: 1 = flush subnormals to zero; comma list (default 0)")
    p.add_argument("--lanes", default="1",
                   help="element-wise units: P = 1, 2, 4, 8, 16 or 32 inputs and results per clock on one table, "
                        "flat vector ports (lane i in x[i*w +: w], y[i*w +: w]); layernorm and rmsnorm with "
                        "--row-store none or sram: P elements per transfer (in_data, out_data); comma list "
                        "(default 1; LANES=; name suffix _l<P>)")
    p.add_argument("--handoff", action="store_true", help="also write build/<unit>/handoff/ (make gen does)")
    p.add_argument("--no-handoff", dest="handoff", action="store_false", help="do not (HANDOFF=0)")
    g = p.add_argument_group("row-wise units (softmax, layernorm, rmsnorm; --ln-* options apply to layernorm and "
                             "rmsnorm); non-default values add a suffix to the name")
    g.add_argument("--row", type=_int("--row"), default=None, metavar="N",
                   help="softmax: longest row ROW_MAX (default 128, _r<N>); layernorm: row length "
                        "(default 64, _n<N>); 2..4096")
    g.add_argument("--row-buffers", type=_int("--row-buffers"), default=None, metavar="B",
                   help="1 or 2 row buffers (default 2: the next row loads while one is processed); 1 is "
                        "smaller and slower, suffix _b1")
    g.add_argument("--row-store", default=None, choices=list(ROW_STORES),
                   help="ff (default): rows in flip-flop buffers (--row-buffers); none: no row store, the caller "
                        "streams every row again for each pass: layernorm/rmsnorm twice (statistics, outputs; "
                        "suffix _2pass), softmax three times (maximum, sum, outputs; suffix _3pass); sram: the row goes into "
                        "the chip's SRAM macro through sram_* ports (one word per element), and the unit replays it "
                        "(the caller streams once; suffix _sram); ROW_STORE=")
    g.add_argument("--sm-in-frac", type=_int("--sm-in-frac"), default=None, metavar="F",
                   help="softmax scores s8.F, F in 0..7 (default 4; _i8f<F>)")
    g.add_argument("--ln-in", default=None, metavar="sB.F", help="layernorm input, signed 2..16 bits (default s8.4)")
    g.add_argument("--ln-out", default=None, metavar="sB.F",
                   help="layernorm output, signed 2..16 bits (default s8.5), fewer fractional bits than the "
                        "rsqrt table's (8 at int8, 16 at int16)")
    g.add_argument("--ln-rsqrt", default=None, choices=["auto", "int8", "int16"],
                   help="layernorm rsqrt table (default auto: int16 when the output is wider than 8 bits)")
    g.add_argument("--ln-eps", type=_float("--ln-eps"), default=None, help="layernorm eps, 0 <= eps < 1 (default 1e-5)")
    g.add_argument("--ln-affine", action="store_true",
                   help="per-channel gamma/beta in registers (cfg_*), y = sat(round(z*gamma + beta)); _aff")
    g.add_argument("--ln-gamma", default=None, metavar="sB.F", help="gamma format (default s8.6)")
    g.add_argument("--ln-beta", default=None, metavar="sB.F", help="beta format (default s8.5)")
    g.add_argument("--ln-params", type=Path, default=None, metavar="FILE",
                   help="initial gamma/beta (implies --ln-affine): JSON {\"gamma\": [...], \"beta\": [...]} or "
                        ".npy of shape (2, row), real values; non-default contents add _p<hash>")
    add_fit_args(p)
    p.set_defaults(func=cmd_gen, handoff=False)
    p = sub.add_parser("ops", help="list the ops with their default ranges and formats")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("check", help="validate a spec file")
    p.add_argument("spec", type=Path)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("handoff", help="write a built unit's stand-alone package (UNIT_DIR/handoff/)")
    p.add_argument("unit_dir", type=Path, help="a unit directory made by gen (holds manifest.json)")
    p.add_argument("--out", type=Path, help="package directory (default: UNIT_DIR/handoff)")
    p.set_defaults(func=cmd_handoff)
    for name, mod in DELEGATES.items():
        sub.add_parser(name, help=f"see gqa-lut {name} --help ({mod})", add_help=False)
    return ap


def main(argv=None) -> int:
    from fitter.problem import FitError
    from hw.spec import SpecError
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["--from-env"] and len(argv) >= 2:
            argv = [argv[1]] + from_env(argv[1]) + argv[2:]
        if argv and argv[0] in DELEGATES:
            import importlib
            return importlib.import_module(DELEGATES[argv[0]]).main(argv[1:])
        a = parser().parse_args(_merge_range(argv))
        return a.func(a)
    except (UsageError, ConfigError, SpecError, FitError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except _handoff_errors() as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(one_line(f"error: {e.filename or ''}: {e.strerror or e}"), file=sys.stderr)
        return 2
    except RecursionError:
        print("error: an input file is nested too deeply to read", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:          # noqa: BLE001 - the last line of defence: one line, not a traceback
        if os.environ.get("GQA_DEBUG"):
            raise
        msg = (str(e).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(e).__name__}: {msg} (GQA_DEBUG=1 shows the traceback; please report it)",
              file=sys.stderr)
        return 2


def _handoff_errors():
    from hw.handoff.package import HandoffError
    from hw.handoff.rtl import RtlError
    return (HandoffError, RtlError)
