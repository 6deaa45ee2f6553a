"""``gqa-lut sim run`` (``make sim``, ``make bench-sim``): the matrix of
:func:`sim.units.matrix` on every core.

Every option is checked before anything is fitted or built (simulator and
its executable, op list, build root, JSON location, job count): a bad one is
one ``error:`` line and exit status 2. Then the tables the units share are
fitted once (int8 tables and row-wise tables first, in parallel, then the
wider formats, which start from the int8 breakpoints), and the units are
built and simulated ``--jobs`` at a time, each in a worker process: most of
a unit's time is simulator start-up, Yosys conversion and Python in the
simulator, all of which run on one core, so units in parallel use them all.
Results are printed in matrix order, each as soon as it and those before it
are done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MAX_JOBS = 64
MAX_OP_LIST = 1024       # every op name, comma-separated, is far shorter


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gqa-lut sim", description="Run the cocotb benches (make sim).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="verify the default matrix (or --op's part of it)")
    p.add_argument("--op", help="restrict to these ops: comma list, or all (the default)")
    p.add_argument("--sim", default="icarus", help="icarus (default) or verilator")
    p.add_argument("--build", type=Path, default=Path("build"))
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--jobs", "-j", default=None,
                   help=f"units simulated at once, 1..{MAX_JOBS} (default: the number of cores; JOBS=)")
    return ap


def check(a) -> tuple[list[str] | None, int]:
    """(ops or None for all, jobs) of a parsed command line; a ConfigError
    or SimError for the first bad option. Touches nothing."""
    from fitter import functions
    from flow.build import check_output_root
    from flow.config import ROWWISE, ConfigError
    from sim.runner import check_simulator
    check_simulator(a.sim)
    ops = None
    if a.op is not None and len(a.op) > MAX_OP_LIST:
        raise ConfigError(f"OP is {len(a.op)} characters long; at most {MAX_OP_LIST} (a comma list of op names)")
    if a.op is not None and a.op != "all":
        items = a.op.split(",")
        known = list(functions.FUNCTIONS) + list(ROWWISE)
        for op in items:
            if op == "":
                raise ConfigError(f"OP='{a.op}': an empty item in the comma list; known ops: {', '.join(known)}")
            if op not in known:
                raise ConfigError(str(functions.UnknownOp(op, known)))
        ops = list(dict.fromkeys(items))          # each op once, in the order given
    jobs = os.cpu_count() or 1
    if a.jobs is not None:
        try:
            jobs = int(a.jobs, 10)
        except ValueError:
            raise ConfigError(f"JOBS='{a.jobs}' is not a whole number (1..{MAX_JOBS})") from None
        if not 1 <= jobs <= MAX_JOBS:
            raise ConfigError(f"JOBS={jobs}: use 1..{MAX_JOBS} units at once")
    check_output_root(a.build)
    if a.json is not None:
        if a.json.is_dir():
            raise ConfigError(f"--json {a.json}: is a directory, need a file name")
        probe = a.json.parent           # the folder is made at the end: its nearest existing parent must allow it
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise ConfigError(f"--json {a.json}: {probe} is not a writable directory")
    return ops, jobs


# -- work done in the worker processes (top-level functions: they are pickled by name) ----------

def _fit_table(cfg, build: Path) -> None:
    from flow.build import ensure_spec
    ensure_spec(cfg, build)


def _fit_partner(cfg, build: Path) -> None:
    from sim.units import partner_spec
    partner_spec(cfg, build)


def _fit_rowwise(cfg, build: Path) -> None:
    from flow.build import tables
    tables(cfg, build)


def _unit(cfg, build: Path, sim: str):
    """Build the unit (its tables cached by now) and run its bench."""
    from sim.units import verify
    return [verify(cfg, build, sim)]


def simulate_group(cfgs, build: Path, sim: str, k: int):
    """Build the units and simulate them together (:mod:`sim.group`)."""
    from flow.build import build as build_unit
    from sim.group import run_group
    from sim.units import partner_spec
    entries = [(build_unit(c, build), {"GQA_SPEC2": partner_spec(c, build).resolve()} if c.lut == "regs" else {})
               for c in cfgs]
    return run_group(f"gqa_sim_group{k}", entries, build / "sim" / f"group{k}" / sim, sim)


def fit_waves(cfgs, build: Path) -> list[list[tuple]]:
    """The distinct fits the units need, as (function, cfg) calls in two
    waves: what needs nothing first, then the tables that start from an int8
    fit (wider and fp32 formats) and their partners, so no two workers ever
    fit the same table."""
    from flow.build import table_configs
    from flow.config import ROWWISE
    from flow.fits import FITS
    waves: list[dict] = [{}, {}]
    for cfg in cfgs:
        if cfg.kind in ROWWISE:
            key = tuple(str(t.fit_dir(build / f"{cfg.op}_tables")) for t in table_configs(cfg).values())
            waves[0].setdefault(("rowwise", key), (_fit_rowwise, cfg))
            continue
        later = FITS[cfg.impl].int8_first(cfg)
        waves[later].setdefault(("table", str(cfg.fit_dir(build))), (_fit_table, cfg))
        if cfg.lut == "regs":
            key = (cfg.op, cfg.format, cfg.entries, cfg.impl, repr(cfg.fit))
            waves[later].setdefault(("partner", key), (_fit_partner, cfg))
    return [list(w.values()) for w in waves]


#: int8 element-wise units simulated together (sim/group.py); a few groups per core keep the cores even
GROUP = 8


def cost(cfgs) -> float:
    """A task's rough CPU seconds (one unit, or a group of int8 units), for
    the order tasks start in: longest first, so a long bench never starts
    last while the other cores idle."""
    from flow.config import ROWWISE
    if len(cfgs) > 1:
        return 1.2 + 0.6 * len(cfgs)
    cfg = cfgs[0]
    if cfg.kind in ROWWISE:
        return 2.5
    return {"int32": 15, "int16": 9, "fp32": 9}.get(cfg.format, 1.8)


def tasks(cfgs) -> list[list[int]]:
    """The matrix as tasks (lists of indices into ``cfgs``): the groupable
    units in groups of :data:`GROUP`, every other unit alone."""
    from sim.group import groupable
    together = [i for i, c in enumerate(cfgs) if groupable(c)]
    return [together[k:k + GROUP] for k in range(0, len(together), GROUP)] + \
        [[i] for i, c in enumerate(cfgs) if not groupable(c)]


def _worker_init() -> None:
    """A worker process leads a process group of its own, so that an
    interrupt can end it together with the simulators it runs, and leaves
    Ctrl-C to the main process, which does that (:func:`run`)."""
    import signal
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool) -> None:
    """End the pool's workers and their simulators now, start nothing more."""
    import signal
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


def run(cfgs, build: Path, sim: str, jobs: int, report=print) -> list:
    """Every unit of ``cfgs`` built and verified, ``jobs`` at a time;
    ``report`` gets each result's line in matrix order."""
    results = []
    with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as pool:
        try:
            for wave in fit_waves(cfgs, build):
                for f in [pool.submit(fn, cfg, build) for fn, cfg in wave]:
                    f.result()
            todo = sorted(tasks(cfgs), key=lambda t: -cost([cfgs[i] for i in t]))   # stable: matrix order within a cost
            where = {}                                   # unit index -> (future, place in the task's results)
            for k, t in enumerate(todo):
                f = (pool.submit(simulate_group, [cfgs[i] for i in t], build, sim, k) if len(t) > 1
                     else pool.submit(_unit, cfgs[t[0]], build, sim))
                where.update({i: (f, j) for j, i in enumerate(t)})
            for i in range(len(cfgs)):
                f, j = where[i]
                r = f.result()[j]
                report(r.line())
                results.append(r)
        except BaseException:
            _stop(pool)                                  # Ctrl-C or an error: no unit goes on running
            raise
    return results


def main(argv=None) -> int:
    from fitter import functions
    from fitter.problem import FitError
    from flow.config import ConfigError, one_line
    from hw.spec import SpecError
    from sim.runner import SimError
    from sim.units import matrix
    a = parser().parse_args(argv)
    try:
        ops, jobs = check(a)
    except (ConfigError, SimError, OSError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    cfgs = matrix(ops)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    try:
        results = run(cfgs, a.build, a.sim, jobs, lambda line: print(line, flush=True))
    except (functions.UnknownOp, SimError, SpecError, FitError, ConfigError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    bad = [r for r in results if not r.ok]
    total = sum(r.vectors for r in results)
    print(f"{len(results) - len(bad)} passed, {len(bad)} failed  ({total} vectors, "
          f"{sum(r.mismatches for r in results)} mismatches, {wall:.0f} s, {jobs} parallel)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"simulator": a.sim, "jobs": jobs, "cores": os.cpu_count(), "units": len(results),
               "wall_seconds": round(wall, 1), "loadavg_before": load0, "loadavg_after": os.getloadavg(),
               "results": [r.__dict__ for r in results]}
        a.json.write_text(json.dumps(doc, indent=2) + "\n")
        busy = sum(r.seconds for r in results)
        print("\n| simulator | jobs | cores | units | vectors | wall s | bench s, summed | load before | load after |\n"
              "|---|---:|---:|---:|---:|---:|---:|---|---|\n"
              f"| {a.sim} | {jobs} | {os.cpu_count()} | {len(results)} | {total} | {wall:.1f} | {busy:.1f} | "
              f"{' '.join(f'{x:.2f}' for x in load0)} | {' '.join(f'{x:.2f}' for x in os.getloadavg())} |\n"
              f"{a.json}")
    return 1 if bad else 0
