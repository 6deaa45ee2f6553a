"""What the configuration layer says about units, as one JSON document:
every unit's name, ``make`` line and manifest ``request`` (for the default
``make sim`` matrix, the ``make dse`` plan and one variant of every option),
and what ``gqa-lut gen`` makes of a list of command lines and make
environments (the unit names, or the one ``error:`` line).

Generated Verilog, manifests, datasheets and packages depend on the
configuration only through these, so an unchanged snapshot means a change to
flow/config.py or flow/cli.py changed nothing a user sees.
``tests/data/config_snapshot.json`` is the snapshot of record;
``python -m tests.snapshot --write`` rewrites it (only for an intended
change), ``python -m tests.snapshot`` prints the differences.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

RECORD = Path(__file__).parent / "data" / "config_snapshot.json"

#: gen command lines (after ``gqa-lut gen``), good and bad
ARGV = [
    "", "gelu", "all", "gelu,exp --format int8,int16 --entries 8,16", "gelu --stages 0,2 --lut rom,regs",
    "gelu --format fp32 --ftz 1 --stages 2", "gelu --impl uniform,table --format int12",
    "gelu --impl poly --format int16", "gelu --impl poly --format int16 --max-err-lsb 0.5",
    "gelu --impl poly --format int12 --degree 2", "gelu --impl poly --format int12 --degree 1,2",
    "tanh --impl poly --format int12 --fold 1", "gelu --impl poly --degree 2 --fold 1",
    "gelu --clock-mhz 200", "gelu --lanes 4,16 --lut regs", "silu --format int16 --max-err-lsb 1",
    "tanh --entries 16 --seed 3 --range -2 2", "gelu --method exact --objective maxerr",
    "gelu --in-frac 4 --out-frac 5", "softmax", "softmax --row 32 --sm-in-frac 5 --row-buffers 1",
    "softmax --row-store none", "softmax --row-store sram --entries 16", "layernorm",
    "layernorm --row 384 --ln-in s16.8 --ln-out s16.12 --ln-eps 1e-12 --ln-rsqrt int16",
    "layernorm --ln-affine --ln-gamma s12.8 --ln-beta s10.5", "layernorm --row-store none --lanes 4",
    "rmsnorm --row-store sram --lanes 16 --row 18", "rmsnorm --ln-affine", "softmax,layernorm,gelu --entries 16",
    "layernorm,rmsnorm --row 16 --row-store none",
    # refused
    "nosuch", "gelu --format int9", "gelu --entries 0", "gelu --entries 300",
    "gelu --lut ram", "gelu --ftz 1", "gelu --ftz 2 --format fp32", "gelu --impl nosuch",
    "gelu --impl table --format int16", "gelu --impl uniform --entries 12", "gelu --impl table --entries 16",
    "gelu --impl poly --format int32", "gelu --impl poly --entries 16", "gelu --impl table --method exact",
    "gelu --lanes 3", "gelu --degree 2", "gelu --impl poly --degree 3", "gelu --fold 1", "exp --impl poly --fold 1", "gelu --clock-mhz 0", "gelu --clock-mhz 200 --stages 2", "softmax --clock-mhz 200",
    "gelu --format fp32 --in-frac 3", "gelu --max-err-lsb 0", "gelu --max-err-lsb 1 --entries 16",
    "gelu --max-err-lsb 1 --method exact", "gelu --seed -1", "gelu --range 1 0", "gelu --population 1",
    "softmax --row 1", "softmax --row 5000", "softmax --sm-in-frac 9", "softmax --row-buffers 3",
    "softmax --lanes 4", "softmax --row-store dram", "softmax --row-store none --row-buffers 1",
    "softmax --format int16", "softmax --in-frac 3", "gelu --sm-in-frac 3", "gelu --row 16", "gelu --ln-in s8.4",
    "softmax --ln-in s8.4", "layernorm --ln-in x8.4", "layernorm --ln-in s40.4", "layernorm --ln-eps 2",
    "layernorm --ln-rsqrt int4", "layernorm --ln-gamma s8.6", "layernorm --lanes 4",
    "layernorm --ln-out s8.9", "layernorm --ln-affine --ln-beta s8.7", "rmsnorm --ln-affine --ln-beta s8.5",
    "layernorm --sm-in-frac 3", "gelu --spec x.json",
]

#: make environments for ``gqa-lut --from-env gen``
ENVS = [
    {}, {"OP": "gelu", "FORMAT": "int16", "ENTRIES": "16", "STAGES": "2", "LUT": "regs"},
    {"OP": "gelu", "IMPL": "poly", "FORMAT": "int12", "MAX_ERR_LSB": "0.5"},
    {"OP": "softmax", "ROW": "64", "SM_IN_FRAC": "3", "ROW_STORE": "none"},
    {"OP": "layernorm", "LN_AFFINE": "1", "LN_GAMMA": "s12.8", "ROW": "32", "LN_EPS": "1e-6"},
    {"OP": "rmsnorm", "ROW_STORE": "sram", "LANES": "4"}, {"OP": "gelu", "CLOCK_MHZ": "150"},
    {"OP": "gelu", "FTZ": "1", "FORMAT": "fp32"}, {"OP": "gelu", "SEED": "4", "METHOD": "uniform"},
    {"OP": "gelu", "FITARGS": "--range -3 3 --generations 10"}, {"OP": "gelu", "LN_AFFINE": "2"},
    {"OP": "gelu", "HANDOFF": "0"}, {"OP": "gelu", "FITARGS": "--range 'x"},
]


def variants():
    """One configuration per option of every kind (and the defaults)."""
    from flow.config import Elementwise, FitOptions, parse_fixed
    from hw.layernorm.config import LayerNorm
    from hw.rmsnorm.config import RMSNorm
    from hw.softmax.config import Softmax
    fx = lambda s: parse_fixed(s, "f")  # noqa: E731
    out = [Elementwise("gelu"), Elementwise("exp", "int16", 16, 2, "regs"), Elementwise("gelu", "fp32", ftz=True),
           Elementwise("gelu", "int12", impl="uniform", entries=32), Elementwise("gelu", "int10", impl="table"),
           Elementwise("gelu", "int16", impl="poly"), Elementwise("gelu", "int16", impl="poly", lanes=4, lut="regs"),
           Elementwise("gelu", "int16", impl="poly", fit=FitOptions(max_err_lsb=0.5)),
           Elementwise("gelu", "int12", impl="poly", degree=2, lut="regs", lanes=4),
           Elementwise("sigmoid", "int16", impl="poly", fold=True, stages=3),
           Elementwise("silu", "int16", fit=FitOptions(max_err_lsb=1)), Elementwise("gelu", clock_mhz=200),
           Elementwise("gelu", lanes=8, stages=0), Elementwise("tanh", fit=FitOptions(seed=3, range=(-2, 2))),
           Elementwise("gelu", fit=FitOptions(method="exact", objective="maxerr", in_frac=4, out_bits=10)),
           Elementwise("rsqrt", fit=FitOptions(round_prob=0.1, population=20, generations=30)),
           Softmax(), Softmax(16, 64, 2, 1, FitOptions(method="uniform")), Softmax(row_store="none"),
           Softmax(row_store="sram", row_max=32), LayerNorm(), LayerNorm(16, 384, fx("s16.8"), fx("s16.12"), 1e-12),
           LayerNorm(affine=True), LayerNorm(affine=True, gamma_fmt=fx("s12.8"), beta_fmt=fx("s10.5"), row_len=8,
                                             gamma=tuple(range(8)), beta=(1,) * 8),
           LayerNorm(rsqrt="int16", row_buffers=1), LayerNorm(row_store="none", lanes=4),
           LayerNorm(row_store="sram", lanes=2), RMSNorm(), RMSNorm(affine=True, row_store="sram", lanes=16, row_len=18),
           RMSNorm(8, 32, eps=0.0, row_store="none")]
    return out


def describe(cfg) -> dict:
    from flow.config import from_request
    req = cfg.request()
    d = {"name": cfg.name, "top": cfg.top, "make": cfg.make_line(), "handoff": cfg.make_line("handoff"),
         "request": req}
    if cfg.kind != "spec" and not (getattr(cfg, "affine", False) and not cfg.default_params):
        back = from_request(json.loads(json.dumps(req)), None)
        d["from_request"] = back.name
    return d


def gen_names(argv: list[str]) -> list[str] | str:
    from flow import cli
    try:
        a = cli.parser().parse_args(cli._merge_range(["gen", *argv]))
        return [c.name for c in cli.configs(a)]
    except (cli.UsageError, cli.ConfigError) as e:
        return "error: " + str(e)
    except SystemExit as e:
        return f"exit {e.code}"


def snapshot() -> dict:
    from flow import cli
    from flow.dse import plan
    from sim.units import matrix
    units = {}
    dse = plan(["gelu", "exp", "silu", "hswish", "sigmoid", "tanh", "reciprocal", "rsqrt"],
               ["int8", "int10", "int12", "int16"], [4, 8, 16, 64, 256])
    dse += plan(["gelu", "exp"], ["int8", "int16"], [8], bound=1.0)
    for cfg in matrix() + dse + variants():
        units[cfg.name] = describe(cfg)
    gen = {line: gen_names(shlex.split(line)) for line in ARGV}
    envs = {}
    for env in ENVS:
        key = " ".join(f"{k}={v}" for k, v in env.items())
        try:
            argv = cli.from_env("gen", env)
            envs[key] = {"argv": argv, "units": gen_names(argv[:])}
        except cli.UsageError as e:
            envs[key] = "error: " + str(e)
    return {"units": units, "gen": gen, "env": envs}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    now = snapshot()
    if "--write" in argv:
        RECORD.parent.mkdir(exist_ok=True)
        RECORD.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD} ({len(now['units'])} units, {len(now['gen'])} command lines, {len(now['env'])} "
              "environments)")
        return 0
    was = json.loads(RECORD.read_text())
    diffs = [(part, k) for part in now for k in sorted(set(now[part]) | set(was[part]))
             if now[part].get(k) != was[part].get(k)]
    for part, k in diffs:
        print(f"{part} {k!r}:\n  was {json.dumps(was[part].get(k))}\n  now {json.dumps(now[part].get(k))}")
    print(f"{len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
