"""RTL handoff package: everything a chip team needs, runnable without Python.

``gqa-lut handoff UNIT_DIR`` (and ``make gen``) reads a built unit directory (Verilog,
manifest.json, spec files) and writes ``UNIT_DIR/handoff/``: the RTL in one
file with uniquely prefixed modules, ``filelist.f``, a self-checking
Verilog-2005 testbench with ``$readmemh`` vectors from the golden model,
the programming image of ``LUT=regs`` units ($readmemh + C header), lint
waivers and a Yosys check script, a FuseSoC core, an SDC and a synthesis
script for the team's own liberty, ``DATASHEET.md`` and ``manifest.json``
(sha256 of every file). See :mod:`hw.handoff.package`.
"""

from hw.handoff.package import HandoffError, build

__all__ = ["build", "HandoffError"]
