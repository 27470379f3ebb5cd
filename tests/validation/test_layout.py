"""The validation package's layout: the harness is standalone, subpackages import one way, and the documented
commands work."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VALIDATION = REPO / "validation"
# Subpackages lowest first: each may import only those before it (and the layers below validation).
ORDER = ("harness", "data", "compare", "reproductions", "figures")
STANDALONE = ("harness", "data")         # never sim, accel or workloads: they run on a device with only torch


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


def _subpackage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "validation" and parts[1] in ORDER else None


@pytest.mark.parametrize("sub", ORDER)
def test_subpackages_import_one_way(sub: str) -> None:
    """A subpackage imports only validation subpackages before it; the harness and the data import nothing from sim,
    accel or workloads (the harness must run on the device machine with just PyTorch)."""
    offenders = []
    for path in sorted((VALIDATION / sub).rglob("*.py")):
        for name in _imports(path):
            other = _subpackage(name)
            if other and ORDER.index(other) > ORDER.index(sub):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
            if sub in STANDALONE and name.split(".")[0] in {"sim", "accel", "workloads"}:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_entry_modules_are_thin() -> None:
    """The top-level entry modules only forward to their subpackage."""
    for name in ("measure", "fusemax", "fa2_public"):
        path = VALIDATION / f"{name}.py"
        assert len(path.read_text().splitlines()) <= 12, path


@pytest.mark.parametrize("module", ["validation.measure", "validation.compare", "validation.fusemax"])
def test_documented_commands_run(module: str) -> None:
    """`python -m <module> --help` works from the repository root (the commands the docs and campaign.sh use)."""
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout


def test_campaign_names_existing_modules() -> None:
    """Every `python -m validation...` in campaign.sh names a module that exists."""
    text = (VALIDATION / "campaign.sh").read_text()
    modules = set(re.findall(r"-m (validation[\w.]*)", text))
    assert modules, "campaign.sh runs no validation module"
    for m in modules:
        path = REPO / Path(*m.split("."))
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), m
