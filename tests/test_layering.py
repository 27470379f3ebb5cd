"""One-way layers, checked on the module-level import graph (parsed with ast, so lazy imports count too):

- packages: workloads ← accel ← sim ← validation;
- inside `sim`, subpackages lowest first: ir ← engine ← bounds ← dataflows ← evaluation ← models ← search ← report;
- no import cycle between modules anywhere, and no module named like a function its package exports.
"""
import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workloads", "accel", "sim", "validation")
SIM_ORDER = ("ir", "engine", "bounds", "dataflows", "evaluation", "models", "parallel", "search", "report")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules `path` imports (`from a import b` counts a.b when that is a module, else a)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                out.add(full if full in known else base)
    return {m for m in out if m.split(".")[0] in PACKAGES and m in known}


GRAPH = {name: imports(path, name, set(modules())) for name, path in modules().items()}


def rank(name: str) -> tuple[int, int]:
    parts = name.split(".")
    pkg = PACKAGES.index(parts[0])
    sub = SIM_ORDER.index(parts[1]) if parts[0] == "sim" and len(parts) > 1 and parts[1] in SIM_ORDER else -1
    return pkg, sub


@pytest.mark.parametrize("package", PACKAGES)
def test_no_upward_imports(package):
    """No module of a layer imports a layer above it; inside sim, no subpackage imports one above it."""
    offenders = []
    for name, deps in GRAPH.items():
        if not name.startswith(package):
            continue
        for d in deps:
            (p, s), (dp, ds) = rank(name), rank(d)
            if dp > p or (dp == p == PACKAGES.index("sim") and s >= 0 and ds > s):
                offenders.append(f"{name} imports {d}")
    assert not offenders, offenders


def test_no_import_cycles():
    """The module-level import graph is acyclic (package __init__ modules that re-export their own submodules
    are edges down, never back up)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for d in sorted(GRAPH.get(node, ())):
            if d == node or node.startswith(d + "."):   # a module importing its own package's __init__
                continue
            if state.get(d) == 1:
                cycles.append(" -> ".join(path[path.index(d):] + [d]) if d in path else f"{node} -> {d}")
            elif d not in state:
                visit(d, path + [d])
        state[node] = 2

    for n in sorted(GRAPH):
        if n not in state:
            visit(n, [n])
    assert not cycles, cycles


def test_no_module_shadowed_by_a_function():
    """A package's exported function never has the name of one of its modules (`sim.explore` is a function; the
    module is `sim.search.exploration`)."""
    clashes = []
    for name in GRAPH:
        pkg, _, leaf = name.rpartition(".")
        if pkg and pkg in GRAPH:
            value = getattr(importlib.import_module(pkg), leaf, None)
            if value is not None and not isinstance(value, type(importlib)):
                clashes.append(f"{pkg}.{leaf} is a {type(value).__name__}, hiding module {name}")
    assert not clashes, clashes


def test_import_sim_lists_every_builtin_dataflow():
    """`import sim` registers every built-in dataflow, before anything else is called."""
    import sim
    assert {"flash2", "flash3", "cudnn", "fusemax", "flat", "systolic-ws", "gemm"} <= set(sim.DATAFLOWS)
