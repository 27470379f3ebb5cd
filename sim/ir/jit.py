"""Compiled kernels: one explicit signature each, compiled (or loaded from Numba's on-disk cache) on first call.

What is compiled when: nothing at import. The first call of a kernel in a process loads its machine code from the
cache (`__pycache__`, or `NUMBA_CACHE_DIR`), or — on a fresh install, or after its source changed — compiles it
for the one signature it declares, printing a single line on stderr first so that the wait is never silent. A call
with other argument types is refused (TypeError) instead of compiling a second specialization: callers convert
their arrays to the declared dtypes, so every dtype mix shares one compiled kernel. With `NUMBA_DISABLE_JIT=1` the
kernels run as plain Python (the semantics check in CI).
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

from numba import njit
from numba.core import event
from numba.core.dispatcher import Dispatcher

__all__ = ["COMPILING_NOTICE", "Kernel", "helper", "kernel"]

# Integer division by zero yields 0 instead of raising: the kernels never divide by zero, and the exception paths
# Python semantics would add make every kernel slower to compile.
_OPTIONS = dict(error_model="numpy")
helper = njit(**_OPTIONS)  # a function the kernels call (compiled into them; cached with them)

COMPILING_NOTICE = "cascadesim: compiling the simulation engine (first run only, cached afterwards)..."


class _Notice(event.Listener):
    """Prints `COMPILING_NOTICE` once per process, when Numba starts a compilation (never for a cache load)."""

    shown = False

    def on_start(self, ev: event.Event) -> None:
        """A compilation starts: say so, once."""
        if not _Notice.shown:
            _Notice.shown = True
            print(COMPILING_NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev: event.Event) -> None:
        """Nothing to do when it ends (the listener interface requires the method)."""


class Kernel:
    """A Numba kernel with one declared signature, compiled or loaded from the cache on its first call."""

    def __init__(self, function: Callable, signature) -> None:
        self.function, self.signature = function, signature
        self.__doc__, self.__name__ = function.__doc__, function.__name__
        self._compiled: Callable | None = None
        self._lock = threading.Lock()  # threads calling it first at once compile (or load) it once

    def __call__(self, *args):
        compiled = self._compiled or self.compile()
        return compiled(*args)

    def compile(self) -> Callable:
        """Load the compiled kernel from the cache or compile it (announced on stderr); return the callable."""
        with self._lock:
            if self._compiled is None:
                dispatcher = njit(cache=True, nogil=True, **_OPTIONS)(self.function)
                if isinstance(dispatcher, Dispatcher):  # not under NUMBA_DISABLE_JIT
                    with event.install_listener("numba:compile", _Notice()):
                        dispatcher.compile(self.signature)
                    dispatcher.disable_compile()
                self._compiled = dispatcher
            return self._compiled

    @property
    def compiled_signatures(self) -> list:
        """The signatures compiled so far in this process (at most the declared one)."""
        return list(getattr(self._compiled, "signatures", []))


def kernel(signature) -> Callable[[Callable], Kernel]:
    """Decorator: `@kernel(numba signature)` makes a `Kernel`."""
    return lambda function: Kernel(function, signature)
