"""A first run that talks (issue 21): what the commands print, and the checks
they make before any work. Each test runs ``gqa-lut`` in this process
(:func:`flow.cli.main`) on a fresh build directory."""

from __future__ import annotations

import json

from flow.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """``gqa-lut ARGV``: (exit status, stdout, stderr)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. MAX_ERR_LSB says what it found -----------------------------------------------------

def test_max_err_lsb_prints_entries_and_certified_error(tmp_path, capsys):
    rc, out, err = run(capsys, "gen", "gelu", "--max-err-lsb", "1", "--build", tmp_path, "--no-handoff", "-q")
    assert rc == 0, err
    unit = tmp_path / "gelu_int8_m1"
    found = json.loads((unit / "spec.json").read_text())["fit"]["minimal"]
    n, cert = found["entries"], found["certificate"]["max_err_lsb"]
    assert json.loads((unit / "manifest.json").read_text())["entries"] == n
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "gelu_int8_m1/" in line)
    near = " ".join(lines[at:at + 2])           # the unit's line or the one right after it
    assert f"{n} entries" in near, out
    assert f"{cert:.3f} LSB" in near, out
    assert "certified" in near, out


def test_plain_gen_prints_no_search_line(tmp_path, capsys):
    rc, out, err = run(capsys, "gen", "gelu", "--entries", "4", "--generations", "5", "--build", tmp_path,
                       "--no-handoff", "-q")
    assert rc == 0, err
    assert "certified" not in out and len(out.splitlines()) == 1, out
