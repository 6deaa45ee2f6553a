"""One built unit through the synthesis flow: Yosys, then OpenSTA, as a
report row (:func:`measure`); what ``make synth-report``, ``make dse``,
``CLOCK_MHZ`` and the benchmarks all measure with. Reads the unit's
directory (Verilog and manifest) only."""

from __future__ import annotations

from pathlib import Path

#: going deeper stops after this many STAGES in a row without a better fmax (a STAGES past a unit's
#: last cut point only delays the result): the CLOCK_MHZ loop and the equal-clock Table 6 both stop so
PATIENCE = 2


def one_line(e: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".strip()


def measure(unit, cfg: dict) -> dict:
    """Synthesize one built unit and time it with OpenSTA: the report row's
    figures (status "ok"); raises SynthError. ``cfg``: out, liberty,
    period_ns, abc, activity (what the synth report and ``make dse`` pass)."""
    from synth.flow import read_manifest, synthesize_unit
    from synth.sta import run_sta
    man = read_manifest(unit)
    out = Path(cfg["out"]) / Path(unit).name
    syn = synthesize_unit(unit, out, liberty=cfg["liberty"], period_ns=cfg["period_ns"], abc=cfg["abc"])
    sta = run_sta(syn.netlist, syn.top, syn.liberty, man, out, cfg["period_ns"],
                  cfg["activity"], cells_by_type=syn.cells_by_type)
    return {
        "status": "ok", "unit": Path(unit).name, "top": syn.top,
        "area_um2": round(syn.area_um2, 3), "nand2_eq": round(syn.nand2_eq, 1),
        "cells": syn.cells, "flip_flops": syn.flip_flops,
        "seq_area_um2": round(syn.seq_area_um2, 3), "comb_area_um2": round(syn.comb_area_um2, 3),
        "delay_ns": round(sta.delay_ns, 4), "min_period_ns": round(sta.min_period_ns, 4),
        "fmax_mhz": None if sta.fmax_mhz is None else round(sta.fmax_mhz, 1),
        "meets_clock": sta.slack_ns >= 0,
        "critical_path": f"{sta.path_from} -> {sta.path_to}",
        "power_mw": round(sta.power_mw, 5), "power_internal_mw": round(sta.power_internal_mw, 5),
        "power_switching_mw": round(sta.power_switching_mw, 5),
        "power_leakage_mw": round(sta.power_leakage_mw, 8),
        "power_idle_mw": round(sta.power_idle_mw, 5),
        "cells_by_type": syn.cells_by_type,
        "synth_cached": syn.cached, "synth_s": syn.runtime_s,
        "files": str(out),
    }


def no_better(fmaxes: list, patience: int = PATIENCE) -> bool:
    """No better fmax in the last ``patience`` of ``fmaxes`` (one per STAGES, in order)
    than before them: going deeper has stopped paying."""
    f = [v or 0 for v in fmaxes]
    return len(f) > patience and max(f[-patience:]) <= max(f[:-patience])
