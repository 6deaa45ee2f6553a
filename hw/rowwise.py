"""The row-wise ops and the contract they share.

Each op is a package registered in :data:`ROWWISE_OPS`, holding

* ``model.py``: the golden model (numpy only), class ``MODEL`` with
  ``from_manifest(specs, manifest)``, ``row(codes)``, ``stream_row(codes,
  lasts) -> (codes, flag)`` and ``flag`` (the output flag's port name);
* ``unit.py``: the generator, ``UNIT`` (an Amaranth component taking the
  model and ``row_buffers``) and ``describe(model, row_buffers)`` (its
  manifest part: parameters, timing a*n + b, format name).

:func:`model_from_dir` is what testbenches and the handoff vectors use.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from hw.fixed import Fixed
from hw.spec import Spec

#: op -> package (one line registers a new row-wise op)
ROWWISE_OPS = {"softmax": "hw.softmax", "layernorm": "hw.layernorm", "rmsnorm": "hw.rmsnorm"}


def fixed(d: dict) -> Fixed:
    return Fixed(d["bits"], d["signed"], d["frac"])


def _package(op: str) -> str:
    if op not in ROWWISE_OPS:
        raise ValueError(f"unknown row-wise op {op!r}; known: {', '.join(ROWWISE_OPS)}")
    return ROWWISE_OPS[op]


def unit_module(op: str):
    """The op's generator module (``UNIT``, ``describe``)."""
    return importlib.import_module(_package(op) + ".unit")


def model_class(op: str):
    """The op's golden model class (``MODEL``)."""
    return importlib.import_module(_package(op) + ".model").MODEL


def model_from_dir(unit_dir) -> object:
    """The unit's golden model with every generator parameter (formats, row
    length, eps, and the generated gamma/beta contents of an affine unit)."""
    unit_dir = Path(unit_dir)
    man = json.loads((unit_dir / "manifest.json").read_text())
    if man.get("op") not in ROWWISE_OPS:
        raise ValueError(f"{unit_dir} is not a row-wise unit (op {man.get('op')!r})")
    specs = {name: Spec.load(unit_dir / f) for name, f in man["specs"].items()}
    return model_class(man["op"]).from_manifest(specs, man)


def passes(man: dict) -> int:
    """How many times the unit reads each row: 1, or 2 for ``ROW_STORE=none``
    (DESIGN.md "Two-pass row protocol")."""
    return int(man.get("parameters", {}).get("passes", 1))


def transfers(md, n_passes: int, row, lasts, lasts2=None) -> tuple[list, tuple]:
    """One row as the stream carries it: its input transfers ``[(code,
    in_last)]`` (the row once, or twice with pass 2's ``in_last`` flags
    ``lasts2``, default ``lasts``) and its expected outputs ``(codes,
    flags)``, one flag per output."""
    if n_passes == 1:
        y, flag = md.stream_row(row, lasts)
        return list(zip(row, lasts)), (y, [bool(flag)] * len(y))
    l2 = lasts if lasts2 is None else lasts2
    y, flags = md.two_pass(row, lasts, row, l2)
    return list(zip(row, lasts)) + list(zip(row, l2)), (y, flags)
