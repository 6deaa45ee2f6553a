"""``CLOCK_MHZ=F``: an element-wise unit sold at a clock (DESIGN.md, "Clock target").

The method is a cached synthesis + STA loop, not a timing model: the unit
is generated at STAGES of :data:`SEARCH_STAGES` (every cut point but 0,
DESIGN.md "Latency and STAGES"), each candidate with the final module name
``gqa_<name>``. To keep the search cheap it always measures STAGES
:data:`FIRST_STAGES` (1..3) and goes deeper only while none of those met F:
STAGES 4, 5, ... up to the unit's last cut point (:func:`hw.impls.cut_stages`),
stopping at the first that meets F, since every deeper STAGES adds registers
(area grows with STAGES), or when two deeper STAGES in a row bring no better
fmax (:func:`synth.measure.no_better`). Each candidate is synthesized with the project's flow
(``synth/gqa_synth.ys``, ABC's delay target = the target period) and timed by
OpenSTA with the unit's SDC at period 1000/F ns (:func:`synth.measure.measure`,
through :func:`flow.synthcache.measure_cached`, the sweep's cache keyed by the
Verilog, the spec and the synthesis settings). The unit is built at the
STAGES of least area among those that meet F (OpenSTA slack >= 0 at that
period; on equal area the fewer STAGES). Its Verilog is byte for byte the
measured candidate's, so the fmax in its manifest is the shipped unit's.
If no candidate meets F, :class:`ClockError` names the best fmax reached
and at which STAGES; nothing is written to the unit's directory.

Files: ``<build>/clock/units/<name>_try_s<S>/`` (the candidates),
``<build>/clock/synth/`` (Yosys and OpenSTA work files), ``<build>/clock/results/``
(the cached figures, one file per candidate).
"""

from __future__ import annotations

import sys
from pathlib import Path

from flow.config import ConfigError, Elementwise

from hw.pwl_common import MAX_STAGES

#: the STAGES the loop may try: every cut point the generators have, but not STAGES=0. A unit sold at a
#: clock has that clock and a registered output: a combinational unit would "meet" F only with the
#: caller's registers around it, whose clock-to-Q and setup the figure would not include
SEARCH_STAGES = tuple(range(1, MAX_STAGES + 1))
#: always measured; the least area among those that meet F wins. Deeper STAGES only when none does,
#: one at a time, stopping at the first that meets F or when going deeper stops paying
FIRST_STAGES = (1, 2, 3)
#: the power figure's input activity (as make synth-report and make dse)
ACTIVITY = 0.5
METHOD = ("cached synthesis + STA loop: the unit generated at STAGES 1..3, each synthesized "
          "(synth/gqa_synth.ys, ABC delay target = the period) and timed by OpenSTA at period 1000/F ns; "
          "the least area with slack >= 0; if none meets F, STAGES 4, 5, ... up to the unit's last cut "
          "point, stopping at the first with slack >= 0, or where two deeper STAGES in a row bring no better fmax")


class ClockError(ConfigError):
    """The target clock cannot be met (or the loop could not run): one line."""


def period_ns(clock_mhz: float) -> float:
    return 1000.0 / clock_mhz


def synth_settings(build_root: Path, clock_mhz: int, liberty=None) -> dict:
    """What :func:`synth.measure.measure` and the cache key take, at the target's period."""
    from synth.liberty import check_liberty
    root = Path(build_root) / "clock"
    return {"out": str(root / "synth"), "results": str(root / "results"), "liberty": str(check_liberty(liberty)),
            "period_ns": period_ns(clock_mhz), "activity": ACTIVITY, "abc": "gqa"}


def candidate_dir(build_root: Path, name: str, stages: int) -> Path:
    return Path(build_root) / "clock" / "units" / f"{name}_try_s{stages}"


def clock_slot(unit: Path) -> Path:
    """The cache file of the candidate a unit built at a clock was taken from
    (its Verilog is the unit's): the loop's result, reusable by ``make dse``."""
    import json
    unit = Path(unit)
    man = json.loads((unit / "manifest.json").read_text())
    return unit.parent / "clock" / "results" / f"{candidate_dir(unit.parent, unit.name, man['stages']).name}.json"


def fmax_of(row: dict) -> float | None:
    """The candidate's maximum clock in MHz: 1 / (period - slack), also for a
    combinational (STAGES=0, LUT=rom) unit, whose path runs from its inputs to
    its outputs within one period of a virtual clock (synth/sdc.py)."""
    mp = row.get("min_period_ns")
    return round(1000.0 / mp, 1) if mp else None


def choose(cfg: Elementwise, spec, build_root: Path, record: dict, log=None) -> dict:
    """Measure every candidate of ``cfg`` at its clock target and pick one; returns
    the manifest's clock record (``stages``, ``fmax_mhz``, ``candidates`` ...).
    Raises :class:`ClockError` when none meets the target."""
    from hw import gen
    from synth import SynthError

    from flow.synthcache import measure_cached
    F = cfg.clock_mhz
    try:
        synth_cfg = synth_settings(build_root, F)
        from synth.flow import _pyosys_version
        from synth.sta import sta_command
        _pyosys_version()
        sta_command()
    except SynthError as e:
        raise ClockError(f"CLOCK_MHZ={F} needs the synthesis flow: {e}") from None
    from hw.impls import cut_stages
    from synth.measure import no_better
    last = min(max(SEARCH_STAGES), max(cut_stages(spec), max(FIRST_STAGES)))
    cands = []
    for s in SEARCH_STAGES:
        if s > last or (s not in FIRST_STAGES and (any(c["meets"] for c in cands)
                                                   or no_better([c["fmax_mhz"] for c in cands]))):
            break
        d = candidate_dir(build_root, cfg.name, s)
        gen.generate(spec, d, cfg.top, s, cfg.lut, cfg.ftz, {**record, "clock_candidate": s}, lanes=cfg.lanes)
        try:
            row, cached = measure_cached(d, synth_cfg, Path(synth_cfg["results"]) / f"{d.name}.json")
        except SynthError as e:
            raise ClockError(f"CLOCK_MHZ={F}: {cfg.name} at STAGES={s} could not be measured: {e}") from None
        c = {"stages": s, "area_um2": row["area_um2"], "seq_area_um2": row["seq_area_um2"],
             "flip_flops": row["flip_flops"], "fmax_mhz": fmax_of(row), "meets": bool(row["meets_clock"]),
             "power_mw": row["power_mw"]}
        cands.append(c)
        if log is not None:
            print(f"  clock {F} MHz: STAGES={s}  {c['area_um2']:>10,.0f} um2  fmax {c['fmax_mhz']} MHz  "
                  f"{'meets' if c['meets'] else 'misses'}{'  (cached)' if cached else ''}", file=log, flush=True)
    ok = [c for c in cands if c["meets"]]
    if not ok:
        best = max(cands, key=lambda c: (c["fmax_mhz"] or 0, -c["stages"]))
        raise ClockError(f"CLOCK_MHZ={F}: {cfg.name} does not meet {F} MHz at any STAGES 1..{cands[-1]['stages']}; the best is "
                         f"{best['fmax_mhz']} MHz at STAGES={best['stages']} (OpenSTA, "
                         f"{Path(synth_cfg['liberty']).name}); ask for a lower clock, or give STAGES=n for a "
                         "unit without a clock target")
    pick = min(ok, key=lambda c: (c["area_um2"], c["stages"]))
    return {"target_mhz": F, "period_ns": round(synth_cfg["period_ns"], 6), "stages": pick["stages"],
            "latency_cycles": pick["stages"], "fmax_mhz": pick["fmax_mhz"], "area_um2": pick["area_um2"],
            "liberty": Path(synth_cfg["liberty"]).name, "activity": ACTIVITY, "method": METHOD,
            "candidates": cands}


def generate_at_clock(cfg: Elementwise, spec, out: Path, build_root: Path, record: dict, quiet: bool = True,
                      log=None) -> dict:
    """Build ``cfg`` (a unit with ``clock_mhz``) into ``out`` at the STAGES
    :func:`choose` picks; the manifest gains ``clock_mhz``, ``fmax_mhz`` and
    ``clock`` (the record). Returns the manifest."""
    from hw import gen
    log = (sys.stderr if log is None else log) if not quiet else None
    clock = choose(cfg, spec, build_root, record, log)
    s = clock["stages"]
    man = gen.generate(spec, out, cfg.top, s, cfg.lut, cfg.ftz,
                       {**record, "clock_mhz": cfg.clock_mhz, "fmax_mhz": clock["fmax_mhz"], "clock": clock},
                       lanes=cfg.lanes)
    cand = candidate_dir(build_root, cfg.name, s)
    if (out / f"{cfg.top}.v").read_bytes() != (cand / f"{cfg.top}.v").read_bytes():
        # cannot happen while generation is deterministic; never ship figures of other Verilog
        (out / "manifest.json").unlink(missing_ok=True)
        raise ClockError(f"CLOCK_MHZ={cfg.clock_mhz}: the Verilog of {cfg.name} differs from the measured "
                         f"candidate {cand}; nothing shipped")
    return man
