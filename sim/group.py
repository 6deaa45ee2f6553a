"""Integer element-wise units simulated several to one simulator process.

Most of a small unit's bench time is the simulator and its Python starting
up (about 1.2 of 1.4 CPU seconds for an int8 unit), so ``make sim`` puts
the int8 element-wise units of one lane in groups: one wrapper module
instantiates every unit of the group with its own signals
(``u<i>_<port>``, inputs as regs the bench drives, outputs as wires), and
:mod:`sim.tb_group` runs each unit's own bench on its signals in turn. Each
unit still gets its own result line, vector count and mismatches.
"""

from __future__ import annotations

import json
from pathlib import Path

from sim.runner import BenchResult, run_bench


def groupable(cfg) -> bool:
    """The units a group takes: int8 element-wise units of one lane (every
    code in a fraction of a second of simulation)."""
    return cfg.kind == "elementwise" and cfg.format == "int8" and getattr(cfg, "lanes", 1) == 1 \
        and getattr(cfg, "clock_mhz", None) is None


def wrapper(name: str, units: list[tuple[str, dict]]) -> str:
    """Verilog module ``name`` holding every (prefix, manifest) unit."""
    L = [f"// {len(units)} units simulated together (sim/group.py); inputs driven by the benches",
         f"module {name};"]
    for prefix, man in units:
        conns = []
        for p in man["ports"]:
            rng = f"[{p['width'] - 1}:0] " if p["width"] > 1 else ""
            L.append(f"  {'reg' if p['dir'] == 'in' else 'wire'} {rng}{prefix}_{p['name']};")
            conns.append(f".{p['name']}({prefix}_{p['name']})")
        L.append(f"  {man['top']} {prefix} ({', '.join(conns)});")
    L.append("endmodule")
    return "\n".join(L) + "\n"


def run_group(name: str, entries: list[tuple[Path, dict]], work: Path, sim: str = "icarus") -> list[BenchResult]:
    """Simulate the units (unit directory, bench environment) together in
    ``work``; one BenchResult per unit, in order."""
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    mans = [json.loads((u / "manifest.json").read_text()) for u, _ in entries]
    units = [(f"u{i}", m) for i, m in enumerate(mans)]
    (work / f"{name}.v").write_text(wrapper(name, units))
    plan = []
    for (prefix, man), (unit, env) in zip(units, entries):
        summary = work / f"{man['top']}.summary.json"
        summary.unlink(missing_ok=True)
        plan.append({"prefix": prefix, "summary": str(summary),
                     "env": {"GQA_UNIT_DIR": str(Path(unit).resolve()), **{k: str(v) for k, v in env.items()}}})
    (work / "group.json").write_text(json.dumps(plan, indent=1))
    sources = [Path(u) / m["verilog"][0] for (u, _), m in zip(entries, mans)] + [work / f"{name}.v"]
    run_bench(name, sources, name, "sim.tb_group", work, {"GQA_GROUP": work / "group.json"}, sim)
    out = []
    for p, (_, man) in zip(plan, units):
        s = Path(p["summary"])
        doc = json.loads(s.read_text()) if s.exists() else {"failed": 1, "error": "the group's simulation ended first"}
        failed = 1 if doc.pop("failed", 1) else 0
        out.append(BenchResult(man["top"], 1, failed, int(doc.pop("vectors", 0)), int(doc.pop("mismatches", 0)),
                               float(doc.pop("seconds", 0.0)), doc))
    return out
