"""Synthesis and timing/power analysis of generated units.

``synth.flow``   Verilog -> Yosys (pyosys) -> mapped netlist, area, cells
``synth.sta``    mapped netlist -> OpenSTA -> worst path, max clock, power
``synth.report`` every unit of the report matrix -> build/synth/report.{json,md}, area.png

The Yosys commands live in ``synth/gqa_synth.ys`` (placeholders filled in by
``synth.flow``), so a chip team can rerun the exact flow with their own Yosys.
"""

DEFAULT_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"
LIBERTY_PACKAGE = "qflow-tech-osu018"
STA_PACKAGE = "opensta"


class SynthError(Exception):
    """A user-facing failure (missing tool or liberty, bad unit, tool error):
    the command line prints the message on one line and exits non-zero."""
