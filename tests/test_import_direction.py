"""The import direction: the library (backend/) never imports Blender, the add-on or the Blender side
(texforge_blender, blender_tools/); the Blender side never imports the add-on; the add-on never imports
torch at import.

Static (ast over backend/**/*.py and blender_tools/**/*.py) and dynamic (fresh subprocesses with the
forbidden modules blocked by a meta-path finder, tests/blender_scripts/_common.py).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "blender_scripts"
BLENDER_MODULES = {"bpy", "mathutils", "bpy_extras", "bmesh", "gpu", "bl_ui", "bl_operators", "addon_utils",
                   "addon", "bl_ext"}


def run_script(script: str, *args: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=180)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT: ")]
    assert proc.returncode == 0 and lines, f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT: "):])


def backend_import_violations(path: Path, root: Path, blender_side: bool = False) -> list[str]:
    """Imports in one backend file that break the rules, as 'file:line: reason' strings. ``blender_side``:
    the file is part of texforge_blender, which may import Blender's modules (never the add-on)."""
    rel = path.relative_to(root)
    depth = len(rel.parts) - 1  # backend/texforge/render/camera.py -> package texforge.render -> 2 levels up reach the root
    if rel.name == "__init__.py":
        depth -= 1
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names, where = [], f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level > depth:
                problems.append(f"{where}: relative import leaves the backend package (level {node.level})")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in {"import_module", "__import__"}):
            names = [node.args[0].value]
        for name in names:
            top = name.split(".")[0]
            if top in BLENDER_MODULES and not (blender_side and top not in {"addon", "bl_ext"}):
                problems.append(f"{where}: imports {name} (backend must never import Blender or the add-on)")
            elif top == "backend":
                problems.append(f"{where}: import of {name} (the library's one import name is texforge)")
            elif name.startswith("texforge_blender") and not blender_side:
                problems.append(f"{where}: imports {name} (only the add-on and the scripts use texforge_blender)")
    return problems


def test_backend_sources_never_import_blender_or_addon():
    files = sorted((ROOT / "backend").rglob("*.py"))
    assert len(files) >= 5
    problems = [p for f in files for p in backend_import_violations(f, ROOT)]
    assert not problems, "\n".join(problems)


def test_blender_side_never_imports_the_addon():
    files = sorted((ROOT / "blender_tools").rglob("*.py"))
    assert len(files) >= 5
    problems = [p for f in files for p in backend_import_violations(f, ROOT, blender_side=True)]
    assert not problems, "\n".join(problems)


def test_the_import_scan_catches_violations(tmp_path):
    pkg = tmp_path / "backend" / "render"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("import bpy\nfrom mathutils import Matrix\nfrom backend.render import camera\n"
                                "from ...addon import panels\nimport importlib\nimportlib.import_module('bpy_extras')\n"
                                "from ..mesh import types\nimport torch\n")
    problems = backend_import_violations(pkg / "bad.py", tmp_path)
    assert len(problems) == 5, problems
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3", "4", "6"]
    (pkg / "worse.py").write_text("from texforge_blender import camera\nimport addon\nimport bpy\n")
    assert [p.split(":")[1] for p in backend_import_violations(pkg / "worse.py", tmp_path)] == ["1", "2", "3"]
    assert [p.split(":")[1] for p in backend_import_violations(pkg / "worse.py", tmp_path, True)] == ["2"]


def test_backend_imports_without_blender(tmp_path):
    # listed before the run: files that other work adds meanwhile are not expected yet
    expected = {p.relative_to(ROOT / "backend").with_suffix("").as_posix().replace("/", ".")
                for p in (ROOT / "backend").rglob("*.py")
                if p.name != "__init__.py" and "__pycache__" not in p.parts}
    r = run_script("backend_no_bpy.py", tmp_path=tmp_path)
    assert r["version"] == "0.1.0" and Path(r["backend_file"]).is_relative_to(ROOT)
    assert r["failed"] == {}, r["failed"]
    assert expected <= set(r["imported"]), expected - set(r["imported"])
    assert r["attempts"] == [] and r["blender_modules"] == []


def test_addon_modules_never_import_torch_at_import_or_register(tmp_path):
    expected = {"addon." + p.relative_to(ROOT / "addon").with_suffix("").as_posix().replace("/", ".")
                for p in (ROOT / "addon").rglob("*.py") if p.name != "__init__.py" and "__pycache__" not in p.parts}
    r = run_script("addon_no_torch.py", str(ROOT), tmp_path=tmp_path)
    assert r["errors"] == [], "\n".join(r["errors"])
    assert r["failed"] == {}, r["failed"]
    assert expected <= set(r["imported"]), expected - set(r["imported"])
    assert r["attempts_at_import"] == [] and r["attempts"] == [] and r["torch_modules"] == []
    assert {"addon.ui.properties", "addon.ui.preferences", "addon.ui.panels",
            "addon.operators.install_torch"} <= set(r["registered"])
    assert r["panel"] is True and r["panel_after_unregister"] is False
    assert "no_such_module" in r["failed_register"]
    assert r["after_failed_register"] == {"scene_prop": False, "modules": 0}
