"""``make synth-report``: area, timing and power of every elementwise unit,
and the paper's Table 6 comparison, with Yosys (pyosys) + OpenSTA.

    gqa-lut synth [--build build] [--liberty L] [--period-ns 10] [--activity 0.5] [--jobs 2]

Builds (or reuses) each unit in process through the configurations
``make gen`` and ``make dse`` build (:mod:`flow.config`, :mod:`flow.build`),
measures it with :func:`synth.measure.measure` (synth/gqa_synth.ys, then
OpenSTA), and writes ``<build>/synth/report.json``,
``report.md`` and ``area.png``. Per-unit work files are kept in
``<build>/synth/<unit>/`` (synth.ys, yosys.log, netlist.v, stat.txt, sta.tcl,
sta.log). A unit that cannot be built (for example a format whose generator
is missing) becomes a row marked "not built: <reason>"; the report still
completes.

Lanes: besides the one-lane matrix, the report builds ``LANES=P`` units
(``--lanes``, default 1,4,16) of gelu, 8 entries, INT8 and INT16, every LUT
(or of the ``--ops``/``--entries``/``--formats`` given), e.g.

    gqa-lut synth --ops gelu --entries 8 --formats int8 --luts regs --lanes 1,16 --jobs 1

Every row of report.json carries ``lanes`` (1 for the one-lane units) and,
when measured, ``area_per_lane_um2`` (area / P); the top-level ``lanes``
list and report.md's "Lanes" table set each multi-lane unit's area per lane
against its one-lane unit.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import time
from pathlib import Path

from fitter import functions
from flow.config import ROW_KINDS
from hw.unitconfig import ROW_STORES
from synth import DEFAULT_LIBERTY, SynthError
from synth.measure import PATIENCE, measure, no_better
from synth.measure import one_line as _one_line
from synth.script import ABC_CHOICES, yosys_path

OPS = list(functions.FUNCTIONS)
# Row-wise units (the op registry): INT8 only, no LUT choice (their tables are constants); their "LUT"
# column holds the row store: flip-flop buffers, none (the caller streams each row per pass), sram (the
# row in the chip's macro, outside the area), and each op's SYNTH_LANES without a store (DESIGN.md
# "Row-wise ops")
ROWWISE = list(ROW_KINDS)
ENTRIES = [8, 16]
# (label, generator format, ftz)
FORMATS = [("int8", "int8", False), ("int16", "int16", False), ("int32", "int32", False), ("fp32", "fp32", False),
           ("fp32-ftz", "fp32", True)]
LUTS = ["rom", "regs"]
STAGES = 1
# The lanes rows (LANES=P units, P lanes on one table): by default gelu, 8 entries, INT8 and INT16, every
# LUT, at these lane counts (--lanes; --ops/--entries/--formats, when given, apply to them too)
ALL_LANES = (1, 2, 4, 8, 16, 32)
LANES = [1, 4, 16]
LANE_OPS = ["gelu"]
LANE_ENTRIES = [8]
LANE_FORMATS = ["int8", "int16"]
# The pipelined rows (issue 26): by default gelu, 8 entries, INT8, INT16 and FP32, every LUT, at these STAGES
# (--pipe-stages; --ops/--entries/--formats, when given, apply to them too, as for the lanes rows)
PIPE_STAGES = [2, 3]
PIPE_OPS = ["gelu"]
PIPE_ENTRIES = [8]
PIPE_FORMATS = ["int8", "int16", "fp32"]
# Paper (TSMC 28 nm, 500 MHz, 8 entries): area um2, power mW.
PAPER = {"fp32": (5135.0, 2.02), "int32": (5243.0, 1.93), "int8": (961.0, 0.40)}
PAPER_SAVINGS = {("area", "fp32"): 81.3, ("area", "int32"): 81.7,
                 ("power", "fp32"): 80.2, ("power", "int32"): 79.3}


def _build_units(op, fmt, entries, stages, luts, ftzs, build, lanes=(1,)) -> dict:
    """Build (or reuse) the units of one spec in process, through the
    configurations ``make gen`` and ``make dse`` build (:mod:`flow.config`,
    :func:`flow.build.build_unit`), and map (lut, ftz, lanes, stages) to
    unit directories. ``stages``: one STAGES or a list of them. Row-wise
    ops: ``luts`` holds row stores, and lanes apply to ``none`` only."""
    from flow.build import build_unit
    from flow.config import ConfigError, Elementwise
    stages = [stages] if isinstance(stages, int) else list(stages)
    units = {}
    try:
        if op in ROW_KINDS:
            for store in luts:
                for p in (lanes if store == "none" else [1]):
                    cfg = ROW_KINDS[op](entries, row_store=store, lanes=p)
                    units[(store, False, p, None)] = build_unit(cfg, Path(build))[0]
            return units
        for s in stages:
            for lut in luts:
                for ftz in ftzs:
                    for p in lanes:
                        cfg = Elementwise(op, fmt, entries, s, lut, ftz, lanes=p)
                        units[(lut, ftz, p, s)] = build_unit(cfg, Path(build))[0]
    except (ConfigError, ValueError) as e:      # a configuration (or STAGES) the generator refuses
        raise SynthError(str(e)) from None
    return units


def run_group(op: str, label_fmts: list[tuple[str, str, bool]], entries: int, luts: list[str],
              cfg: dict, lanes=(1,), pipe: dict | None = None) -> list[dict]:
    """All rows sharing one spec (op, generator format, entries), at every
    lane count of ``lanes`` (STAGES=1) and, for the labels of ``pipe``
    (label -> STAGES list), one lane at those STAGES: built in one worker so
    the spec is fitted once. Every row carries ``lanes`` and ``stages``; a
    measured row also ``area_per_lane_um2``."""
    rows = []
    built, build_error = {}, None
    lanes = sorted(set(lanes))
    pipe = {} if op in ROWWISE else dict(pipe or {})
    for fmt in sorted({f for _, f, _ in label_fmts}):
        try:
            ftzs = sorted({z for _, f, z in label_fmts if f == fmt})
            built.update({(fmt,) + k: v for k, v in
                          _build_units(op, fmt, entries, STAGES, luts, ftzs, cfg["build"], lanes).items()})
            more = sorted({s for lab, f, _ in label_fmts if f == fmt for s in pipe.get(lab, ())})
            pz = sorted({z for lab, f, z in label_fmts if f == fmt and pipe.get(lab)})
            if more:
                built.update({(fmt,) + k: v for k, v in
                              _build_units(op, fmt, entries, more, luts, pz, cfg["build"]).items()})
        except Exception as e:     # noqa: BLE001 - reported as rows, the report goes on
            build_error = f"not built: {_one_line(e)}"
    variants = [(p, STAGES) for p in lanes]
    for label, fmt, ftz in label_fmts:
        for lut in luts:
            for p, st in variants + [(1, s) for s in sorted(pipe.get(label, ()))]:
                if op in ROWWISE and p != 1 and lut != "none":      # lanes: the units without a store
                    continue
                row = {"op": op, "format": label, "entries": entries, "lut": lut, "stages": st,
                       "ftz": ftz, "lanes": p}
                t0 = time.monotonic()
                unit = built.get((fmt, lut, ftz, p, st if op not in ROWWISE else None))
                if op in ROWWISE:       # the LUT column holds the row store
                    row["stages"] = None
                if unit is None:
                    row["status"] = build_error or "not built: the generator did not report this unit"
                    rows.append(row)
                    continue
                try:
                    row.update(measure(unit, cfg))
                except SynthError as e:
                    row["status"] = f"failed: {e}"
                    rows.append(row)
                    continue
                row["area_per_lane_um2"] = round(row["area_um2"] / p, 3)
                row["seconds"] = round(time.monotonic() - t0, 2)
                rows.append(row)
    return rows


def _fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _row_line(r: dict) -> str:
    p, st = r.get("lanes", 1), r.get("stages", STAGES)
    name = f"{r['op']} {r['format']} e{r['entries']} {r['lut']}" + (f" lanes {p}" if p != 1 else "") + (
        f" STAGES={st}" if st not in (STAGES, None) else "")
    if r["status"] != "ok":
        return f"{name}: {r['status']}"
    fm = f"{r['fmax_mhz']:.0f} MHz" if r["fmax_mhz"] else "comb"
    per = f" ({r['area_um2'] / p:,.0f} um2 per lane)" if p != 1 else ""
    return (f"{name}: {r['area_um2']:,.0f} um2{per}, {r['nand2_eq']:,.0f} NAND2-eq, {r['cells']} cells, "
            f"{r['flip_flops']} FF, {r['delay_ns']:.2f} ns ({fm}), {r['power_mw']:.3f} mW"
            f"{' (cached synth)' if r['synth_cached'] else ''} [{r['seconds']:.1f} s]")


def _find(rows, **kw):
    """The first measured row matching ``kw``; one lane and STAGES=1 unless ``lanes``/``stages`` are given."""
    kw.setdefault("lanes", 1)
    kw.setdefault("stages", STAGES)
    dflt = {"lanes": 1, "stages": STAGES}
    for r in rows:
        if r["status"] == "ok" and all(r.get(k, dflt.get(k)) == v for k, v in kw.items()):
            return r
    return None


def lanes_table(rows: list[dict]) -> list[dict]:
    """Area per lane of every multi-lane row against its one-lane unit (same
    op, format, entries, LUT): ``ratio`` = area per lane / one-lane area."""
    out = []
    for r in rows:
        p = r.get("lanes", 1)
        if r["status"] != "ok" or p == 1:
            continue
        one = _find(rows, op=r["op"], format=r["format"], entries=r["entries"], lut=r["lut"], lanes=1,
                    stages=r.get("stages", STAGES))     # row-wise rows have no STAGES (None)
        out.append({"op": r["op"], "format": r["format"], "entries": r["entries"], "lut": r["lut"], "lanes": p,
                    "area_um2": r["area_um2"], "area_per_lane_um2": r["area_per_lane_um2"],
                    "one_lane_area_um2": one["area_um2"] if one else None,
                    "ratio": round(r["area_per_lane_um2"] / one["area_um2"], 4) if one else None})
    return out


# -- Table 6 at equal clocks -----------------------------------------------------------------------

#: the baselines of the equal-clock comparison, pipelined from EQ_STAGES on until they meet the clock
EQ_BASELINES = ("fp32", "int32")
EQ_STAGES = 3


def equal_clock_plan(rows: list[dict]) -> list[tuple[str, int, str, int]]:
    """(lut, clock MHz, format, STAGES) of every unit the equal-clock Table 6
    measures: per LUT, the INT8 gelu e8 unit (STAGES=1) at its own clock F =
    its maximum clock in the rows, rounded down to whole MHz, and each
    baseline of :data:`EQ_BASELINES` measured in the rows, from STAGES=3 on
    (:func:`equal_clock_unit` goes deeper)."""
    plan = []
    for lut in LUTS:
        i8 = _find(rows, op="gelu", format="int8", entries=8, lut=lut)
        if not (i8 and i8.get("fmax_mhz")):
            continue
        F = int(i8["fmax_mhz"])
        refs = [ref for ref in EQ_BASELINES if _find(rows, op="gelu", format=ref, entries=8, lut=lut)]
        if refs:
            plan += [(lut, F, "int8", STAGES)] + [(lut, F, ref, EQ_STAGES) for ref in refs]
    return plan


def _measure_at(lut: str, clock_mhz: int, fmt: str, stages: int, cfg: dict) -> dict:
    units = _build_units("gelu", fmt, 8, [stages], [lut], [False], cfg["build"])
    return measure(units[(lut, False, 1, stages)], {**cfg, "period_ns": 1000.0 / clock_mhz,
                                                    "out": str(Path(cfg["out"]) / f"eqclk_{clock_mhz}mhz")})


def equal_clock_unit(lut: str, clock_mhz: int, fmt: str, stages: int, cfg: dict) -> dict:
    """One unit of the equal-clock table: built (or reused), synthesized with
    ABC's delay target at 1000/F ns and timed and powered by OpenSTA at that
    period; work files in ``<out>/eqclk_<F>mhz/``. A baseline
    (:data:`EQ_BASELINES`) that misses F at ``stages`` is built one STAGES
    deeper at a time, as ``CLOCK_MHZ`` does, until one meets F (that one is
    the row) or :data:`synth.measure.PATIENCE` in a row bring no better fmax (the best
    fmax is the row); ``tried`` lists every STAGES measured."""
    row = {"lut": lut, "clock_mhz": clock_mhz, "format": fmt, "stages": stages}
    tried, s = [], stages
    while True:
        try:
            m = _measure_at(lut, clock_mhz, fmt, s, cfg)
        except (SynthError, KeyError) as e:
            if not tried:
                return {**row, "status": f"failed: {_one_line(e)}"}
            break                               # gen refuses a deeper STAGES: the search ends there
        if m.get("status") != "ok":
            if not tried:
                return {**row, **m, "stages": s}
            break
        tried.append((s, m))
        print(f"  equal clock {clock_mhz} MHz: gelu {fmt} {lut} STAGES={s}: {m['area_um2']:,.0f} um2, "
              f"fmax {_fmt(m.get('fmax_mhz'))} MHz, {'meets' if m.get('meets_clock') else 'misses'}", flush=True)
        if m.get("meets_clock") or fmt not in EQ_BASELINES or no_better([x.get("fmax_mhz") for _, x in tried]):
            break
        s += 1
    s, m = next(((s, m) for s, m in tried if m.get("meets_clock")),
                max(tried, key=lambda t: (t[1].get("fmax_mhz") or 0, -t[0])))
    keep = ("status", "unit", "area_um2", "seq_area_um2", "flip_flops", "delay_ns", "fmax_mhz", "meets_clock",
            "power_mw", "synth_cached")
    return {**row, "stages": s, **{k: m[k] for k in keep},
            "tried": [{"stages": t, "fmax_mhz": x.get("fmax_mhz"), "area_um2": x.get("area_um2")} for t, x in tried]}


def equal_clock_table(results: list[dict]) -> dict:
    """Per LUT: the INT8 unit and each baseline at the INT8 unit's clock, with
    the savings (1 - INT8 / baseline) of area and power at that clock."""
    out: dict = {}
    for r in results:
        d = out.setdefault(r["lut"], {"clock_mhz": r["clock_mhz"], "period_ns": round(1000.0 / r["clock_mhz"], 6),
                                      "int8": None, "vs": {}})
        if r["format"] == "int8":
            d["int8"] = r
        else:
            d["vs"][r["format"]] = dict(r)
    for d in out.values():
        i8 = d["int8"]
        for ref, v in d["vs"].items():
            if i8 and i8.get("status") == "ok" and v.get("status") == "ok":
                v["area_saving_pct"] = round(100 * (1 - i8["area_um2"] / v["area_um2"]), 1)
                v["power_saving_pct"] = round(100 * (1 - i8["power_mw"] / v["power_mw"]), 1)
    return out


def table6(rows: list[dict], equal_clock: dict | None = None) -> dict:
    """INT8 savings for 8-entry gelu against FP32 and INT32, per LUT style
    (STAGES=1 at the report's clock), and under ``equal_clock`` the same at the
    INT8 unit's clock with the baselines pipelined (:func:`equal_clock_table`)."""
    out = {}
    for lut in LUTS:
        i8 = _find(rows, op="gelu", format="int8", entries=8, lut=lut)
        d = {"lut": lut, "int8": None, "vs": {}}
        if i8:
            d["int8"] = {k: i8[k] for k in ("area_um2", "power_mw", "nand2_eq", "flip_flops",
                                            "seq_area_um2", "comb_area_um2")}
        for ref in ("fp32", "int32"):
            r = _find(rows, op="gelu", format=ref, entries=8, lut=lut)
            if not (i8 and r):
                miss = [n for n, x in (("int8", i8), (ref, r)) if not x]
                d["vs"][ref] = {"missing": miss}
                continue
            d["vs"][ref] = {
                "area_um2": r["area_um2"], "power_mw": r["power_mw"],
                "area_saving_pct": round(100 * (1 - i8["area_um2"] / r["area_um2"]), 1),
                "power_saving_pct": round(100 * (1 - i8["power_mw"] / r["power_mw"]), 1),
                "paper_area_saving_pct": PAPER_SAVINGS[("area", ref)],
                "paper_power_saving_pct": PAPER_SAVINGS[("power", ref)],
            }
        if equal_clock and lut in equal_clock:
            d["equal_clock"] = equal_clock[lut]
        out[lut] = d
    return out


def _table6_md(t6: dict, rows: list[dict], lib_name: str) -> list[str]:
    L = ["## Paper Table 6: INT8 saving at 8 entries (gelu)", "",
         "The paper (TSMC 28 nm, 500 MHz) reports FP32 5135 um2 / 2.02 mW, INT32 5243 um2 / 1.93 mW and "
         "INT8 961 um2 / 0.40 mW. Savings = 1 - INT8 / reference, ours measured on the rows above.", "",
         "| LUT | vs | area saving (ours) | area saving (paper) | power saving (ours) | power saving (paper) |",
         "|---|---|---:|---:|---:|---:|"]
    for lut, d in t6.items():
        for ref, v in d["vs"].items():
            if "missing" in v:
                L.append(f"| {lut} | {ref.upper()} | not built ({', '.join(v['missing'])}) | "
                         f"{PAPER_SAVINGS[('area', ref)]} % | - | {PAPER_SAVINGS[('power', ref)]} % |")
            else:
                L.append(f"| {lut} | {ref.upper()} | {v['area_saving_pct']} % | {v['paper_area_saving_pct']} % | "
                         f"{v['power_saving_pct']} % | {v['paper_power_saving_pct']} % |")
    L.append("")
    # where the INT8 area goes, and the headline check
    for lut, d in t6.items():
        i8 = d["int8"]
        if not i8:
            continue
        seq = 100 * i8["seq_area_um2"] / i8["area_um2"]
        L.append(f"- INT8 gelu e8 LUT={lut}: {i8['area_um2']:,.0f} um2 ({i8['nand2_eq']:,.0f} NAND2-eq), "
                 f"{i8['flip_flops']} flip-flops = {seq:.0f} % of the area, combinational logic "
                 f"(comparator bank, multiplier, adder, rounding, saturation, table muxing) {100 - seq:.0f} %.")
        for ref, v in d["vs"].items():
            if "missing" in v:
                continue
            r = _find(rows, op="gelu", format=ref, entries=8, lut=lut)
            rseq = 100 * r["seq_area_um2"] / r["area_um2"]
            L.append(f"  {ref.upper()}: {r['area_um2']:,.0f} um2, {r['flip_flops']} flip-flops = {rseq:.0f} % "
                     f"of its area.")
    regs = t6.get("regs", {}).get("vs", {}).get("fp32", {})
    L.append("")
    if "area_saving_pct" in regs:
        ok = regs["area_saving_pct"] >= 81.0
        L.append(f"Headline check (INT8 vs FP32, 8 entries, LUT=regs, STAGES=1, area): "
                 f"{regs['area_saving_pct']} % {'>=' if ok else '<'} 81 % "
                 f"({'meets' if ok else 'falls short of'} the paper's saving).")
    else:
        L.append("Headline check (INT8 vs FP32, LUT=regs): not available, the FP32 unit was not built.")
    L += ["",
          "What differs from the paper: the node and library (" + lib_name + ", a 0.18 um 1.8 V "
          "academic library with no multi-bit, enable or reset flip-flops, against TSMC 28 nm), the tools "
          "(Yosys/ABC and OpenSTA with vectorless activity propagation against a commercial flow, "
          "probably with simulation-based power), the clock (all units here mapped and measured at one "
          "stated clock, not 500 MHz), and the structure (our units are this project's generator: "
          "one-cycle PWL units with a comparator bank, table, multiplier and adder in one stage, and "
          "our FP32 baseline is an IEEE multiply-then-add with subnormals, not the paper's design). "
          "Ratios are comparable across nodes to first order; absolute um2 and mW are not.", ""]
    return L + _equal_clock_md(t6)


def _equal_clock_md(t6: dict) -> list[str]:
    eq = {lut: d["equal_clock"] for lut, d in t6.items() if d.get("equal_clock")}
    if not eq:
        return []
    L = ["## Table 6 at equal clocks: the baselines pipelined to the INT8 unit's clock", "",
         "The savings above compare units at STAGES=1 at the report's clock, which the FP32 and INT32 units "
         "miss (each closes at its own, lower, maximum clock). Here, per LUT, "
         "the clock is the INT8 gelu e8 unit's (its maximum clock in the rows above, rounded down to whole "
         f"MHz); the INT8 unit (STAGES=1) and each baseline are synthesized again with ABC's delay target at that "
         "period and timed and powered by OpenSTA at it (same activity, slew and load as above). Each baseline "
         f"starts at STAGES={EQ_STAGES} and is pipelined one STAGES deeper at a time (DESIGN.md \"Latency and "
         "STAGES\": cuts inside the multiplier and the FP32 adder) until it meets the clock, the row being the "
         f"first STAGES that does; when {PATIENCE} deeper STAGES in a row bring no better fmax (or no deeper "
         "STAGES exists) the row is its best fmax, marked NO. Area and power are at that clock; savings = "
         "1 - INT8 / baseline. A baseline that misses the clock would need more registers than it has, so its "
         "area there is likely a lower bound (not measured).", "",
         "| LUT | clock | unit | STAGES | area um2 | power mW | fmax MHz | meets | area saving | power saving |",
         "|---|---:|---|---:|---:|---:|---:|---|---:|---:|"]
    notes = []
    for lut, d in eq.items():
        for fmt, v in [("int8", d["int8"])] + list(d["vs"].items()):
            if not v:
                continue
            head = f"| {lut} | {d['clock_mhz']} MHz | {fmt.upper()} | {v['stages']} |"
            if v.get("status") != "ok":
                L.append(f"{head} {v.get('status')} | | | | | |")
                continue
            sav = (f"{v['area_saving_pct']} % | {v['power_saving_pct']} %" if "area_saving_pct" in v else " | ")
            L.append(f"{head} {v['area_um2']:,.0f} | {v['power_mw']:.3f} | {_fmt(v['fmax_mhz'])} | "
                     f"{'yes' if v['meets_clock'] else 'NO'} | {sav} |")
            if fmt != "int8" and not v["meets_clock"]:
                tried = [t["stages"] for t in v.get("tried", [])] or [v["stages"]]
                notes.append(f"- LUT={lut}: {fmt.upper()} does not reach the INT8 unit's {d['clock_mhz']} MHz at "
                             f"STAGES {min(tried)}..{max(tried)}: its best is {_fmt(v['fmax_mhz'])} MHz at "
                             f"STAGES={v['stages']}.")
    return L + [""] + notes + ([""] if notes else [])


def write_report(rows: list[dict], meta: dict, out: Path) -> None:
    from hw.files import write_atomic

    t6 = table6(rows, meta.get("equal_clock"))
    doc = {"format": "gqa-synth-report", "version": 1, **meta, "table6": t6, "lanes": lanes_table(rows),
           "rows": rows}
    json_text = json.dumps(doc, indent=1) + "\n"
    md = _markdown(rows, meta, t6)
    png = _area_png(rows, meta)
    # render everything first, then rename each file into place
    write_atomic(out / "report.json", json_text)
    write_atomic(out / "report.md", md)
    if png is not None:
        write_atomic(out / "area.png", png)


def _dev(a: float, b: float) -> str:
    return f"{100 * abs(a / b - 1):.2g} %" if b else "n/a"


def _markdown(rows, meta, t6) -> str:
    pc = meta.get("power_crosscheck") or {}
    L = ["# GQA-LUT synthesis report", "",
         f"- liberty: `{meta['liberty']}` (NAND2 equivalent: {meta['nand2_cell']} = {meta['nand2_area_um2']} um2)",
         f"- tools: {meta['yosys']}, {meta['sta']}; script `synth/gqa_synth.ys`, ABC script "
         + {"gqa": "as written there (Yosys's default with ABC's ifraig as the SAT sweep)",
            "yosys": "Yosys's built-in default (--abc yosys)",
            "buffered": "as written there, then ABC's buffering and gate sizing (--abc buffered)"}[
             meta.get("abc_script", "gqa")],
         f"- clock: {meta['period_ns']} ns ({1000 / meta['period_ns']:.0f} MHz) for ABC's delay target, "
         f"the timing constraint and the power figure; STAGES={STAGES}, and the pipelined rows at STAGES "
         f"{', '.join(map(str, meta.get('pipe_stages') or [])) or 'none'} (column STAGES)",
         f"- power: vectorless (OpenSTA), data inputs toggling {meta['activity']} times per cycle "
         f"(duty 0.5; 0.5 = random data), rst/in_valid/cfg_* static (the LUT is loaded once), "
         f"input slew {meta['input_transition_ns']} ns, output load {meta['output_load_pf']} pF; "
         "\"idle\" = same with every input static (clock pins + leakage)",
         "- timing: inputs launched and outputs captured at the clock edge with zero external delay; "
         "delay = worst data arrival, max clock = 1 / (period - worst slack)",
         f"- run: {meta['units_ok']} units measured, {meta['units_failed']} not measured, "
         f"{meta['runtime_s']:.0f} s with {meta['jobs']} jobs", ""]
    if pc:
        h, s = pc["hand"], pc["sta"]
        L += ["Power cross-check (" + pc["design"] + f", {pc['period_ns']} ns, activity {pc['activity']}): "
              f"hand estimate from the liberty tables {h['total_mw']:.4f} mW "
              f"(leakage {h['leakage_mw']:.3g}, switching {h['switching_mw']:.4f}, internal {h['internal_mw']:.4f}); "
              f"OpenSTA {s['total_mw']:.4f} mW (leakage {s['leakage_mw']:.3g}, switching {s['switching_mw']:.4f}, "
              f"internal {s['internal_mw']:.4f}). Leakage differs by "
              f"{_dev(s['leakage_mw'], h['leakage_mw'])}, switching by {_dev(s['switching_mw'], h['switching_mw'])}; "
              f"OpenSTA 2.0.17 charges "
              f"clock-pin and output-pin internal energy as rise + fall per transition instead of their mean "
              f"(clock pins measured at {pc['clock_pin_factor']:.2f}x the liberty convention; newer OpenSTA "
              f"averages), which the hand estimate reproduces to "
              f"{100 * abs(pc['hand_opensta_2_0_17']['total_mw'] / s['total_mw'] - 1):.2g} %. "
              "The power column is OpenSTA's figure as measured, so absolute internal power is high by up "
              "to 2x; ratios between units (Table 6) are affected far less.", ""]
    L += ["## Units", "",
          "| op | format | N | LUT | STAGES | lanes | area um2 | area/lane um2 | NAND2-eq | cells | FFs | delay ns "
          "| max MHz | power mW | idle mW |",
          "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        st = "-" if r.get("stages") is None else r["stages"]
        if r["status"] != "ok":
            L.append(f"| {r['op']} | {r['format']} | {r['entries']} | {r['lut']} | {st} | {r.get('lanes', 1)} | "
                     f"{r['status']} | | | | | | | | |")
            continue
        L.append(f"| {r['op']} | {r['format']} | {r['entries']} | {r['lut']} | {st} | {r.get('lanes', 1)} | "
                 f"{r['area_um2']:,.0f} | {r.get('area_per_lane_um2', r['area_um2']):,.0f} | "
                 f"{r['nand2_eq']:,.0f} | {r['cells']:,} | {r['flip_flops']} | {r['delay_ns']:.2f} | "
                 f"{_fmt(r['fmax_mhz'], 0)}{'' if r['meets_clock'] else ' *'} | {r['power_mw']:.3f} | "
                 f"{r['power_idle_mw']:.3f} |")
    L += ["", f"Row-wise units ({', '.join(ROWWISE)}): the LUT column holds the row store: ff, flip-flop "
          "row buffers inside the unit; none, no store (the caller streams each row once per pass); sram, the "
          "row in the chip's SRAM macro, outside the area. Their lanes are elements per transfer (README "
          "\"Which row-wise unit should I use?\" has clocks per row; `make bench-rowstore` adds MiniLM's "
          "384 x 16-bit shape).", "",
          f"\\* below the {1000 / meta['period_ns']:.0f} MHz clock: the unit does not meet it "
          "(more STAGES might: `make gen CLOCK_MHZ=F` chooses them); its power is still given at that clock, "
          "i.e. energy per result times the clock.", ""]
    if meta.get("clock_target_mhz"):
        meet = [r for r in rows if r["status"] == "ok" and r["meets_clock"]]
        L += [f"Target clock {meta['clock_target_mhz']} MHz ({meta['period_ns']:.4g} ns, CLOCK_MHZ): "
              f"{len(meet)} of {sum(1 for r in rows if r['status'] == 'ok')} measured units meet it at the "
              "STAGES of their row (OpenSTA slack >= 0; rows without * ).", ""]
    lt = lanes_table(rows)
    if lt:
        L += ["## Lanes: area per lane", "",
              "`LANES=P`: P inputs and P results per clock on one table (one register bank for LUT=regs). "
              "Area per lane = area / P, against the one-lane unit of the same op, format, entries and LUT "
              "(ratio < 1: sharing the table pays).", "",
              "| op | format | N | LUT | lanes | area um2 | area/lane um2 | 1-lane um2 | ratio |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|"]
        for d in lt:
            one = f"{d['one_lane_area_um2']:,.0f}" if d["one_lane_area_um2"] else "not measured"
            ratio = f"{d['ratio']:.3f}" if d["ratio"] is not None else "-"
            L.append(f"| {d['op']} | {d['format']} | {d['entries']} | {d['lut']} | {d['lanes']} | "
                     f"{d['area_um2']:,.0f} | {d['area_per_lane_um2']:,.0f} | {one} | {ratio} |")
        L.append("")
    L += _table6_md(t6, rows, meta.get("liberty_name", "the liberty"))
    return "\n".join(L) + "\n"


def _area_png(rows, meta) -> bytes | None:
    from hw.files import png_bytes, pyplot

    ok = [r for r in rows if r["status"] == "ok" and r["entries"] == 8]
    if not ok:
        return None
    ops = [o for o in OPS if any(r["op"] == o for r in ok)]
    fmts = [f for f, _, _ in FORMATS]
    fig, axes = pyplot().subplots(1, len(LUTS), figsize=(6 * len(LUTS), 4.2), sharey=True)
    width = 0.8 / len(fmts)
    for ax, lut in zip(axes, LUTS):
        for i, f in enumerate(fmts):
            vals = []
            for o in ops:
                r = _find(ok, op=o, format=f, lut=lut)
                vals.append(r["nand2_eq"] if r else 0)
            xs = [k + (i - (len(fmts) - 1) / 2) * width for k in range(len(ops))]
            ax.bar(xs, vals, width, label=f.upper())
        ax.set_xticks(range(len(ops)), ops, rotation=30)
        ax.set_yscale("log")
        ax.set_title(f"8 entries, LUT={lut}, STAGES={STAGES}")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel(f"area, NAND2 equivalents ({meta['nand2_cell']})")
    axes[0].legend()
    fig.suptitle(f"GQA-LUT unit area, {Path(meta['liberty']).name}, {meta['yosys']}", fontsize=9)
    return png_bytes(fig, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gqa-lut synth", description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build",
                    help="build root: units are generated (or reused) there, the report goes to <build>/synth "
                         "(default build)")
    ap.add_argument("--liberty", default=None, help=f"liberty file (default {DEFAULT_LIBERTY})")
    ap.add_argument("--period-ns", type=float, default=None,
                    help="clock period in ns: ABC's delay target, the STA clock and the power clock (default 10)")
    ap.add_argument("--clock-mhz", default=None, metavar="F",
                    help="target clock in MHz (CLOCK_MHZ=): every unit synthesized and timed at 1000/F ns, and "
                         "marked when it does not meet F (instead of --period-ns)")
    ap.add_argument("--no-equal-clock", dest="equal_clock", action="store_false",
                    help="skip Table 6 at equal clocks (the INT8 gelu e8 unit and the FP32/INT32 baselines at "
                         f"STAGES={EQ_STAGES}, synthesized and timed again at the INT8 unit's clock)")
    ap.add_argument("--pipe-stages", default=",".join(map(str, PIPE_STAGES)),
                    help="STAGES of the pipelined rows, comma list among 0,2,3 (default "
                         + ",".join(map(str, PIPE_STAGES)) + "; empty: none): the --ops/--entries/--formats given "
                         "(default " + " ".join(PIPE_OPS) + ", " + ",".join(map(str, PIPE_ENTRIES)) + " entries, "
                         + ",".join(PIPE_FORMATS) + "), every --luts, one lane")
    ap.add_argument("--activity", type=float, default=0.5,
                    help="input toggle rate per clock for the power estimate, 0..1 (default 0.5)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="units synthesized in parallel (default min(2, CPUs))")
    ap.add_argument("--abc", default="gqa", choices=ABC_CHOICES,
                    help="ABC script: gqa = the one in synth/gqa_synth.ys (default), "
                         "yosys = Yosys's built-in default (area within a few %%, 2-4x slower on FP32), "
                         "buffered = gqa plus ABC's buffering and gate sizing of high-fanout nets after mapping")
    ap.add_argument("--ops", default=None,
                    help=f"comma list of ops (default: every element-wise op and {', '.join(ROWWISE)}; the lanes "
                         "rows: " + ",".join(LANE_OPS) + ")")
    ap.add_argument("--entries", default=None,
                    help="comma list of table sizes (default 8,16; the lanes rows: "
                         + ",".join(map(str, LANE_ENTRIES)) + ")")
    ap.add_argument("--formats", default=None,
                    help="comma list among " + ", ".join(f for f, _, _ in FORMATS) + " (default all; the lanes "
                         "rows: " + ",".join(LANE_FORMATS) + ")")
    ap.add_argument("--luts", default=",".join(LUTS), help="comma list among rom, regs (default both)")
    ap.add_argument("--lanes", default=",".join(map(str, LANES)),
                    help="lane counts (LANES=P) of the lanes rows, comma list among 1,2,4,8,16,32 (default "
                         + ",".join(map(str, LANES)) + "): the --ops/--entries/--formats given (default "
                         + " ".join(LANE_OPS) + ", " + ",".join(map(str, LANE_ENTRIES)) + " entries, "
                         + ",".join(LANE_FORMATS) + ") at each P, every --luts; every other row is one lane")
    args = ap.parse_args(argv)
    try:
        return _main(args)
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; no report written", file=sys.stderr)
        return 130


def _main(args) -> int:
    from synth import sdc as sta_mod_sdc
    from synth import sta as sta_mod
    from synth.flow import _pyosys_version
    from synth.liberty import check_liberty, load_liberty

    t0 = time.monotonic()
    if args.clock_mhz is not None:
        try:
            args.clock_mhz = sta_mod_sdc.parse_clock_mhz(args.clock_mhz)
        except ValueError as e:
            raise SynthError(str(e)) from None
        if args.period_ns is not None:
            raise SynthError("--period-ns and CLOCK_MHZ (--clock-mhz) both set the clock: give one")
        args.period_ns = 1000.0 / args.clock_mhz
    args.period_ns = 10.0 if args.period_ns is None else args.period_ns
    try:
        pipe_stages = sorted({int(x) for x in args.pipe_stages.split(",") if x.strip()})
    except ValueError:
        raise SynthError(f"--pipe-stages {args.pipe_stages!r}: need a comma list of STAGES") from None
    if any(x not in (0, 2, 3) for x in pipe_stages):
        raise SynthError(f"--pipe-stages {args.pipe_stages!r}: use STAGES among 0, 2, 3 (1 is every row's)")
    if not 0.0 <= args.activity <= 1.0:
        raise SynthError(f"--activity {args.activity} is not a toggle rate; give a value in 0..1")
    if not args.period_ns > 0:
        raise SynthError(f"--period-ns {args.period_ns} must be positive")
    if args.jobs < 1:
        raise SynthError(f"--jobs {args.jobs} must be at least 1")
    lib_path = check_liberty(args.liberty)
    sta_mod.sta_command()
    pyosys = _pyosys_version()
    lib = load_liberty(lib_path)
    ops = [o for o in (args.ops or ",".join(OPS + ROWWISE)).split(",") if o]
    unknown = [o for o in ops if o not in OPS + ROWWISE]
    if unknown:
        raise SynthError(f"unknown op(s) {unknown}; the report covers {OPS + ROWWISE}")
    fmt_by_label = {f: (f, g, z) for f, g, z in FORMATS}
    labels = [f for f in (args.formats or ",".join(f for f, _, _ in FORMATS)).split(",") if f]
    bad = [f for f in labels if f not in fmt_by_label]
    if bad:
        raise SynthError(f"unknown format(s) {bad}; choose from {list(fmt_by_label)}")
    luts = [x for x in args.luts.split(",") if x]
    if any(x not in LUTS for x in luts):
        raise SynthError(f"--luts must be among {LUTS}")
    try:
        entries = [int(e) for e in (args.entries or ",".join(map(str, ENTRIES))).split(",") if e]
        lanes = sorted({int(p) for p in args.lanes.split(",") if p})
    except ValueError:
        raise SynthError(f"--entries {args.entries!r} / --lanes {args.lanes!r}: need comma lists of integers") from None
    if not lanes or any(p not in ALL_LANES for p in lanes):
        raise SynthError(f"--lanes {args.lanes!r}: use lane counts among {list(ALL_LANES)}")
    # the lanes rows: the ops/entries/formats given, else LANE_OPS x LANE_ENTRIES x LANE_FORMATS
    lane_ops = [o for o in ops if o in OPS] if args.ops else [o for o in LANE_OPS if o in ops]
    lane_entries = entries if args.entries else list(LANE_ENTRIES)
    lane_labels = labels if args.formats else list(LANE_FORMATS)
    pipe_ops = [o for o in ops if o in OPS] if args.ops else [o for o in PIPE_OPS if o in ops]
    pipe_entries = entries if args.entries else list(PIPE_ENTRIES)
    pipe_labels = labels if args.formats else [f for f in PIPE_FORMATS if f in labels]
    _check_units(ops, labels, fmt_by_label, entries)
    build = Path(args.build)
    out = build / "synth"
    yosys_path(out.resolve())          # refused before anything is written (Yosys reads the work paths)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"build": str(build), "out": str(out), "liberty": str(lib_path), "period_ns": args.period_ns,
           "activity": args.activity, "abc": args.abc}

    print(f"synth-report: liberty {lib_path}, clock {args.period_ns} ns, activity {args.activity}, "
          f"{args.jobs} job(s)", flush=True)
    crosscheck = sta_mod.power_crosscheck(lib_path, out / "_power_check", args.period_ns, args.activity)

    # one task per spec: (op, generator format, entries) with its variants (labels, LUTs, lane counts)
    tasks = []
    for op in [o for o in ops if o in ROWWISE]:          # slowest first: big row buffers
        for n in entries:
            tasks.append((op, [fmt_by_label["int8"]], n, list(ROW_STORES), list(ROW_KINDS[op].SYNTH_LANES)))
    groups: dict[tuple, tuple[list, set, dict]] = {}

    def want(op, n, labs, ps, stages=()):
        for lab in labs:
            f = fmt_by_label[lab]
            lf, lp, pipe = groups.setdefault((op, f[1], n), ([], set(), {}))
            if f not in lf:
                lf.append(f)
            lp.update(ps)
            if stages:
                pipe.setdefault(lab, set()).update(stages)
    for op in [o for o in ops if o in OPS]:
        for n in entries:
            want(op, n, labels, [1])
    for op in lane_ops:
        for n in lane_entries:
            want(op, n, lane_labels, lanes)
    if pipe_stages:
        for op in pipe_ops:
            for n in pipe_entries:
                want(op, n, pipe_labels, [1], pipe_stages)
    tasks = [t + ({},) for t in tasks]
    tasks += [(op, lf, n, luts, sorted(lp), {k: sorted(v) for k, v in pipe.items()})
              for (op, _, n), (lf, lp, pipe) in groups.items()]
    # biggest groups first, so that the last group to finish is a small one
    # and neither worker idles at the end (FP32 units take 5-10x an INT8 unit; P lanes about P times one;
    # a pipelined unit about one more)
    weight = {"fp32": 10, "int32": 4, "int16": 2, "int8": 1}
    tasks.sort(key=lambda t: -(sum(weight[g] * (sum(t[4]) + len(t[5].get(lab, ()))) for lab, g, _ in t[1])
                               * len(t[3]) * t[2] + (60 if t[0] in ROWWISE else 0)))
    def n_rows(op, lf, lu, lp, pipe):
        if op in ROWWISE:       # a row per store, and the lane counts of the store-less unit
            return len(lu) + (len(lp) - 1 if "none" in lu else 0)
        return len(lu) * sum(len(lp) + len(pipe.get(lab, ())) for lab, _, _ in lf)
    total = sum(n_rows(op, lf, lu, lp, pipe) for op, lf, _, lu, lp, pipe in tasks)
    rows: list[dict] = []
    done = 0
    if args.jobs > 1:
        pool = cf.ProcessPoolExecutor(max_workers=args.jobs)
        futs = [pool.submit(run_group, op, lf, n, lu, cfg, lp, pipe) for op, lf, n, lu, lp, pipe in tasks]
        it = cf.as_completed(futs)
        results = (f.result() for f in it)
    else:
        pool = None
        results = (run_group(op, lf, n, lu, cfg, lp, pipe) for op, lf, n, lu, lp, pipe in tasks)
    try:
        for group in results:
            for r in group:
                done += 1
                rows.append(r)
                print(f"[{done}/{total}] {_row_line(r)}", flush=True)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    eq_rows = []
    plan = equal_clock_plan(rows) if args.equal_clock else []
    if plan:
        print(f"equal-clock Table 6: {len(plan)} units at the INT8 units' clocks "
              f"({', '.join(sorted({f'{F} MHz' for _, F, _, _ in plan}))})", flush=True)
        plan.sort(key=lambda t: -{"fp32": 10, "int32": 4}.get(t[2], 1))
        pool = cf.ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else None
        try:
            res = ([f.result() for f in [pool.submit(equal_clock_unit, *t, cfg) for t in plan]] if pool
                   else [equal_clock_unit(*t, cfg) for t in plan])
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
        for r in res:
            eq_rows.append(r)
            figs = (f"{r['area_um2']:,.0f} um2, fmax {r['fmax_mhz']} MHz, {r['power_mw']:.3f} mW"
                    + ("" if r["meets_clock"] else " (misses)") if r.get("status") == "ok" else r.get("status"))
            print(f"  gelu {r['format']} e8 {r['lut']} STAGES={r['stages']} at {r['clock_mhz']} MHz: {figs}",
                  flush=True)
    key = {o: i for i, o in enumerate(OPS + ROWWISE)}
    fkey = {f: i for i, (f, _, _) in enumerate(FORMATS)}
    rows.sort(key=lambda r: (key[r["op"]], r["entries"], LUTS.index(r["lut"]) if r["lut"] in LUTS else -1,
                             fkey[r["format"]], r.get("stages") or 0, r.get("lanes", 1)))
    ok = [r for r in rows if r["status"] == "ok"]
    any_ok = ok[0] if ok else None
    nand2 = lib.nand2
    meta = {
        "liberty": str(lib_path), "liberty_name": lib.name,
        "nand2_cell": nand2.name, "nand2_area_um2": nand2.area,
        "yosys": f"Yosys (pyosys {pyosys})" if not any_ok else _yosys_of(any_ok, pyosys),
        "sta": crosscheck["sta_version"],
        "tools": {"pyosys": pyosys, "opensta": crosscheck["sta_version"], "python": sys.version.split()[0]},
        "period_ns": args.period_ns, "clock_mhz": round(1000 / args.period_ns, 3),
        "activity": args.activity, "duty": 0.5,
        "input_transition_ns": sta_mod.DEFAULT_INPUT_TRANSITION_NS,
        "output_load_pf": sta_mod.DEFAULT_OUTPUT_LOAD_PF,
        "stages": STAGES, "pipe_stages": pipe_stages, "clock_target_mhz": args.clock_mhz,
        "jobs": args.jobs, "abc_script": args.abc,
        "units_ok": len(ok), "units_failed": len(rows) - len(ok),
        "power_crosscheck": crosscheck,
        "equal_clock": equal_clock_table(eq_rows) if eq_rows else None,
        "runtime_s": round(time.monotonic() - t0, 1),
    }
    write_report(rows, meta, out)
    print(_markdown(rows, meta, table6(rows, meta.get("equal_clock"))))
    print(f"wrote {out / 'report.json'}, {out / 'report.md'}, {out / 'area.png'} "
          f"({meta['runtime_s']:.0f} s)")
    return 0


def _check_units(ops, labels, fmt_by_label, entries) -> None:
    """Every op, format and table size the report will build, checked by the
    configuration (flow/config.py) before any work: a SynthError naming the
    first one it refuses."""
    from flow.config import ConfigError, Elementwise
    try:
        for op in ops:
            for n in entries:
                if op in ROW_KINDS:
                    ROW_KINDS[op](n)
                else:
                    for lab in labels:
                        _, fmt, ftz = fmt_by_label[lab]
                        Elementwise(op, fmt, n, STAGES, "rom", ftz)
    except ConfigError as e:
        raise SynthError(str(e)) from None


def _yosys_of(row: dict, pyosys: str) -> str:
    try:
        d = json.loads((Path(row["files"]) / "synth.json").read_text())
        return d["yosys"]
    except (OSError, KeyError, json.JSONDecodeError):
        return f"Yosys (pyosys {pyosys})"


if __name__ == "__main__":
    sys.exit(main())
