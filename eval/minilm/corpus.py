"""A corpus of real English sentences that exists on every machine: the first
sentences of the docstrings of the Python standard library's modules.

Selection is deterministic: every ``.py`` file under the standard library
directory (``sysconfig``'s ``stdlib``), in sorted path order, without test
suites, ``site-packages`` and ``idlelib``; each file is parsed with ``ast``
(never imported, so nothing runs) and its module docstring's first
paragraph is cut at the first sentence end. A sentence is kept when it has
4 to 60 words, is mostly letters, and was not seen before (case-folded).
When the modules give fewer than ``n`` sentences, the first sentences of
the docstrings of public top-level classes and functions follow, in the
same file order.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from pathlib import Path

SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "idlelib", "__pycache__", "lib2to3",
             "dist-packages"}
_END = re.compile(r"(?<=[a-z0-9\)\]'\"])[.!?](?=\s|$)")


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def source_files(root: Path | None = None) -> list[Path]:
    root = root or stdlib_dir()
    out = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root).parts
        if any(part in SKIP_DIRS for part in rel[:-1]):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def first_sentence(doc: str | None) -> str | None:
    if not doc:
        return None
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    text = " ".join(para.split())
    m = _END.search(text)
    if not m:
        return None
    s = text[: m.end()]
    words = s.split()
    if not 4 <= len(words) <= 60:
        return None
    letters = sum(c.isalpha() for c in s)
    if letters < 0.7 * len(s.replace(" ", "")):
        return None
    if any(t in s for t in ("Copyright", "-*-", ">>>", "::", "http://", "https://", "$Id")):
        return None
    return s


def _docstrings(path: Path):
    """(module docstring, [public top-level class/function docstrings])."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return None, []
    inner = [ast.get_docstring(n) for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             and not n.name.startswith("_")]
    return ast.get_docstring(tree), inner


def sentences(n: int = 300, root: Path | None = None) -> list[str]:
    """The first ``n`` corpus sentences (fewer only if the library has fewer)."""
    seen, first, second = set(), [], []
    docs = []

    def take(doc, into):
        s = first_sentence(doc)
        if s and s.casefold() not in seen:
            seen.add(s.casefold())
            into.append(s)

    for path in source_files(root):
        docs.append(_docstrings(path))
        take(docs[-1][0], first)
        if len(first) >= n:
            return first[:n]
    for _, inner in docs:
        for d in inner:
            take(d, second)
            if len(first) + len(second) >= n:
                return (first + second)[:n]
    return first + second
