"""addon/ has no import cycles, counting imports inside functions (they hide a cycle from Python at
import time, not from the design). The graph is read from the sources with ast, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """{module: modules of the same package it imports anywhere in its source}."""
    files = {module_name(p, package_dir): p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # "from pkg import name": the submodule pkg.name when there is one, else pkg itself
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in files else origin for a in node.names]
            for target in targets:
                if target in files and target != mod:
                    graph[mod].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_addon_has_no_import_cycles():
    graph = import_graph(ROOT / "addon")
    assert len(graph) > 15 and "addon.operators.install_torch" in graph
    # the graph sees relative, function-local and "from package import module" imports
    assert "addon.runtime.job" in graph["addon.operators.reconstruct"]
    assert "addon.ui.preferences" in graph["addon.operators.install_torch"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in addon/: " + " -> ".join(cycle)


def test_the_cycle_check_sees_function_local_imports(tmp_path):
    pkg = tmp_path / "addon"
    (pkg / "ui").mkdir(parents=True)
    (pkg / "ops").mkdir()
    for init in (pkg / "__init__.py", pkg / "ui" / "__init__.py", pkg / "ops" / "__init__.py"):
        init.write_text("")
    (pkg / "ui" / "prefs.py").write_text("def draw():\n    from ..ops import install\n    return install\n")
    (pkg / "ops" / "install.py").write_text("from ..ui.prefs import draw\n")
    (pkg / "ops" / "other.py").write_text("import addon.ui.prefs\n")
    graph = import_graph(pkg)
    assert graph["addon.ops.other"] == {"addon.ui.prefs"}
    assert find_cycle(graph) in (["addon.ops.install", "addon.ui.prefs", "addon.ops.install"],
                                 ["addon.ui.prefs", "addon.ops.install", "addon.ui.prefs"])
    (pkg / "ui" / "prefs.py").write_text("def draw():\n    return None\n")
    assert find_cycle(import_graph(pkg)) is None
