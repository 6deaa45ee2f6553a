"""Accuracy of the row-wise units (every op of the registry) against float, in output LSBs.

``gqa-lut bench-rowwise`` (``make bench-rowwise``) fits or reuses
the tables at 8 and 16 entries, runs the bit-exact golden models (the ones
the RTL is proven against) over random rows, and prints a table; it writes
``rowwise.json`` and ``rowwise.md`` under ``--out``. An op whose row stores
compute differently is measured once per arithmetic (its configuration's
``ARITHMETIC_STORES``: softmax's buffered unit, and its two-pass unit).
``--sm-out-bits 8,10,12`` also measures the units that take wider
probabilities (the two-pass softmax) at each width.

Rows (seeded, so the figures are reproducible; each op's ``accuracy_rows``
in ``hw/<op>/stimulus.py``):

* softmax: lengths uniform in 1..ROW_MAX, scores N(0, sigma^2) in real units
  for sigma in 0.5, 1, 2, 4 (attention logits after the 1/sqrt(d) scaling
  mostly sit in this band), plus "peaked" rows where one score stands 2-6
  units above N(0, 1) neighbours; inputs rounded to the s8.4 grid and
  saturated;
* layernorm: x = mu + sigma * N(0, 1) with mu ~ N(0, 1) and sigma uniform in
  0.2..4 (real units, s8.4 grid), plus rows with one outlier at the input
  range's edge; rmsnorm takes layernorm's rows.

Error = |unit - float| with the float value clamped to the output range
(saturation is the format's, not an error of the unit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from flow.build import rowwise_model
from flow.config import ROW_KINDS
from hw.files import write_atomic
from hw.rowwise import stimulus


def measure(op: str, entries: int, n_rows: int, build: Path, seed: int, store: str = "ff", **options) -> dict:
    md, _ = rowwise_model(ROW_KINDS[op](entries, row_store=store, **options), build)
    rng = np.random.default_rng(seed)
    rows = stimulus(md).accuracy_rows(md, n_rows, rng)
    per: dict[str, list] = {}
    rowsum = []
    for label, x in rows:
        y = md.row(x)
        ref = np.clip(md.reference(x), md.out.min_code, md.out.max_code)
        per.setdefault(label, []).append(np.abs(y - ref))
        if md.ROW_SUM is not None:       # softmax: the probabilities of a row sum to one
            rowsum.append(abs(int(y.sum()) - round(md.ROW_SUM * 2 ** md.out.frac)))
    out = {"op": op, "store": store, "entries": entries, "rows": n_rows, "out": md.out.label(), "by_kind": {}}
    for label, errs in per.items():
        e = np.concatenate(errs)
        out["by_kind"][label] = {"rows": len(errs), "max_lsb": float(e.max()), "mean_lsb": float(e.mean()),
                                 "rows_within_2lsb": float(np.mean([x.max() <= 2 for x in errs]))}
    e = np.concatenate([x for errs in per.values() for x in errs])
    out.update(max_lsb=float(e.max()), mean_lsb=float(e.mean()),
               rows_within_2lsb=float(np.mean([x.max() <= 2 for errs in per.values() for x in errs])))
    if rowsum:
        out.update(rowsum_max_lsb=int(max(rowsum)), rowsum_mean_lsb=float(np.mean(rowsum)))
    return out


def _accepts(kind, store: str, out_bits: int) -> bool:
    """Whether configuration ``kind`` takes ``out_bits`` with row store ``store``."""
    try:
        kind(8, row_store=store, out_bits=out_bits)
    except ValueError:
        return False
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gqa-lut bench-rowwise", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000, help="random rows per unit and table size (default 10000)")
    ap.add_argument("--build", type=Path, default=Path("build"), help="where tables are fitted or reused")
    ap.add_argument("--out", type=Path, default=Path("build/bench"), help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sm-out-bits", default="8", metavar="B[,B...]",
                    help="also measure the units that take SM_OUT_BITS (the two-pass softmax) with "
                         "probabilities uB.B, each B in 8..12 (default 8: the default output only)")
    a = ap.parse_args(argv)
    if a.rows < 1:
        print("error: --rows must be at least 1", file=sys.stderr)
        return 2
    try:
        widths = [int(b) for b in a.sm_out_bits.split(",")]
    except ValueError:
        print(f"error: --sm-out-bits '{a.sm_out_bits}': a comma list of widths", file=sys.stderr)
        return 2
    try:                        # the range is the option's own (its configuration declares it)
        for kind in ROW_KINDS.values():
            for b in widths if "out_bits" in kind.PARAM else ():
                kind.PARAM["out_bits"].check(b)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = []
    print(f"{'unit':28s} {'N':>3s} {'kind':12s} {'rows':>6s} {'max LSB':>8s} {'mean LSB':>9s} {'rows<=2LSB':>10s}")
    units = [(op, store, {}) for op, kind in ROW_KINDS.items() for store in kind.ARITHMETIC_STORES]
    # the wider outputs, where the unit takes them (its configuration says so: no op is named here)
    units += [(op, store, {"out_bits": b}) for op, kind in ROW_KINDS.items() if "out_bits" in kind.PARAM
              for store in kind.ARITHMETIC_STORES for b in widths if b != kind.PARAM["out_bits"].default
              and _accepts(kind, store, b)]
    for op, store, options in units:
        for n in (8, 16):
            t0 = time.perf_counter()
            r = measure(op, n, a.rows, a.build, a.seed, store, **options)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            same = ROW_KINDS[op].ARITHMETIC_STORES
            r["unit"] = label = (op + ("" if len(same) == 1 else f" ({same[store]})")
                                 + (f" {r['out']}" if options else ""))
            results.append(r)
            for kind, k in list(r["by_kind"].items()) + [("all", r)]:
                print(f"{label:28s} {n:3d} {kind:12s} {k['rows'] if kind != 'all' else r['rows']:6d} "
                      f"{k['max_lsb']:8.2f} {k['mean_lsb']:9.3f} {100 * k['rows_within_2lsb']:9.1f}%", flush=True)
            if "rowsum_max_lsb" in r:
                print(f"{'':28s} {'':3s} row sum error: max {r['rowsum_max_lsb']} LSB, mean {r['rowsum_mean_lsb']:.2f} LSB")
    doc = {"command": "make bench-rowwise", "rows_per_unit": a.rows, "seed": a.seed, "results": results}
    write_atomic(a.out / "rowwise.json", json.dumps(doc, indent=2) + "\n")
    md = ["# Row-wise units against float", "", f"`make bench-rowwise`, {a.rows} rows per unit and table size, "
          f"seed {a.seed}. Errors in output LSBs ("
          + ", ".join(dict.fromkeys(f"{r['op']} {r['out']}" for r in results)) + ").", "",
          "| unit | entries | rows | kind | max err (LSB) | mean err (LSB) | rows within 2 LSB |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for kind, k in list(r["by_kind"].items()) + [("all", r)]:
            md.append(f"| {r['unit']} | {r['entries']} | {k['rows'] if kind != 'all' else r['rows']} | {kind} | "
                      f"{k['max_lsb']:.2f} | {k['mean_lsb']:.3f} | {100 * k['rows_within_2lsb']:.1f} % |")
    md += ["", "Softmax row-sum error |sum(y) - 2^B| (LSB of uB.B): " + ", ".join(
        f"{r['unit']} {r['entries']} entries max {r['rowsum_max_lsb']}, mean {r['rowsum_mean_lsb']:.2f}"
        for r in results if "rowsum_max_lsb" in r)]
    write_atomic(a.out / "rowwise.md", "\n".join(md) + "\n")
    print(f"wrote {a.out}/rowwise.json and rowwise.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
