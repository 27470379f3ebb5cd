"""`ArchError` and the problem list behind it: a spec is checked whole, and every problem is reported at once, each
naming its key path (`arch.levels[1].capacity_bytes`) and, for files, the file and line. Messages are bounded: values
and keys are shown abbreviated and at most `MAX_LISTED` problems are listed."""
from __future__ import annotations

import reprlib
from typing import Any, Callable, Iterable

# A message lists at most this many problems, then says how many more there are.
MAX_LISTED = 16
# Problems kept per check; a spec past this many has a systematic fault, and the count alone says so.
MAX_KEPT = 1000

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 40, 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4

INVALID = object()   # a checked value that failed: its problem is already recorded

Path = tuple  # a key path: str keys and int list indices, e.g. ("levels", 1, "capacity_bytes")


class ArchError(ValueError):
    """An architecture spec is malformed or implausible, or an accel function got something that is not an arch.

    The message names each offending key path (`arch.levels[1].fanout`); `problems` holds them as
    `(path, message)` pairs with the path as text."""

    def __init__(self, message: str, problems: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class TextError(ArchError):
    """A problem of a file's text itself (malformed, too deep, an alias bomb), at `line` if known; `accel.load`
    turns it into an ArchError naming the file."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def show(value: Any) -> str:
    """A short, bounded repr of any value (deeply nested or huge inputs included)."""
    try:
        return _SHORT.repr(value)
    except Exception:  # a user object whose repr fails must not hide the real problem
        return f"<{type(value).__name__}>"


def clip(text: str, limit: int = 200) -> str:
    """Text shortened to `limit` characters (messages from libraries and the OS are shown this way)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def path_text(root: str, path: Path) -> str:
    """`("levels", 1, "name")` under root `arch` → `arch.levels[1].name` (long keys abbreviated)."""
    out = [root]
    for key in path:
        if isinstance(key, int):
            out.append(f"[{key}]")
        else:
            text = key if isinstance(key, str) and len(key) <= 40 and key.isprintable() else show(key)
            out.append(f".{text}")
    return "".join(out)


class Problems:
    """Collects `(path, message)` problems of one spec; `raise_if_any` turns them into one ArchError."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str]] = []
        self.count = 0

    def add(self, path: Path, message: str) -> None:
        """Record one problem (kept up to MAX_KEPT, counted always)."""
        self.count += 1
        if len(self.items) < MAX_KEPT:
            self.items.append((tuple(path), message))

    def extend(self, other: "Problems") -> None:
        """Add another collector's problems (and its count of those not kept)."""
        for path, message in other.items:
            self.add(path, message)
        self.count += other.count - len(other.items)

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self, root: str, where: str = "", line: Callable[[Path], int | None] | None = None) -> None:
        """Raise one ArchError listing the problems. `where` (a file name) prefixes each line, with the line number
        that `line(path)` gives, compiler style: `arch.yaml:7: arch.levels[1].fanout: ...`."""
        if not self:
            return
        entries = []
        for path, message in self.items:
            at = line(path) if line is not None else None
            prefix = f"{where}:{at}: " if where and at else f"{where}: " if where else ""
            entries.append((path_text(root, path), f"{prefix}{path_text(root, path)}: {message}"))
        if self.count == 1:
            raise ArchError(entries[0][1], [(entries[0][0], self.items[0][1])])
        head = f"{where}: " if where else f"{root}: "
        lines = [f"{head}{self.count} problems"] + ["  " + text for _, text in entries[:MAX_LISTED]]
        if self.count > MAX_LISTED:
            lines.append(f"  ... and {self.count - MAX_LISTED} more")
        raise ArchError("\n".join(lines), [(p, m) for (p, _), (_, m) in zip(entries, self.items)])
