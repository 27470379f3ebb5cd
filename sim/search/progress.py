"""The one progress bar of the project (explore's, sweep's and the command line's).

`progress_bar(progress, total, label)` turns a user's `progress=` argument into a bar with `update(n=1, note="")`
and `close()`:

- `None` or `False`: a silent bar;
- `True`: a `TextBar` on stderr;
- a callable: called as `progress(done, total, label)` after every update;
- an object with `update(n)` and `close()` (e.g. a `tqdm` instance): updated by `n`, closed at the end.

Every line a bar writes is bounded (labels and notes are cut to a fixed width).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

from sim.ir.mapping import MappingError

BAR_WIDTH = 24        # characters of the bar itself
LABEL_WIDTH = 60      # a longer label is cut (a workload name can be long)
NOTE_WIDTH = 40       # the note after the counts (what is being worked on)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


class TextBar:
    """A one-line bar, `label [####....] done/total 1.2s note`, redrawn in place with a carriage return.
    The line is finished (a newline) when `done` reaches `total`, or by `close()`, whichever comes first."""

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, _cut(str(label), LABEL_WIDTH)
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.start, self.open = 0, time.perf_counter(), False

    def update(self, n: int = 1, note: str = "") -> None:
        """Count `n` more steps and redraw, showing `note`."""
        self.done += n
        if self.total:
            filled = min(BAR_WIDTH, BAR_WIDTH * self.done // self.total)
            counts = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}"
        else:
            counts = f"{self.done}"
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label} {counts} {elapsed:.1f}s {_cut(str(note), NOTE_WIDTH):<{NOTE_WIDTH}}")
        self.open = True
        if self.total and self.done >= self.total:
            self.close()
        else:
            self.stream.flush()

    def close(self) -> None:
        """Finish the line (once)."""
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


class SilentBar:
    """A bar that shows nothing (progress off)."""

    def update(self, n: int = 1, note: str = "") -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


class CallbackBar:
    """Calls `fn(done, total, label)` after every update."""

    def __init__(self, fn: Callable[[int, int | None, str], Any], total: int | None, label: str) -> None:
        self.fn, self.total, self.label, self.done = fn, total, label, 0

    def update(self, n: int = 1, note: str = "") -> None:
        """Count `n` more steps and report them."""
        self.done += n
        self.fn(self.done, self.total, self.label)

    def close(self) -> None:
        """Nothing to finish."""


class ForeignBar:
    """Wraps a user's bar object that has `update(n)` and `close()` (the note is not passed on)."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def update(self, n: int = 1, note: str = "") -> None:
        """Advance the wrapped bar by `n`."""
        self.bar.update(n)

    def close(self) -> None:
        """Close the wrapped bar."""
        self.bar.close()


def progress_bar(progress: Any, total: int | None, label: str) -> TextBar | SilentBar | CallbackBar | ForeignBar:
    """The bar for a `progress=` argument (see the module docstring); anything else raises MappingError."""
    if progress is None or progress is False:
        return SilentBar()
    if progress is True:
        return TextBar(total, label)
    if callable(getattr(progress, "update", None)) and callable(getattr(progress, "close", None)):
        return ForeignBar(progress)
    if callable(progress):
        return CallbackBar(progress, total, label)
    raise MappingError(f"progress must be None, True, False, a callable(done, total, label) or an object with "
                       f"update(n) and close(), got {type(progress).__name__}")
