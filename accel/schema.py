"""The arch schema, derived from the dataclasses in `accel.spec`: `keys(Level)` lists each key with its type (from
the annotation), default, unit, range and meaning (from the field's metadata). `from_dict` checks a whole spec
against it and reports every problem at once; `to_dict` is its exact inverse.

Rules across keys (`accel.rules`) are checked after the keys themselves.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from workloads.frozen import FrozenDict

from accel.errors import INVALID, ArchError, Path, Problems, show
from accel.rules import check_rules
from accel.spec import REQUIRED, Arch, Level, Unit, _check_arch

# A whole-number field is refused past this many bits before any arithmetic on it (10**400 must not overflow).
_HUGE_BITS = 64


@dataclass(frozen=True)
class Key:
    """One key of the schema, derived from a dataclass field: its kind (`name`, `text`, `int`, `real`, `ints`,
    `table`, `records`) from the annotation, the default (`REQUIRED` if none), whether it may be null, the record
    type of a list of records, and the rest from the field's metadata (see `accel.spec.key`)."""
    name: str
    kind: str
    default: Any
    nullable: bool
    record: type | None
    doc: str = ""
    unit: str = ""
    low: float | None = None
    high: float | None = None
    above: bool = False
    null: str = ""
    inf: str = ""
    limit: int | None = None
    is_name: bool = False
    dots: bool = True

    @property
    def required(self) -> bool:
        """Whether a spec must give this key."""
        return self.default is REQUIRED


def _kind(hint: Any) -> tuple[str, bool, type | None]:
    """(kind, nullable, record type) of a field annotation."""
    args = typing.get_args(hint)
    nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if nullable:
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if hint in (str, int, float):
        return {str: "text", int: "int", float: "real"}[hint], nullable, None
    if origin is tuple and args[0] is int:
        return "ints", nullable, None
    if origin is tuple and dataclasses.is_dataclass(args[0]):
        return "records", nullable, args[0]
    if origin is collections.abc.Mapping:
        return "table", nullable, None
    raise TypeError(f"no schema kind for annotation {hint!r}")  # a programming error in accel.spec


@functools.cache
def keys(cls: type) -> tuple[Key, ...]:
    """The schema of one record type (`Arch`, `Level`, `Unit`), in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, nullable, record = _kind(hints[f.name])
        if kind == "text" and f.metadata["is_name"]:
            kind = "name"
        out.append(Key(f.name, kind, f.default, nullable, record, **f.metadata))
    return tuple(out)


# ---- checking values ---------------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    if isinstance(x, int) and x >= 2 ** 20 and (x & (x - 1)) == 0:
        return f"2^{x.bit_length() - 1}"
    return f"{x:g}"


def range_text(k: Key) -> str:
    """The accepted range, e.g. `1000 … 1e+18 B/s`."""
    unit = f" {k.unit}" if k.unit else ""
    low = f"{_fmt(k.low)} (excluded)" if k.above else _fmt(k.low)
    return f"{low} … {_fmt(k.high)}{unit}"


def _shown(value: float) -> str:
    """A number as the user wrote it, unless a shorter exact form exists (`1e+12`, not `1000000000000.0`)."""
    full, short = repr(value), f"{value:g}"
    return short if len(full) > 12 and float(short) == value else full


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _digits(value: int) -> int:
    return len(str(abs(value))) if value.bit_length() < 13_000 else int(value.bit_length() * math.log10(2)) + 1


def _as_number(k: Key, value: Any, path: Path, problems: Problems, integer: bool) -> Any:
    """`value` as a Python int or float (NumPy scalars included), or INVALID after recording why not."""
    kind = type(value)
    if kind is not int and kind is not float:   # the common types skip the slower ABC checks
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            hint = " (a number written as text: drop the quotes)" if isinstance(value, str) and \
                _looks_numeric(value) else ""
            problems.add(path, f"expected {'an integer' if integer else 'a number'}, got {kind.__name__} "
                               f"{show(value)}{hint}")
            return INVALID
        kind = int if isinstance(value, numbers.Integral) else float
        value = kind(value)
    if kind is int:
        if value.bit_length() > _HUGE_BITS:   # refused before any float conversion can overflow
            problems.add(path, f"a {_digits(value)}-digit number is out of range ({range_text(k)})")
            return INVALID
        return value
    if math.isnan(value) or (math.isinf(value) and not (k.inf and value > 0)):
        problems.add(path, f"expected a finite number, got {value!r}")
        return INVALID
    if integer and math.isfinite(value) and not value.is_integer():
        problems.add(path, f"expected an integer, got {value!r}")
        return INVALID
    return value


def _in_range(k: Key, value: float, path: Path, problems: Problems) -> bool:
    """Whether a finite number lies in the key's range (recording why not)."""
    low, high = k.low, k.high
    if low >= 0 and (value < 0 or (value == 0 and (low > 0 or k.above))):
        problems.add(path, f"expected a {'non-negative' if low == 0 and not k.above else 'positive'} number, got "
                           f"{_shown(value)} ({range_text(k)})")
        return False
    if value < low or (k.above and value == low) or value > high:
        problems.add(path, f"{_shown(value)} is out of range ({range_text(k)})")
        return False
    return True


def number(k: Key, value: Any, path: Path, problems: Problems, *, integer: bool) -> Any:
    """A number in the key's range (NumPy scalars accepted), as int or float; INVALID after recording why not.
    `inf` passes where the key says what it means (a free op)."""
    kind = type(value)
    if (kind is float or kind is int) and k.low <= value <= k.high and not (k.above and value == k.low) \
            and (kind is int or not integer or value.is_integer()):   # the common case, checked once
        return int(value) if integer else float(value)
    value = _as_number(k, value, path, problems, integer)
    if value is INVALID or math.isinf(value):
        return value
    if not _in_range(k, value, path, problems):
        return INVALID
    return int(value) if integer else float(value)


_NO_SPACES = re.compile(r"\S+")
_NO_SPACES_OR_DOTS = re.compile(r"[^\s.]+")


def name(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """A non-empty printable name without spaces (nor dots, for level and unit names), at most `limit` long."""
    pattern = _NO_SPACES if k.dots else _NO_SPACES_OR_DOTS
    if not isinstance(value, str) or len(value) > k.limit or not value.isprintable() or not pattern.fullmatch(value):
        problems.add(path, f"expected a non-empty name without {'spaces' if k.dots else 'spaces or dots'}, at most "
                           f"{k.limit} characters, got {show(value)}")
        return INVALID
    return value


def text(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """Free text, at most `limit` characters."""
    if not isinstance(value, str):
        problems.add(path, f"expected text, got {type(value).__name__} {show(value)}")
        return INVALID
    if len(value) > k.limit:
        problems.add(path, f"text of {len(value)} characters; at most {k.limit}")
        return INVALID
    return value


def _sequence(k: Key, value: Any, path: Path, problems: Problems, what: str) -> bool:
    if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Sequence) or not value:
        problems.add(path, f"expected a non-empty list of {what}, got {type(value).__name__} {show(value)}")
        return False
    if len(value) > k.limit:
        problems.add(path, f"{len(value)} entries; at most {k.limit}")
        return False
    return True


def ints(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """A non-empty list of integers (array dimensions), each in the key's range."""
    if not _sequence(k, value, path, problems, "array dimensions, e.g. [256, 256]"):
        return INVALID
    out = tuple(number(k, x, path + (i,), problems, integer=True) for i, x in enumerate(value))
    return INVALID if INVALID in out else out


_TABLE_KEY = Key("key", "name", REQUIRED, False, None, limit=64, is_name=True)


def table(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """A mapping of names (dots allowed, `mac.fp8`) to numbers in the key's range; non-empty if required."""
    if not isinstance(value, Mapping) or (k.required and not value):
        problems.add(path, f"expected a {'non-empty ' if k.required else ''}mapping of name to number, got "
                           f"{type(value).__name__} {show(value)}")
        return INVALID
    if len(value) > k.limit:
        problems.add(path, f"{len(value)} entries; at most {k.limit}")
        return INVALID
    out = {}
    for key_, v in value.items():
        good = name(_TABLE_KEY, key_, path + (key_,), problems)
        out[key_] = number(k, v, path + (key_,), problems, integer=False)
        if good is INVALID:
            out[key_] = INVALID
    return INVALID if any(v is INVALID for v in out.values()) else FrozenDict(out)


def records(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """A non-empty list of records (levels, units), each checked against its own schema; INVALID entries kept in
    place so that rules across keys can still check the valid ones by index."""
    if not _sequence(k, value, path, problems, f"{k.record.__name__.lower()}s"):
        return INVALID
    return [record(k.record, item, path + (i,), problems) for i, item in enumerate(value)]


_CHECKS = {"name": name, "text": text, "ints": ints, "table": table, "records": records,
           "int": functools.partial(number, integer=True), "real": functools.partial(number, integer=False)}


def value_of(k: Key, value: Any, path: Path, problems: Problems) -> Any:
    """One key's checked value (null where the key allows it)."""
    if value is None:
        if k.nullable:
            return None
        problems.add(path, "must not be null" + (f" (omit the key for its default, {show(k.default)})"
                                                 if not k.required else ""))
        return INVALID
    return _CHECKS[k.kind](k, value, path, problems)


@functools.cache
def _names(cls: type) -> frozenset[str]:
    return frozenset(k.name for k in keys(cls))


def _listed(schema: tuple[Key, ...]) -> str:
    return ", ".join(k.name for k in schema)


def record(cls: type, data: Any, path: Path, problems: Problems) -> Any:
    """The checked keyword arguments of one record (`Level`, `Unit`, `Arch`), defaults filled in and bad values
    INVALID (every problem recorded); INVALID itself if `data` is not a mapping of this record's keys."""
    schema = keys(cls)
    names = _names(cls)
    if not isinstance(data, Mapping):
        hint = " (already an accel.Arch: use it as it is)" if isinstance(data, Arch) else ""
        problems.add(path, f"expected a mapping, got {type(data).__name__}{hint}")
        return INVALID
    if len(data) > 2 * len(schema):
        problems.add(path, f"{len(data)} keys; a {cls.__name__.lower()} has {len(schema)}: {_listed(schema)}")
        return INVALID
    for key_ in data:
        if key_ not in names:
            near = difflib.get_close_matches(key_, [k.name for k in schema], n=1) if isinstance(key_, str) else []
            problems.add(path + (key_,), "unknown key" + (f" (did you mean {near[0]!r}?)" if near else "")
                         + f" (valid: {_listed(schema)})")
    out = {}
    for k in schema:
        if k.name in data:
            out[k.name] = value_of(k, data[k.name], path + (k.name,), problems)
        elif k.required:
            problems.add(path + (k.name,), "missing key")
            out[k.name] = INVALID
        else:
            out[k.name] = k.default
    return out


# ---- building and writing ------------------------------------------------------------------------------------------

def parse(data: Any) -> tuple[Arch | None, Problems]:
    """Check a whole spec: the Arch (None if anything is wrong) and every problem found."""
    problems = Problems()
    fields = record(Arch, data, (), problems)
    if fields is not INVALID:
        check_rules(fields, problems)
    if problems:
        return None, problems
    levels = tuple(Level(**lv) for lv in fields["levels"])
    units = tuple(Unit(**u) for u in fields["units"])
    return Arch(**{**fields, "levels": levels, "units": units}), problems


def from_dict(data: Mapping[str, Any], path: str = "arch") -> Arch:
    """Check, normalize and build an `Arch` from plain data (see docs/arch-schema.md). Every problem is reported at
    once in one ArchError, each naming its key path under `path`; optional keys get their defaults."""
    if not isinstance(path, str):
        raise ArchError(f"accel.from_dict: path names the spec in messages (str), got {type(path).__name__}")
    arch, problems = parse(data)
    problems.raise_if_any(path)
    return arch


def _plain(rec: Any) -> dict:
    """A record as plain data, key by key: lists for tuples, dicts for tables, nested records likewise."""
    out = {}
    for k in keys(type(rec)):
        value = getattr(rec, k.name)
        if k.kind == "records":
            value = [_plain(r) for r in value]
        elif k.kind == "table":
            value = dict(value)
        elif k.kind == "ints":
            value = list(value)
        out[k.name] = value
    return out


def to_dict(arch: Arch) -> dict:
    """The inverse of `from_dict`: every key, as plain dicts, lists and numbers (`from_dict(to_dict(a)) == a`)."""
    _check_arch(arch, "to_dict")
    return _plain(arch)
