"""The RMSNorm unit's configuration: layernorm's options without beta."""

from __future__ import annotations

from hw.layernorm.config import LayerNorm
from hw.params import ConfigError
from hw.unitconfig import declared


@declared
class RMSNorm(LayerNorm):
    """Row-wise RMSNorm: :class:`LayerNorm`'s options and arithmetic without
    the mean, and gamma only (no beta: ``--ln-beta`` and beta values are refused)."""
    kind = "rmsnorm"
    VERIFY_LANES = ()           # the matrix runs lanes on layernorm's datapath, which rmsnorm shares
    op = "rmsnorm"

    def summary(self) -> str:
        return super().summary() + "; no mean, gamma only"

    def check(self):
        if self.changed("beta_fmt"):
            raise ConfigError("--ln-beta does not apply to rmsnorm: y = sat(round(x / rms(x) * gamma)), no beta")
        super().check()
        if self.affine and any(self.beta):
            raise ConfigError("rmsnorm has no beta: give gamma only in --ln-params")



CONFIG = RMSNorm
