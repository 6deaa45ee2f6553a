"""Fit-or-reuse, generate, package: what ``make gen`` runs, for every kind of unit.

:func:`build` takes a configuration (:mod:`flow.config`) and returns the
unit's directory. Tables are fitted once and cached; a cached spec is
reused only when its ``fit.request`` equals the request *and* its table
still hashes to the ``fit.digest`` recorded when it was fitted, so a spec
edited by hand (or written there by anything but the fitter) is refitted,
never shipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flow.config import (ConfigError, Elementwise, FitOptions, RowConfig, SpecUnit,
                         UnitConfig, table_digest)
from fitter.plot import plot_png
from flow.clean import mark
from flow.fits import FITS, plot_parts, request
from hw.files import write_atomic
from hw.unitconfig import ROWWISE_FIT_OPTS
from hw.spec import Spec, SpecError


#: the first 8 bytes of every PNG file
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cached(path: Path, req: dict, log) -> Spec | None:
    """The cached spec at ``path`` if it may be reused; when a spec is there
    but may not be, one line on ``log`` says why (it is then refitted)."""
    if not path.is_file():
        return None
    why = None
    try:
        spec = Spec.load(path)
    except SpecError as e:
        spec, why = None, f"not a valid spec ({e})"    # a broken cache entry is refitted, not trusted
    if spec is not None and spec.fit.get("request") != req:
        why = "it was fitted for another request"
    elif spec is not None and spec.fit.get("digest") != table_digest(spec):
        why = "its table was edited after the fit (the table no longer matches the digest recorded then)"
    if why is not None:
        print(" ".join(f"cache {path} rejected: {why}; refitting".split()), file=log)
        return None
    return spec


def _is_png(path: Path) -> str | None:
    """None if ``path`` is a PNG file, else why not."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PNG_SIGNATURE))
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None if head == PNG_SIGNATURE else "not a PNG file (wrong signature)"


def _check_plot(cfg: Elementwise, spec: Spec, out: Path, log) -> None:
    """A reused table's fit.png is there and is a PNG; otherwise it is
    redrawn from the table, with one line on ``log`` saying why."""
    why = _is_png(out / "fit.png")
    if why is None:
        return
    parts = plot_parts(cfg, spec)
    if parts is None:
        return
    print(f"cached {out}/fit.png {why}: redrawing it from the table", file=log)
    prob, drawn = parts
    write_fit(spec, prob, out, drawn, spec_too=False)


def ensure_spec(cfg: Elementwise, build: Path, quiet: bool = True, log=None, out: Path | None = None,
                bps8=None, force: bool = False) -> tuple[Spec, Path, bool]:
    """The table of ``cfg``: (spec, its path, True if fitted now). Cached in
    ``out`` (default ``cfg.fit_dir(build)``); wide and fp32 tables take the
    int8 fit's breakpoints (``bps8``, fitted or reused when not given);
    progress and cache rejections go to ``log`` (default: sys.stderr)."""
    log = sys.stderr if log is None else log
    req = request(cfg)
    out = Path(out) if out is not None else cfg.fit_dir(build)
    root = Path(build) if Path(build) in out.parents else None    # marked by write_fit (flow/clean.py)
    spec = None if force else _cached(out / "spec.json", req, log)
    if spec is not None:
        if not quiet:
            print(f"reusing {out}/spec.json (same request, table unchanged since its fit)", file=log)
        _check_plot(cfg, spec, out, log)
        return spec, out / "spec.json", False
    how = FITS[cfg.impl]                # the implementation's fit (flow/fits.py)
    if how.int8_first(cfg) and bps8 is None:
        bps8 = ensure_spec(cfg.table("int8"), build, quiet, log, force=force)[0].arrays()[0]
    spec, prob, drawn = how.fit(cfg, quiet, log, bps8)
    spec.fit["request"] = req
    spec.fit["digest"] = table_digest(spec)
    write_fit(spec, prob, out, drawn, root=root)
    return spec, out / "spec.json", True


def write_fit(spec: Spec, prob, out: Path, drawn=None, root: Path | None = None, spec_too: bool = True) -> None:
    """spec.json and fit.png (the plot's title names the table's own formats);
    ``drawn``: the (breakpoints, slopes, intercepts) to plot, default the spec's;
    ``root``: the build root to mark for make clean first (:func:`flow.clean.mark`);
    ``spec_too=False``: the plot only (a cached table's, redrawn)."""
    if root is not None:
        mark(root)
    if spec_too:
        spec.save(out / "spec.json")
    if prob is not None and not spec.is_fp32:
        bps, K, C = drawn if drawn is not None else spec.arrays()
        m = spec.fit["metrics"]
        title = (f"{spec.op}, {FITS[spec.impl].size_text(spec)}, in {spec.input.label()} out {spec.output.label()}: "
                 f"mse_hw {m['mse_hw']:.3g}, max err {m['max_err_lsb']:.3g} LSB")
        write_atomic(out / "fit.png", plot_png(prob, bps, K, C, title))


# -- row-wise tables and golden models -------------------------------------------

def table_configs(cfg: RowConfig) -> dict[str, Elementwise]:
    """The tables of a row-wise unit as element-wise fit requests."""
    base = {k: getattr(cfg.fit, k) for k in ROWWISE_FIT_OPTS}
    out = {}
    for name, opts in cfg.table_options().items():
        opts = dict(opts)
        op = opts.pop("op")
        out[name] = Elementwise(op, cfg.table_format, cfg.entries, fit=FitOptions(**base, **opts))
    return out


def tables(cfg: RowConfig, build: Path, quiet: bool = True, force: bool = False) -> dict[str, Spec]:
    """Fit or reuse every table of a row-wise unit: {name: Spec}."""
    sub = Path(build) / f"{cfg.op}_tables"
    return {name: ensure_spec(t, sub, quiet, force=force)[0] for name, t in table_configs(cfg).items()}


def rowwise_model(cfg: RowConfig, build: Path, quiet: bool = True, force: bool = False):
    """The golden model of a row-wise unit (its tables fitted or reused) and the tables."""
    tabs = tables(cfg, build, quiet, force)
    return cfg.model(tabs), tabs


# -- building units -------------------------------------------------------------

def _record(cfg: UnitConfig) -> dict:
    return {"request": cfg.request(), "regenerate": cfg.make_line("handoff")}


def _spec_metrics(spec: Spec) -> Spec:
    """The spec with metrics measured on its own table (a user's spec may
    carry figures of another table, or none)."""
    from dataclasses import replace

    from fitter.fit import spec_metrics
    from fitter.problem import FitError
    fit = dict(spec.fit)
    try:
        m = spec_metrics(spec)
        why = (f"no float reference for op '{spec.op}'" if spec.impl == "pwl" else
               f"the generator re-measures pwl tables only (this one is impl '{spec.impl}')")
    except FitError as e:
        m, why = None, str(e)
    if m is None:
        fit.pop("metrics", None)
        fit["metrics_note"] = f"accuracy not measured: {why}"
    else:
        fit["metrics"] = m
        fit["metrics_note"] = "measured by the golden model on this table when the unit was built"
    return replace(spec, fit=fit)


def build(cfg: UnitConfig, build_root: Path = Path("build"), quiet: bool = True, force: bool = False,
          handoff: bool = False) -> Path:
    """Fit or reuse the tables, generate the unit; returns its directory."""
    return build_unit(cfg, build_root, quiet, force, handoff)[0]


def build_unit(cfg: UnitConfig, build_root: Path = Path("build"), quiet: bool = True, force: bool = False,
               handoff: bool = False) -> tuple[Path, dict]:
    """:func:`build`, returning the unit's directory and its manifest (as written)."""
    from hw import gen
    build_root = Path(build_root)
    out = cfg.directory(build_root)
    if isinstance(cfg, RowConfig):
        model, tabs = rowwise_model(cfg, build_root, quiet, force)
        for name, text in cfg.extra_files().items():
            write_atomic(out / name, text)
        man = gen.generate_rowwise(cfg.op, model, out, cfg.top, tabs, cfg.row_buffers, _record(cfg),
                                   cfg.row_store, cfg.lanes)
    elif isinstance(cfg, SpecUnit):
        # spec.json beside the unit is the user's table with its own measured metrics; the
        # regenerate line names it (same table digest, so the same unit)
        spec = _spec_metrics(cfg.load())
        mark(build_root)                # no fit wrote into the root first (fits mark it: write_fit)
        man = gen.generate(spec, out, cfg.top, cfg.stages, cfg.lut, cfg.ftz, _record(cfg), lanes=cfg.lanes)
    else:
        spec, spec_path, _ = ensure_spec(cfg, build_root, quiet, force=force)
        if cfg.clock_mhz is not None:       # CLOCK_MHZ=F: STAGES chosen by synthesis + OpenSTA (flow/clock.py)
            from flow.clock import generate_at_clock
            man = generate_at_clock(cfg, spec, out, build_root, _record(cfg), quiet)
        else:
            man = gen.generate(spec, out, cfg.top, cfg.stages, cfg.lut, cfg.ftz, _record(cfg), lanes=cfg.lanes)
        src = spec_path.parent / "fit.png"
        if src.is_file() and out != spec_path.parent:
            write_atomic(out / "fit.png", src.read_bytes())
    if handoff:
        from hw.handoff.package import build as package
        package(out)
    return out, man


def check_output_root(build_root: Path) -> Path:
    """The build root if it is (or can be made) a writable directory; a
    ConfigError naming the problem otherwise. Runs before any fit."""
    import os
    p = Path(build_root)
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"output location {p}: {probe} is not a directory (set BUILD= to a directory)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"output location {p}: {probe} is not writable (set BUILD= to a writable directory)")
    return p
