"""Imports run one way: entry (cli) → api | workers → outbox | metrics → workflow → store | domain.
The API and the workers import neither each other; the API never imports the simulation; the
domain imports nothing with I/O. Read from the source (every import, also inside functions):

    python -m pytest tests/unit/test_layers.py -q
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "licenceflow"

# a package (or module) → the packages of licenceflow it must never import
FORBIDDEN = {
    "api": {"workers", "simulation", "cli"},
    "workers": {"api", "cli"},
    "outbox": {"api", "workers", "cli"},
    "metrics": {"api", "workers", "cli"},
    "workflow": {"api", "workers", "outbox", "metrics", "simulation", "cli"},
    "store": {"api", "workers", "outbox", "metrics", "workflow", "simulation", "cli"},
    "domain": {"api", "workers", "outbox", "metrics", "workflow", "store", "simulation", "cli"},
}


def imports(path: Path) -> set[str]:
    """The licenceflow packages `path` imports: `licenceflow.store.pool` → `store`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "licenceflow" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_is_below_it(layer: str) -> None:
    modules = sorted((PACKAGE / layer).rglob("*.py"))
    assert modules, f"no package {layer}"
    wrong = {
        str(module.relative_to(PACKAGE)): sorted(imports(module) & FORBIDDEN[layer])
        for module in modules
    }
    assert {module: names for module, names in wrong.items() if names} == {}
