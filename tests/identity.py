"""Byte-identity check for refactors that must change nothing a user gets
(issue 22, item 6): build the default ``make sim`` matrix, a slice of the
``make dse`` plan (every implementation and poly variant) and the handoff
packages of one unit per kind into ``BUILD``, and print one sha256 per
generated file (Verilog, manifest, specs, datasheet, package files).

    python -m tests.identity BUILD > before.txt    # on the old commit
    python -m tests.identity BUILD2 > after.txt    # on the new one
    diff before.txt after.txt                      # nothing: byte-identical

Paths are printed relative to ``BUILD`` so that two build roots compare.
The packages are built with the generator version ``X`` (it is the git
commit, which is expected to differ between the two).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from flow.build import build
from flow.config import Elementwise
from hw.layernorm.config import LayerNorm
from hw.rmsnorm.config import RMSNorm
from hw.softmax.config import Softmax
from flow.dse import plan
from sim.units import matrix

#: one unit of each kind, built with its handoff package
HANDOFF = [Elementwise("gelu"), Elementwise("gelu", "int16", 8, 6), Elementwise("gelu", "fp32", 8, 2, "regs"),
           Elementwise("sigmoid", "int12", impl="poly", degree=2, fold=True, stages=3, lut="regs"),
           Elementwise("gelu", impl="table", lut="regs"), Elementwise("gelu", "int16", 16, impl="uniform"),
           Softmax(8), Softmax(8, row_store="none"), LayerNorm(8, row_store="sram", lanes=4), RMSNorm(8)]

#: generated files compared (fit.png is compared too: the plot is deterministic)
SUFFIXES = (".v", ".json", ".md", ".txt", ".sh", ".core", ".sdc", ".hex", ".png", ".py", ".npy", ".h", ".ys",
            ".vlt", ".f")


def units() -> list:
    cfgs = list(matrix())
    cfgs += plan(["gelu", "tanh"], ["int8", "int12"], [8], luts=["rom", "regs"], bound=1.0)
    return cfgs


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tests.identity BUILD", file=sys.stderr)
        return 2
    root = Path(argv[0])
    from hw.handoff import package
    package.generator_version = lambda: "X"
    for cfg in units():
        build(cfg, root)
    for cfg in HANDOFF:
        build(cfg, root, handoff=True)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES):
        print(hashlib.sha256(f.read_bytes()).hexdigest(), f.relative_to(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
