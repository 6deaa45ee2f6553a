"""``make clean`` (``gqa-lut clean --build DIR``): remove a build directory,
and only one that this project made.

A build root is *ours* when it carries the marker file :data:`MARKER`.
:func:`mark` writes it when a build starts writing into a root
(:func:`flow.build.build`, :func:`flow.build.ensure_spec`), but only into a
root that is new or empty (or already marked): a folder that already holds
other files is used, never claimed, so ``make clean`` can never take
someone's files with it. :func:`clean` removes a directory only if it is
marked and is neither this checkout nor a folder that contains it; anything
else is one ``error:`` line, exit status 2, nothing removed. A build root
that does not exist is nothing to do.

Standard library only, so that ``make clean`` needs no virtual environment
(the Makefile runs it with the system ``python3``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

MARKER = ".gqa-lut-build"
MARKER_TEXT = ("This directory is a GQA-LUT build root: `make clean` (gqa-lut clean) may remove it with "
               "everything in it.\n")
#: the checkout (this file is <checkout>/flow/clean.py)
CHECKOUT = Path(__file__).resolve().parent.parent


class CleanError(Exception):
    pass


def _show(p) -> str:
    """A path for a one-line message (control characters escaped)."""
    s = str(p)
    return repr(s) if any(ord(c) < 32 or ord(c) == 127 for c in s) else s


def mark(root) -> Path:
    """Create the build root ``root`` if needed and mark it as ours when it is
    new or empty; returns the root. A non-empty unmarked folder stays
    unmarked (``make clean`` will refuse it)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.is_file() and not any(root.iterdir()):
        marker.write_text(MARKER_TEXT)
    return root


def is_marked(root) -> bool:
    m = Path(root) / MARKER
    return m.is_file() and not m.is_symlink()


def check(root) -> Path | None:
    """The directory :func:`clean` would remove (None: it does not exist), or
    CleanError naming why it must not be removed."""
    p = Path(root)
    if str(root) == "":
        raise CleanError("BUILD is empty; name the build directory to remove")
    if p.is_symlink():
        raise CleanError(f"{_show(p)} is a symbolic link, not a build directory made by gqa-lut; nothing removed")
    if not p.exists():
        return None
    if not p.is_dir():
        raise CleanError(f"{_show(p)} is not a directory, not a build directory made by gqa-lut; nothing removed")
    real = p.resolve()
    if real == CHECKOUT:
        raise CleanError(f"{_show(p)} is the gqa-lut checkout itself; nothing removed (set BUILD= to a build directory)")
    if real in CHECKOUT.parents:
        raise CleanError(f"{_show(p)} contains the gqa-lut checkout; nothing removed (set BUILD= to a build directory)")
    if not is_marked(p):
        raise CleanError(f"{_show(p)} was not made by gqa-lut (no {MARKER} marker in it); nothing removed "
                         "(remove it yourself if it is yours)")
    return p


def clean(root) -> bool:
    """Remove the marked build directory ``root``; False if there was none."""
    p = check(root)
    if p is None:
        return False
    shutil.rmtree(p)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gqa-lut clean",
                                 description="Remove a build directory made by gqa-lut (it carries the "
                                             f"{MARKER} marker); refuses anything else.")
    ap.add_argument("--build", default="build", help="the build directory [build]")
    a = ap.parse_args(argv)
    try:
        removed = clean(a.build)
    except CleanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {_show(e.filename or a.build)}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"removed {_show(a.build)}" if removed else f"nothing to remove: {_show(a.build)} does not exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
