"""The handoff trusts nothing it is given (issue 21, item 4): an output
location that is, contains or lies inside the unit folder, a truncated or
foreign manifest, and a table or RTL changed after generation are each
refused with one ``error:`` line and exit status 2, before anything is
written (the unit folder is byte for byte as it was, no package appears).
Runs ``gqa-lut handoff`` in this process (:func:`flow.cli.main`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flow.cli import main
from tests.helpers import build_fast


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small element-wise unit and a softmax unit, fast fits, no package yet."""
    from flow.build import build as build_unit
    from flow.config import FitOptions
    from hw.softmax.config import Softmax
    root = tmp_path_factory.mktemp("handoff_args")
    return {"gelu": build_fast("gelu", "int8", 4, 1, "rom", root),
            "softmax": build_unit(Softmax(4, fit=FitOptions(generations=5)), root)}


@pytest.fixture
def unit(built, tmp_path):
    """A fresh copy of the element-wise unit, inside a folder of its own."""
    return Path(shutil.copytree(built["gelu"], tmp_path / "b" / built["gelu"].name))


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(capsys, root: Path, *argv) -> str:
    """Run ``gqa-lut handoff ARGV``; assert one error line, exit 2 and
    nothing changed under ``root``; return the line."""
    before = tree(root)
    rc = main(["handoff", *map(str, argv)])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and out == "" and len(lines) == 1, (rc, out, err)
    assert lines[0].startswith("error: ") and "unexpected" not in lines[0] and "Traceback" not in err, err
    assert tree(root) == before
    return lines[0]


def test_good_locations_work(unit, tmp_path, capsys):
    assert main(["handoff", str(unit)]) == 0
    assert (unit / "handoff" / "run_tb.sh").is_file()
    assert main(["handoff", str(unit), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "DATASHEET.md").is_file()


@pytest.mark.parametrize("where,says", [
    (".", "is the unit folder"),                 # would overwrite its manifest.json and Verilog
    ("..", "contains the unit folder"),
    ("rtl", "inside the unit folder"),
    ("spec.json", "inside the unit folder"),
    ("handoff/sub", "inside the unit folder"),
])
def test_output_location_in_or_around_the_unit_is_refused(unit, capsys, where, says):
    line = refused(capsys, unit.parent, unit, "--out", unit / where)
    assert says in line


def test_output_location_through_a_symlink_to_the_unit_is_refused(unit, tmp_path, capsys):
    (tmp_path / "link").symlink_to(unit)
    assert "is the unit folder" in refused(capsys, unit.parent, unit, "--out", tmp_path / "link")


@pytest.mark.parametrize("content,says", [
    (lambda m: m[:len(m) // 2], "not valid JSON"),                          # truncated
    (lambda m: "", "not valid JSON"),
    (lambda m: "[1, 2]", "a JSON list"),
    (lambda m: json.dumps({"name": "some other tool"}), "has no 'top'"),    # foreign
    (lambda m: json.dumps({**json.loads(m), "verilog": ["../../etc/passwd"]}), "field 'verilog'"),
    (lambda m: json.dumps({**json.loads(m), "ports": "x"}), "field 'ports'"),
    (lambda m: json.dumps({**json.loads(m), "request": {"spec": "/etc/passwd"}}), "field 'request'"),
    (lambda m: json.dumps({k: v for k, v in json.loads(m).items() if k != "sha256"}), "records no sha256"),
])
def test_truncated_or_foreign_manifest_is_refused(unit, capsys, content, says):
    path = unit / "manifest.json"
    path.write_text(content(path.read_text()))
    assert says in refused(capsys, unit.parent, unit)


def test_package_manifest_given_as_unit_is_refused(unit, capsys):
    assert main(["handoff", str(unit)]) == 0
    capsys.readouterr()
    assert "handoff package's manifest" in refused(capsys, unit.parent, unit / "handoff")


def test_edited_table_is_refused(unit, capsys):
    """A valid table, one intercept changed: the RTL implements the old one."""
    doc = json.loads((unit / "spec.json").read_text())
    doc["intercepts"]["values"][0] += 1 if doc["intercepts"]["values"][0] < 0 else -1
    (unit / "spec.json").write_text(json.dumps(doc, indent=2))
    line = refused(capsys, unit.parent, unit)
    assert "spec.json changed after the unit was generated" in line and "no longer matches" in line


def test_edited_rtl_is_refused(unit, capsys):
    top = json.loads((unit / "manifest.json").read_text())["top"]
    v = unit / f"{top}.v"
    v.write_text(v.read_text().replace("endmodule", "endmodule // edited", 1))
    assert f"{top}.v changed after the unit was generated" in refused(capsys, unit.parent, unit)


def test_missing_rtl_is_refused(unit, capsys):
    top = json.loads((unit / "manifest.json").read_text())["top"]
    (unit / f"{top}.v").unlink()
    assert "is missing" in refused(capsys, unit.parent, unit)


def test_edited_rowwise_table_is_refused(built, tmp_path, capsys):
    unit = Path(shutil.copytree(built["softmax"], tmp_path / built["softmax"].name))
    doc = json.loads((unit / "exp.spec.json").read_text())
    doc["op"] = "edited"
    (unit / "exp.spec.json").write_text(json.dumps(doc))
    assert "exp.spec.json changed after the unit was generated" in refused(capsys, tmp_path, unit)
    assert main(["handoff", str(Path(shutil.copytree(built["softmax"], tmp_path / "ok")))]) == 0
