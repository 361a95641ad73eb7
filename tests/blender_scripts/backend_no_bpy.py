"""Import the backend and every backend submodule with Blender's modules and the add-on blocked.

    .venv/bin/python backend_no_bpy.py REPO_ROOT

Prints ``RESULT: {json}``. Run by tests/test_import_direction.py in a fresh process.
"""

import importlib
import sys

import _common

BLOCKED = ["bpy", "mathutils", "bpy_extras", "bmesh", "gpu", "addon", "bl_ext"]
blocker = _common.block(BLOCKED, "missing")
sys.path.insert(0, sys.argv[1])

R = {"failed": {}, "imported": []}
import backend  # noqa: E402

R["version"] = backend.__version__
R["backend_file"] = backend.__file__
for name in _common.module_names(backend.__path__[0], "backend"):
    try:
        importlib.import_module(name)
        R["imported"].append(name)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        R["failed"][name] = f"{type(exc).__name__}: {exc}"
R["attempts"] = sorted(set(blocker.attempts))
R["blender_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
_common.emit(R)
