"""The RMSNorm unit: the LayerNorm generators (``hw/layernorm/unit.py``, and
``twopass.py`` for ``ROW_STORE=none``) on the RMSNorm golden model, whose
``centered`` is False (no ``Sx``: ``D_i = n*x_i``, ``W = n*Sxx + E``) and
``has_beta`` False (gamma registers only). Same ports, timing rules and
write port as LayerNorm, beta addresses excepted (ignored)."""

from hw.layernorm.unit import STORES, UNIT, describe  # noqa: F401 - the row-wise contract (hw/rowwise.py)
