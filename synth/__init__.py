"""Synthesis and timing/power analysis of generated units.

``synth.flow``    Verilog -> Yosys (pyosys) -> mapped netlist, area, cells
``synth.sta``     mapped netlist -> OpenSTA -> worst path, max clock, power
``synth.measure`` one built unit -> Yosys, then OpenSTA -> its report row (area, clock, power);
                  ``make synth-report`` (``eval/synth_report.py``), ``make dse`` and ``CLOCK_MHZ`` measure with it
``synth.liberty`` the liberty reader both read cells, units and power tables with
``synth.script``  ``gqa_synth.ys`` with its placeholders filled in
``synth.sdc``     a unit's timing constraints

The Yosys commands live in ``synth/gqa_synth.ys`` (placeholders filled in by
``synth.script``), so a chip team can rerun the exact flow with their own Yosys.

``synth.script`` and ``synth.sdc`` import nothing outside this package: the
handoff package (``hw.handoff``) writes its Yosys script and SDC with them,
so the files it ships are the ones the report measured with, and importing
them pulls in neither the Yosys runner nor anything that imports ``hw``.
"""

DEFAULT_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"
LIBERTY_PACKAGE = "qflow-tech-osu018"
STA_PACKAGE = "opensta"
#: the clock period a unit is characterised at (ABC's delay target, the SDC's clock), ns
DEFAULT_PERIOD_NS = 10.0


class SynthError(Exception):
    """A user-facing failure (missing tool or liberty, bad unit, tool error):
    the command line prints the message on one line and exits non-zero."""
