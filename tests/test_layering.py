"""One-way layers: workloads ← accel ← sim ← validation (parsed with ast, so lazy imports count too)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"workloads": {"accel", "sim", "validation"}, "accel": {"sim", "validation"}, "sim": {"validation"},
             "validation": set()}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    """No module of a layer imports a layer above it."""
    offenders = [f"{p.relative_to(ROOT)} imports {sorted(imported_packages(p) & FORBIDDEN[package])}"
                 for p in sorted((ROOT / package).rglob("*.py")) if imported_packages(p) & FORBIDDEN[package]]
    assert not offenders, offenders
