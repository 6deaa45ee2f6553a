"""A first run that talks (issue 21, item 6): the install step prints one
line before each step (creating the virtual environment, the pinned
packages, the extras) and the time taken at the end, instead of sitting
silent for the minute pip takes. Runs the Makefile's own recipe against a
stand-in interpreter that records what it is asked to do (no network)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FAKE = """#!/bin/sh
# stand-in for python3: `-m venv DIR` makes DIR/bin/python, a stand-in that logs its arguments
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "$*" >> "%s"\\nexit ${FAIL_PIP:-0}\\n' "$LOG" > "$3/bin/python"
  chmod +x "$3/bin/python"
  exit 0
fi
exit 1
"""


def make_venv(tmp: Path, **env) -> subprocess.CompletedProcess:
    fake = tmp / "fakepython"
    fake.write_text(FAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "venv", f"VENV={tmp / 'venv'}",
                           f"PYTHON={fake}"], cwd=tmp, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LOG": str(tmp / "log"), **env})


def test_fresh_install_prints_a_line_per_step(tmp_path):
    r = make_venv(tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "about a minute" in lines[0], r.stdout
    assert [ln.split()[0] for ln in lines[1:4]] == ["[1/3]", "[2/3]", "[3/3]"], r.stdout
    assert "creating the virtual environment" in lines[1]
    assert "pinned packages" in lines[2] and "extras" in lines[3]
    assert lines[4].endswith(" s)") and "ready" in lines[4], r.stdout
    pips = (tmp_path / "log").read_text().splitlines()
    assert len(pips) == 2 and all(p.startswith("-m pip install") for p in pips), pips
    assert pips[0].endswith(str(ROOT)) and pips[1].endswith("]"), pips     # core first, then the extras
    # installed: a second run has nothing to do and says nothing
    again = make_venv(tmp_path)
    assert again.returncode == 0 and again.stdout == "", again.stdout


def test_existing_venv_says_it_updates(tmp_path):
    assert make_venv(tmp_path).returncode == 0
    for stamp in (tmp_path / "venv").glob(".installed-*"):
        stamp.unlink()                              # as when pyproject.toml changes
    r = make_venv(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "exists" in r.stdout.splitlines()[1], r.stdout


def test_failed_install_is_one_error_line(tmp_path):
    r = make_venv(tmp_path, FAIL_PIP="1")
    assert r.returncode != 0
    assert "error: pip install of gqa-lut" in r.stderr, r.stderr
    assert "[3/3]" not in r.stdout                  # stops at the failed step
