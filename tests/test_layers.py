"""The layer order of the library (texforge/__init__.py): no package imports a higher layer, packages
import each other without cycles, and pipelines never import one another.

Static: every import in backend/texforge (module level or inside functions, absolute or relative)
resolved by ast to the texforge package it reaches.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "backend" / "texforge"

LAYERS = [
    {"runtime", "atomic", "results"},
    {"geometry"},
    {"render", "mesh", "data", "nets", "losses", "metrics", "texture", "cameras"},
    {"training", "eval", "models"},
    {"pipelines"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every texforge import in one file under ``root`` (the package)."""
    rel = path.relative_to(root.parent)
    package = list(rel.parts[:-1])  # e.g. ["texforge", "pipelines", "multiview"]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == root.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").split(".")[0] == root.name:
                    out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
            else:
                base = package[:len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
                out += [(node.lineno, f"{prefix}.{a.name}") for a in node.names]
    return out


def unit_of(dotted: str, root_name: str) -> tuple[str, str | None]:
    """texforge.pipelines.multiview.fit -> ("pipelines", "multiview"); texforge.atomic -> ("atomic", None)."""
    parts = dotted.split(".")
    assert parts[0] == root_name, dotted
    top = parts[1] if len(parts) > 1 else ""
    return top, (parts[2] if top == "pipelines" and len(parts) > 2 else None)


def layer_violations(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """Problems as 'file:line: reason' strings, and the package dependency graph."""
    problems, graph = [], defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) == 1:
            if rel.name == "__init__.py":
                continue
            me, my_pipeline = rel.stem, None
        else:
            me = rel.parts[0]
            my_pipeline = rel.parts[1] if me == "pipelines" and len(rel.parts) > 2 else None
        if me not in LEVEL:
            problems.append(f"{rel}: package {me!r} has no layer (add it to texforge/__init__.py and LAYERS)")
            continue
        for line, dotted in imported_modules(path, root):
            other, other_pipeline = unit_of(dotted, root.name)
            where = f"{rel}:{line}"
            if other in ("", "__version__") or other == me and other_pipeline in (None, my_pipeline):
                continue
            if other == "pipelines" and me == "pipelines":
                problems.append(f"{where}: pipeline {my_pipeline} imports pipeline {other_pipeline} ({dotted}); "
                                f"move what they share into a lower layer")
                continue
            if other not in LEVEL:
                continue  # a module name that is not a package of ours (caught by the import itself)
            graph[me].add(other)
            if LEVEL[other] > LEVEL[me]:
                problems.append(f"{where}: {me} (layer {LEVEL[me] + 1}) imports {dotted} (layer {LEVEL[other] + 1})")
    return problems, graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, path):
        state[node] = "active"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "active":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_library_keeps_its_layer_order():
    problems, graph = layer_violations(LIBRARY)
    assert not problems, "\n".join(problems)
    assert not cycles(graph), cycles(graph)
    # the scan sees the real tree: the multi-view pipeline reaches the shared layers
    assert {"runtime", "texture", "cameras", "mesh", "training", "results"} <= graph["pipelines"]


def test_every_package_is_in_a_layer_and_the_docstring_lists_them():
    packages = {p.name for p in LIBRARY.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in LIBRARY.glob("*.py") if p.name != "__init__.py"}
    assert packages | modules == set(LEVEL)
    doc = (LIBRARY / "__init__.py").read_text(encoding="utf-8")
    assert all(name in doc for name in LEVEL)


@pytest.mark.parametrize("source, expected", [
    ("from ..pipelines.multiview import run_multiview\n", "texture/bad.py:2: texture (layer 3) imports "
                                                         "texforge.pipelines.multiview.run_multiview (layer 5)"),
    ("import texforge.training.loop\n", "texture/bad.py:2: texture (layer 3) imports texforge.training.loop (layer 4)"),
    ("def f():\n    from ..training import loop\n", "texture/bad.py:3: texture (layer 3) imports "
                                                     "texforge.training.loop (layer 4)"),
    ("from texforge.eval import report\n", "texture/bad.py:2: texture (layer 3) imports texforge.eval.report (layer 4)"),
])
def test_the_scan_catches_upward_imports(tmp_path, source, expected):
    root = tmp_path / "texforge"
    for pkg in ("texture", "pipelines", "training", "eval", "runtime"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "texture" / "bad.py").write_text("from ..runtime import errors\n" + source)
    problems, _ = layer_violations(root)
    assert problems == [expected]


def test_the_scan_catches_pipelines_importing_each_other_and_cycles(tmp_path):
    root = tmp_path / "texforge"
    for pkg in ("pipelines/a", "pipelines/b", "render", "mesh"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "a" / "run.py").write_text("from ..b import run\nfrom ...render import x\nfrom . import y\n")
    (root / "render" / "x.py").write_text("from ..mesh import z\n")
    (root / "mesh" / "z.py").write_text("from ..render import x\n")
    problems, graph = layer_violations(root)
    assert problems == ["pipelines/a/run.py:1: pipeline a imports pipeline b (texforge.pipelines.b.run); "
                        "move what they share into a lower layer"]
    assert cycles(graph) and set(cycles(graph)[0]) == {"render", "mesh"}
