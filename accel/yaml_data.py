"""YAML text → plain data for arch files, built from PyYAML's event stream without recursion.

Numbers follow the YAML 1.2 core schema, so `200e9` and `1.5e12` are floats (YAML 1.1, PyYAML's default, reads
them as strings), `.inf` is infinity and only `true`/`false` are booleans (`no` and `on` stay text). Mapping keys are
read as text. Duplicate keys, unsupported tags and out-of-range integers are recorded as problems (the first value
is kept); input nested deeper than `MAX_DEPTH` or expanding through aliases to more than `MAX_VALUES` values (an
alias bomb) stops the read at once. Each key path's line is kept for messages.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from accel.errors import Path, Problems, TextError, clip, show

# An arch spec nests 4 deep (arch → units → unit → ops_per_cycle); anything past this is not an arch spec.
MAX_DEPTH = 32
# Values after alias expansion: the largest spec the schema's limits allow has about 34 000 (64 units with two
# 256-entry op tables); a billion-laughs document has billions.
MAX_VALUES = 50_000
# Python refuses to convert longer digit strings (sys.get_int_max_str_digits); longer ones are out of any range.
MAX_DIGITS = 4000

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml's parser when PyYAML has it: same events
_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"), "+.inf": float("inf"),
            "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"), ".nan": float("nan"),
            ".NaN": float("nan"), ".NAN": float("nan")}


def _error(event: Any, message: str) -> TextError:
    return TextError(message, event.start_mark.line + 1)


def _integer(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise OverflowError(f"a {len(text)}-digit integer")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


def _plain_scalar(text: str) -> Any:
    """An untagged, unquoted scalar under the YAML 1.2 core schema."""
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        return _integer(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return _SPECIAL.get(text, text)


def _tagged_scalar(tag: str, text: str) -> Any:
    """A scalar with an explicit core tag (`!!float 1e9`); other tags raise ValueError."""
    kind = tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    if kind in ("str", "!"):
        return text
    if kind == "null" and _NULL.fullmatch(text):
        return None
    if kind == "bool" and text in _BOOL:
        return _BOOL[text]
    if kind == "int" and _INT.fullmatch(text):
        return _integer(text)
    if kind == "float" and (_FLOAT.fullmatch(text) or text in _SPECIAL):
        return _SPECIAL[text] if text in _SPECIAL else float(text)
    raise ValueError(f"unsupported tag or value {show(tag)} {show(text)} (arch files use plain YAML values)")


class _Builder:
    """The state of one document: a stack of open collections, anchors, and where each key path starts."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.stack: list[list] = []   # [container, path, pending key or None, key line]
        self.anchors: dict[str, tuple[Any, int]] = {}   # name → (value, values inside it)
        self.open_anchors: list[tuple[str | None, int]] = []
        self.lines: dict[Path, int] = {}
        self.values = 0
        self.root: Any = None

    def _count(self, n: int, event: Any) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            raise _error(event, f"the document holds more than {MAX_VALUES} values after alias "
                                f"expansion (an alias bomb?); an arch spec has a few hundred")

    def _path(self) -> Path:
        """The path of the value about to be placed."""
        if not self.stack:
            return ()
        container, path, key, _ = self.stack[-1]
        return path + ((len(container),) if isinstance(container, list) else (key,))

    def place(self, value: Any, event: Any, size: int) -> None:
        """Put a finished value into the open collection (or make it the document)."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        container, path, key, _ = top
        if isinstance(container, list):
            self.lines.setdefault(path + (len(container),), event.start_mark.line + 1)
            container.append(value)
        elif key is None:
            self._key(value, event, top)
        else:
            if key in container:
                self.problems.add(path + (key,), f"duplicate key {show(key)}, given again on line {top[3]}; "
                                                 f"each key may appear once")
            elif key == "<<":
                self.problems.add(path + (key,), "merge keys (<<) are not supported: write the keys out, or "
                                                 "alias a whole mapping")
            else:
                container[key] = value
            top[2] = None
        self._count(size, event)

    def _key(self, value: Any, event: Any, top: list) -> None:
        if not isinstance(event, yaml.ScalarEvent):
            what = "an alias" if isinstance(event, yaml.AliasEvent) else "a list" if isinstance(value, list) \
                else "a mapping"
            raise _error(event, f"a mapping key must be plain text, not {what}")
        top[2], top[3] = event.value, event.start_mark.line + 1
        self.lines.setdefault(top[1] + (event.value,), top[3])

    def open(self, container: Any, event: Any) -> None:
        """Start a mapping or list (refusing nesting past MAX_DEPTH)."""
        if len(self.stack) >= MAX_DEPTH:
            raise _error(event, f"nested deeper than {MAX_DEPTH} levels; an arch "
                            f"spec nests 4 deep")
        self.open_anchors.append((event.anchor, self.values))
        self.stack.append([container, self._path(), None, 0])

    def close(self, event: Any) -> None:
        """Finish the innermost collection: remember it under its anchor and place it."""
        container = self.stack.pop()[0]
        anchor, start = self.open_anchors.pop()
        size = self.values - start + 1
        if anchor is not None:
            self.anchors[anchor] = (container, size)
        self.place(container, event, 1)

    def scalar(self, event: Any) -> None:
        """A key (kept as text) or a value (resolved by the core schema or its explicit tag)."""
        is_key = bool(self.stack) and isinstance(self.stack[-1][0], dict) and self.stack[-1][2] is None
        path = self._path()
        try:
            if is_key:
                value = event.value
            elif event.tag is not None and event.tag != "!":
                value = _tagged_scalar(event.tag, event.value)
            else:
                value = _plain_scalar(event.value) if event.implicit[0] and not event.style else event.value
        except (ValueError, OverflowError) as err:
            self.problems.add(path, str(err))
            value = event.value
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        self.place(value, event, 1)

    def alias(self, event: Any) -> None:
        """Place an anchored value again, counting its size against MAX_VALUES."""
        if event.anchor not in self.anchors:
            raise _error(event, f"alias *{show(event.anchor)} refers to an anchor "
                            f"that is not defined before it (or to the collection it is in)")
        value, size = self.anchors[event.anchor]
        self.place(value, event, size)


def yaml_data(text: str, problems: Problems) -> tuple[Any, dict[Path, int]]:
    """The document's plain data and the line of each key path; recoverable problems go to `problems`, the rest
    (malformed YAML, several documents, too deep, an alias bomb) raise TextError naming the line."""
    builder = _Builder(problems)
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _error(event, f"a second YAML document; an arch file "
                                    f"holds one")
            elif isinstance(event, yaml.ScalarEvent):
                builder.scalar(event)
            elif isinstance(event, yaml.AliasEvent):
                builder.alias(event)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                builder.open({} if isinstance(event, yaml.MappingStartEvent) else [], event)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                builder.close(event)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise TextError(f"malformed YAML: {clip(getattr(err, 'problem', None) or str(err))}",
                        None if mark is None else mark.line + 1) from None
    return builder.root, builder.lines
