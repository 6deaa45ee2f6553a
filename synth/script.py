"""The Yosys script: ``synth/gqa_synth.ys`` with its ``@NAME@`` placeholders.

One command list for two users: ``synth.flow`` fills in every placeholder
and runs it (``make synth-report``), and the handoff package ships it with
``@LIBERTY@`` and ``@PERIOD_PS@`` left for its ``synth.sh``
(:func:`package_script`). Like ``synth.sdc``, this module reads only the
script file and imports nothing outside ``synth`` (no Amaranth, no unit
generator), so ``hw.handoff`` uses it without pulling in the Yosys runner.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from synth import SynthError

SCRIPT = Path(__file__).with_name("gqa_synth.ys")
PLACEHOLDERS = ("LIBERTY", "VERILOG", "TOP", "PERIOD_PS", "NETLIST", "STAT_JSON", "STAT_TXT")
# "gqa": the script's ABC lines as written; "yosys": the same lines without
# their -script argument, i.e. Yosys's built-in default ABC script (slower,
# see the .ys); "buffered": the script's lines, and after the mapping onto the
# liberty ABC's buffering and gate sizing (:data:`BUFFERING`)
ABC_CHOICES = ("gqa", "yosys", "buffered")
#: what "buffered" adds to the liberty mapping's ABC script: buffer trees on high-fanout nets, then
#: up- and down-sizing of gates against the delay target. Mapping alone leaves a net such as a reset,
#: a select or a table's write enable driven by one small gate into hundreds of loads (a 4 ns OAI21X1
#: into 2.4 pF in the FP32 LUT=regs unit); a placed design buffers those nets, so their fmax here is
#: pessimistic (README "Which row-wise unit should I use?" has the figures)
BUFFERING = ";buffer,-p;upsize,{D};dnsize,{D}"


def script_commands() -> list[str]:
    """gqa_synth.ys as a list of commands with placeholders."""
    cmds = []
    for line in SCRIPT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            cmds.append(line)
    return cmds


def yosys_path(p: str | os.PathLike) -> str:
    s = str(p)
    if any(c.isspace() for c in s) or '"' in s:
        raise SynthError(f"path {s!r} contains white space or quotes; Yosys scripts cannot take it")
    return s


def render_commands(values: dict[str, str], abc: str = "gqa", keep: tuple[str, ...] = ()) -> list[str]:
    """gqa_synth.ys's commands with ``values`` filled in. Placeholders named
    in ``keep`` stay as ``@NAME@`` for the user to fill (the handoff
    package's script keeps @LIBERTY@ and @PERIOD_PS@)."""
    if abc not in ABC_CHOICES:
        raise SynthError(f"unknown ABC script '{abc}'; choose from {', '.join(ABC_CHOICES)}")
    unknown = set(keep) - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholders to keep {sorted(unknown)}")
    missing = set(PLACEHOLDERS) - set(values) - set(keep)
    if missing:
        raise ValueError(f"missing placeholders {sorted(missing)}")
    out = []
    for cmd in script_commands():
        for k in PLACEHOLDERS:
            if k not in keep:
                cmd = cmd.replace(f"@{k}@", str(values[k]))
        left = set(re.findall(r"@([A-Z_]+)@", cmd)) - set(keep)
        if left:
            raise ValueError(f"unknown placeholder in {cmd!r}")
        if abc == "yosys" and cmd.startswith("abc "):
            cmd = re.sub(r"\s+-script\s+\S+", "", cmd)
        if abc == "buffered" and cmd.startswith("abc -liberty "):
            cmd += BUFFERING
        out.append(cmd)
    return out


#: placeholders a handoff package's script leaves to its user (filled by its synth.sh)
PACKAGE_KEEP = ("LIBERTY", "PERIOD_PS")
PACKAGE_OUT = "synth_out"


def package_script(top: str, verilog: list[str], abc: str = "gqa") -> str:
    """gqa_synth.ys for a handoff package: the RTL (paths relative to the
    package directory) and top filled in, the outputs in ``synth_out/``, and
    ``@LIBERTY@`` / ``@PERIOD_PS@`` (:data:`PACKAGE_KEEP`) left for the
    package's ``synth.sh`` (or sed) to fill. Same commands as the report's."""
    o = PACKAGE_OUT
    vals = {"VERILOG": " ".join(yosys_path(v) for v in verilog), "TOP": top,
            "NETLIST": f"{o}/{top}_netlist.v", "STAT_JSON": f"{o}/{top}_stat.json",
            "STAT_TXT": f"{o}/{top}_stat.txt"}
    head = [f"# Yosys synthesis of {top} onto a liberty: the GQA-LUT generator's flow script",
            "# (synth/gqa_synth.ys, the commands its synthesis report runs) with this package's RTL and top",
            "# filled in. Run it in the package directory with: LIBERTY=/path/to/cells.lib sh synth.sh",
            "# which replaces @LIBERTY@ (your liberty) and @PERIOD_PS@ (ABC's delay target, ps; default the",
            f"# SDC's clock period) and writes {o}/: the mapped netlist, area statistics and the Yosys log.",
            "# By hand: sed -e 's|@LIBERTY@|my.lib|g' -e 's|@PERIOD_PS@|10000|g' THIS_FILE > run.ys && yosys -s run.ys",
            f"# (create {o}/ first). Written for Yosys 0.70 (the generator's pinned pyosys).", ""]
    return "\n".join(head + render_commands(vals, abc, keep=PACKAGE_KEEP)) + "\n"
