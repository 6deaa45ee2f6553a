"""The row-wise ops and the contract they share.

Each op is a package registered in :data:`ROWWISE_OPS`, holding

* ``model.py``: the golden model (numpy only), class ``MODEL`` with
  ``from_manifest(specs, manifest)``, ``row(codes)``, ``stream_row(codes,
  lasts) -> (codes, flag)`` and ``flag`` (the output flag's port name);
* ``config.py``: its configuration kind, ``CONFIG`` (:class:`hw.unitconfig.RowConfig`:
  every option declared once, the tables it is built from, its name, make
  line and request, and the units of the default verification matrix);
* ``stimulus.py``: the rows its benches, handoff and accuracy runs use;
* ``unit.py``: the generator, ``UNIT`` (an Amaranth component taking the
  model and ``row_buffers``) and ``describe(model, row_buffers)`` (its
  manifest part: parameters, timing a*n + b, format name).

:func:`model_from_dir` is what testbenches and the handoff vectors use.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from hw.fixed import Fixed, pack_lanes
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


def config_class(op: str):
    """The op's configuration kind (``CONFIG``)."""
    return importlib.import_module(_package(op) + ".config").CONFIG


def model_class(op: str):
    """The op's golden model class (``MODEL``)."""
    return importlib.import_module(_package(op) + ".model").MODEL


def stimulus(md):
    """The rows the op of golden model ``md`` is exercised with (``<op folder>/stimulus.py``:
    ``timing_lengths``, ``bench_rows``, ``bench_lasts``, ``handoff_rows``, ``accuracy_rows``)."""
    return importlib.import_module(_package(md.OP) + ".stimulus")


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
    """How many times the unit reads each row: 1, or 2 or 3 for
    ``ROW_STORE=none`` (DESIGN.md "Multi-pass row protocol")."""
    return int(man.get("parameters", {}).get("passes", 1))


def lanes(man: dict) -> int:
    """Elements per transfer: the manifest's ``lanes`` (1 when absent)."""
    return int(man.get("lanes", 1))


def lane_transfers(md, n_passes: int, row, lasts, n_lanes: int, last_pass=None) -> tuple[list, tuple]:
    """:func:`transfers` for a unit of ``n_lanes`` > 1 lanes (layernorm,
    rmsnorm: rows of exactly ``row_len``; DESIGN.md "Lanes of a row-wise
    unit"): the row in m = ceil(n/P) transfers per pass, packed, whose
    ``in_last`` is high when any of its elements' ``lasts`` is; outputs as
    packed words (lanes past the row's end 0), each transfer's flag high
    when any of its elements' is. The element-level flags the golden model
    sees: a transfer's ``in_last`` on its first element, the row's last
    transfer's on the row's last element (so an early one is seen from its
    transfer on, and a missing one at the last transfer)."""
    n, P = len(row), n_lanes
    m = -(-n // P)

    def beat(ls):
        return [any(ls[b * P:(b + 1) * P]) for b in range(m)]

    def element(bl):
        el = [False] * n
        for b, v in enumerate(bl):
            if v:
                el[n - 1 if b == m - 1 else b * P] = True
        return el
    beats = [beat(lasts)] * (n_passes - 1) + [beat(last_pass if last_pass is not None else lasts)]
    if n_passes == 1:
        y, flag = md.stream_row(row, element(beats[0]))
        flags = [bool(flag)] * len(y)
    else:
        if len(md.kept(row)) != n:
            raise ValueError("lanes take rows of a fixed length")
        y, flags = md.multi_pass([row] * n_passes, [element(bl) for bl in beats])
    bits_in, bits_out = md.input.bits, md.out.bits
    ins = [(pack_lanes(row[b * P:(b + 1) * P], bits_in), bl[b]) for bl in beats for b in range(m)]
    words = [pack_lanes(y[b * P:(b + 1) * P], bits_out) for b in range(m)]
    return ins, (words, [any(flags[b * P:(b + 1) * P]) for b in range(m)])


def transfers(md, n_passes: int, row, lasts, last_pass=None, n_lanes: int = 1) -> tuple[list, tuple]:
    """One row as the stream carries it: its input transfers ``[(code,
    in_last)]`` and its expected outputs ``(codes, flags)``, one flag per
    output. One pass: the row. More: the row, then the kept elements
    (``md.kept``) once per later pass, with pass 1's ``in_last`` flags where
    the row is kept whole and the right ones otherwise; ``last_pass``
    replaces the last pass's flags. ``n_lanes`` > 1: packed transfers
    (:func:`lane_transfers`)."""
    if n_lanes > 1:
        return lane_transfers(md, n_passes, row, lasts, n_lanes, last_pass)
    if n_passes == 1:
        y, flag = md.stream_row(row, lasts)
        return list(zip(row, lasts)), (y, [bool(flag)] * len(y))
    kept = md.kept(row)
    later = list(lasts) if len(kept) == len(row) else [j == len(kept) - 1 for j in range(len(kept))]
    flags = [list(lasts)] + [later] * (n_passes - 2) + [list(last_pass) if last_pass is not None else later]
    y, out_flags = md.multi_pass([row] + [kept] * (n_passes - 1), flags)
    ins = list(zip(row, lasts))
    for ls in flags[1:]:
        ins += list(zip(kept, ls))
    return ins, (y, out_flags)
