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

from fitter import functions
from flow import options
from flow.config import ROW_KINDS, ROWWISE, ConfigError, Elementwise, FitOptions, SpecUnit, one_line
from flow.fits import FITS
from flow.options import configs, fit_options  # noqa: F401 (gqa-lut gen's configurations; tests use them)

#: subcommands run by another module's ``main(argv)``
DELEGATES = {"sim": "sim.driver", "synth": "eval.synth_report", "bench-fit": "eval.bench_fit",
             "bench-rowwise": "eval.bench_rowwise",
             "bench-rowstore": "eval.bench_rowstore", "sim-long": "sim.long", "eval": "eval.minilm.run",
             "dse": "flow.dse", "dse-model": "eval.dse_model", "clean": "flow.clean"}

#: make variable -> option, per subcommand (None: positional; "list": shlex-split arguments)
MAKE_VARS = {
    "gen": [("OP", None)] + options.make_vars(SpecUnit, *options.GEN_KINDS, FitOptions, extra=(
        ("HANDOFF", "--handoff"), ("BUILD", "--build"), ("FITARGS", "list"), ("GENARGS", "list"))),
    "dse": [("OP", "--ops"), ("FORMATS", "--formats"), ("MAX_ERR_LSB", "--max-err-lsb"), ("CLOCK_MHZ", "--clock-mhz"),
            ("BUILD", "--build"),
            ("JOBS", "--jobs"), ("DSE_SCHEDULER", "--scheduler"), ("LIBERTY", "--liberty"), ("DSEARGS", "list")],
    "fit": [("OP", None)] + [(v, f) for v, f in options.make_vars(Elementwise, FitOptions)
                             if f in ("--format", "--entries", "--impl", "--seed", "--method", "--max-err-lsb")] + [
            ("FRACS", "--frac"), ("BUILD", "--build"), ("FITARGS", "list")],
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
        elif var in options.switches():
            if v not in ("0", "1"):
                raise UsageError(one_line(f"{var}={v}: use 0 or 1"))
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
    """Fit options shared by ``fit`` and ``gen`` (FitOptions' table; defaults: the paper's GA)."""
    options.add_fit_flags(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--force", action="store_true", help="refit even when a matching table is cached")
    p.add_argument("--build", type=Path, default=Path("build"), help="output root (default build/)")


def cmd_gen(a) -> int:
    from flow.build import build_unit, check_output_root
    cfgs = configs(a)
    check_output_root(a.build)
    for cfg in cfgs:
        t0 = time.perf_counter()
        unit, man = build_unit(cfg, a.build, a.quiet, a.force, handoff=a.handoff)
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
    what = FITS[found["impl"]].entries_word if found.get("impl") in FITS else "entries"
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
    from fitter.fit import datapath
    from flow.build import ensure_spec
    from flow.fits import FITS
    if (cfg.format, j) in cache:
        return cache[(cfg.format, j)]
    lo, hi = cfg.fit.range or functions.get(cfg.op).range
    x = datapath(functions.get(cfg.op), "int8", in_frac=j, in_bits=cfg.fit.in_bits).x
    rng = (max(lo, x.to_real(x.min_code).item()), min(hi, x.to_real(x.max_code).item()))
    from dataclasses import replace
    scaled = replace(cfg, fit=replace(cfg.fit, in_frac=j, range=rng))
    bps8 = (_fit_scale(a, cfg.table("int8"), j, cache)[0].arrays()[0]
            if FITS[cfg.impl].int8_first(cfg) else None)
    from fitter.problem import FitError
    try:
        r = ensure_spec(scaled, a.build, a.quiet, out=Path(a.build) / f"{cfg.table_id}_f{j}",
                        bps8=bps8, force=a.force)
    except FitError as e:
        raise ConfigError(f"--frac {j}: {e}") from None
    cache[(cfg.format, j)] = r
    return r


#: the unit options ``fit`` takes (a table's own; the rest are the unit's)
FIT_UNIT_FLAGS = ("--format", "--entries", "--impl")


def fit_configs(a) -> list[Elementwise]:
    """Every table a ``fit`` command line asks for (op, format, entries and
    impl take comma lists, as for ``gen``), all validated before anything
    is fitted. Only element-wise ops have a table of their own to fit."""
    elementwise = list(functions.FUNCTIONS)
    ops = elementwise if a.op == "all" else [x for x in a.op.split(",") if x]
    if not ops:
        raise ConfigError(f"op '{a.op}' is empty")
    for op in ops:
        if op in ROWWISE:
            raise ConfigError(f"fit applies to the element-wise ops ({', '.join(elementwise)}); {op} is "
                              f"row-wise: make gen OP={op} fits its tables")
        if op not in elementwise:
            raise ConfigError(f"{functions.UnknownOp(op, elementwise)} (fit applies to the element-wise ops)")
    given = {f: getattr(a, options.dest(f)) for f in FIT_UNIT_FLAGS if getattr(a, options.dest(f)) is not None}
    fit = fit_options(a)
    out, seen = [], set()
    for op in ops:
        for cfg in options.expand(Elementwise, given, {"op": op, "fit": fit}):
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
    for f in functions.FUNCTIONS.values():
        print(f"{f.name:11s} range [{f.range[0]:g}, {f.range[1]:g}]  in {f.input.label()}  "
              f"out {f.output.label()}  slope {f.slopes.label()}  intercept {f.intercepts.label()}  {f.doc}")
    for op, kind in ROW_KINDS.items():
        cfg = kind()
        names = list(cfg.table_options())
        print(f"{op:11s} row-wise: {cfg.summary()}; table{'s' if len(names) > 1 else ''} {', '.join(names)}")
    return 0


def cmd_vars(a) -> int:
    print("make gen variables: NAME [default] values (the ops it applies to); gqa-lut gen --help says what each "
          "does")
    print(f"  OP [gelu] {'|'.join([*functions.FUNCTIONS, *ROWWISE])}, a comma list or all")
    print("\n".join(options.variables(MAKE_VARS["gen"])))
    print("  BUILD [build]  HANDOFF [1] 0|1  FITARGS, GENARGS: more options, split like a shell command line")
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
    for flag in FIT_UNIT_FLAGS:
        par = Elementwise.PARAM[options.dest(flag)]
        p.add_argument(flag, *options.ALIASES.get(flag, ()), default=None,
                       help=f"{par.help} (default {par.default_text()}, comma list)")
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
                   help=f"op, comma list or 'all' (default gelu): {', '.join(functions.FUNCTIONS)}; "
                        f"{', '.join(ROWWISE)} (row-wise)")
    options.add_unit_flags(p)
    p.add_argument("--handoff", action="store_true", help="also write build/<unit>/handoff/ (make gen does)")
    p.add_argument("--no-handoff", dest="handoff", action="store_false", help="do not (HANDOFF=0)")
    add_fit_args(p)
    p.set_defaults(func=cmd_gen, handoff=False)
    p = sub.add_parser("ops", help="list the ops with their default ranges and formats")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("vars", help="list the make variables of make gen with their defaults and values")
    p.set_defaults(func=cmd_vars)
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
