"""One declaration per parameter (issue 22).

A :class:`Param` says everything about one option of a unit kind: its field
name, default, allowed values, the part it adds to the unit's name, its make
variable, its ``gqa-lut`` flag and its help text. The configuration classes
(:mod:`flow.config`) take their dataclass fields, their checks, their names,
make lines, requests and ``from_request`` from their ``PARAMS`` table, and the
command line (:mod:`flow.cli`) builds its flags, its ``--help`` and its make
variables from the same tables. No default or bound is written twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a make variable, say)
    written as escapes, so an error message stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


class ConfigError(ValueError):
    """An option out of range or not applicable; the message is one line."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


def check_int(v, what: str, lo: int, hi: int, hint: str = "") -> int:
    use = f"{lo} or {hi}" if hi == lo + 1 else f"{lo}..{hi}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{what} {v!r} is not an integer: use {use}{hint}")
    if not lo <= v <= hi:
        raise ConfigError(f"{what} {v} is out of range: use {use}{hint}")
    return v


def check_choice(v, what: str, allowed) -> Any:
    if v not in allowed:
        raise ConfigError(f"unknown {what} {v!r}; known: {', '.join(map(str, allowed))}")
    return v


def parse_int(what: str) -> Callable[[str], int]:
    def conv(v: str) -> int:
        try:
            return int(str(v).strip(), 10)
        except ValueError:
            raise ConfigError(f"{what} '{v}' is not an integer") from None
    return conv


def parse_float(what: str) -> Callable[[str], float]:
    def conv(v: str) -> float:
        try:
            return float(v)
        except ValueError:
            raise ConfigError(f"{what} '{v}' is not a number") from None
    return conv


def parse_bit(what: str) -> Callable[[str], bool]:
    def conv(v: str) -> bool:
        if str(v).strip() not in ("0", "1"):
            raise ConfigError(f"{what} {v}: use 0 or 1")
        return str(v).strip() == "1"
    return conv


def number_text(v: float) -> str:
    """A float as the shortest text that reads back to it (repr)."""
    return repr(float(v))


@dataclass(frozen=True)
class Param:
    """One option of a unit kind, declared once.

    * ``name``, ``default``: the configuration's field.
    * ``check(value) -> value``: the one validation (at construction); it may
      normalize (an int eps becomes a float) and raises :class:`ConfigError`.
    * ``parse(text) -> value``: a make variable's or flag's text to a value.
    * ``text(value) -> str``: the value as make-line / command-line text.
    * ``make``, ``flag``: the make variable and the ``gqa-lut gen`` flag
      (None: not an option of its own). ``switch``: the flag takes no value
      (``--ln-affine``; its make variable is 0 or 1).
    * ``listed``: ``gen`` takes a comma list and builds the cross product.
    * ``suffix(value) -> str``: the unit name's part for a value away from the
      default (None: the kind composes that part itself).
    * ``sparse``: the manifest's request holds the field only away from its
      default (fields added after units were released, so old requests stay
      what they were).
    * ``help``: one sentence; the flag's help adds the default.
    """
    name: str
    default: Any
    help: str = ""
    check: Callable[[Any], Any] = lambda v: v
    parse: Callable[[str], Any] = str
    text: Callable[[Any], str] = str
    make: str | None = None
    flag: str | None = None
    switch: bool = False
    listed: bool = False
    suffix: Callable[[Any], str] | None = None
    sparse: bool = False
    #: how the value is written into the request and read back (formats as labels, paths as text)
    to_json: Callable[[Any], Any] = lambda v: v
    from_json: Callable[[Any], Any] = lambda v: v
    metavar: str | None = None
    choices: tuple = field(default=())
    #: (lo, hi) of an integer option, for the help text (the check enforces it)
    bounds: tuple | None = None
    #: a few words for the list of make variables (``gqa-lut vars``, ``make help``)
    brief: str = ""

    def changed(self, v) -> bool:
        return v != self.default

    def name_part(self, v) -> str:
        return self.suffix(v) if self.suffix is not None and self.changed(v) else ""

    def values_text(self) -> str:
        """The allowed values in words: ``a|b|c``, ``lo..hi`` or empty."""
        if self.choices:
            return "|".join(map(str, self.choices))
        return f"{self.bounds[0]}..{self.bounds[1]}" if self.bounds else ""

    def default_text(self) -> str:
        return "none" if self.default is None else self.text(self.default)


def ints(name: str, default, lo: int, hi: int, hint: str = "", what: str | None = None, **kw) -> Param:
    """An integer option in lo..hi."""
    what = what or kw.get("flag") or name
    return Param(name, default, check=lambda v: check_int(v, what, lo, hi, hint), parse=parse_int(what),
                 bounds=(lo, hi), **kw)


def choice(name: str, default, allowed, what: str | None = None, **kw) -> Param:
    """An option with a fixed set of values."""
    what = what or name
    return Param(name, default, check=lambda v: check_choice(v, what, allowed), choices=tuple(allowed), **kw)


def tag(fmt) -> str:
    """``s16.8`` -> ``16f8``, ``s8.-1`` -> ``8fm1``: a format in an identifier."""
    return f"{fmt.bits}f{fmt.frac}".replace("-", "m")


def fixed_parser(what: str, max_bits: int = 16):
    from hw.fixed import Fixed

    def parse(v: str):
        """``s16.8`` -> a signed 16-bit format with 8 fractional bits. The
        fractional part may be negative (``s8.-1``: codes count steps of 2), as
        a calibrated power-of-two scale of a wide-ranged tensor can be."""
        mt = re.fullmatch(r"s(\d{1,3})\.(-?\d{1,3})", str(v).strip())
        if not mt:
            raise ConfigError(f"{what} '{v}' is not a signed format sB.F (e.g. s16.8)")
        bits, frac = int(mt.group(1)), int(mt.group(2))
        if not 2 <= bits <= max_bits or not -8 <= frac <= 31:
            raise ConfigError(f"{what} '{v}' is out of range: use 2..{max_bits} bits and -8..31 fractional bits")
        return Fixed(bits, True, frac)
    return parse


def fixed(name: str, default, flag: str, make: str, prefix: str, help: str, **kw) -> Param:
    """A signed fixed-point format option, written ``sB.F``; the name part is ``<prefix><B>f<F>``."""
    from hw.fixed import Fixed

    def check(v):
        if not isinstance(v, Fixed):
            raise ConfigError(f"{flag}: not a format")
        return v
    parse = fixed_parser(flag)
    return Param(name, default, help, check=check, parse=parse, text=lambda f: f.label(), make=make, flag=flag,
                 suffix=lambda f: f"_{prefix}{tag(f)}", to_json=lambda f: f.label(), from_json=parse,
                 metavar="sB.F", **kw)


def table(params) -> dict[str, Param]:
    return {p.name: p for p in params}
