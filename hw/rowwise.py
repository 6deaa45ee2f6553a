"""Load the golden model of a generated row-wise unit from its directory
(numpy only: what testbenches and the handoff vectors use)."""

from __future__ import annotations

import json
from pathlib import Path

from hw.fixed import Fixed
from hw.spec import Spec


def _fixed(d: dict) -> Fixed:
    return Fixed(d["bits"], d["signed"], d["frac"])


def model_from_dir(unit_dir) -> object:
    """The unit's golden model with every generator parameter (formats, row
    length, eps, and the generated gamma/beta contents of an affine unit)."""
    unit_dir = Path(unit_dir)
    man = json.loads((unit_dir / "manifest.json").read_text())
    specs = {name: Spec.load(unit_dir / f) for name, f in man["specs"].items()}
    p = man["parameters"]
    if man["op"] == "softmax":
        from hw.softmax.model import Softmax
        return Softmax(specs["exp"], specs["recip"], row_max=p["row_max"])
    if man["op"] == "layernorm":
        from hw.layernorm.model import LayerNorm
        f = man["formats"]
        kw = {}
        if p.get("affine"):
            kw = {"gamma": tuple(p["gamma"]), "beta": tuple(p["beta"]),
                  "gamma_fmt": _fixed(f["gamma"]), "beta_fmt": _fixed(f["beta"])}
        return LayerNorm(specs["rsqrt"], row_len=p["row_len"], input=_fixed(f["input"]),
                         out=_fixed(f["output"]), eps=p["eps"], **kw)
    raise ValueError(f"{unit_dir} is not a row-wise unit (op {man['op']!r})")
