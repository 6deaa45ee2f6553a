"""Running the Makefile as a user does, from any directory, for the tests."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--generations 10"          # a short GA: the tests check plumbing, not table quality


def make(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``make -s -f <checkout>/Makefile ARGS`` in ``cwd``."""
    return subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), *args], cwd=cwd, capture_output=True,
                          text=True)


def tree(d: Path) -> dict:
    """Every file below ``d`` (relative path -> bytes), for byte-for-byte comparisons."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
