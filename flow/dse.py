"""``make dse``: measure every implementation of an op against the others and
recommend the one to build.

For each op x format x implementation x table size x LUT (pwl and uniform
at 4..64 entries, a direct table where the input has at most 12 bits, the
segment-local polynomial unit where it has at most 16, at degree 1 and 2 and
symmetry-folded where the op has a symmetry (:func:`flow.fits.poly_variants`), rom and regs) the sweep builds the unit through its configuration
(:mod:`flow.config`, :func:`flow.build.build`), synthesizes it with the
project's flow (:func:`synth.measure.measure`: Yosys + OpenSTA), and scores
it: max error in output LSBs and mse_hw (the golden model over every code
of the domain, from the spec), area, NAND2-eq, delay, power.

Writes ``<out>/report.json`` (every row and a ``recommendations`` list: per
op, format and LUT the smallest unit whose max error meets the bound, with
its ``make gen`` line), ``<out>/report.md`` and one Pareto plot per op
(``<out>/<op>.png``: area against max error). A unit's result is cached in
``<out>/results/<unit>.json`` under a key of its Verilog, spec and synthesis
settings, so a rerun or an interrupted sweep resumes where it stopped.

Units run as Dask tasks: on a ``LocalCluster`` of ``--jobs`` worker
processes by default, or on a running scheduler (``--scheduler
tcp://host:port``, ``DSE_SCHEDULER`` in make), whose workers need this
project installed, the synthesis tools, and the build directory at the same
path (a shared file system).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flow.config import ConfigError, Elementwise, from_request, one_line
from flow.fits import FITS
from flow.synthcache import DSE_FIGURES, measure_cached

DEFAULT_OPS = ("gelu", "exp", "silu")
DEFAULT_FORMATS = ("int8", "int10", "int12", "int16")
DEFAULT_ENTRIES = (4, 8, 16, 32, 64)
IMPLS = tuple(FITS)                     # every implementation (flow/fits.py, hw/impls.py)
LUTS = ("rom", "regs")
#: the paper's unit, highlighted in the plots
PAPER_UNIT = {"impl": "pwl", "format": "int8", "entries": 8}


def plan(ops, formats, entries, impls=IMPLS, luts=LUTS, bound: float | None = None,
         include_skipped: bool = False, clock_mhz: int | None = None) -> list[Elementwise]:
    """Every configuration of the sweep; combinations the configuration
    refuses (a table wider than 12 bits, say) are left out. With ``bound``,
    also the fewest-entries pwl and uniform units within it (``_m<B>``).
    A poly unit is found by its bound (fitter/poly.py: the fewest segments
    and narrowest coefficients), so it takes no table size: one per op,
    format and LUT, at ``bound`` (default 1 LSB). With ``clock_mhz``, every unit at that clock target (``_c<F>``: its
    STAGES chosen by flow/clock.py), else at STAGES=1."""
    out = []
    for op in ops:
        for fmt in formats:
            for impl in impls:
                for kw in FITS[impl].sweep(op, entries, bound):     # the implementation's points (flow/fits.py)
                    for lut in luts:
                        try:
                            cfg = Elementwise(op, fmt, stages=1, lut=lut, impl=impl, clock_mhz=clock_mhz, **kw)
                        except ConfigError:
                            continue
                        if skipped_reason(cfg) is None or include_skipped:
                            out.append(cfg)
    return out


def impl_label(cfg: Elementwise) -> str:
    """The implementation as the report names it: ``poly`` with its degree and fold (``poly_d2_fold``)."""
    return FITS[cfg.impl].label(cfg)


def skipped_reason(cfg: Elementwise) -> str | None:
    """Why the sweep does not synthesize ``cfg`` (None: it does)."""
    return FITS[cfg.impl].skip(cfg)


def _row(cfg: Elementwise) -> dict:
    """What a report row says of the unit before it is measured."""
    return {"op": cfg.op, "format": cfg.format, "impl": impl_label(cfg), "family": cfg.impl, "lut": cfg.lut,
            "unit": cfg.name, "make": cfg.make_line()}


def run_unit(request: dict, build_root: str, synth_cfg: dict) -> dict:
    """One sweep point (runs on a Dask worker): build, synthesize, score."""
    from flow.build import build
    from hw.spec import Spec
    from synth import SynthError
    t0 = time.monotonic()
    cfg = from_request(request)
    row = _row(cfg)
    try:
        unit = build(cfg, Path(build_root))
    except Exception as e:          # noqa: BLE001 - a failed point is a row, the sweep goes on
        from fitter.minimal import BoundNotMet
        from fitter.poly import PolyBoundNotMet
        from flow.clock import ClockError
        if isinstance(e, (BoundNotMet, PolyBoundNotMet)):
            return {**row, "status": f"bound not met: {e}", "seconds": round(time.monotonic() - t0, 1)}
        if isinstance(e, ClockError):
            return {**row, "status": f"clock not met: {e}", "seconds": round(time.monotonic() - t0, 1)}
        return {**row, "status": f"not built: {type(e).__name__}: {e}", "seconds": round(time.monotonic() - t0, 1)}
    spec = Spec.load(unit / "spec.json")
    m = spec.fit.get("metrics", {})
    man = json.loads((unit / "manifest.json").read_text())
    row.update(stages=man["stages"])
    row.update(entries=spec.entries, max_err_lsb=m.get("max_err_lsb"), mse_hw=m.get("mse_hw"),
               fewest=FITS[cfg.impl].by_bound(cfg))
    # a unit built at a clock target was measured by its clock loop already (flow/clock.py): the same
    # Verilog under the same settings, so the same key
    from flow.clock import clock_slot
    also = [clock_slot(unit)] if cfg.clock_mhz is not None else []
    try:
        row, cached = measure_cached(unit, synth_cfg, Path(synth_cfg["results"]) / f"{cfg.name}.json", also, row,
                                     need=DSE_FIGURES)
    except SynthError as e:
        return {**row, "status": f"failed: {e}", "seconds": round(time.monotonic() - t0, 1)}
    if cfg.clock_mhz is not None:       # a combinational (STAGES=0) unit's too: 1 / its input-to-output delay
        row["fmax_mhz"] = man["fmax_mhz"]
    return {**row, "status": "ok", "cached": cached, "seconds": round(time.monotonic() - t0, 1)}


def recommend(rows: list[dict], bound: float) -> list[dict]:
    """Per op, format and LUT: the smallest unit whose max error is within
    ``bound`` LSB (or the most accurate one, flagged, when none is)."""
    out = []
    groups: dict = {}
    for r in rows:
        if r.get("status") == "ok":
            groups.setdefault((r["op"], r["format"], r["lut"]), []).append(r)
    for (op, fmt, lut), rs in sorted(groups.items()):
        ok = [r for r in rs if r["max_err_lsb"] is not None and r["max_err_lsb"] <= bound]
        best = min(ok, key=lambda r: r["area_um2"]) if ok else min(rs, key=lambda r: r["max_err_lsb"])
        out.append({"op": op, "format": fmt, "lut": lut, "impl": best["impl"], "entries": best["entries"],
                    "stages": best.get("stages"), "fmax_mhz": best.get("fmax_mhz"),
                    "area_um2": best["area_um2"], "max_err_lsb": best["max_err_lsb"], "meets_bound": bool(ok),
                    "make": best["make"]})
    return out


def _markdown(rows, recs, meta) -> str:
    F = meta.get("clock_mhz")
    at = (f"target clock {F} MHz ({meta['period_ns']:.4g} ns): every unit at the STAGES of least area that "
          "meets it (flow/clock.py: STAGES 0..3 synthesized and timed by OpenSTA at that period), its area "
          "with its pipeline registers; a unit that meets it at no STAGES is not recommended"
          if F else f"clock {meta['period_ns']} ns, STAGES=1")
    L = ["# Design-space exploration: which implementation to build", "",
         f"Command: `{meta['command']}`; liberty `{meta['liberty']}`, {at}; "
         f"bound {meta['bound']} LSB; {len(rows)} units, {meta['seconds']:.0f} s wall.", "",
         "## Recommendations (smallest area within the bound" + (f", meeting {F} MHz)" if F else ")"), "",
         "| op | format | LUT | impl | entries | STAGES | fmax MHz | area um2 | max err LSB | meets | make line |",
         "|---|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in recs:
        L.append(f"| {r['op']} | {r['format']} | {r['lut']} | {r['impl']} | {r['entries']} | {r.get('stages')} | "
                 f"{r.get('fmax_mhz') or '-'} | {r['area_um2']:,.0f} | {r['max_err_lsb']:.2f} | "
                 f"{'yes' if r['meets_bound'] else 'NO'} | `{r['make']}` |")
    L += ["", f"## Fewest entries within {meta['bound']} LSB (exact minimax search, certified on every code; "
          "poly: the fewest segments and narrowest coefficients)", "",
          "| op | format | impl | LUT | entries | max err LSB | area um2 |", "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        if r.get("fewest") or r.get("status", "").startswith("bound not met"):
            if r.get("status") == "ok":
                L.append(f"| {r['op']} | {r['format']} | {r['impl']} | {r['lut']} | {r['entries']} | "
                         f"{r['max_err_lsb']:.2f} | {r['area_um2']:,.0f} |")
            elif r.get("status", "").startswith("bound not met"):
                L.append(f"| {r['op']} | {r['format']} | {r['impl']} | {r['lut']} | none | - | - |")
    L += ["", "## Every unit", "",
          "| unit | impl | entries | LUT | max err LSB | mse_hw | area um2 | NAND2-eq | delay ns | power mW |",
          "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("status") != "ok":
            L.append(f"| {r['unit']} | {r['impl']} | - | {r['lut']} | {r['status']} | | | | | |")
            continue
        L.append(f"| {r['unit']} | {r['impl']} | {r['entries']} | {r['lut']} | {r['max_err_lsb']:.2f} | "
                 f"{r['mse_hw']:.3g} | {r['area_um2']:,.0f} | {r['nand2_eq']:,.0f} | {r['delay_ns']:.2f} | "
                 f"{r['power_mw']:.3f} |")
    return "\n".join(L) + "\n"


def _pareto_png(op: str, rows: list[dict], bound: float) -> bytes:
    from hw.files import png_bytes, pyplot
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    marker = {"pwl": "o", "uniform": "s", "table": "^", "poly": "D"}
    for ax, lut in zip(axes, LUTS):
        for r in rows:
            if r["op"] != op or r["lut"] != lut or r.get("status") != "ok":
                continue
            paper = all(r[k] == v for k, v in PAPER_UNIT.items())
            ax.scatter(r["area_um2"], max(r["max_err_lsb"], 1e-3), marker=marker.get(r["family"], "o"),
                       s=120 if paper else 36, edgecolors="red" if paper else "none",
                       c={"int8": "C0", "int10": "C1", "int12": "C2", "int16": "C3"}.get(r["format"], "C4"))
        ax.axhline(bound, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("area (um2)")
        ax.set_title(f"{op}, LUT={lut}")
    axes[0].set_ylabel("max error (output LSB)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker=m, ls="", color="k", label=i) for i, m in marker.items()]
    handles += [Line2D([], [], marker="o", ls="", color=c, label=f) for f, c in
                (("int8", "C0"), ("int10", "C1"), ("int12", "C2"), ("int16", "C3"))]
    handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="red", ms=10, label="paper: pwl int8 e8"))
    axes[1].legend(handles=handles, fontsize=8, loc="upper right")
    return png_bytes(fig, dpi=110)


#: how long the scheduler check waits for a connection, in seconds
REACH_TIMEOUT_S = 2.0


def parse_scheduler(addr: str) -> tuple[str, int]:
    """``tcp://host:port`` (an IPv6 host in brackets) -> (host, port), or a
    ConfigError saying what is wrong with ``addr``."""
    shown = repr(addr[:80] + ("..." if len(addr) > 80 else ""))
    use = "use tcp://host:port, e.g. tcp://127.0.0.1:8786"
    if not addr.startswith("tcp://"):
        raise ConfigError(f"--scheduler {shown}: not a scheduler address; {use}")
    rest = addr[len("tcp://"):].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or len(host) > 253 or any(ch.isspace() or ch in "/@?#[]" for ch in host) \
            or not all(ch.isprintable() for ch in host):
        raise ConfigError(f"--scheduler {shown}: no valid host and port; {use}")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        raise ConfigError(f"--scheduler {shown}: the port must be a number in 1..65535; {use}")
    return host, int(port)


def reach_scheduler(addr: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Open (and close) a TCP connection to the scheduler at ``addr`` within
    ``timeout`` seconds, name resolution included; a ConfigError otherwise."""
    import socket
    import threading
    host, port = parse_scheduler(addr)
    result: list = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except (OSError, UnicodeError) as e:
            result.append(e)

    t = threading.Thread(target=attempt, daemon=True)     # a hung name lookup must not hold the exit
    t.start()
    t.join(timeout + 0.5)
    why = (f"no answer within {timeout:g} s" if not result else
           None if result[0] is None else (getattr(result[0], "strerror", None) or str(result[0]) or
                                          type(result[0]).__name__))
    if why is None:
        why = _handshake(addr, timeout)
    if why is not None:
        raise ConfigError(f"--scheduler {addr}: cannot reach a Dask scheduler at {host}:{port} ({why}); start "
                          "one there (dask scheduler --port N) or leave DSE_SCHEDULER empty for a local cluster")


def _handshake(addr: str, timeout: float) -> str | None:
    """None if what listens at ``addr`` completes Dask's connection handshake
    within ``timeout`` seconds, else why not (a port that accepts but speaks
    another protocol, or nothing, is not a scheduler)."""
    try:
        import asyncio

        from distributed.comm import connect
    except ImportError:
        return None                     # reported by the Dask check
    async def attempt():
        comm = await asyncio.wait_for(connect(addr, timeout=timeout), timeout + 0.5)
        await comm.close()
    try:
        asyncio.run(attempt())
    except (asyncio.TimeoutError, TimeoutError):
        return f"the port accepts, but no Dask handshake within {timeout:g} s"
    except Exception as e:             # noqa: BLE001 - any failure of the handshake means "not a scheduler"
        return f"the port accepts, but does not speak Dask's protocol ({type(e).__name__})"
    return None


def client(scheduler: str | None, jobs: int):
    """A Dask client: on ``scheduler`` if given, else a LocalCluster."""
    from dask.distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler, timeout="30s")
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


def sweep(cfgs: list[Elementwise], build_root: Path, synth_cfg: dict, scheduler: str | None, jobs: int,
          log=sys.stdout) -> list[dict]:
    from dask.distributed import as_completed
    rows = []
    with client(scheduler, jobs) as c:
        futures = [c.submit(run_unit, cfg.request(), str(build_root), synth_cfg, key=f"dse-{cfg.name}",
                            pure=False) for cfg in cfgs]
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            rows.append(r)
            figs = (f"area {r['area_um2']:>10,.0f} um2  max err {r['max_err_lsb']:.2f} LSB"
                    if r.get("status") == "ok" else r.get("status", "?"))
            print(f"[{i}/{len(cfgs)}] {r['unit']:32s} {figs}  {'(cached) ' if r.get('cached') else ''}"
                  f"{r.get('seconds', 0):.1f} s", file=log, flush=True)
    order = {cfg.name: i for i, cfg in enumerate(cfgs)}
    return sorted(rows, key=lambda r: order[r["unit"]])


def main(argv=None) -> int:
    from fitter import functions
    from hw.files import write_atomic
    from synth import SynthError
    ap = argparse.ArgumentParser(prog="gqa-lut dse", description=__doc__.split("\n\n")[0],
                                 epilog="make dse OP=gelu,exp FORMATS=int8,int16 MAX_ERR_LSB=1 [DSE_SCHEDULER=tcp://host:8786]")
    ap.add_argument("--ops", default=",".join(DEFAULT_OPS), help=f"comma list of ops (default {','.join(DEFAULT_OPS)})")
    ap.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                    help=f"comma list of integer formats (default {','.join(DEFAULT_FORMATS)})")
    ap.add_argument("--entries", default=",".join(map(str, DEFAULT_ENTRIES)),
                    help="table sizes of the pwl and uniform units (default 4,8,16,32,64)")
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma list of pwl, uniform, table, poly (default all)")
    ap.add_argument("--luts", default=",".join(LUTS), help="rom, regs or both (default both)")
    ap.add_argument("--max-err-lsb", type=float, default=1.0, help="accuracy bound in output LSB (default 1)")
    ap.add_argument("--build", type=Path, default=Path("build"), help="build root (default build/)")
    ap.add_argument("--out", type=Path, default=None, help="report directory (default <build>/dse)")
    ap.add_argument("--jobs", default="2", help="local Dask worker processes, 1..64 (default 2)")
    ap.add_argument("--scheduler", default=None, help="tcp://host:port of a running Dask scheduler")
    ap.add_argument("--liberty", default=None, help="liberty file (default: the OSU 0.18 um cells)")
    ap.add_argument("--period-ns", type=float, default=None, help="clock period for timing and power (default 10)")
    ap.add_argument("--clock-mhz", default=None, metavar="F",
                    help="target clock in MHz (CLOCK_MHZ=): every unit at the STAGES of least area that meets F "
                         "(flow/clock.py), measured at 1000/F ns; units that meet F at no STAGES are not recommended")
    a = ap.parse_args(argv)
    try:
        if a.scheduler:
            parse_scheduler(a.scheduler)            # the address first; reached after the other checks
        ops = [o for o in a.ops.split(",") if o]
        for o in ops:
            functions.get(o)
        try:
            entries = [int(e) for e in a.entries.split(",") if e]
        except ValueError:
            raise ConfigError(f"--entries '{a.entries}' is not a comma list of integers") from None
        impls = [i for i in a.impls.split(",") if i]
        luts = [x for x in a.luts.split(",") if x]
        for what, vals, allowed in (("impl", impls, IMPLS), ("lut", luts, LUTS)):
            bad = [v for v in vals if v not in allowed]
            if bad:
                raise ConfigError(f"unknown {what} '{bad[0]}'; known: {', '.join(allowed)}")
        if a.clock_mhz is not None:
            from synth.sdc import parse_clock_mhz
            try:
                a.clock_mhz = parse_clock_mhz(a.clock_mhz)
            except ValueError as e:
                raise ConfigError(str(e)) from None
            if a.period_ns is not None:
                raise ConfigError("--period-ns and CLOCK_MHZ both set the clock: give one")
            from flow.clock import period_ns
            a.period_ns = period_ns(a.clock_mhz)
        a.period_ns = 10.0 if a.period_ns is None else a.period_ns
        try:                                        # a one-line error, not argparse's usage text
            a.jobs = int(a.jobs, 10)
        except ValueError:
            raise ConfigError(f"--jobs {a.jobs!r} is not an integer: use 1..64 (JOBS=)") from None
        if not 1 <= a.jobs <= 64:
            raise ConfigError(f"--jobs {a.jobs} is out of range: use 1..64 (JOBS=)")
        if not a.max_err_lsb > 0 or not a.period_ns > 0:
            raise ConfigError("--max-err-lsb and --period-ns must be positive")
        formats = [f for f in a.formats.split(",") if f]
        for f in formats:
            if f not in ("int8", "int10", "int12", "int16", "int32"):
                raise ConfigError(f"--formats: '{f}' is not an integer format (int8, int10, int12, int16, int32)")
        cfgs = plan(ops, formats, entries, impls, luts, a.max_err_lsb, clock_mhz=a.clock_mhz)
        skipped = [c for c in plan(ops, formats, entries, impls, luts, a.max_err_lsb, include_skipped=True,
                                   clock_mhz=a.clock_mhz)
                   if skipped_reason(c)]
        if not cfgs:
            raise ConfigError("the sweep is empty: no valid op/format/impl/entries combination")
        from flow.build import check_output_root
        from synth.liberty import check_liberty
        from synth.sta import sta_command
        build_root = check_output_root(a.build).resolve()
        out = check_output_root(a.out).resolve() if a.out else build_root / "dse"     # before any unit
        lib = check_liberty(a.liberty)
        sta_command()
        from importlib.util import find_spec
        if find_spec("dask") is None or find_spec("distributed") is None:
            raise ConfigError("the sweep runs on Dask, which is not installed: pip install -e '.[dse]' "
                              "(make dse installs it)")
        if a.scheduler:
            reach_scheduler(a.scheduler)            # before any unit is built
    except (ConfigError, SynthError, functions.UnknownOp) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    synth_cfg = {"out": str(out / "synth"), "results": str(out / "results"), "liberty": str(lib),
                 "period_ns": a.period_ns, "activity": 0.5, "abc": "gqa"}
    where = a.scheduler or f"a local Dask cluster of {a.jobs} worker(s)"
    print(f"dse: {len(cfgs)} units ({', '.join(ops)} x {', '.join(formats)}) on {where}", flush=True)
    t0 = time.monotonic()
    try:
        rows = sweep(cfgs, build_root, synth_cfg, a.scheduler, a.jobs)
        rows += [{**_row(c), "status": skipped_reason(c)} for c in skipped]
    except OSError as e:
        print(f"error: Dask scheduler {a.scheduler}: {e}", file=sys.stderr)
        return 2
    recs = recommend(rows, a.max_err_lsb)
    meta = {"command": "gqa-lut dse " + " ".join(argv if argv is not None else sys.argv[1:]),
            "liberty": str(lib), "period_ns": a.period_ns, "clock_mhz": a.clock_mhz, "bound": a.max_err_lsb,
            "seconds": time.monotonic() - t0}
    write_atomic(out / "report.json", json.dumps({**meta, "rows": rows, "recommendations": recs}, indent=1) + "\n")
    write_atomic(out / "report.md", _markdown(rows, recs, meta))
    for op in ops:
        write_atomic(out / f"{op}.png", _pareto_png(op, rows, a.max_err_lsb))
    at = f", meeting {a.clock_mhz} MHz" if a.clock_mhz else ""
    print(f"\nsmallest unit within {a.max_err_lsb:g} LSB{at} (fixed function: rom; programmable: regs):")
    for r in recs:
        flag = "" if r["meets_bound"] else f"  (none meets {a.max_err_lsb:g} LSB: most accurate shown)"
        pipe = f"STAGES={r['stages']} {r['fmax_mhz']} MHz  " if a.clock_mhz else ""
        print(f"  {r['op']:6s} {r['format']:6s} {r['lut']:4s}  {r['impl']:7s} e{r['entries']:<4d} {pipe}"
              f"{r['area_um2']:>10,.0f} um2  {r['max_err_lsb']:.2f} LSB  {r['make']}{flag}")
    benign = ("bound not met", "skipped", "clock not met")
    bad = [r for r in rows if r.get("status") != "ok" and not r.get("status", "").startswith(benign)]
    count = {k: sum(1 for r in rows if r.get("status", "").startswith(k)) for k in ("ok",) + benign}
    print(f"\n{out}/report.md, report.json, " + ", ".join(f"{op}.png" for op in ops)
          + f"  ({count['ok']} units measured, {count['bound not met']} with no table within the bound, "
            + (f"{count['clock not met']} meeting {a.clock_mhz} MHz at no STAGES, " if a.clock_mhz else "")
            + f"{count['skipped']} skipped, {len(bad)} failed, {time.monotonic() - t0:.0f} s)")
    return 1 if bad else 0
