"""Which row-wise unit: every op x row store, measured through the synth flow.

``gqa-lut bench-rowstore`` (``make bench-rowstore``) builds softmax,
layernorm and rmsnorm at their default formats with each row store
(``ff`` with two and with one buffer, ``none``, ``sram``), and layernorm
and rmsnorm at MiniLM's LayerNorm shape (384 x 16-bit) without a row store
and with an SRAM, then
synthesizes and times each one with the report's own flow
(:func:`synth.measure.measure`: Yosys + OpenSTA, OSU 0.18 um by default).
It prints a table and writes ``rowstore.json`` and ``rowstore.md`` under
``--out`` (``rowstore-<script>.*`` with another ``--abc`` script, e.g.
``--abc buffered``: the same flow with ABC's buffering and gate sizing of
high-fanout nets, which the report's flow leaves unbuffered).

Per unit: logic area (the whole unit; with ``ff`` the row buffers are
flip-flops inside it, with ``none`` nothing is stored, with ``sram`` the
row is in the macro outside the unit, not counted), the row storage in
bits, flip-flops, max clock, clocks per row (the manifest's ``a*n + b``,
which the benches check exactly) and at its default row length, and the
latency. A flip-flop store of 384 x 16-bit rows (2 x 6,144 bits) is listed
as not synthesized, with its storage, instead of spending many minutes in
ABC on a unit that loses by its flip-flops alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flow.build import build as build_unit
from flow.config import parse_fixed
from hw.layernorm.config import LayerNorm
from hw.rmsnorm.config import RMSNorm
from hw.softmax.config import Softmax
from hw.files import write_atomic

WIDE = dict(row_len=384, input=parse_fixed("s16.8", "in"), out=parse_fixed("s16.13", "out"))
#: (label, configuration); the target clock class: 200 MHz at 8-bit I/O, 125 at 16-bit
UNITS = [
    ("softmax, 8-bit", Softmax(8)), ("softmax, 8-bit", Softmax(8, row_buffers=1)),
    ("softmax, 8-bit", Softmax(8, row_store="none")), ("softmax, 8-bit", Softmax(8, row_store="sram")),
    ("layernorm, 8-bit", LayerNorm(8)), ("layernorm, 8-bit", LayerNorm(8, row_buffers=1)),
    ("layernorm, 8-bit", LayerNorm(8, row_store="none")), ("layernorm, 8-bit", LayerNorm(8, row_store="sram")),
    ("rmsnorm, 8-bit", RMSNorm(8)), ("rmsnorm, 8-bit", RMSNorm(8, row_buffers=1)),
    ("rmsnorm, 8-bit", RMSNorm(8, row_store="none")), ("rmsnorm, 8-bit", RMSNorm(8, row_store="sram")),
    ("layernorm, 384 x 16-bit", LayerNorm(8, row_store="none", **WIDE)),
    ("rmsnorm, 384 x 16-bit", RMSNorm(8, row_store="none", **WIDE)),
    ("layernorm, 384 x 16-bit", LayerNorm(8, row_store="sram", **WIDE)),
    ("rmsnorm, 384 x 16-bit", RMSNorm(8, row_store="sram", **WIDE)),
    # LANES=P: P elements per transfer (area per lane against the one-lane unit above)
    ("layernorm, 8-bit", LayerNorm(8, row_store="none", lanes=4)),
    ("rmsnorm, 8-bit", RMSNorm(8, row_store="none", lanes=4)),
    ("rmsnorm, 8-bit", RMSNorm(8, row_store="none", lanes=16)),
    ("rmsnorm, 384 x 16-bit", RMSNorm(8, row_store="sram", lanes=4, **WIDE)),
    ("layernorm, 384 x 16-bit", LayerNorm(8, **WIDE)),
]
#: flip-flop row stores above this many bits are listed, not synthesized
MAX_FF_BITS = 4096


def store_label(cfg) -> str:
    if cfg.row_store != "ff":
        lanes = cfg.lanes
        return {"none": "none", "sram": "sram (outside)"}[cfg.row_store] + (f", {lanes} lanes" if lanes > 1 else "")
    return f"ff, {cfg.row_buffers} buffer{'s' if cfg.row_buffers > 1 else ''}"


def storage_bits(cfg) -> int:
    if cfg.row_store == "none":
        return 0
    return (1 if cfg.row_store == "sram" else cfg.row_buffers) * cfg.row_length * cfg.in_bits


def row(label, cfg, build: Path, synth_cfg: dict) -> dict:
    n = cfg.row_length
    r = {"unit": cfg.name, "shape": label, "op": cfg.op, "row_store": store_label(cfg), "n": n,
         "storage_bits": storage_bits(cfg), "make": cfg.make_line()}
    out = build_unit(cfg, build)
    man = json.loads((out / "manifest.json").read_text())
    a, b = man["timing"]["cycles_per_row"]
    lanes = int(man.get("lanes", 1))
    m, unit = (n, "n") if lanes == 1 else (-(-n // lanes), "m")     # per transfer with lanes: m = ceil(n/P)
    r.update(cycles_per_row=f"{a}{unit} + {b}" if b else f"{a}{unit}", cycles_at_n=a * m + b, lanes=lanes,
             latency=man["latency_cycles"].split(" (")[0])
    if cfg.row_store == "ff" and r["storage_bits"] > MAX_FF_BITS:
        r["status"] = f"not synthesized: {r['storage_bits']:,} bits of flip-flop row store"
        return r
    from synth.measure import measure
    m = measure(out, synth_cfg)
    r.update(status="ok", area_um2=m["area_um2"], flip_flops=m["flip_flops"], fmax_mhz=m["fmax_mhz"],
             target_mhz=125 if "16-bit" in label else 200)
    r["meets_target"] = m["fmax_mhz"] is not None and m["fmax_mhz"] >= r["target_mhz"]
    if m["fmax_mhz"]:
        r["row_us_at_fmax"] = round(r["cycles_at_n"] / m["fmax_mhz"], 3)
    return r


def markdown(rows, meta) -> str:
    L = [f"# Which row-wise unit: measured ({meta['liberty_name']}, synthesis target {meta['period_ns']:g} ns"
         + (f", ABC script {meta['abc']}" if meta.get("abc", "gqa") != "gqa" else "") + ")", "",
         f"`{meta['command']}`, {meta['seconds']:.0f} s. Logic area is the whole unit (flip-flop row buffers "
         "included where the store is ff; with sram the row is in the chip's macro, outside the area). Clocks per row with in_valid and out_ready high, checked exactly "
         "by the benches.", "",
         "| shape | row store | area um2 | FFs | row storage bits | max MHz (target) | clocks per row | at n | "
         "us per row at max MHz | latency |", "|---|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        if r["status"] != "ok":
            L.append(f"| {r['shape']} | {r['row_store']} | {r['status']} | | {r['storage_bits']:,} | | "
                     f"{r['cycles_per_row']} | {r['cycles_at_n']} | | {r['latency']} |")
            continue
        mark = "" if r["meets_target"] else " **misses**"
        L.append(f"| {r['shape']} | {r['row_store']} | {r['area_um2']:,.0f} | {r['flip_flops']} | "
                 f"{r['storage_bits']:,} | {r['fmax_mhz']} ({r['target_mhz']}){mark} | {r['cycles_per_row']} | "
                 f"{r['cycles_at_n']} | {r.get('row_us_at_fmax', '')} | {r['latency']} |")
    L += ["", "Regenerate a unit: the `make` line in rowstore.json (`make` field)."]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    from synth import DEFAULT_LIBERTY
    from synth.script import ABC_CHOICES
    ap = argparse.ArgumentParser(prog="gqa-lut bench-rowstore", description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=Path("build"), help="build root for the units (default build)")
    ap.add_argument("--out", type=Path, default=Path("build/bench"), help="where rowstore.{json,md} go")
    ap.add_argument("--liberty", default=DEFAULT_LIBERTY, help="cell library (default OSU 0.18 um)")
    ap.add_argument("--period-ns", type=float, default=5.0,
                    help="synthesis target period (default 5 ns: the 200 MHz class of the 8-bit units)")
    ap.add_argument("--abc", default="gqa", choices=ABC_CHOICES,
                    help="ABC script (synth/script.py): gqa, the report's (default); buffered, the same with "
                         "ABC's buffering and gate sizing of high-fanout nets after mapping; yosys, Yosys's own")
    a = ap.parse_args(argv)
    if not a.period_ns > 0:
        print("error: --period-ns must be > 0", file=sys.stderr)
        return 2
    if not Path(a.liberty).is_file():
        print(f"error: liberty {a.liberty} not found", file=sys.stderr)
        return 2
    other = "" if a.abc == "gqa" else f"-{a.abc}"          # another script's results beside the report's
    synth_cfg = {"out": str(a.build / f"synth-rowstore{other}"), "liberty": a.liberty, "period_ns": a.period_ns,
                 "abc": a.abc, "activity": 0.5}
    t0 = time.monotonic()
    rows = []
    for i, (label, cfg) in enumerate(UNITS, 1):
        t = time.monotonic()
        r = row(label, cfg, a.build, synth_cfg)
        rows.append(r)
        fig = (f"{r['area_um2']:>10,.0f} um2  {r['fmax_mhz']:>6} MHz" if r["status"] == "ok" else r["status"])
        print(f"[{i}/{len(UNITS)}] {label:24s} {r['row_store']:14s} {fig}  {r['cycles_per_row']} clocks/row  "
              f"({time.monotonic() - t:.0f} s)", flush=True)
    meta = {"liberty": a.liberty, "liberty_name": Path(a.liberty).stem, "period_ns": a.period_ns,
            "seconds": time.monotonic() - t0, "abc": a.abc,
            "command": "gqa-lut bench-rowstore" + (f" --period-ns {a.period_ns:g}" if a.period_ns != 5.0 else "")
                       + (f" --abc {a.abc}" if a.abc != "gqa" else "")}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = f"rowstore{other}"
    write_atomic(a.out / f"{stem}.json", json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    write_atomic(a.out / f"{stem}.md", markdown(rows, meta))
    print(markdown(rows, meta))
    print(f"wrote {a.out / (stem + '.md')} and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
