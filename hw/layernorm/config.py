"""The layernorm unit's configuration: its options, declared once, the
gamma/beta file it reads, and the table it is built from (RMSNorm,
:mod:`hw.rmsnorm.config`, takes all of it but beta).

The ``rsqrt`` table (:data:`TABLES`) is 1/sqrt(m) on m in [1, 4) (even
exponent): input u8.6, output u9.8, slopes s8.7, intercepts s10.8. A unit
with a wider than 8-bit output uses the same table fitted at ``int16`` (8
more fractional bits everywhere: u16.14 -> u17.16), since the unit's output
needs fewer fractional bits than the table's (``f_r > f_y``). Fitting and
caching it is ``flow/build.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hw.fixed import WIDEN, Fixed
from hw.layernorm.model import DEFAULT_BETA, DEFAULT_GAMMA
from hw.params import ConfigError, Param, choice, fixed, ints, number_text, parse_bit, parse_float
from hw.rowwise import model_class
from hw.unitconfig import ROW_RANGE, RowConfig, buffers_param, entries_param, fit_param, fit_make, \
    lanes_param, store_param, declared

RSQRT_FORMATS = ("auto", "int8", "int16")
#: the unit's table (see the module's text)
TABLES = {"rsqrt": {"op": "rsqrt", "range": [1.0, 4.0], "in_frac": 6, "out_bits": 9, "out_frac": 8,
                    "slope_frac": 7, "intercept_bits": 10, "intercept_frac": 8}}
#: fractional bits of the layernorm rsqrt table's output at int8 (+8 at int16)
RSQRT_OUT_FRAC = TABLES["rsqrt"]["out_frac"]


def rsqrt_out_frac(fmt: str) -> int:
    """Fractional bits of the rsqrt table's output fitted at ``fmt`` (int8 or int16: the wide table has
    WIDEN more fractional bits everywhere); the unit's output needs fewer."""
    return RSQRT_OUT_FRAC + WIDEN[fmt]


def _quantize(vals, f: Fixed, what: str, n: int) -> tuple:
    import numpy as np
    try:
        v = np.asarray(vals, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: not a list of numbers") from None
    if len(v) != n:
        raise ConfigError(f"{what}: {len(v)} values for a row length of {n}")
    lo, hi = (f.min_code - 0.5) * f.lsb, (f.max_code + 0.5) * f.lsb
    bad = np.flatnonzero(~((v >= lo) & (v < hi)))
    if len(bad):
        i = int(bad[0])
        raise ConfigError(f"{what}[{i}] = {v[i]:g} is outside {f.label()} "
                          f"[{f.min_code * f.lsb:g}, {f.max_code * f.lsb:g}]")
    return tuple(int(c) for c in f.quantize(v))


MAX_PARAMS_BYTES = 16 << 20


def read_params(path: Path, n: int, gamma_fmt: Fixed, beta_fmt: Fixed) -> tuple[tuple, tuple]:
    """Gamma and beta codes from a JSON ``{"gamma": [...], "beta": [...]}``
    (either may be missing) or a .npy of shape (2, n), real values rounded
    half up to the formats; gamma 1 and beta 0 where not given."""
    import numpy as np
    path = Path(path)
    gamma, beta = np.ones(n), np.zeros(n)
    try:
        if not path.exists():
            raise ConfigError(f"--ln-params {path}: no such file")
        if not path.is_file():
            raise ConfigError(f"--ln-params {path}: not a regular file")
        if path.stat().st_size > MAX_PARAMS_BYTES:
            raise ConfigError(f"--ln-params {path}: larger than {MAX_PARAMS_BYTES >> 20} MiB")
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.shape != (2, n):
                raise ConfigError(f"--ln-params {path}: shape {arr.shape}, need (2, {n}) (gamma row, beta row)")
            gamma, beta = arr[0], arr[1]
        else:
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or not set(doc) <= {"gamma", "beta"}:
                raise ConfigError(f"--ln-params {path}: need a JSON object with 'gamma' and/or 'beta' lists")
            gamma, beta = doc.get("gamma", gamma), doc.get("beta", beta)
    except (OSError, ValueError, RecursionError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"--ln-params {path}: cannot read gamma/beta ({type(e).__name__})") from None
    return _quantize(gamma, gamma_fmt, "gamma", n), _quantize(beta, beta_fmt, "beta", n)


def _check_eps(v):
    if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v < 1):
        raise ConfigError(f"--ln-eps {v!r} is out of range: use 0 <= eps < 1")
    return float(v)


def _eps_tag(e: float) -> str:
    return "_eps" + f"{e:g}".replace("-", "m").replace("+", "").replace(".", "p")


def _codes(v):
    return None if v is None else tuple(int(c) for c in v)


@declared
class LayerNorm(RowConfig):
    """Row-wise layernorm over rows of exactly ``row_len`` elements.

    ``params`` is where the initial gamma/beta were read from (real values);
    ``gamma``/``beta`` are their codes, read and checked at construction when
    ``params`` is given (pass ``gamma``/``beta`` directly to skip the file)."""
    PARAMS = (
        entries_param(),
        ints("row_len", 64, *ROW_RANGE, what="--row", make="ROW", flag="--row", metavar="N",
             suffix=lambda n: f"_n{n}", help="the row length"),
        fixed("input", Fixed(8, True, 4), "--ln-in", "LN_IN", "i", "input format, signed 2..16 bits", brief="input format sB.F"),
        fixed("out", Fixed(8, True, 5), "--ln-out", "LN_OUT", "o", "output format, signed 2..16 bits, fewer fractional "
              "bits than the rsqrt table's (8 at int8, 16 at int16)", brief="output format sB.F"),
        Param("eps", 1e-5, "eps, 0 <= eps < 1", check=_check_eps, parse=parse_float("--ln-eps"), text=number_text,
              make="LN_EPS", flag="--ln-eps", suffix=_eps_tag, brief="eps added to the variance"),
        Param("affine", False, "per-channel gamma/beta in registers (cfg_*), y = sat(round(z*gamma + beta)); _aff",
              check=bool, parse=parse_bit("LN_AFFINE"), make="LN_AFFINE", flag="--ln-affine", switch=True, brief="per-channel gamma (and beta) in registers"),
        fixed("gamma_fmt", DEFAULT_GAMMA, "--ln-gamma", "LN_GAMMA", "g", "gamma format (with --ln-affine)", brief="gamma format sB.F"),
        fixed("beta_fmt", DEFAULT_BETA, "--ln-beta", "LN_BETA", "b", "beta format (with --ln-affine)", brief="beta format sB.F"),
        choice("rsqrt", "auto", RSQRT_FORMATS, what="--ln-rsqrt", make="LN_RSQRT", flag="--ln-rsqrt",
               help="rsqrt table (auto: int16 when the output is wider than 8 bits)", brief="the rsqrt table's width"),
        buffers_param(),
        Param("params", None, "initial gamma/beta (implies --ln-affine): JSON {\"gamma\": [...], \"beta\": [...]} "
              "or .npy of shape (2, row), real values; non-default contents add _p<hash>",
              check=lambda v: None if v is None else Path(v), parse=Path, make="LN_PARAMS", flag="--ln-params",
              metavar="FILE", to_json=lambda v: None if v is None else str(v), brief="initial gamma/beta, JSON or .npy"),
        Param("gamma", None, check=_codes, to_json=lambda v: None if v is None else list(v)),
        Param("beta", None, check=_codes, to_json=lambda v: None if v is None else list(v)),
        fit_param("how the rsqrt table is fitted"),
        store_param(),
        lanes_param("P elements per transfer (in_data, out_data), with --row-store none or sram; name suffix "
                    "_l<P>"),
    )
    MAKE = ("entries", "row_len", "input", "out", "eps", "rsqrt", "row_buffers", "row_store", "lanes")
    kind = "layernorm"
    VERIFY_LANES = (4,)
    SYNTH_LANES = (1, 4)
    op = "layernorm"

    def check(self):
        super().check()
        if self.lanes != 1 and self.row_store == "ff":
            raise ConfigError(f"--lanes {self.lanes} needs --row-store none or sram (the flip-flop buffered unit "
                              "has one lane)")
        if self.params is not None:
            self._set("affine", True)
            g, b = read_params(self.params, self.row_len, self.gamma_fmt, self.beta_fmt)
            self._set("gamma", g)
            self._set("beta", b)
        if not self.affine and (self.changed("gamma_fmt") or self.changed("beta_fmt")):
            raise ConfigError("--ln-gamma/--ln-beta need --ln-affine (or --ln-params)")
        if self.affine and self.gamma is None:
            g = self.gamma_fmt
            self._set("gamma", (1 << g.frac,) * self.row_len if 0 <= g.frac < g.bits - 1 else
                      _quantize([1.0] * self.row_len, g, "gamma", self.row_len))
            self._set("beta", (0,) * self.row_len)
        if self.affine:
            for what, codes, f in (("gamma", self.gamma, self.gamma_fmt), ("beta", self.beta, self.beta_fmt)):
                if len(codes) != self.row_len or not all(f.fits(int(c)) for c in codes):
                    raise ConfigError(f"{what}: need {self.row_len} codes of {f.label()}")
        f_r = rsqrt_out_frac(self.rsqrt_format)
        if self.out.frac >= f_r:
            raise ConfigError(f"--ln-out {self.out.label()}: the {self.rsqrt_format} rsqrt table has {f_r} "
                              f"fractional bits, the output needs fewer (at most {f_r - 1})")
        if self.affine and self.beta_fmt.frac > self.out.frac:
            raise ConfigError(f"--ln-beta {self.beta_fmt.label()} is finer than the output {self.out.label()}: "
                              f"use at most {self.out.frac} fractional bits")

    @property
    def rsqrt_format(self) -> str:
        if self.rsqrt == "auto":
            return "int16" if self.out.bits > 8 else "int8"
        return self.rsqrt

    def summary(self) -> str:
        return f"{self.input.label()} in, {self.out.label()} out (LN_IN, LN_OUT)"

    @property
    def row_length(self) -> int:
        return self.row_len

    @property
    def in_bits(self) -> int:
        return self.input.bits

    @property
    def table_format(self) -> str:
        return self.rsqrt_format

    @property
    def default_params(self) -> bool:
        one = 1 << self.gamma_fmt.frac if self.gamma_fmt.frac >= 0 else None
        return all(g == one for g in self.gamma) and not any(self.beta)

    @property
    def name(self) -> str:
        name = f"{self.op}_{self.rsqrt_format}_e{self.entries}{self.fit.variant_tag()}"
        name += self.part("row_len", "input", "out", "eps")
        if self.affine:
            name += "_aff" + self.part("gamma_fmt", "beta_fmt")
            if not self.default_params:
                name += "_p" + hashlib.sha256(json.dumps([list(self.gamma), list(self.beta)]).encode()
                                              ).hexdigest()[:8]
        return name + self.part("row_buffers", "row_store", "lanes")

    def model(self, tabs: dict):
        """The golden model of this unit, from its fitted table."""
        kw = {}
        if self.affine:
            kw = {"gamma": self.gamma, "beta": self.beta, "gamma_fmt": self.gamma_fmt, "beta_fmt": self.beta_fmt}
        return model_class(self.op)(tabs["rsqrt"], row_len=self.row_len, input=self.input, out=self.out,
                                    eps=self.eps, **kw)

    def table_options(self) -> dict:
        """Fit requests of the unit's table: {name: {"op": ..., options}}."""
        return {name: dict(req) for name, req in TABLES.items()}

    #: the file beside a unit (and in its package) holding its gamma/beta
    PARAMS_FILE = "ln_params.json"

    def extra_files(self) -> dict[str, str]:
        """Non-default gamma/beta: the params file its make line names (``LN_PARAMS``)."""
        return {self.PARAMS_FILE: self.params_json()} if self.affine and not self.default_params else {}

    def make_vars(self, params_as: str | None = None):
        pairs = super().make_vars()
        fit = fit_make(self.fit)
        pairs = pairs[:len(pairs) - len(fit)]
        if self.affine:
            pairs.append(("LN_AFFINE", "1"))
            for n in ("gamma_fmt", "beta_fmt"):
                if self.changed(n):
                    pairs.append((self.PARAM[n].make, getattr(self, n).label()))
            if not self.default_params:
                pairs.append(("LN_PARAMS", params_as or self.PARAMS_FILE))
        return pairs + fit

    def cli_args(self):
        a = [x for x in super().cli_args()]
        if self.affine and not self.default_params:
            i = a.index("--ln-params") if "--ln-params" in a else None
            if i is None:
                a += ["--ln-params", self.PARAMS_FILE]
            else:
                a[i + 1] = self.PARAMS_FILE
        elif "--ln-params" in a:
            i = a.index("--ln-params")
            del a[i:i + 2]
        return a

    def params_json(self) -> str:
        """gamma/beta as real values that read back to exactly these codes."""
        g = [c * 2.0 ** -self.gamma_fmt.frac for c in self.gamma]
        b = [c * 2.0 ** -self.beta_fmt.frac for c in self.beta]
        return json.dumps({"gamma": g, "beta": b}) + "\n"

    def request(self) -> dict:
        d = super().request()
        d["params"] = self.PARAMS_FILE if self.affine and not self.default_params else None
        return d

    @classmethod
    def from_request(cls, req: dict, unit_dir: Path | None = None) -> "LayerNorm":
        req = {k: v for k, v in req.items() if k not in ("gamma", "beta")}
        if req.get("params") is not None:
            req["params"] = str(Path(unit_dir or ".") / req["params"])
        return super().from_request(req, unit_dir)



CONFIG = LayerNorm
