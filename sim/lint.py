"""Verilator lint of generated Verilog, with each waived warning and its reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: Warnings Amaranth's Verilog backend always raises, waived by name.
WAIVERS = {
    "WIDTH": "Yosys' Verilog backend writes constants at their minimal width (cfg_addr == 2'h2) "
             "and relies on Verilog's context widening; the widths are exact in the netlist",
    "UNUSEDSIGNAL": "Amaranth keeps the full-width intermediate nets of slices whose upper bits "
                    "are never read (e.g. the bits of acc below the rounding point)",
}


def lint(files: list[Path], top: str) -> subprocess.CompletedProcess:
    exe = shutil.which("verilator")
    if exe is None:
        raise FileNotFoundError("verilator not found; install it: apt-get install verilator")
    args = [exe, "--lint-only", "-Wall", *[f"-Wno-{w}" for w in WAIVERS], "--top-module", top,
            *[str(f) for f in files]]
    return subprocess.run(args, capture_output=True, text=True)
