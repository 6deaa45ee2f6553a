"""STAGES 4..MAX_STAGES (issue 26): the deeper cut points, bit for bit.

* the cut tables: STAGES 0..3 keep their registers (their Verilog is
  byte for byte what it was: compared by hand when the cuts were added,
  and pinned here by the tables), every STAGES has an entry, each deeper
  STAGES keeps the cuts of the one before;
* integer units (pwl rom and regs, uniform, lanes) at the new STAGES through
  the cocotb bench: every input code at INT8 and INT16 against the golden
  model, and every result exactly STAGES clocks after its input (the bench
  counts late results, with bubbles in the input stream);
* a STAGES beyond an integer unit's last cut point only delays the result;
  IMPL=poly keeps STAGES 0..3.

The FP32 unit's deeper STAGES and its operators' internal cuts are in
tests/test_fp32_units.py; synthesis and OpenSTA of the new STAGES in
tests/test_synth_stages.py.
"""

from __future__ import annotations

import json

import pytest

from flow.config import Elementwise, FitOptions
from hw.pwl_common import MAX_STAGES

FIT = FitOptions(generations=3)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Own build directory: the short fits must not replace the session's cached default-fit specs."""
    return tmp_path_factory.mktemp("deep_build")


def test_cut_tables():
    from hw import impls
    from hw.pwl_fp32.unit import CUTS as FCUTS
    from hw.pwl_int.unit import CUT_STAGES, CUTS
    assert [CUTS[s] for s in range(4)] == [(), (), ("read",), ("read", "prod")]
    assert [FCUTS[s] for s in range(4)] == [(), (), ("select",), ("select", "mul")]
    for table in (CUTS, FCUTS):
        assert sorted(table) == list(range(MAX_STAGES + 1))
    for s in range(3, MAX_STAGES + 1):
        assert set(FCUTS[s - 1]) <= set(FCUTS[s]) and len(FCUTS[s]) == s - 1
        assert set(CUTS[min(s, CUT_STAGES) - 1]) <= set(CUTS[s])
    assert all(len(CUTS[s]) == s - 1 for s in range(1, CUT_STAGES + 1))
    assert all(CUTS[s] == CUTS[CUT_STAGES] for s in range(CUT_STAGES, MAX_STAGES + 1))
    assert max(FCUTS) == MAX_STAGES         # the FP32 unit has a cut for every STAGES
    with pytest.raises(ValueError, match="STAGES 0..3"):
        impls.get("poly").component(None, 4, "rom")


def _verify(cfg, build):
    from sim.units import verify
    res = verify(cfg, build)
    man = json.loads((build / cfg.name / "manifest.json").read_text())
    assert man["stages"] == man["latency_cycles"] == cfg.stages
    assert res.failed == 0 and res.mismatches == 0 and res.vectors > 0, res
    return res


# (format, stages, extra fields): every new STAGES at INT8 rom, the others where their cuts differ
INT_CASES = [("int8", s, {}) for s in range(4, 8)] + [
    ("int8", MAX_STAGES, {}),
    ("int8", 5, {"lut": "regs"}), ("int8", 6, {"lut": "regs"}),
    ("int8", 6, {"impl": "uniform"}), ("int8", 4, {"impl": "uniform", "lut": "regs"}),
    ("int8", 6, {"lanes": 2}),
    ("int16", 6, {}), ("int16", 5, {"lut": "regs"}),          # (STAGES 4's int16 partial products are in 5 and 6)
]


@pytest.mark.parametrize("fmt,stages,extra", INT_CASES,
                         ids=[f"{f}-s{s}-{'-'.join(f'{k}={v}' for k, v in e.items()) or 'rom'}"
                              for f, s, e in INT_CASES])
def test_int_deep_stages_bit_exact(build, fmt, stages, extra):
    impl = extra.get("impl", "pwl")
    kw = dict(entries=2, fit=FIT) if impl == "pwl" else dict(entries=4)
    cfg = Elementwise("gelu", fmt, stages=stages, **kw, **extra)
    res = _verify(cfg, build)
    lanes = extra.get("lanes", 1)
    assert res.vectors >= (1 << int(fmt[3:])) * lanes       # every input code (on every lane)


@pytest.mark.parametrize("target,measured,pick", [
    (140, [1, 2, 3], 3),            # met within 1..3: the least area among them, nothing deeper measured
    (200, [1, 2, 3, 4, 5], 5),      # none of 1..3 meets: deeper, one at a time, up to the first that meets
    (300, [1, 2, 3, 4, 5, 6], None),    # the unit's last cut point reached: error naming 1..6
])
def test_clock_search_goes_deeper_only_when_needed(tmp_path, monkeypatch, target, measured, pick):
    """flow/clock.py's search, with the synthesis replaced by made-up figures
    (fmax and area grow with STAGES): STAGES 1..3 always, then 4, 5, ... up to
    hw.impls.cut_stages, stopping at the first that meets F."""
    import flow.synthcache
    import hw.gen
    import hw.impls
    from flow.clock import ClockError, choose
    fmax = {1: 100.0, 2: 120.0, 3: 150.0, 4: 190.0, 5: 210.0, 6: 230.0}
    seen = []

    def fake_generate(spec, d, top, s, *a, **k):
        seen.append(s)

    def fake_measure(d, cfg, slot):
        s = seen[-1]
        return ({"area_um2": 1000.0 * s, "seq_area_um2": 10.0 * s, "flip_flops": s, "power_mw": 1.0,
                 "min_period_ns": 1000.0 / fmax[s], "meets_clock": fmax[s] >= target}, False)
    monkeypatch.setattr(hw.gen, "generate", fake_generate)
    monkeypatch.setattr(flow.synthcache, "measure_cached", fake_measure)
    monkeypatch.setattr(hw.impls, "cut_stages", lambda spec: 6)
    cfg = Elementwise("gelu", "int16", 2, fit=FIT, clock_mhz=target)
    if pick is None:
        with pytest.raises(ClockError, match=r"at any STAGES 1\.\.6; the best is 230.0 MHz at STAGES=6"):
            choose(cfg, None, tmp_path, {})
    else:
        clock = choose(cfg, None, tmp_path, {})
        assert clock["stages"] == pick and [c["stages"] for c in clock["candidates"]] == measured
    assert seen == measured
