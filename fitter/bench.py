"""Fitter benchmark: accuracy and speed per op, entries and method.

``python -m fitter.bench`` (``make bench-fit``) prints a table and writes
``fit.json``, ``fit.md`` and the fitted specs under ``--out``. Tables use
the reference code's format: slopes and intercepts s8.6, breakpoints on the
2^-5 grid (input s8.5; u8.6 where the range is positive; exp on [-8, 0]
needs s9.5 for the same 2^-5 grid), fitted directly on the op's range.

The ``reference`` column is the paper's reference code's ``mse_fp`` under
the same protocol, as quoted in issue 7 (not measured here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from fitter import functions
from fitter.fit import fit
from fitter.ga import GAConfig
from hw.files import write_atomic
from hw.fixed import Fixed

#: (8 entries, 16 entries, runtime 8 s, runtime 16 s) of the reference code, quoted.
REFERENCE = {"gelu": (7.21e-5, 1.60e-5, 113, 193), "hswish": (3.33e-4, 1.90e-5, 253, 182),
             "silu": (1.84e-4, None, 138, None), "exp": (1.94e-5, 2.24e-5, 102, 86),
             "reciprocal": (4.02e-5, 2.06e-5, 37, 41), "rsqrt": (3.63e-5, 1.08e-5, 59, 62)}
COEF = Fixed(8, True, 6)


def bench_function(op: str) -> functions.Function:
    f = functions.get(op)
    lo, hi = f.range
    x = Fixed(8, False, 6) if lo >= 0 else (Fixed(9, True, 5) if lo < -4 else Fixed(8, True, 5))
    return replace(f, input=x, slopes=COEF, intercepts=COEF)


def run(ops, entries, methods, out: Path, quiet: bool) -> list[dict]:
    rows = []
    for op in ops:
        func = bench_function(op)
        for n in entries:
            for method in methods:
                t0 = time.perf_counter()
                # ga: scored by mse_fp like the reference; ga-hw: make fit's default (mse_hw)
                spec, _ = fit(func, n, method="uniform" if method == "uniform" else "ga",
                              ga=GAConfig(objective="hw" if method == "ga-hw" else "fp", quiet=True))
                secs = time.perf_counter() - t0
                m = spec.fit["metrics"]
                ref = REFERENCE.get(op)
                row = {"op": op, "entries": n, "method": method, "mse_fp": m["mse_fp"],
                       "mse_hw": m["mse_hw"], "max_err_lsb": m["max_err_lsb"], "seconds": round(secs, 2),
                       "reference_mse_fp": ref[0 if n == 8 else 1] if ref else None,
                       "reference_seconds": ref[2 if n == 8 else 3] if ref else None}
                rows.append(row)
                spec.save(out / "specs" / f"{op}_e{n}_{method}.json")
                if not quiet:
                    print(_line(row), flush=True)
    return rows


def _fmt(v, f="{:.3g}"):
    return "-" if v is None else f.format(v)


def _line(r) -> str:
    return (f"{r['op']:11s} {r['entries']:3d} {r['method']:8s} {_fmt(r['mse_fp']):>10s} "
            f"{_fmt(r['reference_mse_fp']):>10s} {_fmt(r['mse_hw']):>10s} {r['max_err_lsb']:6.2f} "
            f"{r['seconds']:8.2f} {_fmt(r['reference_seconds'], '{:.0f}'):>6s}")


HEADER = (f"{'op':11s} {'N':>3s} {'method':8s} {'mse_fp':>10s} {'ref mse_fp':>10s} {'mse_hw':>10s} "
          f"{'maxLSB':>6s} {'seconds':>8s} {'ref s':>6s}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fitter.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("build/bench"), help="output directory (default build/bench)")
    ap.add_argument("--ops", default="gelu,hswish,silu,exp,reciprocal,rsqrt", help="comma list of ops")
    ap.add_argument("--entries", default="8,16", help="comma list of table sizes")
    ap.add_argument("--methods", default="ga,ga-hw,uniform",
                    help="comma list: ga (objective mse_fp), ga-hw (objective mse_hw, make fit's default), uniform")
    ap.add_argument("--quiet", "-q", action="store_true")
    a = ap.parse_args(argv)
    try:
        ops = [functions.get(o).name for o in a.ops.split(",")]
        entries = [int(e) for e in a.entries.split(",")]
    except (functions.UnknownOp, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not a.quiet:
        print(HEADER)
    rows = run(ops, entries, a.methods.split(","), a.out, a.quiet)
    doc = {"protocol": "mse_fp on numpy.arange(lo, hi, 0.01); formats as the reference code; "
                       "reference columns quoted from issue 7, not measured here",
           "machine": {"cores": __import__("os").cpu_count()}, "rows": rows}
    write_atomic(a.out / "fit.json", json.dumps(doc, indent=2) + "\n")
    md = ["# Fitter benchmark", "", f"Command: `make bench-fit` ({doc['protocol']}).", "",
          "| op | N | method | mse_fp | reference mse_fp | mse_hw | max err (LSB) | seconds | reference s |",
          "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['op']} | {r['entries']} | {r['method']} | {_fmt(r['mse_fp'])} | {_fmt(r['reference_mse_fp'])} | "
           f"{_fmt(r['mse_hw'])} | {r['max_err_lsb']:.2f} | {r['seconds']:.2f} | {_fmt(r['reference_seconds'], '{:.0f}')} |"
           for r in rows]
    write_atomic(a.out / "fit.md", "\n".join(md) + "\n")
    print(f"wrote {a.out}/fit.json and fit.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
