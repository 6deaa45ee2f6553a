"""Fit-or-reuse a spec, then hand it to the generator: what ``make gen`` runs.

The fitter is the upstream end of the flow (fitter -> hw), so building a
unit lives here: :func:`ensure_spec` returns the cached spec when one with
the same request (op, format, entries, seed, method, range, search and
format options) is already in ``build/<op>_<format>_e<N>[_v<hash>]/spec.json``
and fits otherwise (see :func:`variant_tag`); :func:`build_unit` then calls :func:`hw.gen.generate`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fitter.fit import fit
from fitter.ga import GAConfig
from fitter.plot import plot_png
from hw.files import write_atomic
from hw.spec import Spec, SpecError

#: Fit options and their defaults; a spec is reused only when all match.
FIT_DEFAULTS = {"seed": 0, "method": "ga", "range": None, "objective": "hw", "rule": "auto",
                "population": 50, "generations": 500, "round_prob": None,
                "in_bits": None, "in_frac": None, "out_bits": None, "out_frac": None, "slope_frac": None, "intercept_frac": None,
                "slope_bits": None, "intercept_bits": None}
FORMAT_OPTS = ("in_bits", "in_frac", "out_bits", "out_frac", "slope_frac", "intercept_frac", "slope_bits", "intercept_bits")


def variant_tag(req: dict) -> str:
    """``""`` for a request with every fit option at its default, else
    ``_v`` + 6 hex digits of a hash of the non-default options: two requests
    that differ (say GELU at input frac 10 and at 11) get two spec and unit
    directories and two module names instead of overwriting each other. The
    options themselves are in the spec (``fit.request``) and the manifest."""
    import hashlib
    import json
    diff = {k: req[k] for k, v in FIT_DEFAULTS.items() if req.get(k, v) != v}
    if not diff:
        return ""
    return "_v" + hashlib.sha256(json.dumps(diff, sort_keys=True).encode()).hexdigest()[:6]


def fit_dir(build: Path, op: str, fmt: str, entries: int, tag: str = "") -> Path:
    return Path(build) / f"{op}_{fmt}_e{entries}{tag}"


def _request(op, fmt, entries, opts) -> dict:
    req = {"op": op, "format": fmt, "entries": entries}
    req.update({k: opts.get(k, v) for k, v in FIT_DEFAULTS.items()})
    if req["range"] is not None:
        req["range"] = [float(v) for v in req["range"]]
    return req


def _cached(path: Path, req: dict) -> Spec | None:
    if not path.is_file():
        return None
    try:
        spec = Spec.load(path)
    except SpecError:
        return None             # a broken cache entry is refitted, not trusted
    return spec if spec.fit.get("request") == req else None


def ensure_spec(op: str, fmt: str = "int8", entries: int = 8, build: Path = Path("build"),
                quiet: bool = False, log=sys.stderr, **opts) -> tuple[Spec, Path, bool]:
    """The spec for this request: (spec, its path, True if it was fitted now)."""
    req = _request(op, fmt, entries, opts)
    out = fit_dir(build, op, fmt, entries, variant_tag(req))
    spec = _cached(out / "spec.json", req)
    if spec is not None:
        if not quiet:
            print(f"reusing {out}/spec.json (same op, formats, entries, seed and options)", file=log)
        return spec, out / "spec.json", False
    bps8 = None
    if fmt != "int8":           # wide and fp32 tables reuse the int8 breakpoints
        base, _, _ = ensure_spec(op, "int8", entries, build, quiet, log, **opts)
        bps8 = base.arrays()[0]
    if not quiet:
        print(f"fitting {op}: {entries} entries, {fmt}, method {req['method']}, seed {req['seed']}", file=log)
    ga = GAConfig(population=req["population"], generations=req["generations"], objective=req["objective"],
                  rule=req["rule"], round_prob=req["round_prob"], quiet=quiet, log=log)
    if fmt == "fp32":
        from fitter.fp32 import fit_fp32
        spec, prob = fit_fp32(op, entries, bps8, req)
    else:
        spec, prob = fit(op, entries, fmt, req["seed"], req["method"],
                         tuple(req["range"]) if req["range"] else None, ga, bps8=bps8,
                         **{k: req[k] for k in FORMAT_OPTS})
    spec.fit["request"] = req
    write_fit(spec, prob, out)
    return spec, out / "spec.json", True


def write_fit(spec: Spec, prob, out: Path) -> list[Path]:
    """Write spec.json and fit.png into ``out``; returns the files changed."""
    bps, K, C = spec.arrays()
    changed = []
    if spec.save(out / "spec.json"):
        changed.append(out / "spec.json")
    if prob is not None and not spec.is_fp32:
        m = spec.fit["metrics"]
        title = (f"{spec.op}, {spec.entries} entries, {spec.format_name}: "
                 f"mse_hw {m['mse_hw']:.3g}, max err {m['max_err_lsb']:.3g} LSB")
        if write_atomic(out / "fit.png", plot_png(prob, bps, K, C, title)):
            changed.append(out / "fit.png")
    return changed


def build_unit(op: str, fmt: str = "int8", entries: int = 8, stages: int = 1, lut: str = "rom",
               ftz: bool = False, build: Path = Path("build"), quiet: bool = True,
               row: int | None = None, ln=None, sm_in_frac: int = 4, row_buffers: int = 2, **opts) -> Path:
    """Fit or reuse the spec, generate the unit; returns its directory.
    Row-wise ops take ``row`` (softmax ROW_MAX / layernorm row length),
    ``ln`` (:class:`fitter.composite.LNOptions`), softmax ``sm_in_frac``
    (scores s8.F) and ``row_buffers`` (2, or 1 for the smaller, slower
    unit) instead of fmt/stages/lut."""
    from hw.gen import generate, unit_name
    from fitter.composite import COMPOSITES, rowwise_model
    if op in COMPOSITES:
        from hw.gen import generate_rowwise, rowwise_name
        from hw.rowbuf import check_row_buffers
        check_row_buffers(row_buffers)          # before any table is fitted
        model, tabs = rowwise_model(op, entries, build, quiet, seed=opts.get("seed", 0), row=row, ln=ln,
                                    sm_in_frac=sm_in_frac)
        out = Path(build) / rowwise_name(op, model, entries, row_buffers)
        generate_rowwise(op, model, out, entries, tabs, row_buffers)
        return out
    spec, spec_path, _ = ensure_spec(op, fmt, entries, build, quiet, **opts)
    tag = variant_tag(spec.fit["request"])
    out = Path(build) / unit_name(op, fmt, entries, stages, lut, ftz, tag)
    generate(spec, out, stages, lut, ftz, variant=tag)
    for extra in ("fit.png",):
        src = spec_path.parent / extra
        if src.is_file() and out != spec_path.parent:
            write_atomic(out / extra, src.read_bytes())
    return out
