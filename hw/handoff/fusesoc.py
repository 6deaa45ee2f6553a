"""The FuseSoC CAPI2 core file of a handoff package (``<top>.core``).

VLNV ``gqa-lut:units:<top>:<version>``. The version is
``<PACKAGE_VERSION>.0.0`` (:func:`core_version`): its major number is the
handoff package format, so a tool or a dependency can ask for ``^1.0``;
the unit itself is named by ``<top>`` (a fit with non-default options has
its own ``_v<hash>`` name) and its exact content is pinned by the sha256s
of the package's ``manifest.json``.

Filesets and targets:

- ``rtl``: the unit's single Verilog file; target ``default`` (RTL only,
  for cores that depend on this one), toplevel ``<top>``.
- ``tb``: the self-checking bench and the ``$readmemh`` files it reads.
  The bench opens ``tb/...`` (and ``prog/...``) relative to the directory
  the simulator runs in (its parameters ``VECDIR``/``PROGDIR``); FuseSoC
  runs the simulator in its own work directory, so each vector file carries
  ``copyto`` with its package-relative path and lands where the bench
  looks. Target ``sim``: Icarus (edalize flow API), toplevel ``tb_<top>``;
  the bench ends with ``$fatal`` on a mismatch, so ``fusesoc run`` fails.
- ``waivers``: the Verilator ``.vlt`` (file type ``vlt``, passed before the
  RTL); target ``lint``: ``verilator --lint-only -Wall``.

Written by hand (no YAML library needed to build a package); every string
that could need quoting is quoted.
"""

from __future__ import annotations

import json

VENDOR = "gqa-lut"
LIBRARY = "units"


def core_version(package_version: int) -> str:
    return f"{int(package_version)}.0.0"


def vlnv(top: str, package_version: int) -> str:
    return f"{VENDOR}:{LIBRARY}:{top}:{core_version(package_version)}"


def run_command(top: str, package_version: int, target: str) -> str:
    """``fusesoc run`` of ``target`` from the package directory (FuseSoC's
    work files go to ``build/`` there; ``--build-root DIR`` moves them)."""
    return f"fusesoc --cores-root . run --target {target} {vlnv(top, package_version)}"


def core_name(top: str) -> str:
    """The core file's name in the package root."""
    return f"{top}.core"


def _q(s: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(s))


def core_file(top: str, package_version: int, description: str, rtl: str, tb: str, waivers: str,
              data_files: list[str]) -> str:
    """The CAPI2 text. Paths are relative to the package root (where the
    core file lives); ``data_files`` are the files the bench reads with
    ``$readmemh`` (copied to the same relative path in the work directory)."""
    name = vlnv(top, package_version)
    L = ["CAPI=2:",
         f"# FuseSoC core of {top} (GQA-LUT handoff package). In the package directory:",
         f"#   {run_command(top, package_version, 'sim')}   # bench: PASS, or fails",
         f"#   {run_command(top, package_version, 'lint')}  # verilator -Wall, waived",
         "# (FuseSoC works in build/ here; --build-root DIR after `run` puts it elsewhere).",
         f"# Version {core_version(package_version)}: the major number is the handoff package format; the unit "
         "is named by its top,",
         "# its exact files by the sha256s in manifest.json.",
         "",
         f"name: {_q(name)}",
         f"description: {_q(description)}",
         "",
         "filesets:",
         "  rtl:",
         "    files:",
         f"      - {_q(rtl)}",
         "    file_type: verilogSource-2005",
         "",
         "  tb:",
         "    files:",
         f"      - {_q(tb)}"]
    for f in data_files:
        L.append(f"      - {_q(f)}: {{file_type: user, copyto: {_q(f)}}}")
    L += ["    file_type: verilogSource-2005",
          "",
          "  waivers:",
          "    files:",
          f"      - {_q(waivers)}",
          "    file_type: vlt",
          "",
          "targets:",
          "  default:",
          "    description: \"the RTL only, for cores that instantiate the unit\"",
          "    filesets: [rtl]",
          f"    toplevel: {_q(top)}",
          "",
          "  sim:",
          "    description: \"self-checking testbench on Icarus Verilog: prints PASS <n> vectors, "
          "or the mismatches and fails\"",
          "    filesets: [rtl, tb]",
          f"    toplevel: {_q('tb_' + top)}",
          "    flow: sim",
          "    flow_options:",
          "      tool: icarus",
          "      iverilog_options: [-g2005]",
          "",
          "  lint:",
          "    description: \"Verilator lint, -Wall, with the package's waivers (each with its reason)\"",
          "    filesets: [waivers, rtl]",
          f"    toplevel: {_q(top)}",
          "    flow: lint",
          "    flow_options:",
          "      tool: verilator",
          "      verilator_options: [-Wall]",
          ""]
    return "\n".join(L)
