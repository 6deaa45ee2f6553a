"""Load the golden model of a generated row-wise unit from its directory
(numpy only: what testbenches and the handoff vectors use)."""

from __future__ import annotations

import json
from pathlib import Path

from hw.spec import Spec


def model_from_dir(unit_dir) -> object:
    unit_dir = Path(unit_dir)
    man = json.loads((unit_dir / "manifest.json").read_text())
    specs = {name: Spec.load(unit_dir / f) for name, f in man["specs"].items()}
    p = man["parameters"]
    if man["op"] == "softmax":
        from hw.softmax.model import Softmax
        return Softmax(specs["exp"], specs["recip"], row_max=p["row_max"])
    if man["op"] == "layernorm":
        from hw.layernorm.model import LayerNorm
        return LayerNorm(specs["rsqrt"], row_len=p["row_len"], eps=p["eps"])
    raise ValueError(f"{unit_dir} is not a row-wise unit (op {man['op']!r})")
