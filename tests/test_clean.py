"""``make clean`` touches only what we made (issue 21): a build root is
removed only when it carries the ``.gqa-lut-build`` marker (written when a
build starts in a new or empty root) and is neither the checkout nor a
folder that contains it; anything else is one ``error:`` line, exit status
2 and nothing removed.

The checkout itself is never offered to a real ``rmtree``: the refusal is
checked with ``rmtree`` replaced, and through ``make`` on a copy of
``flow/clean.py`` in a fake checkout (a directory of its own).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flow import clean
from flow.build import build
from flow.config import Elementwise
from tests.helpers import ROOT, make, tree

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _refused(r: subprocess.CompletedProcess, words: str):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("make")]   # make's own trailer
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr


def _table_unit(root: Path) -> Path:
    """A real unit (a direct-lookup table: no fit) built into ``root``."""
    return build(Elementwise("gelu", "int8", impl="table"), root)


@needs_make
def test_foreign_folder_is_refused_and_untouched(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("years of work\n")
    (d / "sub").mkdir()
    (d / "sub" / "data.bin").write_bytes(b"\0\1")
    before = tree(d)
    r = make(["clean", f"BUILD={d}"], tmp_path)
    _refused(r, "not made by gqa-lut")
    assert tree(d) == before


@needs_make
def test_real_build_dir_is_removed(tmp_path):
    root = tmp_path / "b"
    unit = _table_unit(root)
    assert (root / clean.MARKER).is_file() and (unit / "manifest.json").is_file()
    r = make(["clean", "BUILD=b"], tmp_path)             # relative to the directory make runs in
    assert r.returncode == 0 and not root.exists(), r.stderr
    r = make(["clean", "BUILD=b"], tmp_path)             # nothing left: nothing to do
    assert r.returncode == 0 and "nothing to remove" in r.stdout, r.stderr


def test_user_spec_build_marks_a_new_root_and_a_failed_fit_writes_nothing(tmp_path):
    import json

    from flow.build import ensure_spec
    from flow.config import FitOptions, SpecUnit
    from fitter.problem import FitError
    from tests.helpers import GOOD
    (tmp_path / "mine.json").write_text(json.dumps(GOOD))
    build(SpecUnit(tmp_path / "mine.json"), tmp_path / "b")          # no fit: the unit alone
    assert clean.is_marked(tmp_path / "b")
    with pytest.raises(FitError):             # no reciprocal table within 1 LSB: the root is not even created
        ensure_spec(Elementwise("reciprocal", fit=FitOptions(max_err_lsb=1.0)), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_existing_folder_with_files_is_used_but_not_claimed(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n")
    clean.mark(root)                                       # what a build does first
    assert not (root / clean.MARKER).exists()
    with pytest.raises(clean.CleanError, match="not made by gqa-lut"):
        clean.clean(root)
    assert (root / "notes.txt").read_text() == "mine\n"


def test_checkout_and_its_parents_are_refused(monkeypatch):
    """Even if the checkout (or a parent of it) carried the marker."""
    removed = []
    monkeypatch.setattr(clean.shutil, "rmtree", lambda p, *a, **k: removed.append(p))
    monkeypatch.setattr(clean, "is_marked", lambda p: True)
    for p in [ROOT, ROOT / ".", ROOT / "flow" / "..", ROOT.parent, Path("/")]:
        with pytest.raises(clean.CleanError, match="checkout"):
            clean.clean(p)
    assert removed == []


@needs_make
def test_checkout_refused_through_make(tmp_path):
    """``make clean BUILD=<checkout>`` and BUILD=<a parent of it>, on a fake
    checkout (its own Makefile and flow/clean.py), marked, with a .git."""
    fake = tmp_path / "outer" / "checkout"
    (fake / "flow").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", fake / "Makefile")
    shutil.copy(ROOT / "flow" / "clean.py", fake / "flow" / "clean.py")
    (fake / ".git").mkdir()
    (fake / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    for d in (fake, fake.parent, tmp_path):
        (d / clean.MARKER).write_text("")
    before = tree(tmp_path)
    for build_dir, cwd in [(fake, tmp_path), (".", fake), (fake.parent, fake), ("..", fake), (tmp_path, fake)]:
        r = subprocess.run(["make", "-s", "-f", str(fake / "Makefile"), "clean", f"BUILD={build_dir}"], cwd=cwd,
                           capture_output=True, text=True)
        _refused(r, "checkout")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("value", ["x; touch pwned", "$(touch pwned)", "`touch pwned`", "-rf", "--build=x"])
@needs_make
def test_build_value_is_data(tmp_path, value):
    """A BUILD with shell or option syntax names a directory that does not
    exist: nothing to do, nothing run."""
    r = make(["clean", f"BUILD={value}"], tmp_path)
    assert r.returncode == 0 and "nothing to remove" in r.stdout, (r.stdout, r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_symlink_and_file_refused(tmp_path):
    real = clean.mark(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "file").write_text("x")
    for name, words in [("link", "symbolic link"), ("file", "not a directory")]:
        r = subprocess.run([sys.executable, "-m", "flow", "clean", "--build", str(tmp_path / name)],
                           cwd=ROOT, capture_output=True, text=True)
        _refused(r, words)
    assert (real / clean.MARKER).is_file() and (tmp_path / "file").read_text() == "x"
