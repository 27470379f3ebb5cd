"""Arch files: `accel.load(path)` reads a JSON or YAML spec (by suffix), `accel.loads(text, fmt)` a string.

Optional keys take their defaults (docs/arch-schema.md), numbers may be written in exponent form (`200e9`), and
every problem of a file is reported at once in one ArchError whose lines name the file, the line and the key path:
`h100.yaml:7: arch.levels[1].fanout: expected a positive number, got 0 (1 … 2^24)`. Duplicate keys are refused, and
hostile input (an alias bomb, deep nesting, a huge, binary or non-UTF-8 file, a directory) is refused in bounded time
with a bounded message.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path as FilePath
from typing import Any

from accel.errors import ArchError, Path, Problems, TextError, clip, show
from accel.presets import PRESETS
from accel.schema import parse
from accel.spec import Arch
from accel.yaml_data import MAX_DEPTH, yaml_data

# An arch file is a few KB; a larger one is refused before it is read.
MAX_FILE_BYTES = 1 << 20
MAX_NAME = 200   # characters of a file name shown in messages (its end)
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


class _Object(dict):
    """A JSON object that remembers its duplicate keys (for problems with paths)."""
    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object()
    duplicates = []
    for key, value in pairs:
        if key in out:
            duplicates.append(key)
        else:
            out[key] = value
    out.duplicates = tuple(duplicates)
    return out


def _json_duplicates(root: Any, problems: Problems) -> None:
    """Record the duplicate keys of every object, with their paths (iterative: depth is bounded already)."""
    todo: list[tuple[Any, Path]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if isinstance(node, _Object):
            for key in node.duplicates:
                problems.add(path + (key,), f"duplicate key {show(key)}; each key may appear once")
            todo.extend((v, path + (k,)) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend((v, path + (i,)) for i, v in enumerate(node))


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, strings skipped (checked before the recursive parser runs)."""
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text)):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def json_data(text: str, problems: Problems) -> Any:
    """JSON text → plain data; duplicate keys go to `problems`, malformed or too-deep text raises ArchError."""
    if _json_depth(text) > MAX_DEPTH:
        raise TextError(f"nested deeper than {MAX_DEPTH} levels; an arch spec nests 4 deep")
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as err:
        raise TextError(f"malformed JSON: {clip(err.msg)} (column {err.colno})", err.lineno) from None
    except (ValueError, RecursionError) as err:
        raise TextError(f"malformed JSON: {clip(str(err))}") from None
    _json_duplicates(data, problems)
    return data


def _file_name(name: str) -> str:
    """A file name as messages show it: its last MAX_NAME characters, quoted if it holds unprintable ones."""
    name = name if len(name) <= MAX_NAME else f"...{name[-MAX_NAME:]}"
    return name if name.isprintable() else repr(name)


def loads(text: str, fmt: str = "yaml", *, source: str = "") -> Arch:
    """Build an Arch from JSON or YAML text (`fmt` = "json" or "yaml"); `source` names it in messages (a file
    name). Every problem of the text is reported at once; see the module docstring."""
    if not isinstance(text, str):
        raise ArchError(f"accel.loads: expected text (str), got {type(text).__name__} {show(text)}")
    if fmt not in ("json", "yaml"):
        raise ArchError(f"accel.loads: unknown format {show(fmt)} (valid: json, yaml)")
    if not isinstance(source, str):
        raise ArchError(f"accel.loads: source must be a name (str), got {type(source).__name__}")
    where = _file_name(source) or f"<{fmt} text>"
    if len(text) > MAX_FILE_BYTES:
        raise ArchError(f"{where}: {len(text)} characters; an arch spec is at most {MAX_FILE_BYTES}")
    problems = Problems()
    lines: dict[Path, int] = {}
    try:
        if fmt == "json":
            data = json_data(text, problems)
        else:
            data, lines = yaml_data(text, problems)
    except TextError as err:
        raise ArchError(f"{where}:{err.line}: {err}" if err.line else f"{where}: {err}") from None
    if data is None and not problems:
        raise ArchError(f"{where}: empty document (an arch spec has the keys name, clock_hz, levels, units)")
    arch, spec_problems = parse(data)
    problems.extend(spec_problems)
    problems.raise_if_any("arch", where, lambda path: _line(lines, path))
    return arch


def _line(lines: dict[Path, int], path: Path) -> int | None:
    """The line of a key path, or of its nearest enclosing key that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _kind_of(path: FilePath) -> str:
    """What the path is: "dir", "missing", "file" or "other" (a device, a socket, a FIFO)."""
    if path.is_dir():
        return "dir"
    if not path.exists():
        return "missing"
    return "file" if path.is_file() else "other"


def _bytes(path: FilePath) -> bytes:
    """Up to one byte more than `MAX_FILE_BYTES` of the file (so a file that grows is still bounded)."""
    with path.open("rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def _read(path: FilePath, name: str) -> str:
    """The file's text, or an ArchError (naming the file as `name`) saying why it cannot be an arch file."""
    try:
        kind = _kind_of(path)
        raw = _bytes(path) if kind == "file" else b""
    except OSError as err:
        raise ArchError(f"{name}: cannot read: {clip(err.strerror or str(err))}") from None
    except ValueError as err:   # e.g. a NUL character in the path
        raise ArchError(f"{name}: not a usable file path ({clip(str(err))})") from None
    problem = {"dir": "is a directory, not an arch file", "missing": "no such file",
               "other": "not a regular file"}.get(kind)
    if problem is None and len(raw) > MAX_FILE_BYTES:
        problem = f"more than {MAX_FILE_BYTES} bytes; an arch file is a few KB"
    if problem is None and b"\x00" in raw:
        problem = "a binary file (it holds NUL bytes), not JSON or YAML text"
    if problem is not None:
        raise ArchError(f"{name}: {problem}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ArchError(f"{name}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None


def load(path: str | os.PathLike) -> Arch:
    """Read an arch spec from a `.json`, `.yaml` or `.yml` file (see the module docstring and docs/arch-schema.md)."""
    raw = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(raw, str):
        raise ArchError(f"accel.load: expected a file path (str), got {type(path).__name__} {show(path)}")
    file = FilePath(raw)
    name = _file_name(str(file))
    fmt = SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        hint = f"; a preset name? use accel.preset({raw!r})" if raw in PRESETS else ""
        raise ArchError(f"{name}: unknown arch file type {show(file.suffix or '(none)')} "
                        f"(valid: {', '.join(SUFFIXES)}{hint})")
    return loads(_read(file, name), fmt, source=name)
