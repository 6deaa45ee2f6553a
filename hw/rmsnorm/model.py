"""Golden model of the RMSNorm unit (bit-exact): the LayerNorm model
(``hw/layernorm/model.py``) without the mean.

For a row of ``n`` input codes, ``Sxx = sum(x^2)`` exact:

* ``D_i = n*x_i``               (= n * x_i in input codes)
* ``W = n*Sxx + E``             (= n^2 * (mean(x^2) + eps) in input codes^2),
  ``E = round(eps * n^2 * 2^(2 f_x))``
* so ``x_i / sqrt(mean(x^2) + eps) = D_i / sqrt(W)``, and from here on every
  step is LayerNorm's: ``W`` normalized to ``m`` in [1, 4) with an even
  exponent, ``r = RSQRT(m)``, ``y_i = sat(round_half_up(D_i * r, f_r + k - f_y))``.
* With per-channel gamma (``affine``; RMSNorm has no beta: the beta codes
  are all 0 and the unit holds no beta registers):
  ``y_i = sat(round_half_up(D_i * r * g_i, f_r + k + f_g - f_y))``.

It never divides. A row of zeros gives 0 (``W = E``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.layernorm.model import LayerNorm


@dataclass(frozen=True)
class RMSNorm(LayerNorm):
    #: the row-wise op (hw.rowwise.ROWWISE_OPS); its folder holds its stimulus (hw.rowwise.stimulus)
    OP = "rmsnorm"
    #: the op in the datasheet's words
    TEXT = "row-wise RMS normalization, x_i / sqrt(mean(x^2) + eps), optional per-channel gamma"
    centered = False
    #: y = sat(round(x / rms * gamma)): no beta
    has_beta = False

    def __post_init__(self):
        if self.gamma is not None and self.beta is None:
            object.__setattr__(self, "beta", (0,) * len(self.gamma))
        if self.beta is not None and any(self.beta):
            raise ValueError("RMSNorm has no beta: y = sat(round(x / rms(x) * gamma))")
        super().__post_init__()


MODEL = RMSNorm
