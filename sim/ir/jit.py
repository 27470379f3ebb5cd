"""Compiled kernels: one explicit signature each, compiled (or loaded from Numba's on-disk cache) on first call.

What is compiled when: nothing at import. The first call of a kernel in a process loads its machine code from the
cache (`__pycache__`, or `NUMBA_CACHE_DIR`), or — on a fresh install, or after its source changed — compiles it
for the one signature it declares, printing a single line on stderr first so that the wait is never silent. A call
with other argument types is refused (TypeError) instead of compiling a second specialization: callers convert
their arrays to the declared dtypes, so every dtype mix shares one compiled kernel. With `NUMBA_DISABLE_JIT=1` the
kernels run as plain Python (the semantics check in CI).

On a cold cache the kernels declared `ahead=True` (the scheduler: seconds to compile, and needed last) are
compiled by a second process, started when the first compilation here begins, while this process compiles the
kernels it needs before them: a first run takes the longer of the two instead of their sum (Numba compiles one
function at a time per process). A kernel that process is compiling is waited for (at most `AHEAD_WAIT_S`) and
then loaded from the cache; if it failed, or this process was forked from the one that started it, the kernel is
compiled here as usual.
"""

from __future__ import annotations

import atexit
import importlib
import os
import subprocess
import sys
import threading
from typing import Callable

from numba import config, njit
from numba.core import event
from numba.core.dispatcher import Dispatcher

__all__ = ["AHEAD_WAIT_S", "COMPILING_NOTICE", "Kernel", "compile_ahead", "helper", "kernel"]

# Integer division by zero yields 0 instead of raising: the kernels never divide by zero, and the exception paths
# Python semantics would add make every kernel slower to compile.
_OPTIONS = dict(error_model="numpy")
helper = njit(**_OPTIONS)  # a function the kernels call (compiled into them; cached with them)

COMPILING_NOTICE = "cascadesim: compiling the simulation engine (first run only, cached afterwards)..."
AHEAD_WAIT_S = 300.0    # the longest this process waits for a kernel the second process is compiling
_DECLARED: list["Kernel"] = []  # the kernels `kernel` made: compiling one of them means the cache is cold


class _Notice(event.Listener):
    """Prints `COMPILING_NOTICE` once per process, when Numba starts a compilation (never for a cache load), and
    starts the second process for the `ahead` kernels not yet loaded here."""

    shown = False

    def __init__(self, compiling: "Kernel | None" = None) -> None:
        self.compiling = compiling

    def on_start(self, ev: event.Event) -> None:
        """A compilation starts: say so, once, and compile the `ahead` kernels beside it."""
        if not _Notice.shown:
            _Notice.shown = True
            print(COMPILING_NOTICE, file=sys.stderr, flush=True)
        if any(k is self.compiling for k in _DECLARED):
            _Ahead.start([k for k in _DECLARED if k.ahead and k is not self.compiling and k._compiled is None])

    def on_end(self, ev: event.Event) -> None:
        """Nothing to do when it ends (the listener interface requires the method)."""


class _Ahead:
    """The second process compiling `ahead` kernels into the cache (at most one per process), and what it said:
    `state[key]` of each kernel it was given is "queued", "start" or "done"; `ended` once its output closed."""

    current: "_Ahead | None" = None
    inside = False      # this process is that second process: it starts none of its own

    def __init__(self, kernels: list["Kernel"]) -> None:
        self.owner, self.state, self.ended = os.getpid(), {k.key: "queued" for k in kernels}, False
        self.changed = threading.Condition()
        path = os.pathsep.join(os.path.abspath(p) if p else p for p in sys.path)
        env = dict(os.environ, PYTHONPATH=path, **({"NUMBA_CACHE_DIR": config.CACHE_DIR} if config.CACHE_DIR else {}))
        code = "import sys; from sim.ir.jit import compile_ahead; compile_ahead(sys.argv[1:])"
        self.process = subprocess.Popen([sys.executable, "-c", code, *(k.key for k in kernels)], env=env, text=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._listen, daemon=True).start()
        atexit.register(self.process.kill)   # what it compiled so far stays cached

    @classmethod
    def start(cls, kernels: list["Kernel"]) -> None:
        """Start the second process for `kernels`, unless one was started already, there is nothing to do, or
        there is no second CPU to run it on."""
        if kernels and cls.current is None and not cls.inside and (os.cpu_count() or 1) > 1:
            try:
                cls.current = cls(kernels)
            except OSError:     # no second process: this one compiles everything, as without it
                cls.inside = True

    def _listen(self) -> None:
        for line in self.process.stdout:
            what, _, key = line.strip().partition(" ")
            with self.changed:
                self.state[key] = what
                self.changed.notify_all()
        self.process.wait()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    @classmethod
    def wait_for(cls, kernel: "Kernel") -> None:
        """Wait (at most AHEAD_WAIT_S) while the second process, started by this very process, compiles `kernel`."""
        ahead = cls.current
        if ahead is None or ahead.owner != os.getpid():
            return
        with ahead.changed:
            ahead.changed.wait_for(lambda: ahead.ended or ahead.state.get(kernel.key) not in ("queued", "start"),
                                   AHEAD_WAIT_S)


def compile_ahead(keys: list[str]) -> None:
    """The second process: load or compile each kernel (`module:name`) in turn, saying when each starts and ends."""
    _Ahead.inside = _Notice.shown = True
    for key in keys:
        module, name = key.split(":")
        found = getattr(importlib.import_module(module), name)
        print("start", key, flush=True)
        found.compile()
        print("done", key, flush=True)


class Kernel:
    """A Numba kernel with one declared signature, compiled or loaded from the cache on its first call."""

    def __init__(self, function: Callable, signature, ahead: bool = False) -> None:
        self.function, self.signature, self.ahead = function, signature, ahead
        self.__doc__, self.__name__ = function.__doc__, function.__name__
        self.key = f"{function.__module__}:{function.__name__}"
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
                    _Ahead.wait_for(self)
                    with event.install_listener("numba:compile", _Notice(self)):
                        dispatcher.compile(self.signature)
                    dispatcher.disable_compile()
                self._compiled = dispatcher
            return self._compiled

    @property
    def compiled_signatures(self) -> list:
        """The signatures compiled so far in this process (at most the declared one)."""
        return list(getattr(self._compiled, "signatures", []))


def kernel(signature, ahead: bool = False) -> Callable[[Callable], Kernel]:
    """Decorator: `@kernel(numba signature)` makes a `Kernel`; `ahead=True`: compiled by a second process on a
    cold cache (for a kernel that is slow to compile and needed after others; see the module docstring)."""
    def declare(function: Callable) -> Kernel:
        _DECLARED.append(Kernel(function, signature, ahead))
        return _DECLARED[-1]
    return declare
