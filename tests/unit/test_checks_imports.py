"""The checks modules import without a cycle: each alone, first, in a fresh interpreter.

A cycle (rules imports sanctions, sanctions imports rules) can work or fail depending on
which module a process happens to import first; importing each one first, alone, finds it.
The dependencies run one way: verdicts and settings <- sanctions <- rules <- the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKS = REPO / "chalicelib" / "checks"
MODULES = sorted(p.stem for p in CHECKS.glob("*.py") if p.stem != "__init__")


def test_the_modules_are_the_expected_ones():
    assert {"reference", "rules", "sanctions", "settings", "verdicts"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    # Python runs chalicelib/checks/__init__.py before the submodule; to import the
    # submodule truly first, load it with the package's __init__ replaced by an empty one.
    code = (
        "import importlib, importlib.util, sys, types\n"
        "import chalicelib\n"
        f"pkg = types.ModuleType('chalicelib.checks'); pkg.__path__ = [{str(CHECKS)!r}]\n"
        "sys.modules['chalicelib.checks'] = pkg\n"
        f"importlib.import_module('chalicelib.checks.{module}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_package_imports_alone_in_a_fresh_interpreter():
    done = subprocess.run(
        [sys.executable, "-c", "import chalicelib.checks"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def _local_imports(module: str) -> set[str]:
    tree = ast.parse((CHECKS / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chalicelib.checks."):
            found.add(node.module.rsplit(".", 1)[1])
    return found & set(MODULES)


def test_the_module_graph_has_no_cycle():
    graph = {m: _local_imports(m) for m in MODULES}
    assert "rules" not in graph["sanctions"] and "sanctions" in graph["rules"]
    state: dict[str, str] = {}

    def visit(m: str, path: tuple[str, ...]) -> None:
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", " -> ".join((*path, m))
        state[m] = "open"
        for n in graph[m]:
            visit(n, (*path, m))
        state[m] = "done"

    for m in MODULES:
        visit(m, ())
