"""The synthesis cache that ``make dse``, ``CLOCK_MHZ`` (flow/clock.py) and
``make dse-model`` share: a unit is measured once per content (its Verilog,
its tables and the synthesis settings) by :func:`synth.measure.measure`,
and the figures are kept in a small JSON file beside the sweep."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hw.layernorm.config import LayerNorm


def _key(unit: Path, synth_cfg: dict) -> str:
    """The cache key of a unit: its Verilog, its tables (an element-wise
    unit's spec, a row-wise unit's specs and gamma/beta file) and the
    synthesis settings."""
    man = json.loads((unit / "manifest.json").read_text())
    h = hashlib.sha256()
    if "specs" in man:                  # row-wise: a table per name, and the gamma/beta file if any
        tables = sorted(man["specs"].values()) + [p for p in (LayerNorm.PARAMS_FILE,) if (unit / p).is_file()]
    else:
        tables = [man.get("spec", "spec.json")]
    for name in man["verilog"] + tables:
        h.update((unit / name).read_bytes())
    h.update(json.dumps({k: synth_cfg[k] for k in ("liberty", "period_ns", "activity", "abc")},
                        sort_keys=True).encode())
    from synth.flow import _pyosys_version
    h.update(_pyosys_version().encode())
    return h.hexdigest()


#: the figures of :func:`synth.measure.measure` a cached result keeps
KEEP = ("area_um2", "nand2_eq", "cells", "flip_flops", "seq_area_um2", "delay_ns", "min_period_ns", "fmax_mhz",
        "meets_clock", "power_mw")
#: the figures a sweep row needs (results cached before KEEP grew hold these)
DSE_FIGURES = ("area_um2", "nand2_eq", "cells", "flip_flops", "delay_ns", "fmax_mhz", "power_mw")


def cache_lookup(unit: Path, synth_cfg: dict, slots, need=()) -> tuple[str, dict | None]:
    """(key, the cached row or None): the first of the cache files ``slots``
    made under this unit's key (:func:`_key`: its Verilog, its spec and the
    synthesis settings) whose row holds every field of ``need``."""
    key = _key(unit, synth_cfg)
    for slot in slots:
        try:
            hit = json.loads(Path(slot).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(hit, dict) and hit.get("key") == key and all(k in hit.get("row", {}) for k in need):
            return key, hit["row"]
    return key, None


def measure_cached(unit: Path, synth_cfg: dict, slot: Path, also=(), row: dict | None = None,
                   need=KEEP) -> tuple[dict, bool]:
    """``row`` (default empty) with the unit's :data:`KEEP` figures, measured by
    :func:`synth.measure.measure` (Yosys + OpenSTA) or read back from the cache
    file ``slot`` (or one of ``also``) when it was made under the same key;
    (row, True if cached; a result cached before a field of KEEP existed
    reads it as None unless ``need`` names it). A fresh measurement is
    written to ``slot``.
    Raises SynthError."""
    from hw.files import write_atomic
    from synth.measure import measure
    key, hit = cache_lookup(unit, synth_cfg, [slot, *also], need=need)
    if hit is not None:
        return {**(row or {}), **{k: hit.get(k) for k in KEEP}}, True
    fig = measure(unit, synth_cfg)
    out = {**(row or {}), **{k: fig[k] for k in KEEP}, "status": "ok"}
    write_atomic(Path(slot), json.dumps({"key": key, "row": out}, indent=1) + "\n")
    return out, False
