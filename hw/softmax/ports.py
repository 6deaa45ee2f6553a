"""The ports of the softmax units (``unit.py``, buffered, and
``twopass.py``, without a row store): one definition for both."""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib.wiring import In, Out


def signature(model) -> dict:
    """The unit's ports (the model has checked its formats)."""
    fin = model.input
    return {
        "in_valid": In(1), "in_ready": Out(1), "in_data": In(signed(fin.bits) if fin.signed else fin.bits),
        "in_last": In(1),
        "out_valid": Out(1), "out_ready": In(1), "out_data": Out(model.out.bits), "out_last": Out(1),
        "out_overflow": Out(1),
    }
