"""``python -m hw.handoff UNIT_DIR [--out DIR]``: write a unit's handoff package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.handoff",
                                 description="Write the RTL handoff package of a built unit (UNIT_DIR/handoff/).")
    ap.add_argument("unit_dir", type=Path, help="a unit directory made by `make gen` (holds manifest.json)")
    ap.add_argument("--out", type=Path, help="package directory (default: UNIT_DIR/handoff)")
    a = ap.parse_args(argv)
    from hw.handoff.package import HandoffError, build
    from hw.handoff.rtl import RtlError
    from hw.spec import SpecError
    try:
        out = build(a.unit_dir, a.out)
    except (HandoffError, RtlError, SpecError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}  (verify: sh {out}/run_tb.sh icarus)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
