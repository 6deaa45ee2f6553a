"""The command line's view of the parameter tables (:mod:`hw.params`):
``gqa-lut gen``'s and ``fit``'s flags with their ``--help``, the make
variables that reach them, and the configurations a parsed command line
asks for. Nothing here declares a parameter: every flag, default, check and
help text comes from a kind's ``PARAMS``.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from flow.config import ROW_KINDS, ConfigError, Elementwise, FitOptions, SpecUnit, kind_of
from hw.params import Param

#: the kinds ``gen`` builds from an op, and how their ops are named in a message
GEN_KINDS = {Elementwise: "the element-wise ops", **{k: op for op, k in ROW_KINDS.items()}}


#: short spellings of flags
ALIASES = {"--entries": ("-n",)}


def _who(kinds) -> str:
    names = list(dict.fromkeys(GEN_KINDS[k] for k in GEN_KINDS if k in kinds))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def unit_flags() -> dict[str, dict[type, Param]]:
    """flag -> {kind: its Param} over every kind ``gen`` builds (spec units included)."""
    out: dict[str, dict[type, Param]] = {}
    for kind in (*GEN_KINDS, SpecUnit):
        for p in kind.PARAMS:
            if p.flag:
                out.setdefault(p.flag, {})[kind] = p
    return out


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _help(per_kind: dict[type, Param]) -> str:
    """One help text from the kinds that share a flag: one clause per distinct
    (help, default), naming the ops when the kinds differ."""
    kinds = {k: p for k, p in per_kind.items() if k in GEN_KINDS}
    first = next(iter(kinds.values()))
    if first.switch:
        return first.help + f" [{first.make}=1]"
    clauses: dict[tuple, list] = {}
    for k, p in kinds.items():
        text = p.help if not p.bounds or p.bounds == first.bounds else f"{p.values_text()}: {p.help}"
        clauses.setdefault((text, None if p.default is None else p.default_text()), []).append(k)
    choices = f"{first.values_text()}: " if first.values_text() else ""
    listed = ", comma list" if first.listed else ""
    parts = [("" if len(clauses) == 1 else f"{_who(ks)}: ") + text + ("" if d is None else f" (default {d})")
             for (text, d), ks in clauses.items()]
    make = f" [{first.make}=]" if first.make else ""
    return choices + "; ".join(parts) + listed + make


def add_unit_flags(p: argparse.ArgumentParser) -> None:
    """Every unit option of every kind, grouped by the ops it applies to."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag, per_kind in unit_flags().items():
        if flag == "--spec":
            first = per_kind[SpecUnit]
            p.add_argument(flag, type=Path, default=None, metavar=first.metavar,
                           help="build from your own spec file instead of fitting (DESIGN.md, 'The LUT spec'); the "
                                "unit is named after the table's content: <op>_<format>_e<N>_u<hash>")
            continue
        kinds = [k for k in per_kind if k in GEN_KINDS]
        title = "unit options" if len(kinds) == len(GEN_KINDS) else f"options of {_who(kinds)}"
        g = groups.get(title) or groups.setdefault(title, p.add_argument_group(title))
        first = next(iter(per_kind.values()))
        names = (flag, *ALIASES.get(flag, ()))
        if first.switch:
            g.add_argument(*names, action="store_const", const="1", default=None, help=_help(per_kind))
        else:
            g.add_argument(*names, default=None, metavar=first.metavar, help=_help(per_kind),
                           type=None if first.listed else checked(per_kind.values()))


def checked(params):
    """An argparse type that reads the text as each kind's Param would (so a bad
    value stops the parse at once, with that Param's message) and keeps the text."""
    def conv(text: str) -> str:
        for p in params:
            try:
                p.parse(text)
            except ConfigError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return conv


def add_fit_flags(p: argparse.ArgumentParser) -> None:
    """The fit options, from :class:`FitOptions`' table."""
    g = p.add_argument_group("fit options (any away from its default gives the unit a _v<hash> suffix)")
    for f in FitOptions.PARAMS:
        default = "" if f.default is None else f" (default {f.default_text()})"
        g.add_argument(f.flag, default=None, metavar=f.metavar, type=checked([f]),
                       help=(f"{f.values_text()}: " if f.values_text() else "") + f.help + default)


def fit_options(a, **over) -> FitOptions:
    """The fit options of a parsed command line (each text parsed by its Param)."""
    kw = {}
    for f in FitOptions.PARAMS:
        v = getattr(a, f.name)
        if v is not None:
            kw[f.name] = f.parse(v)
    kw.update(over)
    return FitOptions(**kw)


def make_vars(*kinds, extra=()) -> list[tuple[str, str | None]]:
    """make variable -> flag for the parameters of ``kinds`` (first declaration of a variable wins)."""
    out, seen = [], set()
    for kind in kinds:
        for p in kind.PARAMS:
            if p.make and p.flag and p.make not in seen:
                seen.add(p.make)
                out.append((p.make, p.flag))
    return out + list(extra)


def switches() -> dict[str, str]:
    """make variable -> flag of the options that take no value (their variable is 0 or 1)."""
    return {p.make: flag for flag, per in unit_flags().items() for p in per.values() if p.switch}


def _values(p: Param, text: str) -> list:
    """A flag's text as values: a comma list for a listed parameter."""
    if p.switch:
        return [True]
    if not p.listed:
        return [p.parse(text)]
    items = [x for x in str(text).split(",") if x != ""]
    if not items:
        raise ConfigError(f"{p.flag.lstrip('-')} '{text}' is empty")
    return [p.parse(x) for x in items]


def _given(a) -> dict[str, str]:
    return {flag: getattr(a, dest(flag)) for flag in unit_flags() if getattr(a, dest(flag), None) is not None}


def expand(kind, given: dict[str, str], base: dict) -> list:
    """Every configuration of ``kind`` the given flags ask for (the cross product of the listed ones)."""
    axes = {p.name: _values(p, given[p.flag]) for p in kind.PARAMS if p.flag in given}
    out = []
    for combo in itertools.product(*axes.values()):
        kw = {**base, **dict(zip(axes, combo))}
        if kind is Elementwise and kw.get("ftz") and kw.get("format") != "fp32" and "fp32" in axes.get("format", ()):
            kw["ftz"] = False           # --format int8,fp32 --ftz 1: flush-to-zero applies to the fp32 units
        out.append(kind(**kw))
    return out


def configs(a) -> list:
    """Every configuration a ``gen`` command line asks for, all validated
    before anything is fitted or written."""
    from fitter import functions
    given = _given(a)
    spec = given.pop("--spec", None)
    if "--clock-mhz" in given and "--stages" in given:
        raise ConfigError(f"STAGES={given['--stages']} and CLOCK_MHZ={given['--clock-mhz']} both set the pipelining: "
                          "give one (with CLOCK_MHZ the STAGES that meets it with the least area is chosen)")
    fit = fit_options(a)
    if spec is not None:
        if a.op is not None:
            raise ConfigError("give an op or --spec, not both")
        bad = [f for f in given if SpecUnit not in unit_flags()[f]]
        if bad:
            raise ConfigError(f"{bad[0]} does not apply to a unit built from --spec"
                              + (" (the spec's own 'impl' field says which unit it is)" if bad[0] == "--impl" else
                                 " (give STAGES=n)" if bad[0] == "--clock-mhz" else ""))
        if fit.changed_options():
            raise ConfigError(f"--{next(iter(fit.changed_options())).replace('_', '-')} does not apply to a unit "
                              "built from --spec (nothing is fitted)")
        if Path(spec).is_dir():
            raise ConfigError(f"--spec {spec}: is a directory, need a spec file")
        return _unique(expand(SpecUnit, given, {"spec": Path(spec)}))
    known = list(functions.FUNCTIONS) + list(ROW_KINDS)
    ops = known if (a.op or "gelu") == "all" else [x for x in (a.op or "gelu").split(",") if x]
    if not ops:
        raise ConfigError(f"op '{a.op}' is empty")
    for op in ops:
        if op not in known:
            raise ConfigError(str(functions.UnknownOp(op, known)))
    kinds = {kind_of(op) for op in ops}
    flags = unit_flags()
    for flag in given:
        having = [k for k in flags[flag] if k in GEN_KINDS]
        if not kinds & set(having):
            raise ConfigError(f"{flag} applies to {_who(having)} only")
    out = []
    for op in ops:
        kind = kind_of(op)
        mine = {f: v for f, v in given.items() if kind in flags[f]}
        out += expand(kind, mine, {"fit": fit, **({"op": op} if "op" in kind.PARAM else {})})
    return _unique(out)


def _unique(cfgs: list) -> list:
    out, seen = [], set()
    for c in cfgs:
        if c.name not in seen:
            seen.add(c.name)
            out.append(c)
    return out


def variables(cmd_vars: list[tuple[str, str | None]]) -> list[str]:
    """One line per make variable of a command: its default, its values and
    the ops it applies to, from the parameter tables (``gqa-lut vars``)."""
    flags = unit_flags()
    fit = {p.flag: p for p in FitOptions.PARAMS}
    out = []
    for var, flag in cmd_vars:
        per = flags.get(flag) or ({FitOptions: fit[flag]} if flag in fit else None)
        if not per:
            continue
        p = next(iter(per.values()))
        kinds = [k for k in per if k in GEN_KINDS]
        who = "" if len(kinds) in (0, len(GEN_KINDS)) else f"  ({_who(kinds)})"
        values = "0|1" if p.switch or p.default is False else p.values_text()
        defaults: dict[str, list] = {}
        for k, q in per.items():
            if k in GEN_KINDS and q.default is not None and not q.switch:
                defaults.setdefault(q.default_text(), []).append(k)
        if not kinds and p.default is not None:
            defaults = {p.default_text(): []}
        default = ("" if not defaults else f" [{next(iter(defaults))}]" if len(defaults) == 1 else
                   " [" + ", ".join(f"{_who(ks)}: {d}" for d, ks in defaults.items()) + "]")
        out.append(f"  {var}{default}{' ' + values if values else ''}{who}{'  -- ' + p.brief if p.brief else ''}")
    return out
