"""PNG plot of a fitted table: function and PWL, error in output LSBs."""

from __future__ import annotations

import numpy as np

from hw.files import png_bytes, pyplot


def plot_png(prob, bps, K, C, title: str) -> bytes:
    """Render the plot and return PNG bytes (no timestamp inside, so the
    same table always gives the same file)."""
    plt = pyplot()
    bps, K, C = (np.atleast_2d(a) for a in (bps, K, C))
    y = prob.dp.y.to_real(prob.hw_out(bps, K, C)[0])
    err_lsb = (y - prob.t) * 2.0 ** prob.dp.y.frac
    xb = prob.dp.x.to_real(bps[0])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                 gridspec_kw={"height_ratios": [2, 1]})
    xd = np.linspace(prob.lo, prob.hi, 1000)
    a1.plot(xd, prob.func(xd), "k-", lw=1, label="float reference")
    a1.step(prob.x, y, where="post", color="tab:blue", lw=1, label="INT unit (golden model)")
    for b in xb:
        a1.axvline(b, color="tab:red", lw=0.6, ls=":")
        a2.axvline(b, color="tab:red", lw=0.6, ls=":")
    a1.set_ylabel("y")
    a1.legend(loc="best", fontsize=8)
    a1.set_title(title, fontsize=10)
    a2.plot(prob.x, err_lsb, ".", ms=2, color="tab:blue")
    a2.axhline(0, color="k", lw=0.5)
    a2.set_ylabel("error (output LSB)")
    a2.set_xlabel("x  (dotted: breakpoints)")
    return png_bytes(fig, dpi=100)
