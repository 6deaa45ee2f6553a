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
ROWWISE_OPS = {"softmax": "hw.softmax", "layernorm": "hw.layernorm"}


def fixed(d: dict) -> Fixed:
    return Fixed(d["bits"], d["signed"], d["frac"])


def _package(op: str) -> str:
    if op not in ROWWISE_OPS:
        raise ValueError(f"unknown row-wise op {op!r}; known: {', '.join(ROWWISE_OPS)}")
    return ROWWISE_OPS[op]


def unit_module(op: str):
    """The op's generator module (``UNIT``, ``describe``)."""
    return importlib.import_module(_package(op) + ".unit")


def model_from_dir(unit_dir) -> object:
    """The unit's golden model with every generator parameter (formats, row
    length, eps, and the generated gamma/beta contents of an affine unit)."""
    unit_dir = Path(unit_dir)
    man = json.loads((unit_dir / "manifest.json").read_text())
    if man.get("op") not in ROWWISE_OPS:
        raise ValueError(f"{unit_dir} is not a row-wise unit (op {man.get('op')!r})")
    specs = {name: Spec.load(unit_dir / f) for name, f in man["specs"].items()}
    return importlib.import_module(_package(man["op"]) + ".model").MODEL.from_manifest(specs, man)
